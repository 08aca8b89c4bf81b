#pragma once

// verify → normalize → publish-or-dead-letter, one call that completes
// asynchronously (the webhook ingress parks the request until then), with a
// blocking form on top for tools and tests. Used by the ingress and by replay,
// so a replayed record is normalized exactly as a live one.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bridge/pipeline/dedup.h"
#include "bridge/pipeline/publisher.h"
#include "bridge/pipeline/settings.h"
#include "bridge/providers/provider.h"

namespace bridge {

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
  using AppendCallback = std::function<void(const AppendResult&)>;
  virtual ~DurableSpool() = default;
  /// Queues the record and returns at once. `done` runs once, on the spool's
  /// writer thread, after the record is synced to stable storage (kStored) or
  /// could not be (group commit: one sync serves every record queued meanwhile).
  virtual void AppendAsync(SpoolRecord record, AppendCallback done) = 0;
  /// AppendAsync, waiting for its answer.
  AppendResult Append(SpoolRecord record);
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
  kTooLarge,      // 413: larger than Kafka accepts even as a dead letter; never published
};

struct IngestResult {
  Verdict verdict = Verdict::kAccepted;
  std::vector<std::string> event_ids;
  std::vector<std::string> event_types;  // parallel to event_ids
  std::string error;                     // one sentence for non-2xx, safe to show the client
  std::string detail;                    // more for the log (librdkafka's error...), or ""
  VerifyStatus verify_status = VerifyStatus::kOk;
  std::string dead_letter_reason;  // for kDeadLettered
  std::string dead_letter_id;
  std::string duplicate_of;  // kDuplicate: the replica that published the ids first
};

/// Receives the answer to one delivery, exactly once.
using IngestCallback = std::function<void(IngestResult)>;

/// One delivery on its way through the pipeline. It completes exactly once,
/// through its callback: on the caller's thread when the answer needs no I/O
/// (401, duplicate), on a Kafka delivery-report thread, on the spool's writer
/// thread, or in Expire(). Thread-safe.
class IngestCall {
 public:
  IngestCall(IngestCallback done, std::chrono::steady_clock::time_point deadline)
      : done_(std::move(done)), deadline_(deadline) {}
  /// When the answer is due (the ack timeout from the start of the call).
  std::chrono::steady_clock::time_point deadline() const { return deadline_; }
  /// Answers 503 now unless the call has completed. Messages already handed
  /// to Kafka may still be delivered; their ids are remembered on the ack, so
  /// the provider's retry is then a duplicate.
  void Expire();
  bool completed() const { return completed_.load(std::memory_order_acquire); }

 private:
  friend class Pipeline;
  void Complete(IngestResult result);

  std::atomic<bool> completed_{false};
  IngestCallback done_;
  const std::chrono::steady_clock::time_point deadline_;
  IngestResult pending_;  // what Expire() answers with (ids known so far)
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

class Pipeline {
 public:
  Pipeline(PipelineOptions options, Publisher& publisher, const Clock& clock);

  /// The live path: authenticate over the raw bytes, normalize, check for
  /// duplicates, then publish (or spool) and return at once; `done` runs when
  /// Kafka (or the spool) has answered. Verify and normalize run on the
  /// calling thread; nothing here blocks. The delivery's bytes are not used
  /// after the call returns. The caller arms a timer for the returned call's
  /// deadline() and calls Expire() on it.
  std::shared_ptr<IngestCall> IngestAsync(const Provider& provider, const SourceConfig& source,
                                          const Delivery& delivery, IngestCallback done);

  /// IngestAsync, blocking until the answer or the ack deadline.
  IngestResult Ingest(const Provider& provider, const SourceConfig& source,
                      const Delivery& delivery);

  /// Normalize and publish (or dead-letter) an already-authenticated delivery
  /// and wait for the answer; with AckMode::kSpool, store it in the spool
  /// instead. Replay and tools.
  IngestResult Process(const Provider& provider, const std::string& source,
                       const Delivery& delivery, const std::string& received_at,
                       AckMode ack = AckMode::kKafka);

  /// Publish canonical events made outside a provider's normalizer (the
  /// providers' APIs: `reconcile`), with the same duplicate check, message
  /// format and producer guarantees as a delivery's, and wait for the answer.
  IngestResult PublishEvents(const Provider& provider, const std::string& source,
                             const std::vector<CanonicalEvent>& events);

  /// Where `ack: spool` sources go. Without one, they are published directly.
  void AttachSpool(DurableSpool* spool) { spool_ = spool; }

  const PipelineOptions& options() const { return options_; }
  const RecentIds& recent_ids() const { return *recent_; }
  /// Shared with the id follower, which feeds other replicas' ids into it.
  std::shared_ptr<RecentIds> shared_recent_ids() const { return recent_; }

 private:
  /// Normalize, duplicate check and delivery of an authenticated delivery,
  /// with the received time both as written and in Unix ms.
  void ProcessAt(const std::shared_ptr<IngestCall>& call, const Provider& provider,
                 const std::string& source, const Delivery& delivery,
                 const std::string& received_at, int64_t received_ms, AckMode ack, bool live);
  /// Duplicate check, staleness (live only) and delivery of normalized events.
  /// When an event is larger than Kafka accepts, nothing is published, the
  /// call is not completed, and the sentence saying so is returned; else "".
  std::string EventsAt(const std::shared_ptr<IngestCall>& call, const Provider& provider,
                       const std::string& source, const std::vector<CanonicalEvent>& events,
                       int64_t received_ms, AckMode ack, bool live);
  /// Delivery of the dead-letter record of a delivery that could not be made
  /// into events; 413 when even that is larger than Kafka accepts.
  void DeadLetterAt(const std::shared_ptr<IngestCall>& call, const Provider& provider,
                    const std::string& source, const Delivery& delivery,
                    const NormalizeFailure& failure, const std::string& received_at,
                    int64_t received_ms, AckMode ack);
  /// The sentence saying that `what` (one of `messages`) is larger than the
  /// publisher takes, or "" when every message fits.
  std::string Oversized(const std::vector<OutgoingMessage>& messages, const char* what) const;
  /// The sentence refusing a live delivery older than max_delivery_age, or "".
  std::string Staleness(const Provider& provider, const std::vector<CanonicalEvent>& events,
                        int64_t received_ms) const;
  void Deliver(const std::shared_ptr<IngestCall>& call, std::vector<OutgoingMessage> messages,
               IngestResult result, AckMode ack, const Provider& provider,
               const std::string& source, int64_t received_ms);
  void Publish(const std::shared_ptr<IngestCall>& call, std::vector<OutgoingMessage> messages,
               IngestResult result, int64_t received_ms);
  std::shared_ptr<IngestCall> NewCall(IngestCallback done) const;

  PipelineOptions options_;
  Publisher& publisher_;
  const Clock& clock_;
  // Shared with completions that may run after the pipeline is gone.
  std::shared_ptr<RecentIds> recent_;
  DurableSpool* spool_ = nullptr;
};

}  // namespace bridge
