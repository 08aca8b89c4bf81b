#include "bridge/pipeline/pipeline.h"

#include <exception>

#include "bridge/model/time.h"
#include "bridge/version.h"

namespace bridge {

OutgoingMessage EventMessage(const CanonicalEvent& e, const std::string& topic,
                             const std::string& replica) {
  OutgoingMessage m;
  m.topic = topic;
  m.key = e.Key();
  m.value = ToJson(e);
  // CloudEvents Kafka protocol binding, binary mode.
  m.headers = {
      {"ce_specversion", "1.0"},
      {"ce_id", e.event_id},
      {"ce_source", "/providers/" + e.provider + "/sources/" + e.source},
      {"ce_type", "schedbridge." + e.event_type},
      {"ce_time", e.occurred_at},
      {"ce_subject", e.Key()},
      {"content-type", "application/json"},
  };
  if (!replica.empty()) m.headers.emplace_back("schedbridge_replica", replica);
  return m;
}

OutgoingMessage DeadLetterMessage(const DeadLetterRecord& r, const std::string& topic) {
  OutgoingMessage m;
  m.topic = topic;
  m.key = r.Key();
  m.value = ToJson(r);
  m.headers = {
      {"content-type", "application/json"},
      {"schedbridge_reason", r.reason},
      {"schedbridge_provider", r.provider},
  };
  return m;
}

DeadLetterRecord MakeDeadLetter(const Provider& provider, const std::string& source,
                                const Delivery& delivery, const NormalizeFailure& failure,
                                const std::string& received_at) {
  DeadLetterRecord r;
  r.provider = std::string(provider.Name());
  r.dead_letter_id = MakeDeadLetterId(r.provider, delivery.body);
  r.reason = failure.reason;
  r.detail = failure.detail;
  r.source = source;
  r.provider_event_type = failure.provider_event_type;
  r.booking_uid = failure.booking_uid;
  r.received_at = received_at;
  if (delivery.headers != nullptr) {
    for (std::string_view name : provider.KeptHeaders()) {
      if (auto v = delivery.headers->Get(name)) r.headers.emplace_back(name, *v);
    }
  }
  r.body = std::string(delivery.body);
  r.schedbridge_version = kVersion;
  return r;
}

namespace {

int64_t UnixMillis(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

}  // namespace

NormalizeResult NormalizeSafely(const Provider& provider, const Delivery& delivery,
                                const NormalizeContext& context) {
  try {
    return provider.Normalize(delivery, context);
  } catch (const std::exception& e) {
    return NormalizeFailure{std::string(reason::kNormalizerError),
                            std::string("the normalizer failed: ") + e.what(), std::nullopt,
                            std::nullopt};
  }
}

Pipeline::Pipeline(PipelineOptions options, Publisher& publisher, const Clock& clock)
    : options_(std::move(options)),
      publisher_(publisher),
      clock_(clock),
      recent_(std::make_shared<RecentIds>(options_.dedup_capacity, options_.dedup_window)) {}

IngestResult Pipeline::Ingest(const Provider& provider, const SourceConfig& source,
                              const Delivery& delivery) {
  const VerifyResult verdict = provider.Verify(delivery, source, clock_);
  if (!verdict.ok()) {
    IngestResult r;
    r.verdict = Verdict::kUnauthorized;
    r.verify_status = verdict.status;
    r.error = verdict.message;
    return r;
  }
  const auto now = clock_.Now();
  return ProcessAt(provider, source.name, delivery, FormatTimestamp(now), UnixMillis(now),
                   source.ack);
}

IngestResult Pipeline::Process(const Provider& provider, const std::string& source,
                               const Delivery& delivery, const std::string& received_at,
                               AckMode ack) {
  const auto received = ParseTimestamp(received_at);
  return ProcessAt(provider, source, delivery, received_at,
                   received ? UnixMillis(*received) : UnixMillisNow(), ack);
}

IngestResult Pipeline::ProcessAt(const Provider& provider, const std::string& source,
                                 const Delivery& delivery, const std::string& received_at,
                                 int64_t received_ms, AckMode ack) {
  const NormalizeContext context{source, received_at};
  NormalizeResult normalized = NormalizeSafely(provider, delivery, context);

  if (auto* failure = std::get_if<NormalizeFailure>(&normalized)) {
    const DeadLetterRecord record =
        MakeDeadLetter(provider, source, delivery, *failure, received_at);
    IngestResult result;
    result.verdict = Verdict::kDeadLettered;
    result.dead_letter_reason = record.reason;
    result.dead_letter_id = record.dead_letter_id;
    result.error = record.detail;
    std::vector<OutgoingMessage> messages;
    messages.push_back(DeadLetterMessage(record, options_.dlq_topic));
    return Deliver(std::move(messages), std::move(result), ack, provider, source, received_ms);
  }

  auto& events = std::get<std::vector<CanonicalEvent>>(normalized);
  IngestResult result;
  result.verdict = Verdict::kAccepted;
  std::vector<OutgoingMessage> messages;
  messages.reserve(events.size());
  for (const CanonicalEvent& e : events) {
    result.event_ids.push_back(e.event_id);
    result.event_types.push_back(e.event_type);
    messages.push_back(EventMessage(e, options_.events_topic, options_.replica_id));
  }
  if (auto first = recent_->FindAll(result.event_ids, received_ms)) {
    result.verdict = Verdict::kDuplicate;
    result.duplicate_of = *first;
    return result;
  }
  if (spool_ != nullptr && spool_->Holds(result.event_ids)) {
    // Stored durably by an earlier delivery and on its way to Kafka.
    result.verdict = Verdict::kDuplicate;
    result.duplicate_of = options_.replica_id;
    return result;
  }
  return Deliver(std::move(messages), std::move(result), ack, provider, source, received_ms);
}

IngestResult Pipeline::Deliver(std::vector<OutgoingMessage> messages, IngestResult result,
                               AckMode ack, const Provider& provider, const std::string& source,
                               int64_t received_ms) {
  if (ack != AckMode::kSpool || spool_ == nullptr) {
    std::vector<std::string> ids = result.event_ids;
    return PublishAndWait(std::move(messages), std::move(ids), received_ms, std::move(result));
  }
  SpoolRecord record;
  record.provider = std::string(provider.Name());
  record.source = source;
  record.spooled_at_ms = received_ms;
  record.event_ids = result.event_ids;
  record.messages = std::move(messages);
  const DurableSpool::AppendResult stored = spool_->Append(std::move(record));
  if (stored.status != DurableSpool::Status::kStored) {
    result.verdict = Verdict::kUnavailable;
    result.error = stored.error;
    return result;
  }
  // Events and dead letters alike: stored, not yet in Kafka.
  result.verdict = Verdict::kSpooled;
  return result;
}

IngestResult Pipeline::PublishAndWait(std::vector<OutgoingMessage> messages,
                                      std::vector<std::string> ids_to_remember, int64_t received_ms,
                                      IngestResult result) {
  const auto deadline = std::chrono::steady_clock::now() + options_.ack_timeout;
  // Remembered on the ack itself, even one that arrives after we answered 503:
  // the provider's retry is then answered `duplicate`, not published twice.
  auto on_complete = [recent = recent_, ids = std::move(ids_to_remember),
                      replica = options_.replica_id, received_ms](const PublishOutcome& outcome) {
    if (outcome.status == PublishStatus::kAcked) recent->Insert(ids, replica, received_ms);
  };
  auto pending = publisher_.Publish(std::move(messages), deadline, std::move(on_complete));
  const PublishOutcome outcome = pending->Wait(deadline);
  if (outcome.status != PublishStatus::kAcked) {
    result.verdict = Verdict::kUnavailable;
    result.error = outcome.status == PublishStatus::kTimedOut
                       ? "Kafka did not acknowledge the event within the deadline; retry later."
                       : "Kafka rejected the event: " + outcome.error;
  }
  return result;
}

}  // namespace bridge
