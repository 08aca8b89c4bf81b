// schedbridge: wiring only. Everything else lives in the core library.

#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <condition_variable>
#include <csignal>
#include <fstream>
#include <iostream>
#include <iterator>
#include <mutex>
#include <sstream>
#include <thread>
#include <tuple>

#include "bridge/api/commands.h"
#include "bridge/config/config.h"
#include "bridge/config/settings.h"
#include "bridge/http/admin_server.h"
#include "bridge/kafka/id_follower.h"
#include "bridge/kafka/rdkafka_publisher.h"
#include "bridge/kafka/topic_reader.h"
#include "bridge/model/time.h"
#include "bridge/pipeline/pipeline.h"
#include "bridge/providers/registry.h"
#include "bridge/replay/replay.h"
#include "bridge/spool/spool.h"
#include "bridge/util/clock.h"
#include "bridge/util/log.h"
#include "bridge/util/process_metrics.h"
#include "bridge/version.h"
#include "bridge/webhook/webhook_server.h"

namespace {

using namespace bridge;

std::vector<std::string> ProviderNames() {
  std::vector<std::string> names;
  for (const auto& p : ProviderRegistry::BuiltIn().all()) names.emplace_back(p->Name());
  return names;
}

// Exit codes (sysexits, as Vector): 0 done, 1 a runtime failure (a port in
// use, Kafka unreachable), 2 bad arguments, 78 a configuration error.
constexpr int kExitRuntime = 1;
constexpr int kExitUsage = 2;
constexpr int kExitConfig = 78;

/// Configuration from file, environment and flag overrides. nullopt with the
/// reason in `error`.
std::optional<Config> Configure(const std::string& config_file,
                                const std::map<std::string, std::string>& flags,
                                const std::vector<std::string>& kafka_flags, bool require_sources,
                                std::string& error, bool require_secrets = true) {
  ConfigInputs in;
  if (!config_file.empty()) in.file = config_file;
  in.env = ProcessEnvironment();
  in.known_providers = ProviderNames();
  in.kafka_flags = kafka_flags;
  in.flags = flags;
  in.require_sources = require_sources;
  in.require_secrets = require_secrets;
  in.check_source = [](const SourceConfig& s) {
    const Provider* p = ProviderRegistry::BuiltIn().Find(s.provider);
    return p == nullptr ? "unknown provider." : p->CheckSource(s);
  };
  try {
    return LoadConfig(in);
  } catch (const ConfigError& e) {
    error = e.what();
    return std::nullopt;
  }
}

int ConfigFailure(const std::string& error) {
  std::cerr << "schedbridge: configuration error: " << error << "\n";
  return kExitConfig;
}

/// `serve` failing before it serves: a log line like every line after it
/// (JSON unless log_format says text), with the exit code's reason.
int StartupFailure(int code, const char* reason, const std::string& error) {
  log::Error("startup_failed", {{"reason", reason}, {"error", error}, {"exit_code", code}});
  return code;
}

void RegisterKafkaMetrics(Metrics& metrics, const RdKafkaPublisher& producer_ref) {
  const RdKafkaPublisher* producer = &producer_ref;
  metrics.Gauge("schedbridge_kafka_queue_messages",
                "Messages queued in the producer or in flight to Kafka.",
                [producer] { return static_cast<double>(producer->QueueLength()); });
  metrics.Gauge("schedbridge_kafka_inflight_requests",
                "Produce requests sent to brokers and awaiting a response.", [producer] {
                  return static_cast<double>(producer->CurrentStats().inflight_requests);
                });
  metrics.Gauge("schedbridge_kafka_ready",
                "1 when Kafka metadata is reachable and the producer healthy.",
                [producer] { return producer->Ready() ? 1.0 : 0.0; });
  metrics.CounterFunc(
      "schedbridge_kafka_errors_total",
      "Broker-facing errors: transmit errors, request timeouts and client error events.",
      [producer] {
        const auto s = producer->CurrentStats();
        return static_cast<double>(s.transmit_errors + s.request_timeouts + s.error_events);
      });
}

void RegisterDedupMetrics(Metrics& metrics, const Pipeline& pipeline, const IdFollower* follower) {
  auto ids = pipeline.shared_recent_ids();
  metrics.Gauge("schedbridge_dedup_ids", "Event ids known for duplicate suppression.",
                [ids] { return static_cast<double>(ids->size()); });
  metrics.CounterFunc("schedbridge_dedup_evicted_total",
                      "Ids forgotten for capacity while still inside the dedup window "
                      "(raise SCHEDBRIDGE_DEDUP_CAPACITY when this grows).",
                      [ids] { return static_cast<double>(ids->evicted_early()); });
  if (follower == nullptr) return;
  metrics.Gauge("schedbridge_dedup_seeded",
                "1 once the ids published within the window before start-up are read.",
                [follower] { return follower->Seeded() ? 1.0 : 0.0; });
  metrics.CounterFunc("schedbridge_dedup_ids_read_total",
                      "Event ids read back from the events topic (all replicas).",
                      [follower] { return static_cast<double>(follower->ids_read()); });
}

void RegisterSpoolMetrics(Metrics& metrics, const Spool& spool_ref) {
  const Spool* spool = &spool_ref;
  auto stat = [spool](auto field) {
    return [spool, field] { return static_cast<double>(spool->stats().*field); };
  };
  metrics.Gauge("schedbridge_spool_records",
                "Deliveries in the spool not yet acknowledged by Kafka.",
                stat(&Spool::Stats::records));
  metrics.Gauge("schedbridge_spool_bytes", "Bytes of spool journal files on disk.",
                stat(&Spool::Stats::bytes));
  metrics.Gauge("schedbridge_spool_oldest_age_seconds",
                "Age of the oldest delivery waiting in the spool (0 when empty).",
                stat(&Spool::Stats::oldest_age_seconds));
  metrics.CounterFunc("schedbridge_spool_drained_total",
                      "Spooled deliveries acknowledged by Kafka and dropped from the journal.",
                      stat(&Spool::Stats::drained));
  metrics.CounterFunc("schedbridge_spool_already_published_total",
                      "Spooled deliveries skipped while draining because their ids were "
                      "already in the events topic.",
                      stat(&Spool::Stats::already_published));
  metrics.CounterFunc("schedbridge_spool_retries_total",
                      "Drain attempts that failed and were retried after a back-off.",
                      stat(&Spool::Stats::retries));
  metrics.CounterFunc("schedbridge_spool_quarantined_total",
                      "Spool records set aside in <spool_dir>/quarantine, never published: not "
                      "sealed by the spool key, unreadable, or naming a topic not configured.",
                      stat(&Spool::Stats::quarantined));
  metrics.CounterFunc(
      "schedbridge_spool_stale_total",
      "Spooled deliveries older than the dedup window when drained: their events "
      "went to the dead-letter topic (stale_spool_record), not to the events topic.",
      stat(&Spool::Stats::stale));
  metrics.CounterFunc("schedbridge_spool_full_total",
                      "Deliveries answered 503 because the spool was full.",
                      stat(&Spool::Stats::full));
}

struct ServeFlags {
  std::string config_file;
  /// Settings given as flags, by environment name (only those set).
  std::map<std::string, std::string> settings;
  std::vector<std::string> kafka;
  bool check_config = false;
  bool connect = false;
};

/// A directory the spool could use: it exists and is writable, or the
/// nearest existing parent is (schedbridge creates it). "" or a sentence.
std::string SpoolDirProblem(const std::string& dir) {
  std::string path = dir;
  while (!path.empty()) {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) {
      if (!S_ISDIR(st.st_mode)) return path + " is not a directory";
      if (::access(path.c_str(), W_OK | X_OK) != 0) {
        return path == dir ? "the spool directory " + dir + " is not writable"
                           : "the spool directory " + dir + " does not exist and " + path +
                                 " is not writable, so it cannot be created";
      }
      return {};
    }
    const size_t slash = path.find_last_of('/');
    path =
        slash == std::string::npos || slash == 0 ? (slash == 0 ? "/" : "") : path.substr(0, slash);
    if (path == "/") {
      return ::access("/", W_OK | X_OK) == 0 ? std::string()
                                             : "the spool directory " + dir + " cannot be created";
    }
  }
  return {};
}

/// `serve --check-config [--connect]`: everything that can be checked without
/// serving. Prints one sentence per problem; returns the exit code.
int CheckConfig(const Config& config, RdKafkaPublisher& publisher, bool connect) {
  std::string error;
  if (!config.http.tls_cert_file.empty() && !WebhookServer::CheckTls(config.http, error)) {
    return ConfigFailure(error);
  }
  if (config.AnySpooledSource()) {
    if (std::string problem = SpoolDirProblem(config.spool.dir); !problem.empty()) {
      return ConfigFailure(problem + " (spool_dir).");
    }
  }
  // With --connect, Kafka is checked before anything is called OK: a failure
  // is never printed after a success.
  std::string reached;
  if (connect) {
    std::map<std::string, int> partitions;
    if (!publisher.DescribeTopics({config.pipeline.events_topic, config.pipeline.dlq_topic},
                                  std::chrono::seconds(10), partitions, error)) {
      std::cerr << "schedbridge: Kafka: " << error << "\n";
      return kExitRuntime;
    }
    bool missing = false;
    for (const std::string& topic : {config.pipeline.events_topic, config.pipeline.dlq_topic}) {
      if (partitions[topic] < 0) {
        std::cerr << "schedbridge: configuration error: topic " << topic
                  << " does not exist (create it, or fix topics in the configuration).\n";
        missing = true;
      } else {
        reached +=
            "kafka: topic " + topic + ": " + std::to_string(partitions[topic]) + " partition(s)\n";
      }
    }
    if (missing) return kExitConfig;
  }
  std::string sources;
  for (const SourceConfig& s : config.sources) {
    sources += (sources.empty() ? "" : ", ") + s.provider + "/" + s.name;
  }
  std::cout << "configuration OK: " << config.sources.size() << " source(s) (" << sources
            << "), brokers " << config.kafka.brokers << ", topics " << config.pipeline.events_topic
            << " / " << config.pipeline.dlq_topic << "\n"
            << reached;
  return 0;
}

int Serve(const ServeFlags& f) {
  std::string config_error;
  std::optional<Config> loaded =
      Configure(f.config_file, f.settings, f.kafka, /*require_sources=*/true, config_error);
  if (!loaded) {
    return f.check_config ? ConfigFailure(config_error)
                          : StartupFailure(kExitConfig, "configuration", config_error);
  }
  const Config& config = *loaded;
  log::SetLevel(config.log_level);
  log::SetTextFormat(config.log_text);
  // A check prints its verdict; librdkafka's connection attempts are noise
  // there (with --connect, its errors still show).
  if (f.check_config && !f.connect) log::SetLevel(log::Level::kOff);

  // Signals are taken by one thread with sigwait; block them everywhere else
  // before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  std::string error;
  auto publisher = RdKafkaPublisher::Create(config.kafka, error);
  if (!publisher) {
    return f.check_config ? ConfigFailure(error)
                          : StartupFailure(kExitConfig, "configuration", error);
  }
  if (f.check_config) {
    const int code = CheckConfig(config, *publisher, f.connect);
    publisher->Close(std::chrono::milliseconds(0));
    return code;
  }

  SystemClock clock;
  Metrics metrics;
  RegisterProcessMetrics(metrics, kVersion);
  RegisterKafkaMetrics(metrics, *publisher);
  Pipeline pipeline(config.pipeline, *publisher, clock);

  // Duplicates across replicas: follow the ids every replica publishes.
  std::unique_ptr<IdFollower> follower;
  if (config.dedup.across_replicas) {
    metrics.DescribeHistogram(
        "schedbridge_dedup_peer_lag_seconds",
        "Time from another replica producing an event to this replica knowing its id: the "
        "window in which a redelivery to this replica is not yet recognised as a duplicate.",
        {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10});
    IdFollowerOptions o;
    o.topic = config.pipeline.events_topic;
    o.window = config.pipeline.dedup_window;
    o.self_replica = config.pipeline.replica_id;
    o.fetch_wait = config.dedup.fetch_wait;
    o.on_peer_lag = [&metrics](double seconds) {
      metrics.Observe("schedbridge_dedup_peer_lag_seconds", {}, seconds);
    };
    follower = IdFollower::Start(config.kafka, std::move(o), pipeline.shared_recent_ids(), error);
    if (!follower) return StartupFailure(kExitConfig, "configuration", error);
  }
  RegisterDedupMetrics(metrics, pipeline, follower.get());

  // The durable spool, for `ack: spool` sources.
  std::unique_ptr<Spool> spool;
  if (config.AnySpooledSource()) {
    SpoolOptions o = config.spool;
    o.replica_id = config.pipeline.replica_id;
    spool = Spool::Open(o, *publisher, pipeline.shared_recent_ids(), error);
    if (!spool) {
      return StartupFailure(kExitRuntime, "spool", "cannot open the spool: " + error);
    }
    pipeline.AttachSpool(spool.get());
    // Drain once the id index is seeded: records a previous process already
    // published are then recognised and skipped.
    spool->Start([f = follower.get()] { return f == nullptr || f->Seeded(); });
    RegisterSpoolMetrics(metrics, *spool);
  }

  SourceTable sources(config.sources);
  WebhookServer webhooks(config, sources, pipeline, ProviderRegistry::BuiltIn(), metrics);
  if (!webhooks.Valid()) {
    return StartupFailure(kExitConfig, "configuration", webhooks.tls_error());
  }
  AdminServer admin(metrics, [&publisher, &follower, &spool]() -> std::string {
    const bool kafka = publisher->Ready();
    const bool seeded = follower == nullptr || follower->Seeded();
    if (kafka && seeded) return {};
    // With a spool, webhooks are still taken while Kafka is away: stay in the
    // Service, or the deliveries the spool is for would go nowhere.
    if (spool != nullptr && spool->Healthy() && spool->HasRoom()) return {};
    return kafka ? "dedup_index_loading" : "kafka_unavailable";
  });
  // librdkafka's fatal errors (e.g. the idempotent producer's, librdkafka
  // #4438) end this producer for good: fail liveness so the pod restarts.
  admin.SetLivenessCheck([&publisher] { return publisher->LivenessProblem(); });
  // Every connection is a descriptor: take what the hard limit allows.
  const uint64_t open_files = RaiseOpenFileLimit();
  const int port = webhooks.Bind(config.http.host, config.http.port, error);
  if (port < 0) {
    return StartupFailure(kExitRuntime, "listen", error);
  }
  const int admin_port = admin.Bind(config.http.admin_host, config.http.admin_port, error);
  if (admin_port < 0) {
    return StartupFailure(kExitRuntime, "listen", error);
  }
  webhooks.Start();
  admin.Start();
  log::Info("listening",
            {{"address", config.http.host + ":" + std::to_string(port)},
             {"admin_address", config.http.admin_host + ":" + std::to_string(admin_port)},
             {"tls", !config.http.tls_cert_file.empty()},
             {"brokers", config.kafka.brokers},
             {"events_topic", config.pipeline.events_topic},
             {"dlq_topic", config.pipeline.dlq_topic},
             {"sources", static_cast<int64_t>(config.sources.size())},
             {"open_files", open_files},
             {"version", kVersion}});

  // Secret rotation without restart: re-read the configuration's files when
  // they change (Kubernetes updates mounted Secrets in place) or on SIGHUP.
  std::mutex reload_mu;
  std::condition_variable reload_cv;
  bool reload_requested = false, stopping = false;
  std::thread reloader([&] {
    Config watched = config;  // the files to watch follow the latest good configuration
    std::string fingerprint = WatchFingerprint(watched);
    const auto interval = config.reload_interval.count() > 0 ? config.reload_interval
                                                             : std::chrono::milliseconds(3600000);
    std::unique_lock lock(reload_mu);
    while (!stopping) {
      reload_cv.wait_for(lock, interval, [&] { return stopping || reload_requested; });
      if (stopping) break;
      const bool forced = reload_requested;
      reload_requested = false;
      lock.unlock();
      const std::string now = WatchFingerprint(watched);
      if (forced || (config.reload_interval.count() > 0 && now != fingerprint)) {
        fingerprint = now;
        std::string reload_error;
        if (std::optional<Config> fresh =
                Configure(f.config_file, f.settings, f.kafka, true, reload_error)) {
          sources.Replace(fresh->sources);
          std::string tls_error;
          if (!webhooks.ReloadTls(fresh->http, tls_error)) {
            log::Error("tls_reload_failed",
                       {{"error", tls_error}, {"kept", "the previous certificate"}});
          }
          watched = *fresh;
          fingerprint = WatchFingerprint(watched);
          log::Info("sources_reloaded", {{"sources", static_cast<int64_t>(fresh->sources.size())},
                                         {"trigger", forced ? "SIGHUP" : "file change"}});
        } else {
          log::Error("sources_reload_failed",
                     {{"reason", reload_error}, {"kept", "the previous sources"}});
        }
      }
      lock.lock();
    }
  });
  for (;;) {
    int sig = 0;
    sigwait(&signals, &sig);
    if (sig == SIGHUP) {
      std::lock_guard lock(reload_mu);
      reload_requested = true;
      reload_cv.notify_all();
      continue;
    }
    log::Info("shutdown", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
    break;
  }
  // Stop accepting; answer what is in flight (each within its ack deadline).
  admin.BeginDrain();
  webhooks.Stop(config.pipeline.ack_timeout + std::chrono::seconds(1));
  {
    std::lock_guard lock(reload_mu);
    stopping = true;
    reload_cv.notify_all();
  }
  reloader.join();
  if (spool) {
    spool->Stop(config.http.shutdown_timeout);
    const Spool::Stats left = spool->stats();
    log::Info("spool_stopped", {{"records_left", left.records}, {"bytes", left.bytes}});
  }
  const int unflushed = publisher->Close(config.http.shutdown_timeout);
  follower.reset();
  admin.Stop();
  log::Info("stopped", {{"unflushed_messages", unflushed}});
  return 0;
}

/// A --since/--until/--horizon style duration: 90d, 6h, 30m, 45s.
std::optional<int64_t> ParseDurationMs(const std::string& text) {
  if (text.size() < 2) return std::nullopt;
  const char unit = text.back();
  const std::string number = text.substr(0, text.size() - 1);
  // At most nine digits: std::stoll would throw past int64, and n * 86400000 overflow.
  if (number.size() > 9 || number.find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  const int64_t n = std::stoll(number);
  switch (unit) {
    case 'd':
      return n * 86400000;
    case 'h':
      return n * 3600000;
    case 'm':
      return n * 60000;
    case 's':
      return n * 1000;
    default:
      return std::nullopt;
  }
}

/// How every command's --since and --until are written (one vocabulary).
constexpr const char* kTimeForms =
    "a date (2026-11-23), an RFC 3339 time (2026-11-23T09:00:00Z), epoch milliseconds or a "
    "duration before now (6h, 2d)";

/// A --since/--until value: a date (`end` takes the end of that day), an RFC
/// 3339 time, epoch milliseconds, or a duration before `now_ms`.
std::optional<int64_t> ParseTimeArg(const std::string& text, bool end, int64_t now_ms) {
  if (auto d = ParseDurationMs(text)) return now_ms - *d;
  return ParseReplayTime(text, end);
}

struct ReplayFlags {
  ReplayOptions options;
  std::string config_file, brokers, since, until;
  std::vector<std::string> kafka;
  bool from_set = false, to_set = false;
};

/// Configuration for the Kafka clients of replay and dlq: no sources needed,
/// and no webhook secret (only `serve` verifies webhooks).
std::optional<Config> ReplayConfig(const ReplayFlags& f, std::string& error) {
  std::map<std::string, std::string> flags;
  if (!f.brokers.empty()) flags["SCHEDBRIDGE_KAFKA_BROKERS"] = f.brokers;
  return Configure(f.config_file, flags, f.kafka, /*require_sources=*/false, error,
                   /*require_secrets=*/false);
}

/// Checks replay's filters against what exists; a sentence, or "".
std::string FilterProblem(const ReplayOptions& o, const Config& config) {
  const auto one_of = [](const std::string& what, const std::string& value,
                         const std::vector<std::string>& known) -> std::string {
    if (value.empty() || std::find(known.begin(), known.end(), value) != known.end()) return {};
    std::string list;
    for (const std::string& k : known) list += (list.empty() ? "" : ", ") + k;
    std::string message = "--" + what + ": no " + what + " is called \"" + value + "\"";
    if (std::string near = DidYouMean(value, known); !near.empty()) {
      message += "; did you mean " + near + "?";
    } else {
      message += " (known: " + list + ").";
    }
    return message;
  };
  if (auto p = one_of("reason", o.reason, DeadLetterReasons()); !p.empty()) return p;
  if (auto p = one_of("provider", o.provider, ProviderNames()); !p.empty()) return p;
  if (!o.source.empty() && !config.sources.empty()) {
    std::vector<std::string> names;
    for (const SourceConfig& s : config.sources) {
      if (std::find(names.begin(), names.end(), s.name) == names.end()) names.push_back(s.name);
    }
    if (auto p = one_of("source", o.source, names); !p.empty()) return p;
  }
  return {};
}

/// --since / --until into the options; a sentence, or "".
std::string ParseWindow(ReplayFlags& f) {
  for (const auto& [text, slot, end] : {std::tuple{f.since, &f.options.since_ms, false},
                                        std::tuple{f.until, &f.options.until_ms, true}}) {
    if (text.empty()) continue;
    std::optional<int64_t> ms =
        ParseTimeArg(text, end, UnixMillis(std::chrono::system_clock::now()));
    if (!ms) return std::string(end ? "--until" : "--since") + " takes " + kTimeForms + ".";
    *slot = *ms;
  }
  return {};
}

/// What replay and dlq share before reading: the configuration, the topics,
/// the time window and filters checked. nullopt with the exit code set.
std::optional<Config> PrepareRecordCommand(ReplayFlags& f, int& exit_code) {
  std::string error;
  std::optional<Config> config = ReplayConfig(f, error);
  if (!config) {
    exit_code = ConfigFailure(error);
    return std::nullopt;
  }
  log::SetLevel(log::Level::kError);
  log::SetTextFormat(config->log_text);
  ReplayOptions& o = f.options;
  if (!f.from_set) o.from = config->pipeline.dlq_topic;
  if (!f.to_set) o.to = config->pipeline.events_topic;
  o.replica_id = config->pipeline.replica_id;
  std::string problem = ParseWindow(f);
  // --source as every command takes it: name, or provider/name.
  if (const size_t slash = o.source.find('/'); problem.empty() && slash != std::string::npos) {
    const std::string provider = o.source.substr(0, slash);
    if (!o.provider.empty() && o.provider != provider) {
      problem =
          "--source " + o.source + " names another provider than --provider " + o.provider + ".";
    }
    o.provider = provider;
    o.source = o.source.substr(slash + 1);
  }
  if (problem.empty()) problem = FilterProblem(o, *config);
  if (!problem.empty()) {
    std::cerr << "schedbridge: " << problem << "\n";
    exit_code = kExitUsage;
    return std::nullopt;
  }
  return config;
}

int Replay(ReplayFlags f) {
  int exit_code = 0;
  std::optional<Config> config = PrepareRecordCommand(f, exit_code);
  if (!config) return exit_code;
  ReplayOptions& o = f.options;
  o.progress = isatty(STDERR_FILENO) != 0;
  const ReplaySummary summary =
      RunReplay(o, config->kafka, ProviderRegistry::BuiltIn(), std::cout, std::cerr);
  std::cerr << summary.Text() << "\n";
  return summary.ExitCode();
}

/// The current normalizer's verdict on one body: JSON lines of events on
/// `out`, or "dead-letter: <reason>: <detail>". True when it normalizes.
bool NormalizeBody(const Provider& provider, const std::string& source, const std::string& body,
                   const std::string& received_at, std::ostream& out) {
  Headers headers;
  headers.Add("Content-Type", "application/json");
  const Delivery delivery{body, &headers, {}};
  const NormalizeContext ctx{source, received_at};
  const NormalizeResult result = NormalizeSafely(provider, delivery, ctx);
  if (const auto* failure = std::get_if<NormalizeFailure>(&result)) {
    out << "dead-letter: " << failure->reason << ": " << failure->detail << "\n";
    return false;
  }
  for (const CanonicalEvent& e : std::get<std::vector<CanonicalEvent>>(result)) {
    out << ToJson(e) << "\n";
  }
  return true;
}

int Normalize(const std::string& provider_name, const std::string& source,
              const std::string& file) {
  const Provider* provider = ProviderRegistry::BuiltIn().Find(provider_name);
  if (provider == nullptr) {
    std::cerr << "schedbridge: unknown provider \"" << provider_name << "\"\n";
    return kExitUsage;
  }
  std::string body;
  if (file == "-") {
    body.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  } else {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      std::cerr << "schedbridge: cannot read " << file << "\n";
      return kExitUsage;
    }
    body.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  std::ostringstream out;
  const bool ok = NormalizeBody(*provider, source, body,
                                FormatTimestamp(std::chrono::system_clock::now()), out);
  (ok ? std::cout : std::cerr) << out.str();
  return ok ? 0 : 1;
}

/// `schedbridge dlq show|normalize`: dead-letter records, read from the topic
/// (filters as replay's) or from a file of records one per line (`--input`,
/// e.g. `kcat -C -e -t scheduling.dlq.v1 -f '%s\n'`).
int Dlq(ReplayFlags f, bool normalize, const std::string& input) {
  int exit_code = 0;
  std::optional<Config> config = PrepareRecordCommand(f, exit_code);
  if (!config) return exit_code;
  const ReplayOptions& o = f.options;
  std::string error;
  int64_t shown = 0, unreadable = 0, still_failing = 0;
  const auto one = [&](const std::string& value, int64_t timestamp_ms) {
    if ((o.since_ms && timestamp_ms >= 0 && timestamp_ms < *o.since_ms) ||
        (o.until_ms && timestamp_ms >= 0 && timestamp_ms > *o.until_ms)) {
      return;
    }
    std::string parse_error;
    std::optional<DeadLetterRecord> r = ParseDeadLetter(value, parse_error);
    if (!r) {
      ++unreadable;
      std::cerr << "not a dead-letter record: " << parse_error << "\n";
      return;
    }
    if (!MatchesFilters(*r, o)) return;
    ++shown;
    std::cout << (shown > 1 ? "\n" : "") << DescribeDeadLetter(*r);
    if (normalize) {
      const Provider* provider = ProviderRegistry::BuiltIn().Find(r->provider);
      std::cout << "normalized now:\n";
      if (provider == nullptr ||
          !NormalizeBody(*provider, r->source, r->body, r->received_at, std::cout)) {
        ++still_failing;
      }
    }
  };
  if (!input.empty()) {
    std::ifstream file;
    if (input != "-") {
      file.open(input, std::ios::binary);
      if (!file) {
        std::cerr << "schedbridge: cannot read " << input << "\n";
        return kExitUsage;
      }
    }
    std::istream& in = input == "-" ? std::cin : file;
    for (std::string line; (o.limit == 0 || shown < o.limit) && std::getline(in, line);) {
      if (!line.empty()) one(line, -1);
    }
  } else {
    auto reader = TopicReader::Create(config->kafka, o.from, "", error);
    if (!reader) {
      std::cerr << "schedbridge: " << error << "\n";
      return kExitRuntime;
    }
    while (o.limit == 0 || shown < o.limit) {
      std::optional<ConsumedRecord> record = reader->Next();
      if (!record) break;
      one(record->value, record->timestamp_ms);
    }
  }
  std::cerr << "dlq: " << shown << " record(s) shown";
  if (normalize) std::cerr << ", " << still_failing << " still failing with the current normalizer";
  std::cerr << ", " << unreadable << " unreadable\n";
  return 0;
}

/// Adds replay's and dlq's shared options to a subcommand.
void AddRecordOptions(CLI::App* cmd, ReplayFlags& f) {
  ReplayOptions& ro = f.options;
  cmd->add_option("--since", f.since,
                  "only records written at or after this: a date (2026-11-23), an RFC 3339 time, "
                  "epoch milliseconds or a duration before now (6h, 2d)");
  cmd->add_option("--until", f.until,
                  "only records written at or before this (a date means the end of that day)");
  cmd->add_option("--provider", ro.provider, "only this provider's records");
  cmd->add_option("--reason", ro.reason,
                  "only records with this dead-letter reason (invalid_json, not_an_object, "
                  "custom_template, unknown_event_type, missing_booking_id, normalizer_error)");
  cmd->add_option("--source", ro.source, "only this source's records: name or provider/name");
  cmd->add_option("--limit", ro.limit, "stop after this many records");
  cmd->add_option("--brokers", f.brokers, "Kafka bootstrap servers (SCHEDBRIDGE_KAFKA_BROKERS)");
  cmd->add_option("--config", f.config_file, "YAML config file (or SCHEDBRIDGE_CONFIG)");
  cmd->add_option("--kafka", f.kafka, "librdkafka property name=value (repeatable)");
}

const std::vector<std::string> kCommands = {"serve",    "replay",  "dlq",       "normalize",
                                            "settings", "version", "reconcile", "subscriptions"};

/// Configuration for the provider-API commands: sources (secrets optional:
/// SavvyCal issues its own), public_url and Kafka.
std::optional<Config> ApiConfig(const std::string& config_file, const std::string& public_url,
                                int& exit_code, const std::string& brokers = {},
                                const std::vector<std::string>& kafka = {}) {
  ConfigInputs in;
  if (!config_file.empty()) in.file = config_file;
  in.env = ProcessEnvironment();
  in.known_providers = ProviderNames();
  if (!public_url.empty()) in.flags["SCHEDBRIDGE_PUBLIC_URL"] = public_url;
  if (!brokers.empty()) in.flags["SCHEDBRIDGE_KAFKA_BROKERS"] = brokers;
  in.kafka_flags = kafka;
  in.require_secrets = false;
  in.check_source = [](const SourceConfig& s) {
    const Provider* p = ProviderRegistry::BuiltIn().Find(s.provider);
    return p == nullptr ? "unknown provider." : p->CheckSource(s);
  };
  try {
    Config config = LoadConfig(in);
    log::SetLevel(log::Level::kWarn);
    log::SetTextFormat(config.log_text);
    return config;
  } catch (const ConfigError& e) {
    exit_code = ConfigFailure(e.what());
    return std::nullopt;
  }
}

}  // namespace

int main(int argc, char** argv) {
  // A peer that closes while we write (an HTTP client, a broker) is an error
  // on that socket, never the end of the process.
  std::signal(SIGPIPE, SIG_IGN);
  if (argc > 1 && argv[1][0] != '-' &&
      std::find(kCommands.begin(), kCommands.end(), argv[1]) == kCommands.end()) {
    std::string list;
    for (const std::string& c : kCommands) list += (list.empty() ? "" : ", ") + c;
    std::cerr << "schedbridge: unknown command \"" << argv[1] << "\"";
    if (std::string near = DidYouMean(argv[1], kCommands); !near.empty()) {
      std::cerr << " (did you mean " << near << "?)";
    }
    std::cerr << "; the commands are " << list << " (schedbridge --help).\n";
    return kExitUsage;
  }
  CLI::App app{
      "schedbridge: scheduling webhooks (Cal.com, Calendly, SavvyCal, Orufy) into Kafka, "
      "verified and normalized.\nExit codes: 0 done, 1 runtime failure, 2 bad arguments, 78 "
      "configuration error."};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("schedbridge ") + bridge::kVersion);

  ServeFlags serve;
  CLI::App* serve_cmd = app.add_subcommand(
      "serve",
      "Run the webhook ingress. Every setting below is also a config-file key and a "
      "SCHEDBRIDGE_* environment variable (precedence: file < environment < flag).");
  serve_cmd->add_option("--config", serve.config_file, "YAML config file (or SCHEDBRIDGE_CONFIG)");
  CLI::Option* check_opt = serve_cmd->add_flag(
      "--check-config", serve.check_config,
      "check the configuration (files, secrets, TLS pair, spool directory, librdkafka settings) "
      "and exit");
  serve_cmd
      ->add_flag("--connect", serve.connect,
                 "with --check-config: also reach Kafka and check both topics exist")
      ->needs(check_opt);
  serve_cmd->add_option("--kafka", serve.kafka,
                        "librdkafka property name=value (repeatable; SCHEDBRIDGE_KAFKA_<NAME>)");
  std::map<std::string, std::string> setting_values;
  std::vector<std::pair<const SettingSpec*, CLI::Option*>> setting_options;
  for (const SettingSpec& spec : Settings()) {
    const std::string def = SettingDefault(spec);
    std::string help = spec.help;
    for (size_t at; (at = help.find('`')) != std::string::npos;) help.erase(at, 1);
    help += ". " + SettingTypeText(spec) + "; default " + (def.empty() ? "none" : def) +
            "; file key " + spec.key + ", env " + spec.env;
    CLI::Option* opt = serve_cmd->add_option(spec.flag, setting_values[spec.env], help);
    opt->type_name("");
    setting_options.emplace_back(&spec, opt);
  }

  std::string provider, source = "default", file = "-";
  CLI::App* norm_cmd = app.add_subcommand(
      "normalize",
      "Print the canonical event(s) for one raw body as JSON lines (no Kafka, no signature).");
  norm_cmd->add_option("--provider", provider, "provider name")->required();
  norm_cmd->add_option("--source", source, "source name");
  norm_cmd->add_option("file", file, "body file, or - for stdin");

  ReplayFlags replay;
  CLI::App* replay_cmd = app.add_subcommand(
      "replay",
      "Re-normalize dead-letter records and publish them; offsets committed only after publish.");
  ReplayOptions& ro = replay.options;
  auto* from_opt = replay_cmd->add_option(
      "--from", ro.from, "dead-letter topic to read (default SCHEDBRIDGE_TOPIC_DLQ)");
  auto* to_opt = replay_cmd->add_option(
      "--to", ro.to, "events topic to publish to (default SCHEDBRIDGE_TOPIC_EVENTS)");
  CLI::Option* group_opt =
      replay_cmd->add_option("--group", ro.group,
                             "consumer group: start where it left off, commit after publishing, "
                             "never past a record a filter skipped (without: read everything, "
                             "commit nothing)");
  AddRecordOptions(replay_cmd, replay);
  replay_cmd->add_flag(
      "--dry-run", ro.dry_run,
      "print what would be published (topic, key, value); publish and commit nothing");
  replay_cmd
      ->add_flag("--transactional", ro.transactional,
                 "publish and commit offsets in Kafka transactions (exactly once for "
                 "read_committed consumers); needs --group")
      ->needs(group_opt);
  replay_cmd->add_flag(
      "--requeue-failed", ro.requeue_failed,
      "write records that still fail back to the dead-letter topic with attempt + 1");
  replay_cmd->add_option("--batch-size", ro.batch_size, "records per publish/commit batch")
      ->check(CLI::Range(1, 100000));
  std::string max_rate;
  replay_cmd->add_option("--max-rate", max_rate,
                         "records per second at most, e.g. 50 or 50/s (0 = unlimited)");

  ReplayFlags dlq;
  std::string dlq_input;
  CLI::App* dlq_cmd = app.add_subcommand(
      "dlq", "Read dead-letter records: show them, or what the current normalizer makes of them.");
  dlq_cmd->require_subcommand(1);
  CLI::App* dlq_show = dlq_cmd->add_subcommand(
      "show",
      "Print each record: reason, provider, source, headers, and its body decoded "
      "(base64 too) and pretty-printed.");
  CLI::App* dlq_norm = dlq_cmd->add_subcommand(
      "normalize",
      "As show, then the current normalizer's events (JSON lines) or its dead-letter reason.");
  std::vector<CLI::Option*> dlq_from;
  for (CLI::App* cmd : {dlq_show, dlq_norm}) {
    dlq_from.push_back(cmd->add_option("--from", dlq.options.from,
                                       "dead-letter topic (default SCHEDBRIDGE_TOPIC_DLQ)"));
    cmd->add_option("--input", dlq_input,
                    "read records from this file (one JSON record per line, - for stdin) "
                    "instead of Kafka");
    AddRecordOptions(cmd, dlq);
  }

  SubscriptionsFlags subs;
  std::string subs_config, subs_public_url, api_deadline = "10m";
  constexpr const char* kDeadlineHelp =
      "give up on a source's provider API after this long, retries and waits included "
      "(default 10m; each request also ends after 60s)";
  CLI::App* subs_cmd = app.add_subcommand(
      "subscriptions",
      "The providers' webhook subscriptions for the configured sources, through their APIs "
      "(api_key_file, api_url, public_url).");
  subs_cmd->require_subcommand(1);
  for (const auto& [name, help] :
       {std::pair{"list", "List each source's subscriptions at its provider."},
        std::pair{"diff", "Show what apply would change."},
        std::pair{"apply", "Create or fix each source's subscription (idempotent)."}}) {
    CLI::App* c = subs_cmd->add_subcommand(name, help);
    c->add_option("--source", subs.source, "only this source: provider, provider/name or name");
    c->add_option("--config", subs_config, "YAML config file (or SCHEDBRIDGE_CONFIG)");
    c->add_option("--public-url", subs_public_url,
                  "where the providers reach the webhook port (SCHEDBRIDGE_PUBLIC_URL)");
    c->add_option("--deadline", api_deadline, kDeadlineHelp);
    if (std::string(name) != "list") {
      c->add_flag("--update-secret", subs.update_secret,
                  "also send the current secret where it cannot be compared (Calendly re-creates "
                  "its subscription), or have SavvyCal issue a new one (secret rotation)");
    }
  }

  ReconcileFlags rec;
  std::string rec_config, rec_since, rec_until, rec_horizon = "90d", rec_lookback = "7d";
  CLI::App* rec_cmd = app.add_subcommand(
      "reconcile",
      "Publish what a provider's API shows and the events topic lacks: bookings never announced, "
      "cancellations and reschedules that never arrived (marked extensions.reconciled).");
  rec_cmd->add_option("--source", rec.source, "provider, provider/name or name")->required();
  rec_cmd
      ->add_option("--since", rec_since,
                   "window start: a date, an RFC 3339 time, epoch ms, or a duration before "
                   "now (6h, 2d)")
      ->required();
  rec_cmd->add_option("--until", rec_until, "window end (default now); as --since");
  rec_cmd->add_flag("--dry-run", rec.options.dry_run,
                    "print the events that would be published; publish nothing");
  rec_cmd->add_option("--horizon", rec_horizon,
                      "providers that filter by start time only (Calendly): bookings starting up "
                      "to this long after --until (default 90d)");
  rec_cmd->add_option("--lookback", rec_lookback,
                      "read the events topic from this long before --since (default 7d)");
  rec_cmd
      ->add_option("--max-bookings", rec.options.max_bookings,
                   "stop (publishing nothing) past this many bookings (default 10000)")
      ->check(CLI::Range(int64_t{1}, int64_t{10000000}));
  rec_cmd->add_option("--page-size", rec.options.page_size, "API page size (default 100)")
      ->check(CLI::Range(1, 100));
  rec_cmd->add_option("--pushgateway", rec.pushgateway,
                      "push the run's metrics to this Prometheus Pushgateway (a CronJob)");
  rec_cmd->add_option("--metrics-file", rec.metrics_file,
                      "write the run's metrics to this file (node-exporter textfile collector)");
  rec_cmd->add_option("--config", rec_config, "YAML config file (or SCHEDBRIDGE_CONFIG)");
  std::string rec_brokers;
  std::vector<std::string> rec_kafka;
  rec_cmd->add_option("--brokers", rec_brokers,
                      "Kafka bootstrap servers (SCHEDBRIDGE_KAFKA_BROKERS)");
  rec_cmd->add_option("--kafka", rec_kafka, "librdkafka property name=value (repeatable)");
  rec_cmd->add_option("--deadline", api_deadline, kDeadlineHelp);

  CLI::App* settings_cmd = app.add_subcommand(
      "settings",
      "Print every setting (environment, flag, file key, default) as a Markdown table.");
  CLI::App* version_cmd = app.add_subcommand("version", "Print the version.");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : kExitUsage;
  }
  if (*serve_cmd) {
    for (const auto& [spec, opt] : setting_options) {
      if (opt->count() > 0) serve.settings[spec->env] = setting_values[spec->env];
    }
    return Serve(serve);
  }
  if (*norm_cmd) return Normalize(provider, source, file);
  if (*replay_cmd) {
    if (!max_rate.empty()) {
      std::string number = max_rate;
      if (number.size() > 2 && number.compare(number.size() - 2, 2, "/s") == 0) {
        number.resize(number.size() - 2);
      }
      try {
        size_t used = 0;
        ro.max_rate = std::stod(number, &used);
        if (used != number.size() || ro.max_rate < 0) throw std::invalid_argument(number);
      } catch (const std::exception&) {
        std::cerr << "schedbridge: --max-rate takes records per second, e.g. 50 or 50/s.\n";
        return kExitUsage;
      }
    }
    replay.from_set = from_opt->count() > 0;
    replay.to_set = to_opt->count() > 0;
    return Replay(replay);
  }
  if (*dlq_cmd) {
    dlq.from_set = dlq_from[0]->count() + dlq_from[1]->count() > 0;
    return Dlq(dlq, dlq_norm->parsed(), dlq_input);
  }
  const auto deadline_ms = ParseDurationMs(api_deadline);
  if ((*subs_cmd || *rec_cmd) && (!deadline_ms || *deadline_ms <= 0)) {
    std::cerr << "schedbridge: --deadline takes a duration: 10m, 1h, 90s.\n";
    return kExitUsage;
  }
  if (*subs_cmd) {
    subs.retry.run_deadline = std::chrono::milliseconds(*deadline_ms);
    int exit_code = 0;
    std::optional<Config> config = ApiConfig(subs_config, subs_public_url, exit_code);
    if (!config) return exit_code;
    subs.action = subs_cmd->get_subcommands().front()->get_name();
    return SubscriptionsCommand(*config, subs, std::cout, std::cerr);
  }
  if (*rec_cmd) {
    const int64_t now_ms = UnixMillis(std::chrono::system_clock::now());
    const auto since = ParseTimeArg(rec_since, false, now_ms);
    const auto until =
        rec_until.empty() ? std::optional<int64_t>(now_ms) : ParseTimeArg(rec_until, true, now_ms);
    const auto horizon = ParseDurationMs(rec_horizon), lookback = ParseDurationMs(rec_lookback);
    if (!since || !until || *since > *until) {
      std::cerr << "schedbridge: --since and --until take " << kTimeForms
                << ", with --since first.\n";
      return kExitUsage;
    }
    if (!horizon || !lookback) {
      std::cerr << "schedbridge: --horizon and --lookback take a duration: 90d, 6h, 30m.\n";
      return kExitUsage;
    }
    rec.options.since_ms = *since;
    rec.options.until_ms = *until;
    rec.options.horizon_ms = *horizon;
    rec.options.lookback_ms = *lookback;
    rec.options.progress = true;
    rec.retry.run_deadline = std::chrono::milliseconds(*deadline_ms);
    int exit_code = 0;
    std::optional<Config> config = ApiConfig(rec_config, "", exit_code, rec_brokers, rec_kafka);
    if (!config) return exit_code;
    return ReconcileCommand(*config, rec, std::cout, std::cerr);
  }
  if (*settings_cmd) {
    std::cout << SettingsMarkdown();
    return 0;
  }
  if (*version_cmd) {
    std::cout << "schedbridge " << bridge::kVersion << "\n";
    return 0;
  }
  return kExitUsage;
}
