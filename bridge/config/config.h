#pragma once

// Configuration: defaults < config file (YAML) < SCHEDBRIDGE_* environment <
// command-line flags. Secrets come from files or the environment only.

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "bridge/http/settings.h"
#include "bridge/kafka/settings.h"
#include "bridge/pipeline/settings.h"
#include "bridge/providers/sources.h"
#include "bridge/spool/settings.h"
#include "bridge/util/log.h"

namespace bridge {

struct Config {
  HttpSettings http;
  KafkaSettings kafka;
  PipelineOptions pipeline;
  /// Following the events topic so every replica knows every acknowledged id.
  DedupSettings dedup;
  /// The journal for `ack: spool` sources (used only when one is configured).
  SpoolOptions spool = DefaultSpoolOptions();
  /// The spool's sealing keys, one per line (the first seals; any verifies).
  /// Required with a spooled source; kept outside the spool's volume.
  std::string spool_key_file;
  std::vector<SourceConfig> sources;
  /// Every source secret must be at least this long (a configuration error
  /// otherwise). 12, not more: the providers' own published test vectors use
  /// a 15-byte secret.
  size_t min_secret_bytes = 12;
  log::Level log_level = log::Level::kInfo;
  /// Log lines as key=value text instead of JSON (log_format: text).
  bool log_text = false;
  std::string config_file;  // the YAML file read, if any
  /// Where the providers reach the webhook port from the internet, without a
  /// trailing slash: `subscriptions` subscribes <public_url>/webhooks/<provider>[/<source>].
  std::string public_url;
  /// How often secret files and the config file are checked for changes
  /// (0 = only on SIGHUP).
  std::chrono::milliseconds reload_interval{2000};
  /// Where each setting that was given came from, by its key: a file
  /// position ("config.yaml:4: listen"), a variable or a flag.
  std::map<std::string, std::string, std::less<>> origins;

  /// How to name a setting in an error: where it was given, else its
  /// environment variable.
  std::string Origin(std::string_view key) const;
  bool AnySpooledSource() const;
  static SpoolOptions DefaultSpoolOptions();
  /// The source for `provider` named `name`, or nullptr.
  const SourceConfig* FindSource(std::string_view provider, std::string_view name) const;
};

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ConfigInputs {
  std::optional<std::string> file;           // YAML config file path
  std::optional<std::string> file_contents;  // or the YAML text itself (tests, fuzzing)
  std::map<std::string, std::string> env;    // environment (SCHEDBRIDGE_* are read)
  std::map<std::string, std::string> flags;  // flag overrides, by the env name they replace
  std::vector<std::string> kafka_flags;      // "name=value" librdkafka overrides
  std::vector<std::string> known_providers;  // for validation
  /// `serve` needs at least one source; `replay` reads only Kafka settings.
  bool require_sources = false;
  /// `subscriptions` may run before a source has a secret (SavvyCal issues it).
  bool require_secrets = true;
  /// Provider-specific source checks: an error sentence, or "".
  std::function<std::string(const SourceConfig&)> check_source;
};

/// Builds and validates the configuration. Throws ConfigError with a message
/// naming the setting at fault (never a secret value).
Config LoadConfig(const ConfigInputs& inputs);

/// Identifies the current state of every file the configuration was read
/// from (config file, secret files): it changes when any of them does.
std::string WatchFingerprint(const Config& config);

/// The process environment as a map.
std::map<std::string, std::string> ProcessEnvironment();

/// Reads secrets from a file: one per line (commas are part of a secret),
/// surrounding whitespace trimmed, blank lines skipped. An empty file is an
/// error unless `allow_empty` (a source whose provider issues the secret,
/// before `subscriptions apply` stored it).
std::vector<std::string> ReadSecretFile(const std::string& path, bool allow_empty = false);

/// A source name or replica id: 1-64 letters, digits, - _ or .
bool ValidToken(const std::string& name);

/// "host:port" → parts. Throws ConfigError naming `where`.
void ParseListen(const std::string& listen, std::string& host, int& port,
                 const std::string& where = "listen address");

}  // namespace bridge
