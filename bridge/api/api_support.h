#pragma once

// What the provider API clients share: JSON string lists. (What they share
// with the normalizers is in bridge/providers/api_support.h.)

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <string>
#include <vector>

#include "bridge/api/provider_api.h"

namespace bridge {

/// The strings of a JSON array, sorted (subscription event lists compare as sets).
std::vector<std::string> SortedStrings(const rapidjson::Value* array);

/// `"key": [values...]`.
void WriteStrings(rapidjson::Writer<rapidjson::StringBuffer>& w, const char* key,
                  const std::vector<std::string>& values);

}  // namespace bridge
