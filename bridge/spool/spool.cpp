#include "bridge/spool/spool.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <functional>

#include "bridge/model/time.h"
#include "bridge/util/log.h"
#include "bridge/util/thread_name.h"

namespace bridge {
namespace {

// An empty active segment is rolled over (and the old one deleted) once it
// holds this much drained data, so disk use follows the backlog.
constexpr uint64_t kRollDrainedBytes = 1 << 20;
constexpr size_t kTagBytes = kSpoolSealBytes;

}  // namespace

bool Spool::Unseal(const JournalEntry& where, std::string_view payload, SpoolRecord& record,
                   std::string& why, SealFormat* format) const {
  const auto body = OpenSpoolRecord(options_.keys, {where.segment, where.offset}, payload, format);
  if (!body) {
    why =
        "not sealed by the configured spool key for this position (written by someone else, "
        "with another key, or copied or moved from elsewhere)";
    return false;
  }
  if (!DecodeSpoolRecord(*body, record, why)) return false;
  for (const OutgoingMessage& m : record.messages) {
    if (std::find(options_.topics.begin(), options_.topics.end(), m.topic) ==
        options_.topics.end()) {
      why = "names a topic that is not configured";
      return false;
    }
  }
  return true;
}

void Spool::QuarantineLocked(const JournalEntry& where, std::string_view payload,
                             const std::string& why) {
  std::string kept;
  // Set aside once: a record quarantined by an earlier pass is not counted again.
  if (!journal_->Quarantine(where, payload, kept)) return;
  ++counters_.quarantined;
  log::Error("spool_record_quarantined",
             {{"segment", where.segment},
              {"offset", where.offset},
              {"reason", why},
              {"kept_in", kept.empty() ? std::string("(not kept)") : kept}});
}

void Spool::Waker::Poke() {
  {
    std::lock_guard lock(mu);
    poked = true;
  }
  cv.notify_one();
}

void Spool::Waker::Sleep(std::chrono::milliseconds at_most) {
  std::unique_lock lock(mu);
  cv.wait_for(lock, at_most, [&] { return poked; });
  poked = false;
}

uint64_t Spool::IdHash(const std::string& id) {
  // A collision could only make Holds() answer "spooled" for a delivery that
  // is not: 2^-64 per lookup and stored id.
  return std::hash<std::string>{}(id);
}

void Spool::CountIdsLocked(const std::vector<std::string>& ids) {
  for (const auto& id : ids) ++pending_ids_[IdHash(id)];
}

void Spool::ForgetIdsLocked(const std::vector<std::string>& ids) {
  for (const auto& id : ids) {
    auto it = pending_ids_.find(IdHash(id));
    if (it != pending_ids_.end() && --it->second == 0) pending_ids_.erase(it);
  }
}

std::unique_ptr<Spool> Spool::Open(SpoolOptions options, Publisher& publisher,
                                   std::shared_ptr<RecentIds> recent, std::string& error) {
  std::unique_ptr<Spool> s(new Spool());
  s->options_ = std::move(options);
  s->options_.max_in_flight = std::max<size_t>(s->options_.max_in_flight, 1);
  s->publisher_ = &publisher;
  s->recent_ = std::move(recent);
  s->backoff_ = s->options_.retry_backoff_initial;
  if (s->options_.keys.empty() || s->options_.keys.front().empty()) {
    error = "the spool needs a key to seal its records (spool_key_file).";
    return nullptr;
  }
  // One record at a time: its ids go to the id set, the rest is read again
  // when the window reaches it.
  Spool* p = s.get();
  auto visit = [p](const JournalEntry& where, std::string_view payload) {
    ++p->stored_;
    SpoolRecord record;
    std::string why;
    if (p->Unseal(where, payload, record, why)) p->CountIdsLocked(record.event_ids);
  };
  std::lock_guard lock(s->mu_);
  s->journal_ = Journal::Open(s->options_.dir, s->options_.segment_bytes, visit, error);
  if (!s->journal_) return nullptr;
  s->counters_.quarantined += s->journal_->quarantined_files();
  s->synced_end_ = s->journal_->next_append();
  const size_t recovered = s->stored_;
  s->FillWindowLocked();
  s->PopAckedLocked();  // releases segments left fully drained
  s->writer_ = std::thread([p] {
    NameThisThread("sb-spool-write");
    p->WriteLoop();
  });
  if (recovered > 0) {
    log::Info(
        "spool_recovered",
        {{"records", recovered}, {"bytes", s->journal_->disk_bytes()}, {"dir", s->options_.dir}});
  }
  return s;
}

Spool::~Spool() {
  Stop(std::chrono::milliseconds(0));
  {
    std::lock_guard lock(mu_);
    stop_writer_ = true;  // the writer finishes what is queued first
  }
  queued_cv_.notify_all();
  if (writer_.joinable()) writer_.join();
}

void Spool::FillWindowLocked() {
  std::string payload, error, why;
  while (records_.size() < options_.max_in_flight) {
    JournalEntry where;
    if (!journal_->ReadNext(synced_end_, where, payload, error)) {
      if (error.empty()) return;  // every synced record is in the window
      log::Error("spool_record_unreadable", {{"error", error}});
      ++counters_.unreadable;
      continue;
    }
    SpoolRecord record;
    SealFormat format = SealFormat::kNone;
    if (!Unseal(where, payload, record, why, &format)) {
      // Never published, never a crash: set aside for a person to look at.
      QuarantineLocked(where, payload, why);
      records_.push_back(
          Pending{where, UnixMillisNow(), {}, std::make_shared<std::atomic<int>>(kAcked)});
      continue;
    }
    if (format == SealFormat::kLegacy) ++counters_.legacy;
    records_.push_back(Pending{where, record.spooled_at_ms, std::move(record.event_ids),
                               std::make_shared<std::atomic<int>>(kIdle)});
  }
}

void Spool::AppendAsync(SpoolRecord record, AppendCallback done) {
  Queued q{EncodeSpoolRecord(record), record.spooled_at_ms, std::move(record.event_ids),
           std::move(done)};
  const uint64_t size = Journal::kHeaderBytes + kTagBytes + q.body.size();
  AppendResult refused;
  {
    std::lock_guard lock(mu_);
    const uint64_t bytes = journal_->disk_bytes() + queued_bytes_;
    if (broken_) {
      refused = {Status::kFailed, broken_error_};
    } else if (bytes + size > options_.max_bytes) {
      ++counters_.full;
      refused = {Status::kFull, "the durable spool is full (" + std::to_string(bytes) + " of " +
                                    std::to_string(options_.max_bytes) +
                                    " bytes) while Kafka catches up; retry later."};
    } else {
      // Counted at once, so a retry arriving before the write is a duplicate.
      CountIdsLocked(q.ids);
      queued_bytes_ += size;
      queue_.push_back(std::move(q));
      queued_cv_.notify_one();
      return;
    }
  }
  q.done(refused);
}

DurableSpool::AppendResult Spool::WriteLocked(Queued& q) {
  if (broken_) {
    ForgetIdsLocked(q.ids);
    return {Status::kFailed, broken_error_};
  }
  std::string error;
  if (journal_->NeedsRoll(kTagBytes + q.body.size()) && !journal_->Roll(error)) {
    ForgetIdsLocked(q.ids);
    broken_ = true;
    broken_error_ = "the durable spool cannot be written: " + error;
    log::Error("spool_write_failed", {{"error", error}});
    return {Status::kFailed, broken_error_};
  }
  // Sealed for the place it is written to, under the lock that fixes it.
  const std::string payload =
      SealSpoolRecord(options_.keys.front(), journal_->next_append(), q.body);
  JournalEntry where;
  if (!journal_->Append(payload, where, error)) {
    ForgetIdsLocked(q.ids);
    broken_ = true;
    broken_error_ = "the durable spool cannot be written: " + error;
    log::Error("spool_write_failed", {{"error", error}});
    return {Status::kFailed, broken_error_};
  }
  ++stored_;
  return {Status::kStored, {}};
}

void Spool::WriteLoop() {
  std::unique_lock lock(mu_);
  for (;;) {
    queued_cv_.wait(lock, [&] { return !queue_.empty() || stop_writer_; });
    if (queue_.empty()) return;  // stopping, nothing left
    std::deque<Queued> batch;
    batch.swap(queue_);
    queued_bytes_ = 0;
    std::vector<AppendResult> results;
    results.reserve(batch.size());
    for (Queued& q : batch) results.push_back(WriteLocked(q));
    // Group commit: one fdatasync for the whole batch, outside the lock.
    syncing_ = true;
    const JournalPosition target = journal_->next_append();
    const int fd = journal_->active_fd();
    lock.unlock();
    const int rc = ::fdatasync(fd);
    const int saved_errno = errno;
    lock.lock();
    syncing_ = false;
    if (rc != 0) {
      broken_ = true;
      broken_error_ =
          std::string("the durable spool cannot be synced: ") + std::strerror(saved_errno) + ".";
      log::Error("spool_sync_failed", {{"error", broken_error_}});
      // Written but not durable: never read by the cursor (it stops at
      // synced_end_), never published, never answered 2xx.
      for (size_t i = 0; i < batch.size(); ++i) {
        if (results[i].status != Status::kStored) continue;
        results[i] = {Status::kFailed, broken_error_};
        ForgetIdsLocked(batch[i].ids);
        --stored_;
      }
    } else {
      if (synced_end_ < target) synced_end_ = target;
      FillWindowLocked();
    }
    for (const AppendResult& r : results) counters_.appended += r.status == Status::kStored;
    lock.unlock();
    waker_->Poke();
    for (size_t i = 0; i < batch.size(); ++i) batch[i].done(results[i]);
    lock.lock();
  }
}

bool Spool::Holds(const std::vector<std::string>& ids) const {
  if (ids.empty()) return false;
  std::lock_guard lock(mu_);
  for (const auto& id : ids) {
    if (pending_ids_.find(IdHash(id)) == pending_ids_.end()) return false;
  }
  return true;
}

void Spool::Start(std::function<bool()> may_drain) {
  may_drain_ = std::move(may_drain);
  drainer_ = std::thread([this] {
    NameThisThread("sb-spool-drain");
    DrainLoop();
  });
}

void Spool::Stop(std::chrono::milliseconds timeout) {
  {
    std::lock_guard lock(mu_);
    if (!stop_requested_) stop_deadline_ = std::chrono::steady_clock::now() + timeout;
    stop_requested_ = true;
  }
  waker_->Poke();
  if (drainer_.joinable()) drainer_.join();
}

void Spool::DrainLoop() {
  for (;;) {
    waker_->Sleep(std::chrono::milliseconds(100));
    std::vector<Pending> to_send;
    {
      std::lock_guard lock(mu_);
      PopAckedLocked();
      const auto now = std::chrono::steady_clock::now();
      if (stop_requested_ && (stored_ == 0 || now >= stop_deadline_)) break;
      if (may_drain_ && !may_drain_()) continue;
      // Failed records go back to idle and are sent again after a back-off.
      bool failed = false;
      for (Pending& p : records_) {
        int expected = kFailed;
        failed |= p.state->compare_exchange_strong(expected, kIdle);
      }
      if (failed) {
        ++counters_.retries;
        retry_at_ = now + backoff_;
        log::Warn("spool_publish_retry", {{"records", stored_}, {"retry_in_ms", backoff_.count()}});
        backoff_ = std::min(backoff_ * 2, options_.retry_backoff_max);
        continue;
      }
      if (now < retry_at_) continue;
      // The window holds synced records only.
      for (Pending& p : records_) {
        int expected = kIdle;
        if (p.state->compare_exchange_strong(expected, kInFlight)) to_send.push_back(p);
      }
    }
    for (const Pending& p : to_send) Send(p);
  }
}

std::vector<OutgoingMessage> Spool::DeadLetterStale(SpoolRecord& record, int64_t now_ms) const {
  std::vector<OutgoingMessage> out, events;
  for (OutgoingMessage& m : record.messages) {
    // A dead letter stays one: never deduplicated by id, it goes as it is.
    (m.topic == options_.dlq_topic ? out : events).push_back(std::move(m));
  }
  if (!events.empty()) {
    const std::string detail =
        "spooled " + std::to_string((now_ms - record.spooled_at_ms) / 1000) +
        " s before it could be drained, longer than the spool's freshness bound (" +
        std::to_string(options_.max_age.count() / 1000) +
        " s, the dedup window): its events may have been published already, so they were not "
        "published again.";
    out.push_back(StaleSpoolDeadLetter(record, events, detail, options_.dlq_topic));
  }
  return out;
}

void Spool::Send(const Pending& p) {
  std::string payload, error;
  SpoolRecord record;
  if (!journal_->Read(p.where, payload, error)) {
    // Read when the window was filled: the file changed since (or the disk failed).
    log::Error("spool_record_unreadable", {{"error", error}});
    std::lock_guard lock(mu_);
    ++counters_.unreadable;
    p.state->store(kAcked);
    return;
  }
  if (!Unseal(p.where, payload, record, error)) {
    // Checked when the window was filled; a record written into the file
    // since then by someone else.
    std::lock_guard lock(mu_);
    QuarantineLocked(p.where, payload, error);
    p.state->store(kAcked);
    return;
  }
  const int64_t now_ms = UnixMillisNow();
  if (recent_ && recent_->FindAll(record.event_ids, now_ms)) {
    // Published before: by a previous process that died before it could drop
    // the record, or by another replica that got the same delivery.
    std::lock_guard lock(mu_);
    ++counters_.already_published;
    p.state->store(kAcked);
    return;
  }
  std::vector<std::string> ids = std::move(record.event_ids);
  if (options_.max_age.count() > 0 && now_ms - record.spooled_at_ms > options_.max_age.count()) {
    // Beyond the dedup window nothing proves its ids were not published: a
    // dead letter a person can replay, never a second publication.
    record.messages = DeadLetterStale(record, now_ms);
    ids.clear();
    std::lock_guard lock(mu_);
    ++counters_.stale;
    log::Warn("spool_record_stale", {{"segment", p.where.segment},
                                     {"offset", p.where.offset},
                                     {"spooled_at_ms", record.spooled_at_ms}});
  }
  // Kafka's own timeout (message.timeout.ms) ends an attempt; the record is
  // not sent again while an earlier attempt may still succeed.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  publisher_->Publish(std::move(record.messages), deadline,
                      [state = p.state, waker = waker_, recent = recent_, ids = std::move(ids),
                       replica = options_.replica_id](const PublishOutcome& outcome) {
                        const bool ok = outcome.status == PublishStatus::kAcked;
                        if (ok && recent && !ids.empty())
                          recent->Insert(ids, replica, UnixMillisNow());
                        state->store(ok ? kAcked : kFailed);
                        waker->Poke();
                      });
}

void Spool::PopAckedLocked() {
  bool popped = false;
  uint64_t last_segment = 0, last_end = 0;
  for (;;) {
    while (!records_.empty() && records_.front().state->load() == kAcked) {
      Pending& p = records_.front();
      ForgetIdsLocked(p.ids);
      last_segment = p.where.segment;
      last_end = p.where.offset + p.where.size;
      records_.pop_front();
      if (stored_ > 0) --stored_;
      ++counters_.drained;
      popped = true;
    }
    // Room in the window: the next records from the journal.
    const size_t before = records_.size();
    FillWindowLocked();
    if (records_.size() == before || records_.front().state->load() != kAcked) break;
  }
  if (popped) backoff_ = options_.retry_backoff_initial;
  // Segments before the oldest record still needed (or the cursor, which is
  // past every record read) are fully drained.
  const uint64_t keep_from =
      records_.empty() ? journal_->read_position().segment : records_.front().where.segment;
  for (uint64_t seg : journal_->segments()) {
    if (seg < keep_from) journal_->Release(seg);
  }
  if (records_.empty() && stored_ == 0 && queue_.empty() && !syncing_ &&
      journal_->active_size() >= kRollDrainedBytes) {
    const uint64_t old = journal_->active_segment();
    std::string error;
    if (journal_->Roll(error)) {
      synced_end_ = journal_->next_append();
      journal_->Release(old);
    } else {
      log::Warn("spool_roll_failed", {{"error", error}});
    }
  }
  if (popped) journal_->SaveDrained(last_segment, last_end);
}

Spool::Stats Spool::stats() const {
  std::lock_guard lock(mu_);
  Stats s = counters_;
  s.records = stored_;
  s.in_memory = records_.size();
  s.bytes = journal_->disk_bytes();
  if (!records_.empty()) {
    s.oldest_age_seconds = std::max<double>(
        0, static_cast<double>(UnixMillisNow() - records_.front().spooled_at_ms) / 1000.0);
  }
  return s;
}

bool Spool::Healthy() const {
  std::lock_guard lock(mu_);
  return !broken_;
}

bool Spool::HasRoom(uint64_t bytes) const {
  std::lock_guard lock(mu_);
  return !broken_ && journal_->disk_bytes() + bytes <= options_.max_bytes;
}

}  // namespace bridge
