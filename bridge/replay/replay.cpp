#include "bridge/replay/replay.h"

#include <rapidjson/prettywriter.h>

#include <algorithm>
#include <sstream>
#include <thread>

#include "bridge/kafka/transactional_producer.h"
#include "bridge/model/time.h"
#include "bridge/pipeline/pipeline.h"
#include "bridge/util/json.h"

namespace bridge {

int64_t ReplaySummary::StillFailing() const {
  int64_t n = 0;
  for (const auto& [reason, count] : still_failing) n += count;
  return n;
}

std::optional<int64_t> ParseReplayTime(std::string_view text, bool end_of_day) {
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  if (!text.empty() && text.size() <= 15 &&
      std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::stoll(std::string(text));  // epoch milliseconds
  }
  if (text.size() == 10 && text[4] == '-' && text[7] == '-') {
    auto day = ParseTimestamp(std::string(text) + "T00:00:00Z");
    if (!day) return std::nullopt;
    int64_t ms = duration_cast<milliseconds>(day->time_since_epoch()).count();
    return end_of_day ? ms + 86400000 - 1 : ms;
  }
  auto t = ParseTimestamp(text);
  if (!t) return std::nullopt;
  return duration_cast<milliseconds>(t->time_since_epoch()).count();
}

std::string DescribeDeadLetter(const DeadLetterRecord& r) {
  std::ostringstream s;
  s << "dead_letter_id: " << r.dead_letter_id << "\n"
    << "reason:         " << r.reason << "\n"
    << "detail:         " << r.detail << "\n"
    << "provider:       " << r.provider << "\n"
    << "source:         " << r.source << "\n";
  if (r.provider_event_type) s << "event type:     " << *r.provider_event_type << "\n";
  if (r.booking_uid) s << "booking uid:    " << *r.booking_uid << "\n";
  s << "received_at:    " << r.received_at << "\n"
    << "attempt:        " << r.attempt << "\n"
    << "written by:     schedbridge " << r.schedbridge_version << "\n";
  for (const auto& [name, value] : r.headers)
    s << "header:         " << name << ": " << value << "\n";
  s << "body (" << r.body.size() << " bytes):\n";
  rapidjson::Document doc;
  if (json::Parse(r.body, doc).ok) {
    rapidjson::StringBuffer buf;
    rapidjson::PrettyWriter<rapidjson::StringBuffer> w(buf);
    w.SetIndent(' ', 2);
    doc.Accept(w);
    s << buf.GetString() << "\n";
  } else {
    s << r.body << "\n";
  }
  return s.str();
}

bool MatchesFilters(const DeadLetterRecord& r, const ReplayOptions& o) {
  return (o.provider.empty() || r.provider == o.provider) &&
         (o.reason.empty() || r.reason == o.reason) && (o.source.empty() || r.source == o.source);
}

const std::vector<std::string>& DeadLetterReasons() {
  static const std::vector<std::string> kReasons = {
      std::string(reason::kInvalidJson),      std::string(reason::kNotAnObject),
      std::string(reason::kCustomTemplate),   std::string(reason::kUnknownEventType),
      std::string(reason::kMissingBookingId), std::string(reason::kNormalizerError),
      std::string(reason::kEventTooLarge),    std::string(reason::kStaleSpoolRecord)};
  return kReasons;
}

std::string ReplaySummary::Text() const {
  std::ostringstream s;
  if (dry_run) {
    s << "replay (dry run): read " << read << ", would publish " << published_records
      << " record(s) as " << published_events << " event(s) to " << to << ", still failing "
      << StillFailing();
  } else {
    s << "replay: read " << read << ", published " << published_records << " record(s) as "
      << published_events << " event(s), still failing " << StillFailing();
  }
  if (!still_failing.empty()) {
    s << " (";
    bool first = true;
    for (const auto& [reason, count] : still_failing) {
      s << (first ? "" : ", ") << reason << ": " << count;
      first = false;
    }
    s << ")";
  }
  s << (dry_run ? ", would requeue " : ", requeued ") << requeued << ", skipped by filter "
    << skipped_by_filter << ", unreadable " << unreadable;
  if (dry_run) s << "; nothing was published and no offset committed";
  if (held_partitions > 0) {
    s << "; offsets held at the first skipped record on " << held_partitions
      << " partition(s), so this group reads them again next time";
  }
  if (!error.empty()) s << "\nreplay failed: " << error;
  return s.str();
}

namespace {

/// The events a stale_spool_record dead letter holds, exactly as they were
/// spooled (normalized then): false when its body is not that.
bool SpooledEvents(const std::string& body, const std::string& topic,
                   std::vector<OutgoingMessage>& out) {
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("spooled_events") ||
      !doc["spooled_events"].IsArray()) {
    return false;
  }
  for (const auto& e : doc["spooled_events"].GetArray()) {
    if (!e.IsObject() || !e.HasMember("key") || !e["key"].IsString() || !e.HasMember("value") ||
        !e["value"].IsString() || !e.HasMember("headers") || !e["headers"].IsObject()) {
      return false;
    }
    OutgoingMessage m;
    m.topic = topic;
    m.key.assign(e["key"].GetString(), e["key"].GetStringLength());
    m.value.assign(e["value"].GetString(), e["value"].GetStringLength());
    for (const auto& h : e["headers"].GetObject()) {
      if (!h.value.IsString()) return false;
      m.headers.emplace_back(std::string(h.name.GetString(), h.name.GetStringLength()),
                             std::string(h.value.GetString(), h.value.GetStringLength()));
    }
    out.push_back(std::move(m));
  }
  return !out.empty();
}

}  // namespace

ReplayDecision DecideReplay(const std::string& json, int64_t timestamp_ms,
                            const ReplayOptions& options, const ProviderRegistry& providers) {
  ReplayDecision d;
  if ((options.since_ms && timestamp_ms < *options.since_ms) ||
      (options.until_ms && timestamp_ms > *options.until_ms)) {
    return d;  // kSkip
  }
  std::string error;
  std::optional<DeadLetterRecord> record = ParseDeadLetter(json, error);
  if (!record) {
    d.kind = ReplayDecision::Kind::kUnreadable;
    d.detail = error;
    return d;
  }
  if (!MatchesFilters(*record, options)) return d;  // kSkip
  if (record->reason == reason::kStaleSpoolRecord) {
    // Normalized before they were spooled: published as they are.
    if (!SpooledEvents(record->body, options.to, d.messages)) {
      d.kind = ReplayDecision::Kind::kUnreadable;
      d.detail = "a stale_spool_record dead letter without its spooled events";
      return d;
    }
    d.kind = ReplayDecision::Kind::kPublish;
    return d;
  }
  const Provider* provider = providers.Find(record->provider);
  if (provider == nullptr) {
    d.kind = ReplayDecision::Kind::kUnreadable;
    d.detail = "unknown provider \"" + record->provider + "\"";
    return d;
  }
  const Headers headers(record->headers);
  const Delivery delivery{record->body, &headers, {}};
  const NormalizeContext context{record->source, record->received_at};
  NormalizeResult result = NormalizeSafely(*provider, delivery, context);
  if (auto* failure = std::get_if<NormalizeFailure>(&result)) {
    d.kind = ReplayDecision::Kind::kStillFailing;
    d.reason = failure->reason;
    d.detail = failure->detail;
    if (options.requeue_failed) {
      DeadLetterRecord again =
          MakeDeadLetter(*provider, record->source, delivery, *failure, record->received_at);
      again.attempt = record->attempt + 1;
      d.messages.push_back(DeadLetterMessage(again, options.from));
    }
    return d;
  }
  d.kind = ReplayDecision::Kind::kPublish;
  for (const CanonicalEvent& e : std::get<std::vector<CanonicalEvent>>(result)) {
    d.messages.push_back(EventMessage(e, options.to, options.replica_id));
  }
  return d;
}

namespace {

class Throttle {
 public:
  explicit Throttle(double rate) : rate_(rate), start_(std::chrono::steady_clock::now()) {}
  void Wait(int64_t done) const {
    if (rate_ <= 0) return;
    const auto due = start_ + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                  std::chrono::duration<double>(static_cast<double>(done) / rate_));
    std::this_thread::sleep_until(due);
  }

 private:
  double rate_;
  std::chrono::steady_clock::time_point start_;
};

/// Where the batch's output goes: plain idempotent producer, transaction, or stdout.
class Sink {
 public:
  virtual ~Sink() = default;
  virtual bool Begin(std::string& error) = 0;
  virtual bool Add(const OutgoingMessage& m, std::string& error) = 0;
  /// Makes the batch durable and commits `offsets` (partition → next offset).
  virtual bool Finish(TopicReader& reader, const std::map<int32_t, int64_t>& offsets,
                      bool commit_offsets, std::string& error) = 0;
};

class PlainSink final : public Sink {
 public:
  explicit PlainSink(std::unique_ptr<RdKafkaPublisher> p) : publisher_(std::move(p)) {}
  bool Begin(std::string&) override {
    batch_.clear();
    return true;
  }
  bool Add(const OutgoingMessage& m, std::string&) override {
    batch_.push_back(m);
    return true;
  }
  bool Finish(TopicReader& reader, const std::map<int32_t, int64_t>& offsets, bool commit_offsets,
              std::string& error) override {
    if (!batch_.empty()) {
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
      const PublishOutcome o = publisher_->Publish(std::move(batch_), deadline, {})->Wait(deadline);
      batch_.clear();
      if (o.status != PublishStatus::kAcked) {
        error = o.status == PublishStatus::kTimedOut ? "Kafka did not acknowledge within 120 s"
                                                     : "Kafka rejected a message: " + o.error;
        return false;
      }
    }
    // Offsets only after the broker acknowledged everything before them.
    return !commit_offsets || reader.Commit(offsets, error);
  }

 private:
  std::unique_ptr<RdKafkaPublisher> publisher_;
  std::vector<OutgoingMessage> batch_;
};

class TransactionalSink final : public Sink {
 public:
  explicit TransactionalSink(std::unique_ptr<TransactionalProducer> p) : producer_(std::move(p)) {}
  bool Begin(std::string& error) override { return producer_->Begin(error); }
  bool Add(const OutgoingMessage& m, std::string& error) override {
    return producer_->Produce(m, error);
  }
  bool Finish(TopicReader& reader, const std::map<int32_t, int64_t>& offsets, bool,
              std::string& error) override {
    if (!producer_->SendOffsets(reader, offsets, error) || !producer_->Commit(error)) {
      producer_->Abort();
      return false;
    }
    return true;
  }

 private:
  std::unique_ptr<TransactionalProducer> producer_;
};

class DryRunSink final : public Sink {
 public:
  explicit DryRunSink(std::ostream& out) : out_(out) {}
  bool Begin(std::string&) override { return true; }
  bool Add(const OutgoingMessage& m, std::string&) override {
    out_ << m.topic << "\t" << m.key << "\t" << m.value << "\n";
    return true;
  }
  bool Finish(TopicReader&, const std::map<int32_t, int64_t>&, bool, std::string&) override {
    return true;  // publishes nothing, commits nothing
  }

 private:
  std::ostream& out_;
};

/// The sink the options ask for; nullptr with `error` set.
std::unique_ptr<Sink> MakeSink(const ReplayOptions& options, const KafkaSettings& kafka,
                               std::ostream& out, std::string& error) {
  if (options.dry_run) return std::make_unique<DryRunSink>(out);
  if (options.transactional) {
    auto producer =
        TransactionalProducer::Create(kafka, "schedbridge-replay-" + options.group, error);
    if (!producer) return nullptr;
    return std::make_unique<TransactionalSink>(std::move(producer));
  }
  auto publisher = RdKafkaPublisher::Create(kafka, error);
  if (!publisher) return nullptr;
  return std::make_unique<PlainSink>(std::move(publisher));
}

void Count(const ReplayDecision& d, ReplaySummary& summary) {
  switch (d.kind) {
    case ReplayDecision::Kind::kSkip:
      ++summary.skipped_by_filter;
      break;
    case ReplayDecision::Kind::kUnreadable:
      ++summary.unreadable;
      break;
    case ReplayDecision::Kind::kStillFailing:
      ++summary.still_failing[d.reason];
      if (!d.messages.empty()) ++summary.requeued;
      break;
    case ReplayDecision::Kind::kPublish:
      ++summary.published_records;
      summary.published_events += static_cast<int64_t>(d.messages.size());
      break;
  }
}

/// One run's reading, batch by batch. Failures throw.
class ReplayLoop {
 public:
  ReplayLoop(const ReplayOptions& options, const ProviderRegistry& providers, TopicReader& reader,
             Sink& sink, ReplaySummary& summary, std::ostream& progress)
      : options_(options),
        providers_(providers),
        reader_(reader),
        sink_(sink),
        summary_(summary),
        progress_(progress),
        throttle_(options.max_rate),
        started_(std::chrono::steady_clock::now()),
        last_progress_(started_) {}

  /// Reads, publishes and (with `commit`) commits one batch; false once the
  /// records, or --limit, are done.
  bool Batch(bool commit) {
    std::string error;
    if (!sink_.Begin(error)) throw std::runtime_error(error);
    std::map<int32_t, int64_t> offsets;
    bool finished = false;
    for (int in_batch = 0; in_batch < options_.batch_size; ++in_batch) {
      if (options_.limit > 0 && summary_.read >= options_.limit) {
        finished = true;
        break;
      }
      std::optional<ConsumedRecord> record = reader_.Next();
      if (!record) {
        finished = true;
        break;
      }
      Take(*record, offsets);
    }
    if (!sink_.Finish(reader_, offsets, commit, error)) {
      summary_.publish_failed = true;
      throw std::runtime_error(error);
    }
    return !finished;
  }

  /// Partitions whose offset is held at a record a filter skipped.
  int64_t held() const { return static_cast<int64_t>(held_.size()); }

 private:
  void Take(const ConsumedRecord& record, std::map<int32_t, int64_t>& offsets) {
    ++summary_.read;
    const ReplayDecision d = DecideReplay(record.value, record.timestamp_ms, options_, providers_);
    // A record a filter skipped is never committed past: its partition's
    // offset stays at the first one, for a later run with other filters.
    if (d.kind == ReplayDecision::Kind::kSkip) held_.emplace(record.partition, record.offset);
    const auto h = held_.find(record.partition);
    offsets[record.partition] = h != held_.end() ? h->second : record.offset + 1;
    Count(d, summary_);
    std::string error;
    for (const OutgoingMessage& m : d.messages) {
      if (!sink_.Add(m, error)) throw std::runtime_error(error);
    }
    throttle_.Wait(summary_.read);
    Progress();
  }

  void Progress() {
    const auto now = std::chrono::steady_clock::now();
    if (!options_.progress || now - last_progress_ <= std::chrono::milliseconds(500)) return;
    last_progress_ = now;
    const double secs = std::chrono::duration<double>(now - started_).count();
    progress_ << "\rreplay: " << summary_.read << " read, " << reader_.Remaining() << " remaining, "
              << summary_.published_events << " event(s) published, " << summary_.StillFailing()
              << " still failing, "
              << static_cast<int64_t>(static_cast<double>(summary_.read) / secs) << " records/s   "
              << std::flush;
  }

  const ReplayOptions& options_;
  const ProviderRegistry& providers_;
  TopicReader& reader_;
  Sink& sink_;
  ReplaySummary& summary_;
  std::ostream& progress_;
  const Throttle throttle_;
  const std::chrono::steady_clock::time_point started_;
  std::chrono::steady_clock::time_point last_progress_;
  std::map<int32_t, int64_t> held_;
};

}  // namespace

ReplaySummary RunReplay(const ReplayOptions& options, const KafkaSettings& kafka,
                        const ProviderRegistry& providers, std::ostream& out,
                        std::ostream& progress) {
  ReplaySummary summary;
  summary.dry_run = options.dry_run;
  summary.to = options.to;
  if (options.transactional && options.group.empty()) {
    summary.error = "--transactional needs --group (the offsets are committed in the transaction)";
    return summary;
  }
  std::string error;
  auto reader = TopicReader::Create(kafka, options.from, options.group, error);
  if (!reader) {
    summary.error = error;
    return summary;
  }
  std::unique_ptr<Sink> sink = MakeSink(options, kafka, out, error);
  if (!sink) {
    summary.error = error;
    return summary;
  }
  const bool commit = !options.group.empty() && !options.dry_run;
  ReplayLoop loop(options, providers, *reader, *sink, summary, progress);
  try {
    while (loop.Batch(commit)) {
    }
  } catch (const std::exception& e) {
    summary.error = e.what();
  }
  if (options.progress) progress << "\n";
  if (commit) summary.held_partitions = loop.held();
  return summary;
}

}  // namespace bridge
