#pragma once

// Private to bridge/config: the pieces LoadConfig is assembled from. Each
// file uses only the ones listed before it:
//   config.cpp    the Config struct's own helpers
//   values.cpp    one value: parsing, secret files, librdkafka properties
//   settings.cpp  the one settings table (settings.h)
//   yaml.cpp      the config file
//   env.cpp       the SCHEDBRIDGE_* environment
//   validate.cpp  the rules across settings
//   load.cpp      LoadConfig: defaults < file < environment < flags

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bridge/config/config.h"

namespace bridge::config_internal {

// values.cpp

/// ASCII lowercase.
std::string Lower(std::string_view s);
/// ASCII uppercase.
std::string Upper(std::string s);
/// Without leading spaces and tabs, and trailing spaces, tabs, CR and LF.
std::string_view Trim(std::string_view s);

/// A whole number from `min` to `max`; throws ConfigError naming `name`.
int64_t ParseInt(const std::string& name, const std::string& value, int64_t min, int64_t max);
/// true/1/yes or false/0/no, any case; throws ConfigError naming `name`.
bool ParseBool(const std::string& name, const std::string& value);
/// kafka or spool; throws ConfigError naming `where`.
AckMode ParseAck(const std::string& where, const std::string& value);

/// An environment list of secrets: comma-separated, each trimmed. (A secret
/// that contains a comma comes from a file: one secret per line.)
std::vector<std::string> SplitEnvSecrets(const std::string& text);

/// The whole content of a file holding one value, without its final newline.
std::string ReadValueFile(const std::string& what, const std::string& path);

/// One librdkafka property from the config file (`source` = "kafka.") or a
/// flag (`source` = "--kafka "). `NAME_file: PATH` reads the value from a file.
void SetKafkaProperty(Config& c, const std::string& source, const std::string& name,
                      const std::string& value);

/// The source `provider`/`name`, added when it is not there yet.
SourceConfig& SourceFor(Config& config, const std::string& provider, const std::string& name);

// yaml.cpp

/// Reads the config file at `path` (or `contents`, named `path` in errors).
void LoadFile(Config& c, const std::string& path, const std::vector<std::string>& known_providers,
              const std::optional<std::string>& contents = std::nullopt);

// env.cpp

/// Applies the SCHEDBRIDGE_* variables of `env`; an unknown one is an error.
void ApplyEnvironment(Config& c, const std::map<std::string, std::string>& env,
                      const std::vector<std::string>& known_providers);

// validate.cpp

/// The rules across settings, and what is derived from them (source secrets
/// from secret_env, the spool's keys and topics).
void Validate(Config& c, const ConfigInputs& in);

}  // namespace bridge::config_internal
