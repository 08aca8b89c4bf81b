#pragma once

// The webhook port's transport: an acceptor, a few I/O threads (Boost.Asio,
// one io_context each), Boost.Beast's HTTP/1.1 parser, no thread per
// connection and none per request. Each connection hands its requests to a
// Handler and writes the answers back; an answer made on another thread is
// posted back to the I/O thread that owns the connection. Every limit a
// hostile client could push on is bounded here (HttpSettings), answered with
// a clear status or an early close, and counted in
// schedbridge_http_limited_total{limit}.

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "bridge/http/handler.h"
#include "bridge/http/settings.h"
#include "bridge/util/metrics.h"

namespace bridge {

class HttpServer {
 public:
  /// `handler` and `metrics` outlive the server.
  HttpServer(const HttpSettings& settings, Handler& handler, Metrics& metrics);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  /// False (with tls_error()) when TLS is configured and the certificate or
  /// key cannot be loaded.
  bool Valid() const;
  const std::string& tls_error() const;
  /// Loads the certificate and key again: new connections use them, open
  /// ones keep theirs. On failure (false, with `error`) the current ones stay.
  bool ReloadTls(const HttpSettings& settings, std::string& error);
  /// Loads the settings' certificate and key as serving would, without
  /// serving: false with a sentence in `error`.
  static bool CheckTls(const HttpSettings& settings, std::string& error);

  /// Binds and listens on host:port (0 picks a free port) without
  /// SO_REUSEPORT. Returns the port, or -1 with a sentence in `error`.
  int Bind(const std::string& host, int port, std::string& error);
  /// Starts the I/O threads and accepting. Returns at once.
  void Start();
  /// Stops accepting; idle connections are closed; requests in flight are
  /// answered (their connections then close); returns when every connection
  /// is closed or `grace` has passed, with the I/O threads joined. Idempotent.
  void Stop(std::chrono::milliseconds grace);

  /// The I/O threads serving connections.
  int io_threads() const;
  /// Open connections and body bytes in flight (metrics, tests).
  size_t open_connections() const;
  size_t body_bytes_in_flight() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bridge
