#pragma once

// The one table of scalar settings. Each is defined once, with its config-file
// key, environment variable, flag, type, range and help; the loader, `serve
// --help`, the validation messages and the README's configuration table
// (`schedbridge settings --markdown`, checked by a test) all come from it.
// Defaults are the Config struct's own, printed through `get`.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace bridge {

struct Config;

enum class SettingKind { kInteger, kBoolean, kString, kAddress, kPath, kChoice };

struct SettingSpec {
  const char* key;   // config-file key; "topics.events" lives under `topics:`
  const char* env;   // environment variable
  const char* flag;  // serve's flag, "--listen"
  SettingKind kind;
  int64_t min, max;     // kInteger
  const char* choices;  // kChoice: "debug|info|warn|error|off"
  const char* unit;     // "ms", "s", "bytes", "" (for --help and the README)
  const char* help;
  /// Written after the default in --help and the README ("one per core"), or "".
  const char* default_note;
  /// Applies a value already checked against kind, range and choices; may
  /// throw ConfigError naming `where` for a rule of its own.
  void (*set)(Config&, const std::string& value, const std::string& where);
  std::string (*get)(const Config&);
};

const std::vector<SettingSpec>& Settings();
const SettingSpec* FindSettingByKey(std::string_view key);
const SettingSpec* FindSettingByEnv(std::string_view env);

/// Checks `value` against the setting's kind and range and applies it; throws
/// ConfigError "<where> must be ...", never repeating the value.
void ApplySetting(Config& config, const SettingSpec& spec, const std::string& value,
                  const std::string& where);

/// The default of a setting as documented ("10000", "the host name").
std::string SettingDefault(const SettingSpec& spec);
/// "a whole number from 1 to 600000 (ms)", "true or false", ...
std::string SettingTypeText(const SettingSpec& spec);

/// Environment variables read by the project's scripts and tools, not by the
/// service; `serve` ignores them rather than calling them unknown.
bool IsToolVariable(std::string_view name);

/// The closest of `candidates` to `name` (edit distance), or "" when none is
/// close enough to be a likely typo.
std::string DidYouMean(std::string_view name, const std::vector<std::string>& candidates);

/// The README's configuration table, generated from Settings() and the
/// per-provider and librdkafka rows.
std::string SettingsMarkdown();

}  // namespace bridge
