#include "bridge/providers/api_support.h"

#include <algorithm>

#include "bridge/util/json.h"

namespace bridge {

std::optional<CanonicalEvent> NormalizeEnvelope(const Provider& normalizer,
                                                const rapidjson::Document& envelope,
                                                const std::string& booking_uid,
                                                const std::string& source,
                                                const std::string& received_at) {
  const std::string body = json::Serialize(envelope);
  Headers headers;
  headers.Add("Content-Type", "application/json");
  const Delivery delivery{body, &headers, {}};
  NormalizeResult result =
      NormalizeSafely(normalizer, delivery, NormalizeContext{source, received_at});
  auto* events = std::get_if<std::vector<CanonicalEvent>>(&result);
  if (events == nullptr || events->empty()) return std::nullopt;
  for (CanonicalEvent& e : *events) {
    if (e.booking && e.booking->uid == booking_uid) return std::move(e);
  }
  return std::nullopt;
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
