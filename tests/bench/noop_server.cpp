// The ceiling: a cpp-httplib server (TCP_NODELAY,
// 256 threads, keep-alive up to 1,000 requests, listen backlog 1024), answering 202 with no work at
// all.

#include <httplib.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "bridge/http/admin_server.h"

int main(int argc, char** argv) {
  int port = 0;
  CLI::App app{
      "schedbridge_noop_server: the benchmark's ceiling, a cpp-httplib server answering 202 to "
      "POST /webhooks/... with no work at all. Prints the port it listens on."};
  app.add_option("port", port, "port on 127.0.0.1 (0: a free one)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  CLI11_PARSE(app, argc, argv);
  httplib::Server s;
  s.new_task_queue = [] { return new httplib::ThreadPool(256); };
  s.set_tcp_nodelay(true);
  s.set_keep_alive_max_count(1000);
  s.set_payload_max_length(1 << 20);
  s.Post(R"(/webhooks/(.+))", [](const httplib::Request&, httplib::Response& res) {
    res.status = 202;
    res.set_content(R"({"status":"accepted","event_ids":[],"error":null})", "application/json");
  });
  const int bound =
      port == 0 ? s.bind_to_any_port("127.0.0.1") : (s.bind_to_port("127.0.0.1", port) ? port : -1);
  if (bound > 0) bridge::RaiseListenBacklog(bound, 1024);  // as schedbridge does
  std::printf("listening 127.0.0.1:%d\n", bound);
  std::fflush(stdout);
  return s.listen_after_bind() ? 0 : 1;
}
