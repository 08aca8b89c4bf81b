#pragma once

// The webhook port: what the internet talks to. Event-driven: a few I/O
// threads (Boost.Asio, one io_context each), Boost.Beast's HTTP/1.1 parser,
// no thread per connection and none per request. A request waiting for Kafka
// is a parked continuation: the pipeline's completion (from librdkafka's
// delivery report) is posted back to the I/O thread that owns the connection,
// which writes the answer. Every limit a hostile client could push on is
// bounded here (HttpSettings), answered with a clear status or an early
// close, and counted in schedbridge_http_limited_total{limit}.
//
// Routes: POST /webhooks/{provider}[/{source}], GET /healthz. Status codes,
// bodies and X-Request-Id are the contract in the README's "HTTP API".

#include <atomic>
#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "bridge/config/config.h"
#include "bridge/pipeline/pipeline.h"
#include "bridge/providers/registry.h"
#include "bridge/util/metrics.h"

namespace bridge {

/// A budget of bytes shared by every connection (bodies in flight).
/// Thread-safe, lock-free.
class ByteBudget {
 public:
  explicit ByteBudget(size_t capacity) : capacity_(capacity) {}
  /// Takes `n` bytes if they fit; false (nothing taken) otherwise.
  bool TryTake(size_t n);
  void Give(size_t n) { used_.fetch_sub(n, std::memory_order_relaxed); }
  size_t used() const { return used_.load(std::memory_order_relaxed); }
  size_t capacity() const { return capacity_; }

 private:
  const size_t capacity_;
  std::atomic<size_t> used_{0};
};

/// Open connections, in all and per client address. Thread-safe.
class ConnectionLimiter {
 public:
  enum class Admission { kAdmitted, kTooManyInAll, kTooManyFromAddress };
  ConnectionLimiter(size_t max_total, size_t max_per_address)
      : max_total_(max_total), max_per_address_(max_per_address) {}
  Admission Admit(const std::string& address);
  /// Frees what Admit() admitted for `address`.
  void Release(const std::string& address);
  size_t open() const;

 private:
  const size_t max_total_, max_per_address_;
  mutable std::mutex mu_;
  size_t open_ = 0;
  std::map<std::string, size_t, std::less<>> per_address_;
};

/// The `limit` label values of schedbridge_http_limited_total.
const std::vector<std::string>& WebhookLimitNames();

/// Raises the soft limit on open files to the hard limit; returns the new
/// soft limit. Every connection is a descriptor.
uint64_t RaiseOpenFileLimit();

/// The metric label for a path segment: the name when it is configured, else
/// "unknown" (label values never come from what a client sends).
std::string ProviderLabel(const ProviderRegistry& providers, std::string_view name);

class WebhookServer {
 public:
  /// Readiness is not the webhook port's business (the admin port answers
  /// /readyz); this port answers /healthz for load balancers.
  WebhookServer(const Config& config, const SourceTable& sources, Pipeline& pipeline,
                const ProviderRegistry& providers, Metrics& metrics);
  ~WebhookServer();
  WebhookServer(const WebhookServer&) = delete;
  WebhookServer& operator=(const WebhookServer&) = delete;

  /// False (with tls_error()) when TLS is configured and the certificate or
  /// key cannot be loaded.
  bool Valid() const;
  const std::string& tls_error() const;
  /// Loads the certificate and key again (a renewed certificate): new
  /// connections use them, open ones keep theirs. On failure (false, with
  /// `error`) the current ones stay.
  bool ReloadTls(const HttpSettings& settings, std::string& error);
  /// Loads the settings' certificate and key as serving would (readable,
  /// PEM, matching, a usable cipher list) without serving: false with a
  /// sentence in `error`. `serve --check-config` uses it.
  static bool CheckTls(const HttpSettings& settings, std::string& error);

  /// Binds and listens on host:port (0 picks a free port) without
  /// SO_REUSEPORT, so a second process on the same port fails here. Returns
  /// the port, or -1 with a sentence in `error`.
  int Bind(const std::string& host, int port, std::string& error);
  /// Starts the I/O threads and accepting. Returns at once.
  void Start();
  /// Stops accepting; idle connections are closed; requests in flight are
  /// answered (their connections then close); returns when every connection
  /// is closed or `grace` has passed, with the I/O threads joined. Idempotent.
  void Stop(std::chrono::milliseconds grace);

  /// Open connections and body bytes in flight (metrics, tests).
  size_t open_connections() const;
  size_t body_bytes_in_flight() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bridge
