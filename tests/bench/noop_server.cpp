// The floor: schedbridge's own webhook transport (bridge/http/: the same
// acceptor, I/O threads, parser, limits and answers as `schedbridge serve`)
// with a handler that answers 202 to POST /webhooks/... with no work at all:
// no verification, no pipeline, no Kafka. What the service spends above it
// is the work of a webhook; what it spends here is the transport's.

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>

#include "bridge/http/handler.h"
#include "bridge/http/server.h"
#include "bridge/http/settings.h"
#include "bridge/util/metrics.h"

namespace {

// Reads the body (so its bytes count and its limits hold) and answers 202.
class Accept final : public bridge::Exchange {
 public:
  std::optional<bridge::Answer> Admit(const bridge::RequestHead&) override { return std::nullopt; }
  std::optional<bridge::Answer> OnBody(std::string_view, bridge::HeaderFields&, std::string_view,
                                       bridge::Responder) override {
    return bridge::Answer{202, bridge::JsonBody("accepted", {}, "")};
  }
  std::optional<std::chrono::steady_clock::time_point> Deadline() const override {
    return std::nullopt;
  }
  void Expire() override {}
  void Ended(int, std::string_view) override {}
};

class NoWork final : public bridge::Handler {
 public:
  bridge::Routed Route(const bridge::RequestHead& head) override {
    if (head.method == boost::beast::http::verb::post && head.target.starts_with("/webhooks/")) {
      return {bridge::Answer{}, std::make_shared<Accept>()};
    }
    return {bridge::Answer{404, bridge::ErrorBody("not_found", "no such route")}, nullptr};
  }
};

}  // namespace

int main(int argc, char** argv) {
  int port = 0;
  int io_threads = 0;
  CLI::App app{
      "schedbridge_noop_server: the benchmark's floor, schedbridge's own webhook transport "
      "answering 202 to POST /webhooks/... with no work at all (no verification, no pipeline, no "
      "Kafka). Prints the port it listens on; stops on SIGINT or SIGTERM."};
  app.add_option("port", port, "port on 127.0.0.1 (0: a free one)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  app.add_option("--io-threads", io_threads, "I/O threads (0: as serve, one per usable CPU)")
      ->capture_default_str()
      ->check(CLI::Range(0, 256));
  CLI11_PARSE(app, argc, argv);

  // Block the stop signals before any thread starts, then wait for one.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  bridge::HttpSettings settings;  // serve's defaults: the same limits and budgets
  settings.io_threads = io_threads;
  bridge::Metrics metrics;
  NoWork handler;
  bridge::HttpServer server(settings, handler, metrics);
  std::string error;
  const int bound = server.Bind("127.0.0.1", port, error);
  if (bound < 0) {
    std::fprintf(stderr, "schedbridge_noop_server: %s\n", error.c_str());
    return 1;
  }
  server.Start();
  std::printf("listening 127.0.0.1:%d\n", bound);
  std::fflush(stdout);
  int signal = 0;
  sigwait(&stop, &signal);
  server.Stop(std::chrono::milliseconds(1000));
  return 0;
}
