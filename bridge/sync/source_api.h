#pragma once

// What the use cases through the provider APIs share: choosing the
// configured sources a --source names, and opening a source's API session.

#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "bridge/api/api_client.h"
#include "bridge/api/provider_api.h"
#include "bridge/config/config.h"
#include "bridge/sync/outcome.h"

namespace bridge {

/// provider/name, as the use cases print a source.
std::string SourceName(const SourceConfig& source);

/// The sources `selector` names (every source when empty), or an error sentence.
std::vector<const SourceConfig*> SelectSources(const Config& config, const std::string& selector,
                                               std::string& error);

/// <public_url>/webhooks/<provider>[/<source>]
std::string SubscriberUrl(const std::string& public_url, const SourceConfig& source);

/// A source's API: its transport, its session (key, retries) and the provider's API over it.
struct SourceApi {
  std::unique_ptr<HttpTransport> transport;
  std::unique_ptr<ApiSession> session;
  std::unique_ptr<ProviderApi> api;
};

/// Opens the API session for a source: its key, its base URL. False, with
/// the reason written to `err`, when the configuration does not allow one.
bool OpenSourceApi(const SourceConfig& source, const RetryPolicy& retry, SourceApi& out,
                   std::ostream& err);

/// The outcome an API error means: credentials refused, or a failure.
SyncOutcome ApiErrorOutcome(const ApiError& error);

}  // namespace bridge
