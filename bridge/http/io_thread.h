#pragma once

// What the webhook port's connections share: the server's state (settings,
// limits, TLS context, the handler), and the I/O threads that own them.

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include "bridge/http/answer.h"
#include "bridge/http/handler.h"
#include "bridge/http/limits.h"
#include "bridge/http/settings.h"
#include "bridge/util/metrics.h"

namespace bridge {

/// Server state shared by every connection (outlives the server while any
/// connection or completion still refers to it).
struct ServerState {
  ServerState(const HttpSettings& s, Handler& h, Metrics& m)
      : settings(s),
        handler(h),
        metrics(m),
        limiter(s.max_connections, s.max_connections_per_address),
        budget(s.body_budget_bytes) {}
  const HttpSettings settings;
  Handler& handler;
  Metrics& metrics;
  ConnectionLimiter limiter;
  ByteBudget budget;
  std::atomic<bool> stopping{false};
  /// The TLS context for new connections (replaced when the certificate is
  /// reloaded; a connection's SSL object keeps its own context alive).
  std::shared_ptr<boost::asio::ssl::context> TlsContext() const {
    std::lock_guard lock(tls_mu);
    return tls;
  }
  void SetTlsContext(std::shared_ptr<boost::asio::ssl::context> next) {
    std::lock_guard lock(tls_mu);
    tls = std::move(next);
  }
  mutable std::mutex tls_mu;
  std::shared_ptr<boost::asio::ssl::context> tls;

  void Limited(const char* what) {
    metrics.Inc("schedbridge_http_limited_total", {{"limit", what}});
  }
  void Malformed(const char* what) {
    metrics.Inc("schedbridge_http_malformed_total", {{"reason", what}});
  }
};

using SteadyClock = std::chrono::steady_clock;

class ConnectionBase {
 public:
  virtual ~ConnectionBase() = default;
  /// The server is stopping: close when idle or still receiving a head, else
  /// after the answer.
  virtual void OnStop() = 0;
  /// The deadline of the current phase passed.
  virtual void OnTimeout() = 0;
  /// The handler's later answer to the request this connection waits on.
  virtual void OnAnswer(std::function<Answer()> make) = 0;
  /// When the current phase ends (head, body, ack, write, idle), checked by
  /// the I/O thread's sweep: no timer operation per request.
  SteadyClock::time_point deadline = SteadyClock::time_point::max();
};

/// How often each I/O thread looks for connections past their deadline: the
/// precision of every timeout (they fire up to this late, never early).
constexpr auto kSweepInterval = std::chrono::milliseconds(100);

/// One I/O thread's io_context and the connections it owns.
struct IoThread : std::enable_shared_from_this<IoThread> {
  // Declared before `io` and `inbox`: connections destroyed with them
  // unregister here.
  std::unordered_set<ConnectionBase*> connections;
  // Answers from other threads (Kafka delivery reports), handed over in
  // batches: one post, and at most one wake-up of this thread, carries every
  // answer that arrived meanwhile.
  std::mutex inbox_mu;
  std::vector<std::pair<std::shared_ptr<ConnectionBase>, std::function<Answer()>>> inbox;
  boost::asio::io_context io{1};
  boost::asio::steady_timer sweep{io};
  std::thread thread;

  /// Any thread: queues an answer for a connection this thread owns.
  void Deliver(std::shared_ptr<ConnectionBase> connection, std::function<Answer()> make);
  void DrainInbox();
  /// Closes, every kSweepInterval, the connections past their deadline.
  void Sweep();
};

}  // namespace bridge
