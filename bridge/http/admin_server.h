#pragma once

// The admin port: GET /metrics, /healthz and /readyz for probes and
// Prometheus, apart from the webhook port so that nothing about providers,
// sources or volumes is published where the internet can ask.
//
// Event-driven like the webhook port (Boost.Asio, Boost.Beast's parser), on
// one I/O thread: its requests are few and answered at once, but a slow or
// idle client must never hold up the liveness probe (a thread per connection
// would: a handful of clients trickling header lines took every thread).
// What a client can hold is one connection (AdminLimits::max_connections,
// the oldest still-unfinished request making room for a new one), a few KiB
// of head, and AdminLimits::request_timeout for its whole request.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "bridge/util/metrics.h"

namespace bridge {

/// Calls listen() again on every listening socket of this process bound to
/// `port`, which raises its backlog (the kernel caps it at
/// net.core.somaxconn). For servers that listen with a small backlog.
void RaiseListenBacklog(int port, int backlog);

/// What one admin client may hold.
struct AdminLimits {
  /// Open connections; when full, the oldest connection still waiting for
  /// its request is closed to make room (a probe always gets in).
  size_t max_connections = 1024;
  /// From accept (or the previous answer) to the whole request: a head that
  /// trickles in is cut here however often its bytes come.
  std::chrono::milliseconds request_timeout{5000};
  /// Writing one answer.
  std::chrono::milliseconds write_timeout{5000};
  /// Request head (request line and headers); 431 above.
  size_t max_head_bytes = 8192;
  /// Request body (admin requests have none); 413 above.
  size_t max_body_bytes = 1024;
};

class AdminServer {
 public:
  /// What /readyz checks besides draining: "" when ready, else the status
  /// word of the 503. Called from the admin I/O thread.
  using ReadinessCheck = std::function<std::string()>;

  AdminServer(Metrics& metrics, ReadinessCheck readiness, AdminLimits limits = {});
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  /// Binds host:port (0 = a free port) without SO_REUSEPORT. Returns the
  /// port, or -1 with a sentence in `error`.
  int Bind(const std::string& host, int port, std::string& error);
  /// Serves on its own thread. Returns at once.
  void Start();
  /// Closes every connection and joins the thread. Idempotent.
  void Stop();
  /// /readyz answers 503 `draining` from now on.
  void BeginDrain() { draining_ = true; }
  void SetReadinessCheck(ReadinessCheck check);
  /// What /healthz checks: "" when alive, else the status word of its 503
  /// (a state the process cannot leave by itself, so it should be restarted).
  void SetLivenessCheck(ReadinessCheck check);

  /// Open connections (tests).
  size_t open_connections() const;

 private:
  Metrics& metrics_;
  std::mutex readiness_mu_;
  ReadinessCheck readiness_;
  ReadinessCheck liveness_;
  std::atomic<bool> draining_{false};
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bridge
