#pragma once

// Every provider schedbridge knows, registered once in registry.cpp: its
// webhook normalizer, its API client (if it has an API) and that API's
// public base URL. Adding a provider is one folder plus one line there.

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bridge/api/provider_api.h"
#include "bridge/providers/provider.h"

namespace bridge {

/// One provider's registration.
struct ProviderEntry {
  std::string_view name;  // path segment and `provider` field value
  std::unique_ptr<Provider> (*make_normalizer)();
  /// The API client, or nullptr when the provider has no API.
  std::unique_ptr<ProviderApi> (*make_api)(ApiSession& session, const Provider& normalizer);
  std::string_view default_api_url;  // "" when the provider has no API
  std::string_view display_name;     // as the provider writes it (and the README's section)
  /// Without an API: where its webhooks are set by hand in the provider's app.
  std::string_view manual_setup;
};

class ProviderRegistry {
 public:
  /// All built-in providers.
  static const ProviderRegistry& BuiltIn();
  /// The registration table, in registration order.
  static std::span<const ProviderEntry> Entries();
  /// `name`'s registration, or nullptr.
  static const ProviderEntry* FindEntry(std::string_view name);

  const Provider* Find(std::string_view name) const;
  const std::vector<std::unique_ptr<Provider>>& all() const { return providers_; }

 private:
  std::vector<std::unique_ptr<Provider>> providers_;
};

/// The provider's public API base (https://api.cal.com ...), or "" when it has none.
std::string DefaultApiUrl(std::string_view provider);

/// The API client for `provider`, or nullptr when the provider has no API.
std::unique_ptr<ProviderApi> MakeProviderApi(std::string_view provider, ApiSession& session,
                                             const Provider& normalizer);

}  // namespace bridge
