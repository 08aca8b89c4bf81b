#include "bridge/commands/serve.h"

#include <pthread.h>

#include <condition_variable>
#include <csignal>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "bridge/commands/check_config.h"
#include "bridge/commands/common.h"
#include "bridge/commands/serve_metrics.h"
#include "bridge/config/settings.h"
#include "bridge/http/admin_server.h"
#include "bridge/providers/registry.h"
#include "bridge/util/cpus.h"
#include "bridge/util/log.h"
#include "bridge/util/process_metrics.h"
#include "bridge/version.h"
#include "bridge/webhook/webhook_server.h"

namespace bridge {
namespace {

struct ServeFlags {
  std::string config_file;
  /// Settings given as flags, by environment name (only those set).
  std::map<std::string, std::string> settings;
  std::vector<std::string> kafka;
  bool check_config = false;
  bool connect = false;
};

/// Everything `serve` builds, in the order it is built (destroyed in reverse).
struct Service {
  Config config;
  sigset_t signals{};
  Publishing kafka;
  Metrics metrics;
  std::unique_ptr<IdFollower> follower;
  std::unique_ptr<Spool> spool;
  std::unique_ptr<SourceTable> sources;
  std::unique_ptr<WebhookServer> webhooks;
  std::unique_ptr<AdminServer> admin;
  // The reloader: re-reads the configuration's files on a change or SIGHUP.
  std::mutex reload_mu;
  std::condition_variable reload_cv;
  bool reload_requested = false, stopping = false;
  std::thread reloader;
};

/// `serve` failing before it serves: a log line like every line after it
/// (JSON unless log_format says text), with the exit code's reason.
int StartupFailure(int code, const char* reason, const std::string& error) {
  log::Error("startup_failed", {{"reason", reason}, {"error", error}, {"exit_code", code}});
  return code;
}

/// The configuration, the log settings, the signal mask and the producer;
/// with --check-config, its verdict. A value: the exit code to end with now.
std::optional<int> LoadAndCheck(const ServeFlags& f, Service& s) {
  std::string error;
  std::optional<Config> loaded =
      Configure(f.config_file, f.settings, f.kafka, /*require_sources=*/true, error);
  if (!loaded) {
    return f.check_config ? ConfigFailure(error)
                          : StartupFailure(kExitConfig, "configuration", error);
  }
  s.config = std::move(*loaded);
  const Config& config = s.config;
  log::SetLevel(config.log_level);
  log::SetTextFormat(config.log_text);
  // A check prints its verdict; librdkafka's connection attempts are noise
  // there (with --connect, its errors still show).
  if (f.check_config && !f.connect) log::SetLevel(log::Level::kOff);

  // Signals are taken by one thread with sigwait; block them everywhere else
  // before any thread starts.
  sigemptyset(&s.signals);
  sigaddset(&s.signals, SIGTERM);
  sigaddset(&s.signals, SIGINT);
  sigaddset(&s.signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &s.signals, nullptr);

  if (!s.kafka.OpenProducer(config.kafka, error)) {
    return f.check_config ? ConfigFailure(error)
                          : StartupFailure(kExitConfig, "configuration", error);
  }
  if (f.check_config) {
    const int code = CheckConfig(config, *s.kafka.publisher(), f.connect);
    s.kafka.publisher()->Close(std::chrono::milliseconds(0));
    return code;
  }
  return std::nullopt;
}

/// The pipeline, and duplicates across replicas: follow the ids every
/// replica publishes.
std::optional<int> StartPipeline(Service& s) {
  const Config& config = s.config;
  RegisterProcessMetrics(s.metrics, kVersion);
  RegisterKafkaMetrics(s.metrics, *s.kafka.publisher());
  s.kafka.StartPipeline(config.pipeline);
  Pipeline& pipeline = *s.kafka.pipeline();
  if (config.dedup.across_replicas) {
    DescribePeerLagHistogram(s.metrics);
    IdFollowerOptions o;
    o.topic = config.pipeline.events_topic;
    o.window = config.pipeline.dedup_window;
    o.self_replica = config.pipeline.replica_id;
    o.fetch_wait = config.dedup.fetch_wait;
    o.on_peer_lag = [&metrics = s.metrics](double seconds) {
      metrics.Observe("schedbridge_dedup_peer_lag_seconds", {}, seconds);
    };
    std::string error;
    s.follower = IdFollower::Start(config.kafka, std::move(o), pipeline.shared_recent_ids(), error);
    if (!s.follower) return StartupFailure(kExitConfig, "configuration", error);
  }
  RegisterDedupMetrics(s.metrics, pipeline, s.follower.get());
  return std::nullopt;
}

/// The durable spool, for `ack: spool` sources.
std::optional<int> OpenSpool(Service& s) {
  if (!s.config.AnySpooledSource()) return std::nullopt;
  SpoolOptions o = s.config.spool;
  o.replica_id = s.config.pipeline.replica_id;
  std::string error;
  Pipeline& pipeline = *s.kafka.pipeline();
  s.spool = Spool::Open(o, *s.kafka.publisher(), pipeline.shared_recent_ids(), error);
  if (!s.spool) {
    return StartupFailure(kExitRuntime, "spool", "cannot open the spool: " + error);
  }
  pipeline.AttachSpool(s.spool.get());
  // Drain once the id index is seeded: records a previous process already
  // published are then recognised and skipped.
  s.spool->Start([f = s.follower.get()] { return f == nullptr || f->Seeded(); });
  RegisterSpoolMetrics(s.metrics, *s.spool);
  return std::nullopt;
}

/// The webhook and admin ports, bound and serving.
std::optional<int> StartServers(Service& s) {
  const Config& config = s.config;
  s.sources = std::make_unique<SourceTable>(config.sources);
  s.webhooks = std::make_unique<WebhookServer>(config.http, *s.sources, *s.kafka.pipeline(),
                                               ProviderRegistry::BuiltIn(), s.metrics);
  if (!s.webhooks->Valid()) {
    return StartupFailure(kExitConfig, "configuration", s.webhooks->tls_error());
  }
  s.admin = std::make_unique<AdminServer>(s.metrics, [&s]() -> std::string {
    const bool kafka = s.kafka.publisher()->Ready();
    const bool seeded = s.follower == nullptr || s.follower->Seeded();
    if (kafka && seeded) return {};
    // With a spool, webhooks are still taken while Kafka is away: stay in the
    // Service, or the deliveries the spool is for would go nowhere.
    if (s.spool != nullptr && s.spool->Healthy() && s.spool->HasRoom()) return {};
    return kafka ? "dedup_index_loading" : "kafka_unavailable";
  });
  // librdkafka's fatal errors (e.g. the idempotent producer's) end this
  // producer for good: fail liveness so the pod restarts.
  s.admin->SetLivenessCheck([&s] { return s.kafka.publisher()->LivenessProblem(); });
  // Every connection is a descriptor: take what the hard limit allows.
  const uint64_t open_files = RaiseOpenFileLimit();
  std::string error;
  const int port = s.webhooks->Bind(config.http.host, config.http.port, error);
  if (port < 0) return StartupFailure(kExitRuntime, "listen", error);
  const int admin_port = s.admin->Bind(config.http.admin_host, config.http.admin_port, error);
  if (admin_port < 0) return StartupFailure(kExitRuntime, "listen", error);
  s.webhooks->Start();
  s.admin->Start();
  log::Info("listening",
            {{"address", config.http.host + ":" + std::to_string(port)},
             {"admin_address", config.http.admin_host + ":" + std::to_string(admin_port)},
             {"tls", !config.http.tls_cert_file.empty()},
             {"io_threads", static_cast<int64_t>(s.webhooks->io_threads())},
             {"usable_cpus", static_cast<int64_t>(cpus::Usable())},
             {"brokers", config.kafka.brokers},
             {"events_topic", config.pipeline.events_topic},
             {"dlq_topic", config.pipeline.dlq_topic},
             {"sources", static_cast<int64_t>(config.sources.size())},
             {"open_files", open_files},
             {"version", kVersion}});
  return std::nullopt;
}

/// Everything constructed, serving. A value: the exit code to end with now
/// (a failure, or --check-config's verdict).
std::optional<int> Build(const ServeFlags& f, Service& s) {
  if (auto code = LoadAndCheck(f, s)) return code;
  if (auto code = StartPipeline(s)) return code;
  if (auto code = OpenSpool(s)) return code;
  return StartServers(s);
}

/// One reload: the configuration read again; its sources and TLS pair
/// taken. False when it is refused (the previous one stays).
bool Reload(const ServeFlags& f, Service& s, Config& watched, bool forced) {
  std::string reload_error;
  if (std::optional<Config> fresh =
          Configure(f.config_file, f.settings, f.kafka, true, reload_error)) {
    s.sources->Replace(fresh->sources);
    std::string tls_error;
    if (!s.webhooks->ReloadTls(fresh->http, tls_error)) {
      log::Error("tls_reload_failed", {{"error", tls_error}, {"kept", "the previous certificate"}});
    }
    watched = *fresh;
    log::Info("sources_reloaded", {{"sources", static_cast<int64_t>(fresh->sources.size())},
                                   {"trigger", forced ? "SIGHUP" : "file change"}});
    return true;
  }
  log::Error("sources_reload_failed", {{"reason", reload_error}, {"kept", "the previous sources"}});
  return false;
}

/// Secret rotation without restart: re-read the configuration's files when
/// they change (Kubernetes updates mounted Secrets in place) or on SIGHUP.
void ReloadLoop(const ServeFlags& f, Service& s) {
  const Config& config = s.config;
  Config watched = config;  // the files to watch follow the latest good configuration
  std::string fingerprint = WatchFingerprint(watched);
  const auto interval = config.reload_interval.count() > 0 ? config.reload_interval
                                                           : std::chrono::milliseconds(3600000);
  std::unique_lock lock(s.reload_mu);
  while (!s.stopping) {
    s.reload_cv.wait_for(lock, interval, [&] { return s.stopping || s.reload_requested; });
    if (s.stopping) break;
    const bool forced = s.reload_requested;
    s.reload_requested = false;
    lock.unlock();
    const std::string now = WatchFingerprint(watched);
    if (forced || (config.reload_interval.count() > 0 && now != fingerprint)) {
      fingerprint = now;
      if (Reload(f, s, watched, forced)) fingerprint = WatchFingerprint(watched);
    }
    lock.lock();
  }
}

/// Serves until SIGTERM or SIGINT; SIGHUP reloads.
void RunUntilSignal(const ServeFlags& f, Service& s) {
  s.reloader = std::thread([&f, &s] { ReloadLoop(f, s); });
  for (;;) {
    int sig = 0;
    sigwait(&s.signals, &sig);
    if (sig == SIGHUP) {
      std::lock_guard lock(s.reload_mu);
      s.reload_requested = true;
      s.reload_cv.notify_all();
      continue;
    }
    log::Info("shutdown", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
    break;
  }
}

/// Stops accepting, answers what is in flight (each within its ack
/// deadline), then stops the rest in order. The exit code.
int Drain(Service& s) {
  const Config& config = s.config;
  s.admin->BeginDrain();
  s.webhooks->Stop(config.pipeline.ack_timeout + std::chrono::seconds(1));
  {
    std::lock_guard lock(s.reload_mu);
    s.stopping = true;
    s.reload_cv.notify_all();
  }
  s.reloader.join();
  if (s.spool) {
    s.spool->Stop(config.http.shutdown_timeout);
    const Spool::Stats left = s.spool->stats();
    log::Info("spool_stopped", {{"records_left", left.records}, {"bytes", left.bytes}});
  }
  const int unflushed = s.kafka.publisher()->Close(config.http.shutdown_timeout);
  s.follower.reset();
  s.admin->Stop();
  log::Info("stopped", {{"unflushed_messages", unflushed}});
  return 0;
}

int Serve(const ServeFlags& f) {
  Service s;
  if (std::optional<int> code = Build(f, s)) return *code;
  RunUntilSignal(f, s);
  return Drain(s);
}

struct ServeArgs {
  ServeFlags flags;
  std::map<std::string, std::string> setting_values;
  std::vector<std::pair<const SettingSpec*, CLI::Option*>> setting_options;
};

/// One flag per setting, with its type, default, file key and environment name.
void AddSettingFlags(CLI::App* cmd, ServeArgs& a) {
  for (const SettingSpec& spec : Settings()) {
    const std::string def = SettingDefault(spec);
    std::string help = spec.help;
    for (size_t at; (at = help.find('`')) != std::string::npos;) help.erase(at, 1);
    help += ". " + SettingTypeText(spec) + "; default " + (def.empty() ? "none" : def) +
            "; file key " + spec.key + ", env " + spec.env;
    CLI::Option* opt = cmd->add_option(spec.flag, a.setting_values[spec.env], help);
    opt->type_name("");
    a.setting_options.emplace_back(&spec, opt);
  }
}

}  // namespace

Command AddServeCommand(CLI::App& app) {
  auto a = std::make_shared<ServeArgs>();
  ServeFlags& f = a->flags;
  CLI::App* cmd = app.add_subcommand(
      "serve",
      "Run the webhook ingress. Every setting below is also a config-file key and a "
      "SCHEDBRIDGE_* environment variable (precedence: file < environment < flag).");
  cmd->add_option("--config", f.config_file, "YAML config file (or SCHEDBRIDGE_CONFIG)");
  CLI::Option* check = cmd->add_flag(
      "--check-config", f.check_config,
      "check the configuration (files, secrets, TLS pair, spool directory, librdkafka settings) "
      "and exit");
  cmd->add_flag("--connect", f.connect,
                "with --check-config: also reach Kafka and check both topics exist")
      ->needs(check);
  cmd->add_option("--kafka", f.kafka,
                  "librdkafka property name=value (repeatable; SCHEDBRIDGE_KAFKA_<NAME>)");
  AddSettingFlags(cmd, *a);
  return {cmd, [a] {
            for (const auto& [spec, opt] : a->setting_options) {
              if (opt->count() > 0) a->flags.settings[spec->env] = a->setting_values[spec->env];
            }
            return Serve(a->flags);
          }};
}

}  // namespace bridge
