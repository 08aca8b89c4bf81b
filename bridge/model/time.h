#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "bridge/util/timestamp.h"

namespace bridge {

/// Parses an ISO 8601 / RFC 3339 date-time ("2025-03-18T14:00:00Z",
/// "2025-03-20T16:00:00.000Z", "2025-03-18T15:00:00+01:00", "2025-03-18 14:00:00Z").
/// Returns nullopt for anything else, including out-of-range fields and years
/// outside 1900-2200.
std::optional<TimePoint> ParseTimestamp(std::string_view text);

/// Unix milliseconds of a time point, and back.
inline int64_t UnixMillis(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
inline TimePoint FromUnixMillis(int64_t ms) {
  return TimePoint(std::chrono::duration_cast<TimePoint::duration>(std::chrono::milliseconds(ms)));
}

/// Parse-then-format: the canonical spelling of a provider time, or nullopt.
std::optional<std::string> CanonicalTimestamp(std::string_view text);

}  // namespace bridge
