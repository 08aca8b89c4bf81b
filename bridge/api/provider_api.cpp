#include "bridge/api/provider_api.h"

#include <algorithm>

namespace bridge {

std::string DefaultApiUrl(std::string_view provider) {
  if (provider == "calcom") return "https://api.cal.com";
  if (provider == "calendly") return "https://api.calendly.com";
  if (provider == "savvycal") return "https://api.savvycal.com";
  return {};
}

std::unique_ptr<ProviderApi> MakeProviderApi(std::string_view provider, ApiSession& session,
                                             const Provider& normalizer) {
  if (provider == "calcom") return MakeCalcomApi(session, normalizer);
  if (provider == "calendly") return MakeCalendlyApi(session, normalizer);
  if (provider == "savvycal") return MakeSavvyCalApi(session, normalizer);
  return nullptr;
}

std::vector<std::string> SubscribedEvents(const ProviderApi& api, const Provider& normalizer) {
  const std::vector<std::string> accepted = api.SubscribableEvents();
  std::vector<std::string> out;
  for (const std::string& t : normalizer.Triggers()) {
    if (std::find(accepted.begin(), accepted.end(), t) != accepted.end()) out.push_back(t);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace bridge
