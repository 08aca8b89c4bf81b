#pragma once

// The webhook port: the transport (bridge/http/server.h: event-driven, a few
// I/O threads, every limit a hostile client could push on) serving the
// webhook route (bridge/webhook/route.h: POST /webhooks/{provider}[/{source}],
// GET /healthz). A request waiting for Kafka is a parked continuation: the
// pipeline's completion is posted back to the I/O thread that owns the
// connection, which writes the answer.

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "bridge/http/limits.h"
#include "bridge/http/server.h"
#include "bridge/http/settings.h"
#include "bridge/pipeline/pipeline.h"
#include "bridge/providers/registry.h"
#include "bridge/util/metrics.h"
#include "bridge/webhook/route.h"

namespace bridge {

class WebhookServer {
 public:
  /// Readiness is not the webhook port's business (the admin port answers
  /// /readyz); this port answers /healthz for load balancers.
  WebhookServer(const HttpSettings& http, const SourceTable& sources, Pipeline& pipeline,
                const ProviderRegistry& providers, Metrics& metrics);
  ~WebhookServer();
  WebhookServer(const WebhookServer&) = delete;
  WebhookServer& operator=(const WebhookServer&) = delete;

  /// False (with tls_error()) when TLS is configured and the certificate or
  /// key cannot be loaded.
  bool Valid() const { return transport_.Valid(); }
  const std::string& tls_error() const { return transport_.tls_error(); }
  /// Loads the certificate and key again (a renewed certificate): new
  /// connections use them, open ones keep theirs. On failure (false, with
  /// `error`) the current ones stay.
  bool ReloadTls(const HttpSettings& settings, std::string& error) {
    return transport_.ReloadTls(settings, error);
  }
  /// Loads the settings' certificate and key as serving would (readable,
  /// PEM, matching, a usable cipher list) without serving: false with a
  /// sentence in `error`. `serve --check-config` uses it.
  static bool CheckTls(const HttpSettings& settings, std::string& error) {
    return HttpServer::CheckTls(settings, error);
  }

  /// Binds and listens on host:port (0 picks a free port) without
  /// SO_REUSEPORT, so a second process on the same port fails here. Returns
  /// the port, or -1 with a sentence in `error`.
  int Bind(const std::string& host, int port, std::string& error) {
    return transport_.Bind(host, port, error);
  }
  /// Starts the I/O threads and accepting. Returns at once.
  void Start() { transport_.Start(); }
  /// The webhook port's I/O threads.
  int io_threads() const { return transport_.io_threads(); }
  /// Stops accepting; idle connections are closed; requests in flight are
  /// answered (their connections then close); returns when every connection
  /// is closed or `grace` has passed, with the I/O threads joined. Idempotent.
  void Stop(std::chrono::milliseconds grace) { transport_.Stop(grace); }

  /// Open connections and body bytes in flight (metrics, tests).
  size_t open_connections() const { return transport_.open_connections(); }
  size_t body_bytes_in_flight() const { return transport_.body_bytes_in_flight(); }

 private:
  // The route outlives the transport that calls it.
  WebhookRoute route_;
  HttpServer transport_;
};

}  // namespace bridge
