#pragma once

// `schedbridge replay`: push dead-letter records through the current
// normalizer into the events topic. A replayed delivery is normalized exactly
// as a live one (same pipeline functions), keeps its original received_at,
// and so gets the same event ids it would have had at ingest.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "bridge/kafka/rdkafka_publisher.h"
#include "bridge/model/dead_letter.h"
#include "bridge/providers/registry.h"

namespace bridge {

struct ReplayOptions {
  std::string from = "scheduling.dlq.v1";
  std::string to = "scheduling.events.v1";
  std::string group;                          // empty: read from the beginning, commit nothing
  std::optional<int64_t> since_ms, until_ms;  // record timestamps, inclusive
  std::string provider;
  std::string reason;
  std::string source;
  /// Written as the `schedbridge_replica` header of replayed events, as the
  /// service does for live ones.
  std::string replica_id;
  int64_t limit = 0;  // records to process (0 = all)
  bool dry_run = false;
  bool transactional = false;
  bool requeue_failed = false;  // write still-failing records back, attempt + 1
  int batch_size = 500;
  double max_rate = 0;  // records/s (0 = unlimited)
  bool progress = false;
};

struct ReplaySummary {
  int64_t read = 0;
  int64_t skipped_by_filter = 0;
  int64_t published_records = 0;
  int64_t published_events = 0;
  int64_t requeued = 0;
  int64_t unreadable = 0;  // not a dead-letter record at all
  bool dry_run = false;
  std::string to;  // the events topic
  /// With --group: partitions whose committed offset stays at the first
  /// record a filter skipped, so a later run with the group still sees it.
  int64_t held_partitions = 0;
  std::map<std::string, int64_t> still_failing;  // by reason
  bool publish_failed = false;
  std::string error;

  int64_t StillFailing() const;
  std::string Text() const;
  int ExitCode() const { return publish_failed || !error.empty() ? 1 : 0; }
};

/// A --since/--until argument: a date (2026-11-23: that day's start, or its
/// end with `end_of_day`), an RFC 3339 time, or epoch milliseconds. Epoch
/// milliseconds, or nullopt for anything else.
std::optional<int64_t> ParseReplayTime(std::string_view text, bool end_of_day);

/// One dead-letter record for a person: its fields, then its body decoded
/// (base64 bodies too) and pretty-printed when it is JSON.
std::string DescribeDeadLetter(const DeadLetterRecord& record);

/// True when the record passes --provider, --reason and --source.
bool MatchesFilters(const DeadLetterRecord& record, const ReplayOptions& options);

/// The dead-letter reasons a record can carry (schemas/dead-letter.v1.json).
const std::vector<std::string>& DeadLetterReasons();

/// What to do with one consumed record: the pure part of replay.
struct ReplayDecision {
  enum class Kind { kSkip, kPublish, kStillFailing, kUnreadable } kind = Kind::kSkip;
  std::vector<OutgoingMessage> messages;  // events (kPublish) or the requeued record
  std::string reason;                     // kStillFailing: the new dead-letter reason
  std::string detail;
};

ReplayDecision DecideReplay(const std::string& dead_letter_json, int64_t timestamp_ms,
                            const ReplayOptions& options, const ProviderRegistry& providers);

/// Runs a replay against Kafka. `out` receives dry-run lines and the summary,
/// `progress` the progress line.
ReplaySummary RunReplay(const ReplayOptions& options, const KafkaSettings& kafka,
                        const ProviderRegistry& providers, std::ostream& out,
                        std::ostream& progress);

}  // namespace bridge
