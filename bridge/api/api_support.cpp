#include "bridge/api/api_support.h"

#include <algorithm>

#include "bridge/util/json.h"

namespace bridge {

std::vector<std::string> SortedStrings(const rapidjson::Value* array) {
  std::vector<std::string> out;
  if (array == nullptr || !array->IsArray()) return out;
  for (const rapidjson::Value& v : array->GetArray()) {
    if (v.IsString()) out.emplace_back(v.GetString(), v.GetStringLength());
  }
  std::sort(out.begin(), out.end());
  return out;
}

void WriteStrings(rapidjson::Writer<rapidjson::StringBuffer>& w, const char* key,
                  const std::vector<std::string>& values) {
  w.Key(key);
  w.StartArray();
  for (const std::string& v : values) w.String(v);
  w.EndArray();
}

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

}  // namespace bridge
