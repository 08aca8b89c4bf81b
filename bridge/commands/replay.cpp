#include "bridge/commands/replay.h"

#include <unistd.h>

#include <iostream>
#include <memory>
#include <stdexcept>

#include "bridge/commands/common.h"
#include "bridge/commands/records.h"
#include "bridge/providers/registry.h"

namespace bridge {
namespace {

struct ReplayArgs {
  ReplayFlags flags;
  std::string max_rate;
  CLI::Option* from = nullptr;
  CLI::Option* to = nullptr;
};

/// --max-rate (50 or 50/s) into the options; false, with the usage message
/// printed, when it is not a rate.
bool ParseMaxRate(const std::string& text, ReplayOptions& o) {
  if (text.empty()) return true;
  std::string number = text;
  if (number.size() > 2 && number.compare(number.size() - 2, 2, "/s") == 0) {
    number.resize(number.size() - 2);
  }
  try {
    size_t used = 0;
    o.max_rate = std::stod(number, &used);
    if (used != number.size() || o.max_rate < 0) throw std::invalid_argument(number);
  } catch (const std::exception&) {
    std::cerr << "schedbridge: --max-rate takes records per second, e.g. 50 or 50/s.\n";
    return false;
  }
  return true;
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

int RunReplayCommand(ReplayArgs& a) {
  if (!ParseMaxRate(a.max_rate, a.flags.options)) return kExitUsage;
  a.flags.from_set = a.from->count() > 0;
  a.flags.to_set = a.to->count() > 0;
  return Replay(a.flags);
}

}  // namespace

Command AddReplayCommand(CLI::App& app) {
  auto a = std::make_shared<ReplayArgs>();
  ReplayOptions& ro = a->flags.options;
  CLI::App* cmd = app.add_subcommand(
      "replay",
      "Re-normalize dead-letter records and publish them; offsets committed only after publish.");
  a->from = cmd->add_option("--from", ro.from,
                            "dead-letter topic to read (default SCHEDBRIDGE_TOPIC_DLQ)");
  a->to = cmd->add_option("--to", ro.to,
                          "events topic to publish to (default SCHEDBRIDGE_TOPIC_EVENTS)");
  CLI::Option* group = cmd->add_option(
      "--group", ro.group,
      "consumer group: start where it left off, commit after publishing, never past a record a "
      "filter skipped (without: read everything, commit nothing)");
  AddRecordOptions(cmd, a->flags);
  cmd->add_flag("--dry-run", ro.dry_run,
                "print what would be published (topic, key, value); publish and commit nothing");
  cmd->add_flag("--transactional", ro.transactional,
                "publish and commit offsets in Kafka transactions (exactly once for "
                "read_committed consumers); needs --group")
      ->needs(group);
  cmd->add_flag("--requeue-failed", ro.requeue_failed,
                "write records that still fail back to the dead-letter topic with attempt + 1");
  cmd->add_option("--batch-size", ro.batch_size, "records per publish/commit batch")
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--max-rate", a->max_rate,
                  "records per second at most, e.g. 50 or 50/s (0 = unlimited)");
  return {cmd, [a] { return RunReplayCommand(*a); }};
}

}  // namespace bridge
