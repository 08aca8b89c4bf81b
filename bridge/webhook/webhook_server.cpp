#include "bridge/webhook/webhook_server.h"

namespace bridge {

WebhookServer::WebhookServer(const HttpSettings& http, const SourceTable& sources,
                             Pipeline& pipeline, const ProviderRegistry& providers,
                             Metrics& metrics)
    : route_(sources, pipeline, providers, metrics), transport_(http, route_, metrics) {}

// The transport stops (joining its threads) before the route goes.
WebhookServer::~WebhookServer() { transport_.Stop(std::chrono::milliseconds(0)); }

}  // namespace bridge
