#include "bridge/providers/registry.h"

#include "bridge/providers/calcom/api.h"
#include "bridge/providers/calcom/webhook.h"
#include "bridge/providers/calendly/api.h"
#include "bridge/providers/calendly/webhook.h"
#include "bridge/providers/orufy/webhook.h"
#include "bridge/providers/savvycal/api.h"
#include "bridge/providers/savvycal/webhook.h"

namespace bridge {
namespace {

// The one table: each provider registered once. Orufy documents no API.
constexpr ProviderEntry kProviders[] = {
    {"calcom", &MakeCalcomProvider, &MakeCalcomApi, "https://api.cal.com", "Cal.com", ""},
    {"calendly", &MakeCalendlyProvider, &MakeCalendlyApi, "https://api.calendly.com", "Calendly",
     ""},
    {"savvycal", &MakeSavvyCalProvider, &MakeSavvyCalApi, "https://api.savvycal.com", "SavvyCal",
     ""},
    {"orufy", &MakeOrufyProvider, nullptr, "", "Orufy", "Settings → Webhooks"},
};

}  // namespace

std::span<const ProviderEntry> ProviderRegistry::Entries() { return kProviders; }

const ProviderEntry* ProviderRegistry::FindEntry(std::string_view name) {
  for (const ProviderEntry& e : kProviders) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

const ProviderRegistry& ProviderRegistry::BuiltIn() {
  static const ProviderRegistry registry = [] {
    ProviderRegistry r;
    for (const ProviderEntry& e : kProviders) r.providers_.push_back(e.make_normalizer());
    return r;
  }();
  return registry;
}

const Provider* ProviderRegistry::Find(std::string_view name) const {
  for (const auto& p : providers_) {
    if (p->Name() == name) return p.get();
  }
  return nullptr;
}

std::string DefaultApiUrl(std::string_view provider) {
  const ProviderEntry* e = ProviderRegistry::FindEntry(provider);
  return e == nullptr ? std::string() : std::string(e->default_api_url);
}

std::unique_ptr<ProviderApi> MakeProviderApi(std::string_view provider, ApiSession& session,
                                             const Provider& normalizer) {
  const ProviderEntry* e = ProviderRegistry::FindEntry(provider);
  if (e == nullptr || e->make_api == nullptr) return nullptr;
  return e->make_api(session, normalizer);
}

}  // namespace bridge
