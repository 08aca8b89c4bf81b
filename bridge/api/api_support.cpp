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

}  // namespace bridge
