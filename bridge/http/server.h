#pragma once

// The HTTP ingress. Routes and status codes are DESIGN.md §2; each webhook
// handler reads like the pipeline: route, verify + normalize + publish, answer.

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "bridge/config/config.h"
#include "bridge/pipeline/pipeline.h"
#include "bridge/providers/registry.h"
#include "bridge/util/metrics.h"

namespace httplib {
class Server;
class ContentReader;
struct Request;
struct Response;
}  // namespace httplib

namespace bridge {

/// cpp-httplib 0.11 listens with a backlog of 5: a burst of new connections
/// (providers rarely keep connections alive) overflows it, the kernel drops
/// the SYNs and each client waits for a 1 s retransmission. This calls
/// listen() again on the socket bound to `port`, which raises the backlog
/// (the kernel caps it at net.core.somaxconn).
void RaiseListenBacklog(int port, int backlog);

class IngressServer {
 public:
  IngressServer(const Config& config, const SourceTable& sources, Pipeline& pipeline,
                const ProviderRegistry& providers, const Publisher& readiness, Metrics& metrics);
  ~IngressServer();

  /// Binds the listen socket; port 0 picks a free port. Returns the port, or -1.
  int Bind(const std::string& host, int port);
  /// Serves until Stop(). Blocks.
  bool Serve();
  /// /readyz answers 503 from now on; webhooks are still served (the load
  /// balancer needs a moment to stop sending).
  void BeginDrain() { draining_ = true; }
  /// Stops accepting; in-flight requests complete; later requests on open
  /// keep-alive connections get 503.
  void Stop();
  bool IsRunning() const;
  /// False when the TLS certificate or key could not be loaded.
  bool Valid() const;

  /// What /readyz checks besides draining: "" when ready, else the status
  /// word of the 503. The default asks the publisher passed in. Thread-safe.
  using ReadinessCheck = std::function<std::string()>;
  void SetReadinessCheck(ReadinessCheck check);

 private:
  void HandleWebhook(const httplib::Request& req, httplib::Response& res,
                     const httplib::ContentReader& read_body);
  void Reply(httplib::Response& res, int status, const std::string& json_body) const;

  const Config& config_;
  const SourceTable& sources_;
  Pipeline& pipeline_;
  const ProviderRegistry& providers_;
  mutable std::mutex readiness_mu_;
  ReadinessCheck readiness_check_;
  Metrics& metrics_;
  std::atomic<bool> draining_{false};
  std::atomic<bool> stopping_{false};
  std::unique_ptr<httplib::Server> server_;
};

}  // namespace bridge
