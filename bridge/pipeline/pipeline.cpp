#include "bridge/pipeline/pipeline.h"

#include <exception>
#include <future>
#include <initializer_list>
#include <string_view>

#include "bridge/model/time.h"
#include "bridge/version.h"

namespace bridge {

namespace {

/// The parts, one after the other, in one allocation.
std::string Joined(std::initializer_list<std::string_view> parts) {
  size_t size = 0;
  for (std::string_view p : parts) size += p.size();
  std::string out;
  out.reserve(size);
  for (std::string_view p : parts) out.append(p);
  return out;
}

}  // namespace

OutgoingMessage EventMessage(const CanonicalEvent& e, const std::string& topic,
                             const std::string& replica) {
  OutgoingMessage m;
  m.topic = topic;
  m.key = e.Key();
  m.value = ToJson(e);
  // CloudEvents Kafka protocol binding, binary mode. Built in place: a braced
  // list would be copied into the vector, every string twice.
  auto& h = m.headers;
  h.reserve(8);
  h.emplace_back("ce_specversion", "1.0");
  h.emplace_back("ce_id", e.event_id);
  h.emplace_back("ce_source", Joined({"/providers/", e.provider, "/sources/", e.source}));
  h.emplace_back("ce_type", Joined({"schedbridge.", e.event_type}));
  h.emplace_back("ce_time", e.occurred_at);
  h.emplace_back("ce_subject", m.key);
  h.emplace_back("content-type", "application/json");
  if (!replica.empty()) h.emplace_back("schedbridge_replica", replica);
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

namespace {

/// `s` in at most `max` bytes: cut on a character boundary and ended with
/// "…" when longer. What a signed body names (an event type it made up) is
/// echoed into a record's one-line detail, the answer and the log, never at
/// length.
std::string Capped(std::string s, size_t max) {
  static constexpr std::string_view kMore = "…";
  if (s.size() <= max) return s;
  size_t end = max - kMore.size();
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  s.resize(end);
  return s.append(kMore);
}

}  // namespace

DeadLetterRecord MakeDeadLetter(const Provider& provider, const std::string& source,
                                const Delivery& delivery, const NormalizeFailure& failure,
                                const std::string& received_at) {
  constexpr size_t kMaxDetail = 512, kMaxEventType = 128;
  DeadLetterRecord r;
  r.provider = std::string(provider.Name());
  r.dead_letter_id = MakeDeadLetterId(r.provider, delivery.body);
  r.reason = failure.reason;
  r.detail = Capped(failure.detail, kMaxDetail);
  r.source = source;
  if (failure.provider_event_type) {
    r.provider_event_type = Capped(*failure.provider_event_type, kMaxEventType);
  }
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

void IngestCall::Complete(IngestResult result) {
  if (completed_.exchange(true, std::memory_order_acq_rel)) return;
  IngestCallback done = std::move(done_);
  done_ = nullptr;
  done(std::move(result));
}

namespace {
constexpr const char* kAckDeadlinePassed =
    "Kafka did not acknowledge the event within the deadline; retry later.";
}  // namespace

void IngestCall::Expire() {
  if (completed()) return;
  IngestResult r = pending_;
  r.verdict = Verdict::kUnavailable;
  r.error = kAckDeadlinePassed;
  Complete(std::move(r));
}

DurableSpool::AppendResult DurableSpool::Append(SpoolRecord record) {
  std::promise<AppendResult> answer;
  std::future<AppendResult> result = answer.get_future();
  AppendAsync(std::move(record), [&answer](const AppendResult& r) { answer.set_value(r); });
  return result.get();
}

namespace {

/// Runs an asynchronous ingest and waits for its answer, expiring the call at
/// its deadline: the blocking form for tools and tests.
template <class Start>
IngestResult Blocking(Start start) {
  auto answer = std::make_shared<std::promise<IngestResult>>();
  std::future<IngestResult> result = answer->get_future();
  const std::shared_ptr<IngestCall> call =
      start([answer](IngestResult r) { answer->set_value(std::move(r)); });
  if (result.wait_until(call->deadline()) == std::future_status::timeout) call->Expire();
  return result.get();
}

}  // namespace

Pipeline::Pipeline(PipelineOptions options, Publisher& publisher, const Clock& clock)
    : options_(std::move(options)),
      publisher_(publisher),
      clock_(clock),
      recent_(std::make_shared<RecentIds>(options_.dedup_capacity, options_.dedup_window)) {}

std::shared_ptr<IngestCall> Pipeline::NewCall(IngestCallback done) const {
  return std::make_shared<IngestCall>(std::move(done),
                                      std::chrono::steady_clock::now() + options_.ack_timeout);
}

std::shared_ptr<IngestCall> Pipeline::IngestAsync(const Provider& provider,
                                                  const SourceConfig& source,
                                                  const Delivery& delivery, IngestCallback done) {
  std::shared_ptr<IngestCall> call = NewCall(std::move(done));
  const VerifyResult verdict = provider.Verify(delivery, source, clock_);
  if (!verdict.ok()) {
    IngestResult r;
    r.verdict = Verdict::kUnauthorized;
    r.verify_status = verdict.status;
    r.error = verdict.message;
    call->Complete(std::move(r));
    return call;
  }
  const auto now = clock_.Now();
  ProcessAt(call, provider, source.name, delivery, FormatTimestamp(now), UnixMillis(now),
            source.ack, /*live=*/true);
  return call;
}

IngestResult Pipeline::Ingest(const Provider& provider, const SourceConfig& source,
                              const Delivery& delivery) {
  return Blocking([&](IngestCallback done) {
    return IngestAsync(provider, source, delivery, std::move(done));
  });
}

IngestResult Pipeline::Process(const Provider& provider, const std::string& source,
                               const Delivery& delivery, const std::string& received_at,
                               AckMode ack) {
  const auto received = ParseTimestamp(received_at);
  const int64_t received_ms = received ? UnixMillis(*received) : UnixMillisNow();
  return Blocking([&](IngestCallback done) {
    std::shared_ptr<IngestCall> call = NewCall(std::move(done));
    ProcessAt(call, provider, source, delivery, received_at, received_ms, ack, /*live=*/false);
    return call;
  });
}

void Pipeline::ProcessAt(const std::shared_ptr<IngestCall>& call, const Provider& provider,
                         const std::string& source, const Delivery& delivery,
                         const std::string& received_at, int64_t received_ms, AckMode ack,
                         bool live) {
  const NormalizeContext context{source, received_at};
  NormalizeResult normalized = NormalizeSafely(provider, delivery, context);
  if (auto* events = std::get_if<std::vector<CanonicalEvent>>(&normalized)) {
    std::string too_large = EventsAt(call, provider, source, *events, received_ms, ack, live);
    if (too_large.empty()) return;
    // An event Kafka would refuse on every retry: the delivery is kept raw,
    // as one that could not be normalized (its booking uid may be the cause,
    // so the record is keyed by its own id).
    NormalizeFailure failure;
    failure.reason = reason::kEventTooLarge;
    failure.detail = std::move(too_large);
    failure.provider_event_type = events->front().provider_event_type;
    normalized = std::move(failure);
  }
  DeadLetterAt(call, provider, source, delivery, std::get<NormalizeFailure>(normalized),
               received_at, received_ms, ack);
}

void Pipeline::DeadLetterAt(const std::shared_ptr<IngestCall>& call, const Provider& provider,
                            const std::string& source, const Delivery& delivery,
                            const NormalizeFailure& failure, const std::string& received_at,
                            int64_t received_ms, AckMode ack) {
  const DeadLetterRecord record = MakeDeadLetter(provider, source, delivery, failure, received_at);
  std::vector<OutgoingMessage> messages;
  messages.push_back(DeadLetterMessage(record, options_.dlq_topic));
  IngestResult result;
  if (std::string too_large = Oversized(messages, "its dead-letter record"); !too_large.empty()) {
    result.verdict = Verdict::kTooLarge;
    result.error =
        "the delivery is too large to keep in Kafka, even as a dead letter: " + too_large;
    result.detail =
        "dead letter " + record.dead_letter_id + " (" + record.reason + "): " + record.detail;
    return call->Complete(std::move(result));
  }
  result.verdict = Verdict::kDeadLettered;
  result.dead_letter_reason = record.reason;
  result.dead_letter_id = record.dead_letter_id;
  // A failing normalizer's own words (an exception's text) are for the
  // record and the log, not the client.
  if (record.reason == reason::kNormalizerError) {
    result.error = "the delivery could not be normalized; it is kept on the dead-letter topic.";
    result.detail = record.detail;
  } else {
    result.error = record.detail;
  }
  Deliver(call, std::move(messages), std::move(result), ack, provider, source, received_ms);
}

std::string Pipeline::Oversized(const std::vector<OutgoingMessage>& messages,
                                const char* what) const {
  const size_t most = publisher_.MaxMessageBytes();
  for (const OutgoingMessage& m : messages) {
    if (const size_t bytes = MessageBytes(m); bytes > most) {
      return std::string(what) + " is " + std::to_string(bytes) +
             " bytes with its key and headers, and Kafka takes at most " + std::to_string(most) +
             " (the producer's message.max.bytes).";
    }
  }
  return {};
}

IngestResult Pipeline::PublishEvents(const Provider& provider, const std::string& source,
                                     const std::vector<CanonicalEvent>& events) {
  const int64_t received_ms = UnixMillisNow();
  return Blocking([&](IngestCallback done) {
    std::shared_ptr<IngestCall> call = NewCall(std::move(done));
    std::string too_large =
        EventsAt(call, provider, source, events, received_ms, AckMode::kKafka, /*live=*/false);
    if (!too_large.empty()) {
      IngestResult refused;
      refused.verdict = Verdict::kTooLarge;
      refused.error = std::move(too_large);
      call->Complete(std::move(refused));
    }
    return call;
  });
}

std::string Pipeline::EventsAt(const std::shared_ptr<IngestCall>& call, const Provider& provider,
                               const std::string& source, const std::vector<CanonicalEvent>& events,
                               int64_t received_ms, AckMode ack, bool live) {
  IngestResult result;
  result.verdict = Verdict::kAccepted;
  std::vector<OutgoingMessage> messages;
  messages.reserve(events.size());
  result.event_ids.reserve(events.size());
  result.event_types.reserve(events.size());
  for (const CanonicalEvent& e : events) {
    result.event_ids.push_back(e.event_id);
    result.event_types.push_back(e.event_type);
    messages.push_back(EventMessage(e, options_.events_topic, options_.replica_id));
  }
  if (auto first = recent_->FindAll(result.event_ids, received_ms)) {
    result.verdict = Verdict::kDuplicate;
    result.duplicate_of = *first;
    call->Complete(std::move(result));
    return {};
  }
  if (spool_ != nullptr && spool_->Holds(result.event_ids)) {
    // Stored durably by an earlier delivery and on its way to Kafka.
    result.verdict = Verdict::kDuplicate;
    result.duplicate_of = options_.replica_id;
    call->Complete(std::move(result));
    return {};
  }
  if (live) {
    if (std::string stale = Staleness(provider, events, received_ms); !stale.empty()) {
      IngestResult refused;
      refused.verdict = Verdict::kUnauthorized;
      refused.verify_status = VerifyStatus::kStaleDelivery;
      refused.error = std::move(stale);
      call->Complete(std::move(refused));
      return {};
    }
  }
  // Before anything is queued, and only for what would be published: a
  // delivery is published whole or not at all.
  if (std::string too_large = Oversized(messages, "an event"); !too_large.empty()) {
    return too_large;
  }
  Deliver(call, std::move(messages), std::move(result), ack, provider, source, received_ms);
  return {};
}

std::string Pipeline::Staleness(const Provider& provider, const std::vector<CanonicalEvent>& events,
                                int64_t received_ms) const {
  const int64_t max_age_ms = options_.max_delivery_age.count();
  if (max_age_ms <= 0 || provider.SignsDeliveryTime()) return {};
  for (const CanonicalEvent& e : events) {
    const auto at = ParseTimestamp(e.occurred_at);
    if (at && received_ms - UnixMillis(*at) > max_age_ms) {
      return "the delivery's signed time " + e.occurred_at + " is older than " +
             std::to_string(max_age_ms / 1000) +
             " s (max_delivery_age): refused as a possible replay.";
    }
  }
  return {};
}

void Pipeline::Deliver(const std::shared_ptr<IngestCall>& call,
                       std::vector<OutgoingMessage> messages, IngestResult result, AckMode ack,
                       const Provider& provider, const std::string& source, int64_t received_ms) {
  call->pending_ = result;  // what a 503 at the deadline carries
  if (ack != AckMode::kSpool || spool_ == nullptr) {
    return Publish(call, std::move(messages), std::move(result), received_ms);
  }
  SpoolRecord record;
  record.provider = std::string(provider.Name());
  record.source = source;
  record.spooled_at_ms = received_ms;
  record.event_ids = result.event_ids;
  record.messages = std::move(messages);
  spool_->AppendAsync(std::move(record), [call, result = std::move(result)](
                                             const DurableSpool::AppendResult& stored) mutable {
    if (stored.status == DurableSpool::Status::kFull) {
      result.verdict = Verdict::kUnavailable;
      result.error = stored.error;  // our own sentence: full, retry later
    } else if (stored.status == DurableSpool::Status::kFailed) {
      // The disk's error (paths, errno) is for the log.
      result.verdict = Verdict::kUnavailable;
      result.error = "the delivery could not be stored; retry later.";
      result.detail = stored.error;
    } else {
      // Events and dead letters alike: stored, not yet in Kafka.
      result.verdict = Verdict::kSpooled;
    }
    call->Complete(std::move(result));
  });
}

void Pipeline::Publish(const std::shared_ptr<IngestCall>& call,
                       std::vector<OutgoingMessage> messages, IngestResult result,
                       int64_t received_ms) {
  // Remembered on the ack itself, even one that arrives after we answered 503:
  // the provider's retry is then answered `duplicate`, not published twice.
  auto on_complete = [call, result = std::move(result), recent = recent_,
                      replica = options_.replica_id,
                      received_ms](const PublishOutcome& outcome) mutable {
    if (outcome.status == PublishStatus::kAcked) {
      recent->Insert(result.event_ids, replica, received_ms);
    } else if (outcome.status == PublishStatus::kTooLarge) {
      // The producer refused a message for its size (the check before it
      // counts less than librdkafka does): a retry would be refused the same.
      result.verdict = Verdict::kTooLarge;
      result.error = "Kafka refused the message as too large; a retry cannot succeed.";
      result.detail = outcome.error;
    } else {
      result.verdict = Verdict::kUnavailable;
      // The client gets a fixed sentence; librdkafka's words go to the log.
      result.error = outcome.status == PublishStatus::kTimedOut
                         ? kAckDeadlinePassed
                         : "Kafka did not accept the event; retry later.";
      result.detail = outcome.error;
    }
    call->Complete(std::move(result));
  };
  // Never waits for queue space: a full producer queue is a 503 now.
  publisher_.Publish(std::move(messages), std::chrono::steady_clock::time_point::min(),
                     std::move(on_complete));
}

}  // namespace bridge
