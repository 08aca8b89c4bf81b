#pragma once

// One JSON object per line on stderr (or, with log_format: text, the same
// fields as key=value for a terminal). Values keep their JSON types: strings,
// numbers, booleans and arrays of strings. Callers never pass secrets or
// signatures.

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace bridge::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kOff = 4 };

/// One field's value, borrowed for the duration of the call.
class Value {
 public:
  enum class Type { kString, kInteger, kNumber, kBoolean, kStrings };
  Value(const char* s) : type_(Type::kString), text_(s) {}
  Value(std::string_view s) : type_(Type::kString), text_(s) {}
  Value(const std::string& s) : type_(Type::kString), text_(s) {}
  Value(bool b) : type_(Type::kBoolean), integer_(b ? 1 : 0) {}
  template <typename T,
            std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>, int> = 0>
  Value(T n) : type_(Type::kInteger), integer_(static_cast<int64_t>(n)) {}
  Value(double d) : type_(Type::kNumber), number_(d) {}
  Value(const std::vector<std::string>& list) : type_(Type::kStrings), list_(&list) {}

  Type type() const { return type_; }
  std::string_view text() const { return text_; }
  int64_t integer() const { return integer_; }
  double number() const { return number_; }
  const std::vector<std::string>& list() const { return *list_; }

 private:
  Type type_;
  std::string_view text_;
  int64_t integer_ = 0;
  double number_ = 0;
  const std::vector<std::string>* list_ = nullptr;
};

using Fields = std::initializer_list<std::pair<std::string_view, Value>>;

void SetLevel(Level level);
/// key=value lines instead of JSON.
void SetTextFormat(bool text);
/// "debug", "info", "warn", "error", "off".
const char* LevelName(Level level);
/// "debug", "info", "warn", "error", "off"; false for anything else.
bool ParseLevel(std::string_view text, Level& out);
bool Enabled(Level level);

void Write(Level level, std::string_view event, Fields fields);
inline void Debug(std::string_view event, Fields f) { Write(Level::kDebug, event, f); }
inline void Info(std::string_view event, Fields f) { Write(Level::kInfo, event, f); }
inline void Warn(std::string_view event, Fields f) { Write(Level::kWarn, event, f); }
inline void Error(std::string_view event, Fields f) { Write(Level::kError, event, f); }

/// The line Write would print, without printing it (tests).
std::string Format(Level level, std::string_view event, Fields fields);

}  // namespace bridge::log
