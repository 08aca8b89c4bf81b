#include "bridge/api/provider_api.h"

#include <algorithm>

namespace bridge {

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
