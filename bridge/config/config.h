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

/// The webhook listener (event-driven, Boost.Beast) and its limits, and the
/// admin listener. Each limit is answered with a clear status or an early
/// close and counted in schedbridge_http_limited_total{limit}.
struct HttpSettings {
  std::string host = "0.0.0.0";
  int port = 8080;
  /// /metrics, /healthz, /readyz (cpp-httplib; never exposed to the internet).
  std::string admin_host = "0.0.0.0";
  int admin_port = 9090;
  /// I/O threads of the webhook port; 0 = one per core.
  int io_threads = 0;
  /// The kernel's queue of connections not yet accepted (listen(2) backlog).
  int listen_backlog = 1024;
  size_t max_body_bytes = 1 << 20;   // 413 above, from Content-Length before reading
  size_t max_headers = 100;          // 431 above
  size_t max_head_bytes = 64 << 10;  // request line + headers; 431 above
  /// Body bytes held by requests in flight, all connections together; when a
  /// new body would not fit: 503 with Retry-After, before reading it.
  size_t body_budget_bytes = 32 << 20;
  size_t max_connections = 16384;             // beyond: accepted and closed at once
  size_t max_connections_per_address = 1024;  // 0 = no per-address cap
  /// From accept (or the first byte of a keep-alive request) to the end of the head: 408.
  std::chrono::milliseconds head_timeout{10000};
  /// From the end of the head to the end of the body: 408.
  std::chrono::milliseconds body_timeout{20000};
  /// An idle keep-alive connection is closed after this.
  std::chrono::milliseconds idle_timeout{60000};
  /// Writing one answer.
  std::chrono::milliseconds write_timeout{10000};
  int retry_after_seconds = 5;
  /// TLS on the webhook port itself: both set = HTTPS (PEM files).
  std::string tls_cert_file;
  std::string tls_key_file;
  /// "1.2" or "1.3".
  std::string tls_min_version = "1.2";
  /// OpenSSL cipher list for TLS 1.2: forward-secret AEAD suites only (TLS
  /// 1.3's suites all are).
  std::string tls_ciphers =
      "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
      "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
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
