#include "bridge/config/settings.h"

#include <algorithm>
#include <sstream>

#include "bridge/config/config.h"
#include "bridge/config/loader.h"
#include "bridge/util/log.h"

namespace bridge {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

int64_t ToInt(const std::string& v) { return std::stoll(v); }

bool ToBool(const std::string& v) {
  const std::string l = config_internal::Lower(v);
  return l == "true" || l == "1" || l == "yes";
}

std::string Address(const std::string& host, int port) { return host + ":" + std::to_string(port); }

// clang-format off
#define SB_MS(field) [](Config& c, const std::string& v, const std::string&) { c.field = milliseconds(ToInt(v)); }, \
                     [](const Config& c) { return std::to_string(c.field.count()); }
#define SB_S(field)  [](Config& c, const std::string& v, const std::string&) { c.field = seconds(ToInt(v)); }, \
                     [](const Config& c) { return std::to_string(std::chrono::duration_cast<seconds>(c.field).count()); }
#define SB_INT(field, type) [](Config& c, const std::string& v, const std::string&) { c.field = static_cast<type>(ToInt(v)); }, \
                            [](const Config& c) { return std::to_string(c.field); }
#define SB_STR(field) [](Config& c, const std::string& v, const std::string&) { c.field = v; }, \
                      [](const Config& c) { return std::string(c.field); }
// clang-format on

const std::vector<SettingSpec> kSettings = {
    {"kafka.brokers", "SCHEDBRIDGE_KAFKA_BROKERS", "--brokers", SettingKind::kString, 0, 0, "", "",
     "Kafka bootstrap servers", "", SB_STR(kafka.brokers)},
    {"listen", "SCHEDBRIDGE_LISTEN", "--listen", SettingKind::kAddress, 0, 0, "", "",
     "webhook port address (`:0` picks a free port)", "",
     [](Config& c, const std::string& v, const std::string& where) {
       ParseListen(v, c.http.host, c.http.port, where);
     },
     [](const Config& c) { return Address(c.http.host, c.http.port); }},
    {"admin_listen", "SCHEDBRIDGE_ADMIN_LISTEN", "--admin-listen", SettingKind::kAddress, 0, 0, "",
     "", "admin port address: `/metrics`, `/healthz`, `/readyz` (`:0` picks a free port)", "",
     [](Config& c, const std::string& v, const std::string& where) {
       ParseListen(v, c.http.admin_host, c.http.admin_port, where);
     },
     [](const Config& c) { return Address(c.http.admin_host, c.http.admin_port); }},
    {"topics.events", "SCHEDBRIDGE_TOPIC_EVENTS", "--topic-events", SettingKind::kString, 0, 0, "",
     "", "the events topic", "", SB_STR(pipeline.events_topic)},
    {"topics.dead_letter", "SCHEDBRIDGE_TOPIC_DLQ", "--topic-dlq", SettingKind::kString, 0, 0, "",
     "", "the dead-letter topic", "", SB_STR(pipeline.dlq_topic)},
    {"public_url", "SCHEDBRIDGE_PUBLIC_URL", "--public-url", SettingKind::kString, 0, 0, "", "",
     "the webhook port's address as the providers reach it (`https://hooks.example.com`); "
     "`subscriptions` subscribes `<public_url>/webhooks/<provider>[/<source>]`",
     "", SB_STR(public_url)},
    {"ack_timeout_ms", "SCHEDBRIDGE_ACK_TIMEOUT_MS", "--ack-timeout-ms", SettingKind::kInteger, 1,
     600000, "", "ms",
     "how long a webhook waits for the Kafka ack before 503 (Calendly's read timeout is 15 s)", "",
     SB_MS(pipeline.ack_timeout)},
    {"min_secret_bytes", "SCHEDBRIDGE_MIN_SECRET_BYTES", "--min-secret-bytes",
     SettingKind::kInteger, 1, 1024, "", "bytes",
     "every source secret must be at least this long, or the configuration is refused (12, not "
     "16: the providers' own published test vectors use a 15-byte secret)",
     "", SB_INT(min_secret_bytes, size_t)},
    {"io_threads", "SCHEDBRIDGE_IO_THREADS", "--io-threads", SettingKind::kInteger, 0, 256, "", "",
     "I/O threads of the webhook port; no thread is held by a request waiting for Kafka. Usable "
     "CPUs: those the affinity mask allows, capped by the cgroup's CPU limit (a pod's "
     "resources.limits.cpu, rounded up), not the node's cores",
     "one per usable CPU", SB_INT(http.io_threads, int)},
    {"listen_backlog", "SCHEDBRIDGE_LISTEN_BACKLOG", "--listen-backlog", SettingKind::kInteger, 1,
     65535, "", "",
     "connections the kernel queues before schedbridge accepts them (capped by "
     "`net.core.somaxconn`)",
     "", SB_INT(http.listen_backlog, int)},
    {"max_body_bytes", "SCHEDBRIDGE_MAX_BODY_BYTES", "--max-body-bytes", SettingKind::kInteger, 1,
     64 << 20, "", "bytes",
     "413 from `Content-Length` before reading; chunked bodies are cut when they pass it", "",
     SB_INT(http.max_body_bytes, size_t)},
    {"max_headers", "SCHEDBRIDGE_MAX_HEADERS", "--max-headers", SettingKind::kInteger, 8, 10000, "",
     "", "header fields per request; 431 above", "", SB_INT(http.max_headers, size_t)},
    {"max_head_bytes", "SCHEDBRIDGE_MAX_HEAD_BYTES", "--max-head-bytes", SettingKind::kInteger,
     1024, 1 << 20, "", "bytes", "request line and headers together; 431 above", "",
     SB_INT(http.max_head_bytes, size_t)},
    {"body_budget_bytes", "SCHEDBRIDGE_BODY_BUDGET_BYTES", "--body-budget-bytes",
     SettingKind::kInteger, 1 << 16, int64_t{1} << 40, "", "bytes",
     "body bytes held by all requests in flight, taken as they arrive (a declared length "
     "alone holds nothing); a declared body that would not fit is answered 503 before it is "
     "read, one that stops fitting as it arrives 503 and close",
     "", SB_INT(http.body_budget_bytes, size_t)},
    {"max_connections", "SCHEDBRIDGE_MAX_CONNECTIONS", "--max-connections", SettingKind::kInteger,
     1, 10000000, "", "", "open connections on the webhook port; beyond, accepted and closed", "",
     SB_INT(http.max_connections, size_t)},
    {"max_connections_per_address", "SCHEDBRIDGE_MAX_CONNECTIONS_PER_ADDRESS",
     "--max-connections-per-address", SettingKind::kInteger, 0, 10000000, "", "",
     "open connections from one client address (0: no cap)", "",
     SB_INT(http.max_connections_per_address, size_t)},
    {"head_timeout_ms", "SCHEDBRIDGE_HEAD_TIMEOUT_MS", "--head-timeout-ms", SettingKind::kInteger,
     1, 600000, "", "ms",
     "from accept (or a keep-alive request's first byte) to the end of the head; 408", "",
     SB_MS(http.head_timeout)},
    {"body_timeout_ms", "SCHEDBRIDGE_BODY_TIMEOUT_MS", "--body-timeout-ms", SettingKind::kInteger,
     1, 600000, "", "ms", "from the end of the head to the end of the body; 408", "",
     SB_MS(http.body_timeout)},
    {"idle_timeout_ms", "SCHEDBRIDGE_IDLE_TIMEOUT_MS", "--idle-timeout-ms", SettingKind::kInteger,
     1, 3600000, "", "ms", "an idle keep-alive connection is closed after this", "",
     SB_MS(http.idle_timeout)},
    {"write_timeout_ms", "SCHEDBRIDGE_WRITE_TIMEOUT_MS", "--write-timeout-ms",
     SettingKind::kInteger, 1, 600000, "", "ms", "writing one answer", "",
     SB_MS(http.write_timeout)},
    {"retry_after_seconds", "SCHEDBRIDGE_RETRY_AFTER_SECONDS", "--retry-after-seconds",
     SettingKind::kInteger, 0, 86400, "", "s", "`Retry-After` on 503", "",
     SB_INT(http.retry_after_seconds, int)},
    {"dedup_capacity", "SCHEDBRIDGE_DEDUP_CAPACITY", "--dedup-capacity", SettingKind::kInteger, 0,
     100000000, "", "", "acknowledged ids remembered at most (34 bytes each)", "",
     SB_INT(pipeline.dedup_capacity, size_t)},
    {"dedup_window_seconds", "SCHEDBRIDGE_DEDUP_WINDOW_SECONDS", "--dedup-window-seconds",
     SettingKind::kInteger, 1, 30 * 86400, "", "s",
     "how long an acknowledged id counts for duplicate suppression", "",
     SB_S(pipeline.dedup_window)},
    {"max_delivery_age_seconds", "SCHEDBRIDGE_MAX_DELIVERY_AGE_SECONDS",
     "--max-delivery-age-seconds", SettingKind::kInteger, 0, 365 * 86400, "", "s",
     "refuse (401 `stale_delivery`) a live delivery whose signed body time is older than this, "
     "for providers whose signature covers no time (see \"Replays\"); at most "
     "`dedup_window_seconds`. The Helm chart sets 86400",
     "no bound", SB_S(pipeline.max_delivery_age)},
    {"dedup_across_replicas", "SCHEDBRIDGE_DEDUP_ACROSS_REPLICAS", "--dedup-across-replicas",
     SettingKind::kBoolean, 0, 0, "", "", "follow the events topic so every replica knows every id",
     "",
     [](Config& c, const std::string& v, const std::string&) {
       c.dedup.across_replicas = ToBool(v);
     },
     [](const Config& c) { return std::string(c.dedup.across_replicas ? "true" : "false"); }},
    {"dedup_fetch_wait_ms", "SCHEDBRIDGE_DEDUP_FETCH_WAIT_MS", "--dedup-fetch-wait-ms",
     SettingKind::kInteger, 1, 10000, "", "ms",
     "on a quiet topic, how soon a peer's id is known (the race window)", "",
     SB_MS(dedup.fetch_wait)},
    {"replica_id", "SCHEDBRIDGE_REPLICA_ID", "--replica-id", SettingKind::kString, 0, 0, "", "",
     "written as the `schedbridge_replica` header; names who published first in "
     "`schedbridge_duplicates_total`",
     "the host name",
     [](Config& c, const std::string& v, const std::string& where) {
       if (!ValidToken(v)) {
         throw ConfigError(where + " must be 1-64 characters of letters, digits, - _ or ..");
       }
       c.pipeline.replica_id = v;
     },
     [](const Config& c) { return c.pipeline.replica_id; }},
    {"spool_dir", "SCHEDBRIDGE_SPOOL_DIR", "--spool-dir", SettingKind::kPath, 0, 0, "", "",
     "the journal of `ack: spool` sources (created; used only when a source is spooled)", "",
     SB_STR(spool.dir)},
    {"spool_key_file", "SCHEDBRIDGE_SPOOL_KEY_FILE", "--spool-key-file", SettingKind::kPath, 0, 0,
     "", "",
     "required with a spooled source: the key(s) sealing spool records (HMAC-SHA256), one per "
     "line, at least 16 bytes; the first seals, any verifies (rotation). Keep it outside the "
     "spool's volume",
     "", SB_STR(spool_key_file)},
    {"spool_max_bytes", "SCHEDBRIDGE_SPOOL_MAX_BYTES", "--spool-max-bytes", SettingKind::kInteger,
     1 << 20, int64_t{1} << 50, "", "bytes", "journal size beyond which spooled sources answer 503",
     "", SB_INT(spool.max_bytes, uint64_t)},
    {"shutdown_timeout_ms", "SCHEDBRIDGE_SHUTDOWN_TIMEOUT_MS", "--shutdown-timeout-ms",
     SettingKind::kInteger, 0, 600000, "", "ms",
     "on SIGTERM, how long the spool drains and then how long queued (already 503'd) messages "
     "get to flush",
     "", SB_MS(http.shutdown_timeout)},
    {"log_level", "SCHEDBRIDGE_LOG_LEVEL", "--log-level", SettingKind::kChoice, 0, 0,
     "debug|info|warn|error|off", "", "the least severe log line written", "",
     [](Config& c, const std::string& v, const std::string&) { log::ParseLevel(v, c.log_level); },
     [](const Config& c) { return std::string(log::LevelName(c.log_level)); }},
    {"log_format", "SCHEDBRIDGE_LOG_FORMAT", "--log-format", SettingKind::kChoice, 0, 0,
     "json|text", "",
     "`json`: one JSON object per line (for log pipelines); `text`: the same fields as "
     "`key=value` for a terminal",
     "", [](Config& c, const std::string& v, const std::string&) { c.log_text = v == "text"; },
     [](const Config& c) { return std::string(c.log_text ? "text" : "json"); }},
    {"reload_interval_ms", "SCHEDBRIDGE_RELOAD_INTERVAL_MS", "--reload-interval-ms",
     SettingKind::kInteger, 0, 3600000, "", "ms",
     "how often secret files, TLS files and the config file are checked for changes (0: only "
     "on SIGHUP)",
     "", SB_MS(reload_interval)},
    {"tls_cert_file", "SCHEDBRIDGE_TLS_CERT_FILE", "--tls-cert-file", SettingKind::kPath, 0, 0, "",
     "",
     "serve HTTPS on the webhook port (PEM, with `tls_key_file`); reloaded when the files "
     "change: new connections get the new certificate",
     "", SB_STR(http.tls_cert_file)},
    {"tls_key_file", "SCHEDBRIDGE_TLS_KEY_FILE", "--tls-key-file", SettingKind::kPath, 0, 0, "", "",
     "the private key of `tls_cert_file` (PEM)", "", SB_STR(http.tls_key_file)},
    {"tls_min_version", "SCHEDBRIDGE_TLS_MIN_VERSION", "--tls-min-version", SettingKind::kChoice, 0,
     0, "1.2|1.3", "", "the oldest TLS version accepted", "", SB_STR(http.tls_min_version)},
    {"tls_ciphers", "SCHEDBRIDGE_TLS_CIPHERS", "--tls-ciphers", SettingKind::kString, 0, 0, "", "",
     "OpenSSL cipher list for TLS 1.2 (TLS 1.3's suites are all forward secret and AEAD); the "
     "default, ECDHE with AES-GCM or ChaCha20-Poly1305, refuses RSA key exchange, CBC and SHA-1",
     "", SB_STR(http.tls_ciphers)},
};

#undef SB_MS
#undef SB_S
#undef SB_INT
#undef SB_STR

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

}  // namespace

const std::vector<SettingSpec>& Settings() { return kSettings; }

std::string Config::Origin(std::string_view key) const {
  if (auto it = origins.find(key); it != origins.end()) return it->second;
  const SettingSpec* spec = FindSettingByKey(key);
  return spec != nullptr ? spec->env : std::string(key);
}

const SettingSpec* FindSettingByKey(std::string_view key) {
  for (const SettingSpec& s : kSettings) {
    if (key == s.key) return &s;
  }
  return nullptr;
}

const SettingSpec* FindSettingByEnv(std::string_view env) {
  for (const SettingSpec& s : kSettings) {
    if (env == s.env) return &s;
  }
  return nullptr;
}

std::string SettingTypeText(const SettingSpec& s) {
  switch (s.kind) {
    case SettingKind::kInteger: {
      std::string t =
          "a whole number from " + std::to_string(s.min) + " to " + std::to_string(s.max);
      if (*s.unit != '\0') t += std::string(" (") + s.unit + ")";
      return t;
    }
    case SettingKind::kBoolean:
      return "true or false";
    case SettingKind::kAddress:
      return "host:port";
    case SettingKind::kPath:
      return "a file path";
    case SettingKind::kChoice: {
      std::string t;
      std::string_view rest = s.choices;
      while (!rest.empty()) {
        const size_t bar = rest.find('|');
        const std::string_view one = rest.substr(0, bar);
        rest = bar == std::string_view::npos ? std::string_view() : rest.substr(bar + 1);
        t += (t.empty() ? "" : rest.empty() ? " or " : ", ") + std::string(one);
      }
      return "one of " + t;
    }
    case SettingKind::kString:
      return "a non-empty string";
  }
  return "";
}

void ApplySetting(Config& c, const SettingSpec& s, const std::string& value,
                  const std::string& where) {
  const auto refuse = [&] { throw ConfigError(where + " must be " + SettingTypeText(s) + "."); };
  switch (s.kind) {
    case SettingKind::kInteger: {
      try {
        size_t used = 0;
        const long long v = std::stoll(value, &used);
        if (used != value.size() || v < s.min || v > s.max) refuse();
      } catch (const std::logic_error&) {
        refuse();
      }
      break;
    }
    case SettingKind::kBoolean: {
      const std::string l = config_internal::Lower(value);
      if (l != "true" && l != "false" && l != "1" && l != "0" && l != "yes" && l != "no") refuse();
      break;
    }
    case SettingKind::kChoice: {
      std::string_view choices = s.choices;
      bool found = false;
      while (!choices.empty()) {
        const size_t bar = choices.find('|');
        found = found || choices.substr(0, bar) == value;
        choices = bar == std::string_view::npos ? std::string_view() : choices.substr(bar + 1);
      }
      if (!found && !(s.key == std::string_view("log_level") && value == "warning")) refuse();
      break;
    }
    case SettingKind::kString:
    case SettingKind::kPath:
      if (value.empty()) refuse();
      break;
    case SettingKind::kAddress:
      break;  // ParseListen names where
  }
  s.set(c, value, where);
  c.origins[s.key] = where;
}

std::string SettingDefault(const SettingSpec& s) {
  static const Config kDefaults;  // the struct's own defaults
  std::string value = s.get(kDefaults);
  if (*s.default_note != '\0') {
    value = value.empty() ? s.default_note : value + " (" + s.default_note + ")";
  }
  return value;
}

bool IsToolVariable(std::string_view name) {
  // The project's scripts and test tools (README "Tests", "Benchmarks").
  static const std::vector<std::string_view> kTools = {
      "SCHEDBRIDGE_CACHE_DIR",     "SCHEDBRIDGE_SKIP_SANITIZE", "SCHEDBRIDGE_SKIP_FUZZ",
      "SCHEDBRIDGE_SKIP_KAFKA4",   "SCHEDBRIDGE_FUZZ_SECONDS",  "SCHEDBRIDGE_URL",
      "SCHEDBRIDGE_SAMPLE_SECRET", "SCHEDBRIDGE_PORT",          "SCHEDBRIDGE_ADMIN_PORT",
      "SCHEDBRIDGE_HELM"};
  if (std::find(kTools.begin(), kTools.end(), name) != kTools.end()) return true;
  // Kubernetes service links of Services named schedbridge*: <NAME>_SERVICE_HOST,
  // <NAME>_SERVICE_PORT[_<PORT>], <NAME>_PORT[_<N>_<PROTO>[_PROTO|_PORT|_ADDR]].
  const std::string n(name);
  return n.find("_SERVICE_HOST") != std::string::npos ||
         n.find("_SERVICE_PORT") != std::string::npos ||
         (n.find("_PORT_") != std::string::npos &&
          (n.find("_TCP") != std::string::npos || n.find("_UDP") != std::string::npos ||
           n.find("_SCTP") != std::string::npos));
}

std::string DidYouMean(std::string_view name, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_distance = std::string::npos;
  for (const std::string& c : candidates) {
    const size_t d = EditDistance(name, c);
    if (d < best_distance) {
      best_distance = d;
      best = c;
    }
  }
  // A typo: at most three edits, and fewer than a third of the name's characters.
  return best_distance <= 3 && best_distance * 3 < name.size() ? best : std::string();
}

std::string SettingsMarkdown() {
  std::ostringstream out;
  out << "| environment | flag / file key | default | meaning |\n|---|---|---|---|\n";
  const auto row = [&out](const SettingSpec& s) {
    const std::string def = SettingDefault(s);
    out << "| `" << s.env << "` | `" << s.flag << "` / `" << s.key << "` | "
        << (def.empty() ? std::string("—") : "`" + def + "`") << " | " << s.help << "; "
        << SettingTypeText(s) << " |\n";
  };
  for (const SettingSpec& s : kSettings) row(s);
  out << "| `SCHEDBRIDGE_SECRET_<PROVIDER>` | — | — | secrets of the provider's `default` source, "
         "separated by commas, each trimmed (rotation: any one verifies). A secret that "
         "contains a comma must come from a file |\n"
      << "| `SCHEDBRIDGE_SECRET_<PROVIDER>_FILE` | — | — | the same, from a file: one secret per "
         "line (a comma is part of the secret), surrounding whitespace trimmed, blank lines "
         "skipped |\n"
      << "| `SCHEDBRIDGE_ALLOW_UNSIGNED_<PROVIDER>` | source `allow_unsigned` | `false` | accept "
         "unsigned deliveries on the default source |\n"
      << "| `SCHEDBRIDGE_TOLERANCE_SECONDS_<PROVIDER>` | source `tolerance_seconds` | `180` | "
         "signature timestamp tolerance (Calendly) |\n"
      << "| `SCHEDBRIDGE_ACK_<PROVIDER>` | source `ack` | `kafka` | `spool`: answer after the "
         "local journal is fsynced (see \"Durable spool\") |\n"
      << "| `SCHEDBRIDGE_KAFKA_<NAME>` | `--kafka name=value` / `kafka.<name>` | — | any "
         "librdkafka property; `SCHEDBRIDGE_KAFKA_SECURITY_PROTOCOL` → `security.protocol`. "
         "Properties holding a secret (a name with `password`, `secret` or `key`, except the "
         "paths `*.location` and `sasl.kerberos.keytab`) are refused on the command line and in "
         "the file |\n"
      << "| `SCHEDBRIDGE_KAFKA_<NAME>_FILE` | `--kafka name_file=PATH` / `kafka.<name>_file` | — "
         "| the property's value read from a file (its final newline dropped): how a Kafka "
         "password is given, e.g. "
         "`SCHEDBRIDGE_KAFKA_SASL_PASSWORD_FILE=/var/run/secrets/kafka/password` |\n"
      << "| `SCHEDBRIDGE_CONFIG` | `--config` | — | the YAML config file |\n";
  return out.str();
}

}  // namespace bridge
