// Fuzz target: the webhook port's request path, end to end over loopback.
// One server (two I/O threads, a publisher that acknowledges everything) runs
// for the whole session; each input is the bytes one client sends before
// closing its side. The server must answer with a well-formed status line or
// close, never crash, never hang past its deadlines, and keep serving. Also:
// nothing follows an answer that says Connection: close (what the parser did
// not take as a body is never served as another request), answers are valid
// UTF-8, and the body budget is whole again once the connection is gone.
// The seeds and tests/fuzz/http_request.dict cover chunk extensions,
// trailers, transfer codings, folded lines and long targets.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "bridge/config/config.h"
#include "bridge/providers/registry.h"
#include "bridge/util/clock.h"
#include "bridge/util/json.h"
#include "bridge/util/log.h"
#include "bridge/util/metrics.h"
#include "bridge/webhook/webhook_server.h"

namespace {

class AckingPublisher final : public bridge::Publisher {
 public:
  std::shared_ptr<bridge::PendingPublish> Publish(
      std::vector<bridge::OutgoingMessage> messages, std::chrono::steady_clock::time_point,
      bridge::PendingPublish::Completion on_complete) override {
    auto pending =
        std::make_shared<bridge::PendingPublish>(messages.size(), std::move(on_complete));
    for (size_t i = 0; i < messages.size(); ++i) pending->Report(true, {});
    return pending;
  }
  bool Ready() const override { return true; }
};

struct Server {
  bridge::Config config;
  AckingPublisher publisher;
  bridge::SystemClock clock;
  bridge::Metrics metrics;
  std::unique_ptr<bridge::Pipeline> pipeline;
  std::unique_ptr<bridge::SourceTable> sources;
  std::unique_ptr<bridge::WebhookServer> server;
  int port = 0;

  Server() {
    bridge::log::SetLevel(bridge::log::Level::kOff);
    config.http.io_threads = 2;
    config.http.head_timeout = std::chrono::milliseconds(500);
    config.http.body_timeout = std::chrono::milliseconds(500);
    config.http.max_body_bytes = 64 << 10;
    // Secrets the seed corpus signs with.
    for (const char* provider : {"calcom", "calendly", "savvycal", "orufy"}) {
      bridge::SourceConfig source;
      source.provider = provider;
      source.secrets = {std::string("fuzz-secret-") + provider};
      config.sources.push_back(std::move(source));
    }
    pipeline = std::make_unique<bridge::Pipeline>(config.pipeline, publisher, clock);
    sources = std::make_unique<bridge::SourceTable>(config.sources);
    server = std::make_unique<bridge::WebhookServer>(config.http, *sources, *pipeline,
                                                     bridge::ProviderRegistry::BuiltIn(), metrics);
    std::string error;
    port = server->Bind("127.0.0.1", 0, error);
    if (port <= 0) std::abort();
    server->Start();
  }
};

Server& TheServer() {
  static Server* server = new Server();  // lives for the whole fuzzing session
  return *server;
}

/// A finding: says what failed (with errno) before aborting.
[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "http_request_fuzz: %s: %s\n", what, std::strerror(errno));
  std::abort();
}

/// A connection to the server. libFuzzer's SIGALRM timer can interrupt
/// connect(); then the socket finishes connecting by itself.
int ConnectTo(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) Fail("socket");
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(port));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0) return fd;
  if (errno != EINTR && errno != EINPROGRESS) Fail("connect");
  pollfd p{fd, POLLOUT, 0};
  int error = 0;
  socklen_t len = sizeof error;
  while (poll(&p, 1, 5000) < 0) {
    if (errno != EINTR) Fail("poll after connect");
  }
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0 || error != 0) {
    errno = error;
    Fail("connect (completed)");
  }
  return fd;
}

/// False when an answer carrying Connection: close is followed by more bytes.
/// Answers are delimited by Content-Length; a HEAD answer (no body) makes the
/// walk lose its place, and then it stops judging.
bool NothingAfterClose(const std::string& raw) {
  size_t at = 0;
  while (at < raw.size()) {
    if (raw.compare(at, 9, "HTTP/1.1 ") != 0) return true;  // lost its place
    const size_t end = raw.find("\r\n\r\n", at);
    if (end == std::string::npos) return true;
    const std::string head = raw.substr(at, end - at);
    size_t length = 0;
    if (const size_t cl = head.find("\r\nContent-Length: "); cl != std::string::npos) {
      length = std::strtoul(head.c_str() + cl + 18, nullptr, 10);
    }
    at = end + 4 + length;
    if (head.find("\r\nConnection: close") != std::string::npos) return at >= raw.size();
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Server& s = TheServer();
  const int fd = ConnectTo(s.port);
  size_t sent = 0;
  while (sent < size) {
    const ssize_t n = send(fd, data + sent, size - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // the server answered early and closed
    sent += static_cast<size_t>(n);
  }
  shutdown(fd, SHUT_WR);
  std::string answer;
  char buf[16384];
  // Well past the 500 ms deadlines: a connection still open then is a hang.
  const auto hang = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    const int ready = poll(&p, 1, 100);
    if (ready < 0 && errno != EINTR) Fail("poll");  // libFuzzer's SIGALRM interrupts poll
    if (ready <= 0) {
      if (std::chrono::steady_clock::now() > hang) Fail("no answer and no close within 5 s");
      continue;
    }
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    answer.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  if (!answer.empty() && answer.rfind("HTTP/1.1 ", 0) != 0) std::abort();
  if (!NothingAfterClose(answer)) Fail("bytes after an answer with Connection: close");
  if (!bridge::json::IsValidUtf8(answer)) Fail("an answer that is not valid UTF-8");
  // This was the only connection: once the server closed it, every body
  // byte it held is back in the budget (the close and the release are one
  // I/O-thread step apart).
  for (int i = 0; s.server->body_bytes_in_flight() != 0; ++i) {
    if (i == 200) Fail("body budget not returned after the close");
    usleep(5000);
  }
  return 0;
}
