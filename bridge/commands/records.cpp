#include "bridge/commands/records.h"

#include <algorithm>
#include <iostream>
#include <tuple>

#include "bridge/commands/common.h"
#include "bridge/config/settings.h"
#include "bridge/model/time.h"
#include "bridge/util/log.h"

namespace bridge {
namespace {

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

}  // namespace

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
                  "custom_template, unknown_event_type, missing_booking_id, normalizer_error, "
                  "event_too_large, stale_spool_record)");
  cmd->add_option("--source", ro.source, "only this source's records: name or provider/name");
  cmd->add_option("--limit", ro.limit, "stop after this many records");
  cmd->add_option("--brokers", f.brokers, "Kafka bootstrap servers (SCHEDBRIDGE_KAFKA_BROKERS)");
  cmd->add_option("--config", f.config_file, "YAML config file (or SCHEDBRIDGE_CONFIG)");
  cmd->add_option("--kafka", f.kafka, "librdkafka property name=value (repeatable)");
}

}  // namespace bridge
