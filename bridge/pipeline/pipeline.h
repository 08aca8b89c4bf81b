#pragma once

// verify → normalize → publish-or-dead-letter, one call. Used by the HTTP
// ingress and by replay, so a replayed record is normalized exactly as a live one.

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "bridge/pipeline/dedup.h"
#include "bridge/pipeline/publisher.h"
#include "bridge/providers/provider.h"

namespace bridge {

struct PipelineOptions {
  std::string events_topic = "scheduling.events.v1";
  std::string dlq_topic = "scheduling.dlq.v1";
  std::chrono::milliseconds ack_timeout{10000};
  /// Event ids remembered for duplicate suppression: at most this many, for
  /// at most `dedup_window` after their acknowledgement.
  size_t dedup_capacity = 1000000;
  std::chrono::milliseconds dedup_window = std::chrono::hours(24);
  /// Written as the `schedbridge_replica` header of every event, so every
  /// replica knows who published an id first. Empty = no header.
  std::string replica_id;
};

/// One spooled delivery: the Kafka messages it became (events, or its dead
/// letter), written to the journal before the 2xx and published later.
struct SpoolRecord {
  std::string provider;
  std::string source;
  int64_t spooled_at_ms = 0;
  std::vector<std::string> event_ids;  // empty for a dead letter
  std::vector<OutgoingMessage> messages;
};

/// Where `ack: spool` sources' deliveries go: a durable local journal that a
/// background publisher drains into Kafka (spool/spool.h).
class DurableSpool {
 public:
  enum class Status { kStored, kFull, kFailed };
  struct AppendResult {
    Status status = Status::kStored;
    std::string error;  // one sentence for kFull / kFailed
  };
  virtual ~DurableSpool() = default;
  /// Appends and syncs to stable storage before returning kStored.
  virtual AppendResult Append(SpoolRecord record) = 0;
  /// True when every id is in a stored record not yet drained.
  virtual bool Holds(const std::vector<std::string>& ids) const = 0;
};

enum class Verdict {
  kAccepted,      // 202: events acknowledged
  kDeadLettered,  // 202: raw record acknowledged on the DLQ
  kDuplicate,     // 200: every event id already acknowledged (by any replica) or spooled
  kSpooled,       // 202: stored in the durable spool, Kafka later
  kUnauthorized,  // 401: never written to Kafka
  kUnavailable,   // 503: Kafka did not acknowledge in time, or failed
};

struct IngestResult {
  Verdict verdict = Verdict::kAccepted;
  std::vector<std::string> event_ids;
  std::vector<std::string> event_types;  // parallel to event_ids
  std::string error;                     // one sentence for non-2xx
  VerifyStatus verify_status = VerifyStatus::kOk;
  std::string dead_letter_reason;  // for kDeadLettered
  std::string dead_letter_id;
  std::string duplicate_of;  // kDuplicate: the replica that published the ids first
};

/// Kafka message for a canonical event: key, value, CloudEvents headers and,
/// when `replica` is not empty, the `schedbridge_replica` header.
OutgoingMessage EventMessage(const CanonicalEvent& event, const std::string& topic,
                             const std::string& replica = {});
/// Kafka message for a dead-letter record.
OutgoingMessage DeadLetterMessage(const DeadLetterRecord& record, const std::string& topic);

/// Builds the dead-letter record for a failed normalization.
DeadLetterRecord MakeDeadLetter(const Provider& provider, const std::string& source,
                                const Delivery& delivery, const NormalizeFailure& failure,
                                const std::string& received_at);

/// Normalizes one delivery, with a safety net: a throwing normalizer becomes a
/// `normalizer_error` failure, never a crash.
NormalizeResult NormalizeSafely(const Provider& provider, const Delivery& delivery,
                                const NormalizeContext& context);

class Pipeline {
 public:
  Pipeline(PipelineOptions options, Publisher& publisher, const Clock& clock);

  /// The live path: authenticate over the raw bytes, then Process().
  IngestResult Ingest(const Provider& provider, const SourceConfig& source,
                      const Delivery& delivery);

  /// Normalize and publish (or dead-letter) an already-authenticated delivery;
  /// with AckMode::kSpool, store it in the spool instead.
  IngestResult Process(const Provider& provider, const std::string& source,
                       const Delivery& delivery, const std::string& received_at,
                       AckMode ack = AckMode::kKafka);

  /// Where `ack: spool` sources go. Without one, they are published directly.
  void AttachSpool(DurableSpool* spool) { spool_ = spool; }

  const PipelineOptions& options() const { return options_; }
  const RecentIds& recent_ids() const { return *recent_; }
  /// Shared with the id follower, which feeds other replicas' ids into it.
  std::shared_ptr<RecentIds> shared_recent_ids() const { return recent_; }

 private:
  /// Process() with the received time both as written and in Unix ms.
  IngestResult ProcessAt(const Provider& provider, const std::string& source,
                         const Delivery& delivery, const std::string& received_at,
                         int64_t received_ms, AckMode ack);
  IngestResult Deliver(std::vector<OutgoingMessage> messages, IngestResult result, AckMode ack,
                       const Provider& provider, const std::string& source, int64_t received_ms);
  IngestResult PublishAndWait(std::vector<OutgoingMessage> messages,
                              std::vector<std::string> ids_to_remember, int64_t received_ms,
                              IngestResult result);

  PipelineOptions options_;
  Publisher& publisher_;
  const Clock& clock_;
  // Shared with completions that may run after the pipeline is gone.
  std::shared_ptr<RecentIds> recent_;
  DurableSpool* spool_ = nullptr;
};

}  // namespace bridge
