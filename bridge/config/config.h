#pragma once

// Configuration: defaults < config file (YAML) < SCHEDBRIDGE_* environment <
// command-line flags. Secrets come from files or the environment only.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "bridge/kafka/rdkafka_publisher.h"
#include "bridge/pipeline/pipeline.h"
#include "bridge/providers/provider.h"
#include "bridge/spool/spool.h"
#include "bridge/util/log.h"

namespace bridge {

struct HttpSettings {
  std::string host = "0.0.0.0";
  int port = 8080;
  size_t max_body_bytes = 1 << 20;
  int threads = 256;  // requests in flight at once (each waits for its ack)
  /// Accepted connections waiting for a thread; beyond this the acceptor
  /// stops accepting (back-pressure into the kernel's listen queue).
  int max_queued_connections = 1024;
  /// The kernel's queue of connections not yet accepted (listen(2) backlog).
  int listen_backlog = 1024;
  std::chrono::milliseconds read_timeout{5000};
  std::chrono::milliseconds write_timeout{5000};
  int retry_after_seconds = 5;
  /// TLS on the ingress itself: both set = HTTPS (PEM files).
  std::string tls_cert_file;
  std::string tls_key_file;
  /// On SIGTERM: how long to wait for queued messages after the last request.
  /// Everything answered 2xx is already acknowledged; this only gives
  /// messages answered 503 a last chance.
  std::chrono::milliseconds shutdown_timeout{5000};
};

struct Config {
  HttpSettings http;
  KafkaSettings kafka;
  PipelineOptions pipeline;
  /// Read the events topic so every replica knows every acknowledged id.
  bool dedup_across_replicas = true;
  std::chrono::milliseconds dedup_fetch_wait{100};
  /// The journal for `ack: spool` sources (used only when one is configured).
  SpoolOptions spool = DefaultSpoolOptions();
  std::vector<SourceConfig> sources;
  log::Level log_level = log::Level::kInfo;
  std::string config_file;  // the YAML file read, if any
  /// How often secret files and the config file are checked for changes
  /// (0 = only on SIGHUP).
  std::chrono::milliseconds reload_interval{2000};

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
  /// Provider-specific source checks: an error sentence, or "".
  std::function<std::string(const SourceConfig&)> check_source;
};

/// Builds and validates the configuration. Throws ConfigError with a message
/// naming the setting at fault (never a secret value).
Config LoadConfig(const ConfigInputs& inputs);

/// Identifies the current state of every file the configuration was read
/// from (config file, secret files): it changes when any of them does.
std::string WatchFingerprint(const Config& config);

/// The sources in force, swappable at run time (secret rotation) while
/// requests read them. Thread-safe.
class SourceTable {
 public:
  explicit SourceTable(std::vector<SourceConfig> sources);
  /// The source, or nullptr. The result stays valid after a Replace().
  std::shared_ptr<const SourceConfig> Find(std::string_view provider, std::string_view name) const;
  void Replace(std::vector<SourceConfig> sources);
  size_t size() const;

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const std::vector<SourceConfig>> sources_;
};

/// The process environment as a map.
std::map<std::string, std::string> ProcessEnvironment();

/// Reads secrets from a file: one per line or comma-separated, trimmed.
std::vector<std::string> ReadSecretFile(const std::string& path);

/// "host:port" → parts. Throws ConfigError.
void ParseListen(const std::string& listen, std::string& host, int& port);

}  // namespace bridge
