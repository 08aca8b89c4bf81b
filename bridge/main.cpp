// schedbridge: wiring only. Everything else lives in the core library.

#include <pthread.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <condition_variable>
#include <csignal>
#include <fstream>
#include <iostream>
#include <iterator>
#include <mutex>
#include <thread>

#include "bridge/config/config.h"
#include "bridge/http/admin_server.h"
#include "bridge/http/webhook_server.h"
#include "bridge/kafka/id_follower.h"
#include "bridge/kafka/rdkafka_publisher.h"
#include "bridge/model/time.h"
#include "bridge/pipeline/pipeline.h"
#include "bridge/providers/registry.h"
#include "bridge/replay/replay.h"
#include "bridge/spool/spool.h"
#include "bridge/util/clock.h"
#include "bridge/util/log.h"
#include "bridge/version.h"

namespace {

using namespace bridge;

std::vector<std::string> ProviderNames() {
  std::vector<std::string> names;
  for (const auto& p : ProviderRegistry::BuiltIn().all()) names.emplace_back(p->Name());
  return names;
}

/// Configuration from file, environment and flag overrides; exits on error.
std::optional<Config> Configure(const std::string& config_file,
                                std::map<std::string, std::string> flags,
                                std::vector<std::string> kafka_flags) {
  ConfigInputs in;
  if (!config_file.empty()) in.file = config_file;
  in.env = ProcessEnvironment();
  in.known_providers = ProviderNames();
  in.kafka_flags = std::move(kafka_flags);
  in.flags = std::move(flags);
  in.check_source = [](const SourceConfig& s) {
    const Provider* p = ProviderRegistry::BuiltIn().Find(s.provider);
    return p == nullptr ? "unknown provider." : p->CheckSource(s);
  };
  try {
    return LoadConfig(in);
  } catch (const ConfigError& e) {
    std::cerr << "schedbridge: configuration error: " << e.what() << "\n";
    return std::nullopt;
  }
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
  metrics.CounterFunc("schedbridge_spool_full_total",
                      "Deliveries answered 503 because the spool was full.",
                      stat(&Spool::Stats::full));
}

struct ServeFlags {
  std::string config_file;
  std::string listen, admin_listen, brokers, topic_events, topic_dlq, log_level, ack_timeout_ms;
  std::vector<std::string> kafka;
  bool check_config = false;
};

int Serve(const ServeFlags& f) {
  std::map<std::string, std::string> flags;
  auto flag = [&](const std::string& value, const char* env_name) {
    if (!value.empty()) flags[env_name] = value;
  };
  flag(f.listen, "SCHEDBRIDGE_LISTEN");
  flag(f.admin_listen, "SCHEDBRIDGE_ADMIN_LISTEN");
  flag(f.brokers, "SCHEDBRIDGE_KAFKA_BROKERS");
  flag(f.topic_events, "SCHEDBRIDGE_TOPIC_EVENTS");
  flag(f.topic_dlq, "SCHEDBRIDGE_TOPIC_DLQ");
  flag(f.log_level, "SCHEDBRIDGE_LOG_LEVEL");
  flag(f.ack_timeout_ms, "SCHEDBRIDGE_ACK_TIMEOUT_MS");
  std::optional<Config> loaded = Configure(f.config_file, flags, f.kafka);
  if (!loaded) return 2;
  const Config& config = *loaded;
  log::SetLevel(config.log_level);

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
    std::cerr << "schedbridge: configuration error: " << error << "\n";
    return 2;
  }
  if (f.check_config) {
    publisher->Close(std::chrono::milliseconds(0));
    std::cout << "configuration OK: " << config.sources.size() << " source(s), brokers "
              << config.kafka.brokers << ", topics " << config.pipeline.events_topic << " / "
              << config.pipeline.dlq_topic << "\n";
    return 0;
  }

  SystemClock clock;
  Metrics metrics;
  RegisterKafkaMetrics(metrics, *publisher);
  Pipeline pipeline(config.pipeline, *publisher, clock);

  // Duplicates across replicas: follow the ids every replica publishes.
  std::unique_ptr<IdFollower> follower;
  if (config.dedup_across_replicas) {
    metrics.DescribeHistogram(
        "schedbridge_dedup_peer_lag_seconds",
        "Time from another replica producing an event to this replica knowing its id: the "
        "window in which a redelivery to this replica is not yet recognised as a duplicate.",
        {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10});
    IdFollowerOptions o;
    o.topic = config.pipeline.events_topic;
    o.window = config.pipeline.dedup_window;
    o.self_replica = config.pipeline.replica_id;
    o.fetch_wait = config.dedup_fetch_wait;
    o.on_peer_lag = [&metrics](double seconds) {
      metrics.Observe("schedbridge_dedup_peer_lag_seconds", {}, seconds);
    };
    follower = IdFollower::Start(config.kafka, std::move(o), pipeline.shared_recent_ids(), error);
    if (!follower) {
      std::cerr << "schedbridge: configuration error: " << error << "\n";
      return 2;
    }
  }
  RegisterDedupMetrics(metrics, pipeline, follower.get());

  // The durable spool, for `ack: spool` sources.
  std::unique_ptr<Spool> spool;
  if (config.AnySpooledSource()) {
    SpoolOptions o = config.spool;
    o.replica_id = config.pipeline.replica_id;
    spool = Spool::Open(o, *publisher, pipeline.shared_recent_ids(), error);
    if (!spool) {
      std::cerr << "schedbridge: cannot open the spool: " << error << "\n";
      return 2;
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
    std::cerr << "schedbridge: configuration error: " << webhooks.tls_error() << "\n";
    return 2;
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
  // Every connection is a descriptor: take what the hard limit allows.
  const uint64_t open_files = RaiseOpenFileLimit();
  const int port = webhooks.Bind(config.http.host, config.http.port, error);
  if (port < 0) {
    std::cerr << "schedbridge: " << error << "\n";
    return 1;
  }
  const int admin_port = admin.Bind(config.http.admin_host, config.http.admin_port, error);
  if (admin_port < 0) {
    std::cerr << "schedbridge: " << error << "\n";
    return 1;
  }
  webhooks.Start();
  admin.Start();
  log::Info("listening",
            {{"address", config.http.host + ":" + std::to_string(port)},
             {"admin_address", config.http.admin_host + ":" + std::to_string(admin_port)},
             {"tls", config.http.tls_cert_file.empty() ? "off" : "on"},
             {"brokers", config.kafka.brokers},
             {"events_topic", config.pipeline.events_topic},
             {"dlq_topic", config.pipeline.dlq_topic},
             {"open_files", std::to_string(open_files)},
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
        if (std::optional<Config> fresh = Configure(f.config_file, flags, f.kafka)) {
          sources.Replace(fresh->sources);
          std::string tls_error;
          if (!webhooks.ReloadTls(fresh->http, tls_error)) {
            log::Error("tls_reload_failed",
                       {{"error", tls_error}, {"kept", "the previous certificate"}});
          }
          watched = *fresh;
          fingerprint = WatchFingerprint(watched);
          log::Info("sources_reloaded", {{"sources", std::to_string(fresh->sources.size())},
                                         {"trigger", forced ? "SIGHUP" : "file change"}});
        } else {
          log::Error("sources_reload_failed", {{"kept", "the previous sources"}});
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
    log::Info("spool_stopped", {{"records_left", std::to_string(left.records)},
                                {"bytes", std::to_string(left.bytes)}});
  }
  const int unflushed = publisher->Close(config.http.shutdown_timeout);
  follower.reset();
  admin.Stop();
  log::Info("stopped", {{"unflushed_messages", std::to_string(unflushed)}});
  return 0;
}

struct ReplayFlags {
  ReplayOptions options;
  std::string config_file, brokers, since, until;
  std::vector<std::string> kafka;
};

int Replay(ReplayFlags f, bool from_set, bool to_set) {
  std::map<std::string, std::string> flags;
  if (!f.brokers.empty()) flags["SCHEDBRIDGE_KAFKA_BROKERS"] = f.brokers;
  std::optional<Config> config = Configure(f.config_file, flags, f.kafka);
  if (!config) return 2;
  log::SetLevel(log::Level::kError);
  ReplayOptions& o = f.options;
  if (!from_set) o.from = config->pipeline.dlq_topic;
  if (!to_set) o.to = config->pipeline.events_topic;
  for (const auto& [text, slot] :
       {std::pair{f.since, &o.since_ms}, std::pair{f.until, &o.until_ms}}) {
    if (text.empty()) continue;
    auto t = ParseTimestamp(text);
    if (!t) {
      std::cerr << "schedbridge: --since/--until take an RFC 3339 time, got \"" << text << "\"\n";
      return 2;
    }
    *slot = std::chrono::duration_cast<std::chrono::milliseconds>(t->time_since_epoch()).count();
  }
  o.progress = isatty(STDERR_FILENO) != 0;
  const ReplaySummary summary =
      RunReplay(o, config->kafka, ProviderRegistry::BuiltIn(), std::cout, std::cerr);
  std::cerr << summary.Text() << "\n";
  return summary.ExitCode();
}

int Normalize(const std::string& provider_name, const std::string& source,
              const std::string& file) {
  const Provider* provider = ProviderRegistry::BuiltIn().Find(provider_name);
  if (provider == nullptr) {
    std::cerr << "schedbridge: unknown provider \"" << provider_name << "\"\n";
    return 2;
  }
  std::string body;
  if (file == "-") {
    body.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  } else {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      std::cerr << "schedbridge: cannot read " << file << "\n";
      return 2;
    }
    body.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  Headers headers;
  headers.Add("Content-Type", "application/json");
  const Delivery delivery{body, &headers, {}};
  const NormalizeContext ctx{source, FormatTimestamp(std::chrono::system_clock::now())};
  const NormalizeResult result = NormalizeSafely(*provider, delivery, ctx);
  if (const auto* failure = std::get_if<NormalizeFailure>(&result)) {
    std::cerr << "dead-letter: " << failure->reason << ": " << failure->detail << "\n";
    return 1;
  }
  for (const CanonicalEvent& e : std::get<std::vector<CanonicalEvent>>(result)) {
    std::cout << ToJson(e) << "\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // A peer that closes while we write (an HTTP client, a broker) is an error
  // on that socket, never the end of the process.
  std::signal(SIGPIPE, SIG_IGN);
  CLI::App app{
      "schedbridge: scheduling webhooks (Cal.com, ...) into Kafka, verified and "
      "normalized."};
  app.require_subcommand(1);

  ServeFlags serve;
  CLI::App* serve_cmd = app.add_subcommand("serve", "Run the webhook ingress.");
  serve_cmd->add_option("--config", serve.config_file, "YAML config file (or SCHEDBRIDGE_CONFIG)");
  serve_cmd->add_option("--listen", serve.listen, "webhook port host:port (SCHEDBRIDGE_LISTEN)");
  serve_cmd->add_option("--admin-listen", serve.admin_listen,
                        "admin port host:port: /metrics, /healthz, /readyz "
                        "(SCHEDBRIDGE_ADMIN_LISTEN)");
  serve_cmd->add_option("--brokers", serve.brokers,
                        "Kafka bootstrap servers (SCHEDBRIDGE_KAFKA_BROKERS)");
  serve_cmd->add_option("--topic-events", serve.topic_events,
                        "events topic (SCHEDBRIDGE_TOPIC_EVENTS)");
  serve_cmd->add_option("--topic-dlq", serve.topic_dlq,
                        "dead-letter topic (SCHEDBRIDGE_TOPIC_DLQ)");
  serve_cmd->add_option(
      "--ack-timeout-ms", serve.ack_timeout_ms,
      "how long a webhook waits for the Kafka ack before 503 (SCHEDBRIDGE_ACK_TIMEOUT_MS)");
  serve_cmd->add_option("--log-level", serve.log_level, "debug|info|warn|error|off");
  serve_cmd->add_option("--kafka", serve.kafka, "librdkafka property name=value (repeatable)");
  serve_cmd->add_flag("--check-config", serve.check_config, "validate the configuration and exit");

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
  replay_cmd->add_option("--group", ro.group,
                         "consumer group: start where it left off, commit after publishing "
                         "(without: read everything, commit nothing)");
  replay_cmd->add_option("--since", replay.since,
                         "only records written at or after this RFC 3339 time");
  replay_cmd->add_option("--until", replay.until,
                         "only records written at or before this RFC 3339 time");
  replay_cmd->add_option("--provider", ro.provider, "only this provider's records");
  replay_cmd->add_option("--reason", ro.reason, "only records with this dead-letter reason");
  replay_cmd->add_option("--limit", ro.limit, "stop after this many records");
  replay_cmd->add_flag(
      "--dry-run", ro.dry_run,
      "print what would be published (topic, key, value); publish and commit nothing");
  replay_cmd->add_flag("--transactional", ro.transactional,
                       "publish and commit offsets in Kafka transactions (exactly once for "
                       "read_committed consumers)");
  replay_cmd->add_flag(
      "--requeue-failed", ro.requeue_failed,
      "write records that still fail back to the dead-letter topic with attempt + 1");
  replay_cmd->add_option("--batch-size", ro.batch_size, "records per publish/commit batch")
      ->check(CLI::Range(1, 100000));
  replay_cmd->add_option("--max-rate", ro.max_rate, "records per second at most (0 = unlimited)");
  replay_cmd->add_option("--brokers", replay.brokers,
                         "Kafka bootstrap servers (SCHEDBRIDGE_KAFKA_BROKERS)");
  replay_cmd->add_option("--config", replay.config_file,
                         "YAML config file (or SCHEDBRIDGE_CONFIG)");
  replay_cmd->add_option("--kafka", replay.kafka, "librdkafka property name=value (repeatable)");

  CLI::App* version_cmd = app.add_subcommand("version", "Print the version.");

  CLI11_PARSE(app, argc, argv);
  if (*serve_cmd) return Serve(serve);
  if (*norm_cmd) return Normalize(provider, source, file);
  if (*replay_cmd) return Replay(replay, from_opt->count() > 0, to_opt->count() > 0);
  if (*version_cmd) {
    std::cout << "schedbridge " << bridge::kVersion << "\n";
    return 0;
  }
  return 2;
}
