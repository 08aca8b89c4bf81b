#pragma once

// One JSON object per line on stderr. Values are strings; callers never pass
// secrets or signatures.

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace bridge::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kOff = 4 };

using Fields = std::initializer_list<std::pair<std::string_view, std::string_view>>;

void SetLevel(Level level);
/// "debug", "info", "warn", "error", "off"; false for anything else.
bool ParseLevel(std::string_view text, Level& out);
bool Enabled(Level level);

void Write(Level level, std::string_view event, Fields fields);
inline void Debug(std::string_view event, Fields f) { Write(Level::kDebug, event, f); }
inline void Info(std::string_view event, Fields f) { Write(Level::kInfo, event, f); }
inline void Warn(std::string_view event, Fields f) { Write(Level::kWarn, event, f); }
inline void Error(std::string_view event, Fields f) { Write(Level::kError, event, f); }

}  // namespace bridge::log
