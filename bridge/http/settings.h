#pragma once

// The webhook port's settings (and the admin port's address): what the
// transport in bridge/http/ needs, nothing of the rest of the service.

#include <chrono>
#include <cstddef>
#include <string>

namespace bridge {

/// The webhook listener (event-driven, Boost.Beast) and its limits, and the
/// admin listener. Each limit is answered with a clear status or an early
/// close and counted in schedbridge_http_limited_total{limit}.
struct HttpSettings {
  std::string host = "0.0.0.0";
  int port = 8080;
  /// /metrics, /healthz, /readyz (cpp-httplib; never exposed to the internet).
  std::string admin_host = "0.0.0.0";
  int admin_port = 9090;
  /// I/O threads of the webhook port; 0 = one per CPU the process may use
  /// (cpus::Usable: a pod's CPU limit, not the node's cores).
  int io_threads = 0;
  /// The kernel's queue of connections not yet accepted (listen(2) backlog).
  int listen_backlog = 1024;
  size_t max_body_bytes = 1 << 20;   // 413 above, from Content-Length before reading
  size_t max_headers = 100;          // 431 above
  size_t max_head_bytes = 64 << 10;  // request line + headers; 431 above
  /// Body bytes held by requests in flight, all connections together, taken
  /// as they arrive; a declared body that would not fit: 503 with
  /// Retry-After, before reading it (arriving bytes that do not: 503, close).
  size_t body_budget_bytes = 32 << 20;
  size_t max_connections = 16384;             // beyond: accepted and closed at once
  size_t max_connections_per_address = 1024;  // 0 = no per-address cap
  /// From accept (or the first byte of a keep-alive request) to the end of the head: 408.
  std::chrono::milliseconds head_timeout{10000};
  /// From the end of the head to the end of the body: 408.
  std::chrono::milliseconds body_timeout{20000};
  /// An idle keep-alive connection is closed after this.
  std::chrono::milliseconds idle_timeout{60000};
  /// Writing one answer.
  std::chrono::milliseconds write_timeout{10000};
  int retry_after_seconds = 5;
  /// TLS on the webhook port itself: both set = HTTPS (PEM files).
  std::string tls_cert_file;
  std::string tls_key_file;
  /// "1.2" or "1.3".
  std::string tls_min_version = "1.2";
  /// OpenSSL cipher list for TLS 1.2: forward-secret AEAD suites only (TLS
  /// 1.3's suites all are).
  std::string tls_ciphers =
      "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
      "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
  /// On SIGTERM: how long to wait for queued messages after the last request.
  /// Everything answered 2xx is already acknowledged; this only gives
  /// messages answered 503 a last chance.
  std::chrono::milliseconds shutdown_timeout{5000};
};

}  // namespace bridge
