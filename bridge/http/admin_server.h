#pragma once

// The admin port: GET /metrics, /healthz and /readyz for probes and
// Prometheus, apart from the webhook port so that nothing about providers,
// sources or volumes is published where the internet can ask. cpp-httplib
// (a thread per connection) serves it well: its clients are few.

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "bridge/util/metrics.h"

namespace httplib {
class Server;
}

namespace bridge {

/// cpp-httplib 0.11 listens with a backlog of 5; this calls listen() again
/// on the socket bound to `port`, which raises it (the kernel caps it at
/// net.core.somaxconn).
void RaiseListenBacklog(int port, int backlog);

class AdminServer {
 public:
  /// What /readyz checks besides draining: "" when ready, else the status
  /// word of the 503. Called from admin threads.
  using ReadinessCheck = std::function<std::string()>;

  AdminServer(Metrics& metrics, ReadinessCheck readiness, int threads = 4);
  ~AdminServer();

  /// Binds host:port (0 = a free port) without SO_REUSEPORT. Returns the
  /// port, or -1 with a sentence in `error`.
  int Bind(const std::string& host, int port, std::string& error);
  /// Serves on its own thread. Returns at once.
  void Start();
  void Stop();
  /// /readyz answers 503 `draining` from now on.
  void BeginDrain() { draining_ = true; }
  void SetReadinessCheck(ReadinessCheck check);
  /// What /healthz checks: "" when alive, else the status word of its 503
  /// (a state the process cannot leave by itself, so it should be restarted).
  void SetLivenessCheck(ReadinessCheck check);

 private:
  Metrics& metrics_;
  std::mutex readiness_mu_;
  ReadinessCheck readiness_;
  ReadinessCheck liveness_;
  std::atomic<bool> draining_{false};
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
};

}  // namespace bridge
