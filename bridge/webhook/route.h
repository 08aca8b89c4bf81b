#pragma once

// The webhook route: POST /webhooks/{provider}[/{source}] (and GET /healthz
// for load balancers). Path → provider and source → checks → the pipeline's
// IngestAsync → verdict → status, with the webhook metrics and the access
// log line. It knows no sockets: the transport (bridge/http/) hands it a
// request head, then the body, and writes the answers it returns. Status
// codes, bodies and X-Request-Id are the contract in the README's "HTTP API".

#include <memory>
#include <string>
#include <string_view>

#include "bridge/http/handler.h"
#include "bridge/pipeline/pipeline.h"
#include "bridge/providers/registry.h"
#include "bridge/providers/sources.h"
#include "bridge/util/metrics.h"

namespace bridge {

/// The metric label for a path segment: the name when it is configured, else
/// "unknown" (label values never come from what a client sends).
std::string ProviderLabel(const ProviderRegistry& providers, std::string_view name);

class WebhookRoute final : public Handler {
 public:
  /// Describes the webhook metrics in `metrics`. Everything given outlives
  /// the route.
  WebhookRoute(const SourceTable& sources, Pipeline& pipeline, const ProviderRegistry& providers,
               Metrics& metrics);

  Routed Route(const RequestHead& head) override;

 private:
  friend class WebhookExchange;
  const SourceTable& sources_;
  Pipeline& pipeline_;
  const ProviderRegistry& providers_;
  Metrics& metrics_;
  const std::string provider_list_;  // "calcom, calendly, ..." for the 404's sentence
};

}  // namespace bridge
