#pragma once

// Formatting a time point as RFC 3339 UTC (log lines, events).

#include <chrono>
#include <string>

namespace bridge {

using TimePoint = std::chrono::system_clock::time_point;

/// RFC 3339 UTC with a `Z`: whole seconds when the fraction is zero, else
/// milliseconds, else microseconds ("2025-03-18T14:00:00Z", "...:00.318Z").
std::string FormatTimestamp(TimePoint t);

}  // namespace bridge
