#include "bridge/commands/reconcile.h"

#include <iostream>
#include <memory>

#include "bridge/commands/common.h"
#include "bridge/model/time.h"
#include "bridge/providers/registry.h"
#include "bridge/sync/source_api.h"
#include "bridge/util/files.h"

namespace bridge {
namespace {

/// The run's metrics to the textfile and the Pushgateway, when asked.
void ReportMetrics(const ReconcileFlags& f, const ReconcileSummary& summary, std::ostream& err) {
  const int64_t now_s = UnixMillis(std::chrono::system_clock::now()) / 1000;
  const std::string metrics = ReconcileMetricsText(summary, now_s);
  if (!f.metrics_file.empty()) {
    try {
      files::WriteAtomically(f.metrics_file, metrics, 0644);  // node-exporter reads it
    } catch (const std::exception& e) {
      err << "schedbridge: " << e.what() << "\n";
    }
  }
  if (!f.pushgateway.empty()) {
    if (std::string problem = PushMetrics(f.pushgateway, summary, metrics); !problem.empty()) {
      err << "schedbridge: " << problem << "\n";
    }
  }
}

int ReconcileRun(const Config& config, ReconcileFlags f, std::ostream& out, std::ostream& err) {
  std::string error;
  const std::vector<const SourceConfig*> sources = SelectSources(config, f.source, error);
  if (sources.size() != 1) {
    err << "schedbridge: " << error << "\n";
    return kExitUsage;
  }
  const SourceConfig& s = *sources.front();
  SourceApi api;
  if (!OpenSourceApi(s, f.retry, api, err)) return kExitConfig;
  ReconcileOptions& o = f.options;
  o.provider = s.provider;
  o.source = s.name;
  o.events_topic = config.pipeline.events_topic;
  const Provider& provider = *ProviderRegistry::BuiltIn().Find(s.provider);
  Publishing publishing;
  if (!o.dry_run) {
    if (!publishing.OpenProducer(config.kafka, error)) {
      err << "schedbridge: " << error << "\n";
      return kExitConfig;
    }
    publishing.StartPipeline(config.pipeline);
  }
  ReconcileSummary summary;
  try {
    summary = RunReconcile(*api.api, publishing.pipeline(), provider, config.kafka, o, out, err);
  } catch (const std::exception& e) {
    // RunReconcile reports what it expects; anything else still gets a
    // summary, metrics and a non-zero exit, never an abort.
    summary.provider = o.provider;
    summary.source = o.source;
    summary.dry_run = o.dry_run;
    summary.error = std::string("unexpected failure: ") + e.what();
    summary.outcome = SyncOutcome::kFailed;
  }
  summary.api = api.session->stats();
  if (publishing.publisher()) publishing.publisher()->Close(config.http.shutdown_timeout);
  err << summary.Text() << "\n";
  ReportMetrics(f, summary, err);
  return ExitCode(summary.outcome);
}

struct ReconcileArgs {
  ReconcileFlags flags;
  std::string config_file, since, until, horizon = "90d", lookback = "7d", deadline = "10m";
  std::string brokers;
  std::vector<std::string> kafka;
};

/// The window's arguments into the options; false, with the usage message
/// printed, when one is not understood.
bool ParseWindow(const ReconcileArgs& a, ReconcileOptions& o) {
  const int64_t now_ms = UnixMillis(std::chrono::system_clock::now());
  const auto since = ParseTimeArg(a.since, false, now_ms);
  const auto until =
      a.until.empty() ? std::optional<int64_t>(now_ms) : ParseTimeArg(a.until, true, now_ms);
  const auto horizon = ParseDurationMs(a.horizon), lookback = ParseDurationMs(a.lookback);
  if (!since || !until || *since > *until) {
    std::cerr << "schedbridge: --since and --until take " << kTimeForms
              << ", with --since first.\n";
    return false;
  }
  if (!horizon || !lookback) {
    std::cerr << "schedbridge: --horizon and --lookback take a duration: 90d, 6h, 30m.\n";
    return false;
  }
  o.since_ms = *since;
  o.until_ms = *until;
  o.horizon_ms = *horizon;
  o.lookback_ms = *lookback;
  return true;
}

int RunReconcileCommand(ReconcileArgs& a) {
  if (!ParseRunDeadline(a.deadline, a.flags.retry)) return kExitUsage;
  if (!ParseWindow(a, a.flags.options)) return kExitUsage;
  a.flags.options.progress = true;
  int exit_code = 0;
  std::optional<Config> config = ApiConfig(a.config_file, "", exit_code, a.brokers, a.kafka);
  if (!config) return exit_code;
  return ReconcileCommand(*config, a.flags, std::cout, std::cerr);
}

}  // namespace

int ReconcileCommand(const Config& config, ReconcileFlags flags, std::ostream& out,
                     std::ostream& err) {
  try {
    return ReconcileRun(config, std::move(flags), out, err);
  } catch (const std::exception& e) {
    err << "schedbridge: reconcile failed: " << e.what() << "\n";
    return kExitRuntime;
  }
}

Command AddReconcileCommand(CLI::App& app) {
  auto a = std::make_shared<ReconcileArgs>();
  ReconcileOptions& o = a->flags.options;
  CLI::App* cmd = app.add_subcommand(
      "reconcile",
      "Publish what a provider's API shows and the events topic lacks: bookings never announced, "
      "cancellations and reschedules that never arrived (marked extensions.reconciled).");
  cmd->add_option("--source", a->flags.source, "provider, provider/name or name")->required();
  cmd->add_option("--since", a->since,
                  "window start: a date, an RFC 3339 time, epoch ms, or a duration before "
                  "now (6h, 2d)")
      ->required();
  cmd->add_option("--until", a->until, "window end (default now); as --since");
  cmd->add_flag("--dry-run", o.dry_run,
                "print the events that would be published; publish nothing");
  cmd->add_option("--horizon", a->horizon,
                  "providers that filter by start time only (Calendly): bookings starting up "
                  "to this long after --until (default 90d)");
  cmd->add_option("--lookback", a->lookback,
                  "read the events topic from this long before --since (default 7d)");
  cmd->add_option("--max-bookings", o.max_bookings,
                  "stop (publishing nothing) past this many bookings (default 10000)")
      ->check(CLI::Range(int64_t{1}, int64_t{10000000}));
  cmd->add_option("--page-size", o.page_size, "API page size (default 100)")
      ->check(CLI::Range(1, 100));
  cmd->add_option("--pushgateway", a->flags.pushgateway,
                  "push the run's metrics to this Prometheus Pushgateway (a CronJob)");
  cmd->add_option("--metrics-file", a->flags.metrics_file,
                  "write the run's metrics to this file (node-exporter textfile collector)");
  cmd->add_option("--config", a->config_file, "YAML config file (or SCHEDBRIDGE_CONFIG)");
  cmd->add_option("--brokers", a->brokers, "Kafka bootstrap servers (SCHEDBRIDGE_KAFKA_BROKERS)");
  cmd->add_option("--kafka", a->kafka, "librdkafka property name=value (repeatable)");
  cmd->add_option("--deadline", a->deadline, kDeadlineHelp);
  return {cmd, [a] { return RunReconcileCommand(*a); }};
}

}  // namespace bridge
