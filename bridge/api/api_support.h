#pragma once

// What the provider API clients share: JSON string lists, and, for providers
// whose API returns the same resources their webhooks carry (Calendly's
// invitees, SavvyCal's events), the provider's own normalizer over the
// webhook envelope it would have sent, so a reconciled booking reads exactly
// as a live one.

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <optional>
#include <string>
#include <vector>

#include "bridge/api/provider_api.h"

namespace bridge {

/// The strings of a JSON array, sorted (subscription event lists compare as sets).
std::vector<std::string> SortedStrings(const rapidjson::Value* array);

/// `"key": [values...]`.
void WriteStrings(rapidjson::Writer<rapidjson::StringBuffer>& w, const char* key,
                  const std::vector<std::string>& values);

/// The booking event for `booking_uid` among what `normalizer` makes of
/// `envelope`, or nullopt when it makes none (a dead letter).
std::optional<CanonicalEvent> NormalizeEnvelope(const Provider& normalizer,
                                                const rapidjson::Document& envelope,
                                                const std::string& booking_uid,
                                                const std::string& source,
                                                const std::string& received_at);

}  // namespace bridge
