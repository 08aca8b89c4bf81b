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
  size_t dedup_capacity = 100000;
};

enum class Verdict {
  kAccepted,      // 202: events acknowledged
  kDeadLettered,  // 202: raw record acknowledged on the DLQ
  kDuplicate,     // 200: every event id already acknowledged by this process
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
};

/// Kafka message for a canonical event: key, value and CloudEvents headers.
OutgoingMessage EventMessage(const CanonicalEvent& event, const std::string& topic);
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

  /// Normalize and publish (or dead-letter) an already-authenticated delivery.
  IngestResult Process(const Provider& provider, const std::string& source,
                       const Delivery& delivery, const std::string& received_at);

  const PipelineOptions& options() const { return options_; }
  const RecentIds& recent_ids() const { return *recent_; }

 private:
  IngestResult PublishAndWait(std::vector<OutgoingMessage> messages,
                              std::vector<std::string> ids_to_remember, IngestResult result);

  PipelineOptions options_;
  Publisher& publisher_;
  const Clock& clock_;
  // Shared with completions that may run after the pipeline is gone.
  std::shared_ptr<RecentIds> recent_;
};

}  // namespace bridge
