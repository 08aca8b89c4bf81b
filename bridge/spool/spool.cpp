#include "bridge/spool/spool.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "bridge/crypto/hmac.h"
#include "bridge/util/log.h"
#include "bridge/util/thread_name.h"

namespace bridge {
namespace {

constexpr uint8_t kRecordVersion = 1;
// An empty active segment is rolled over (and the old one deleted) once it
// holds this much drained data, so disk use follows the backlog.
constexpr uint64_t kRollDrainedBytes = 1 << 20;

void PutU32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void PutU64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void PutString(std::string& out, std::string_view s) {
  PutU32(out, static_cast<uint32_t>(s.size()));
  out.append(s);
}

/// Reads the encoding above; every read is bounds-checked.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool U8(uint8_t& v) {
    if (in_.size() < 1) return false;
    v = static_cast<uint8_t>(in_[0]);
    in_.remove_prefix(1);
    return true;
  }
  bool U32(uint32_t& v) {
    if (in_.size() < 4) return false;
    v = 0;
    for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<uint8_t>(in_[i])) << (8 * i);
    in_.remove_prefix(4);
    return true;
  }
  bool U64(uint64_t& v) {
    if (in_.size() < 8) return false;
    v = 0;
    for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(in_[i])) << (8 * i);
    in_.remove_prefix(8);
    return true;
  }
  bool String(std::string& s) {
    uint32_t n = 0;
    if (!U32(n) || in_.size() < n) return false;
    s.assign(in_.data(), n);
    in_.remove_prefix(n);
    return true;
  }
  /// A count of items, each at least `min_item_bytes` long: bounded by what is left.
  bool Count(uint32_t& n, size_t min_item_bytes) {
    return U32(n) && static_cast<uint64_t>(n) * min_item_bytes <= in_.size();
  }
  bool empty() const { return in_.empty(); }

 private:
  std::string_view in_;
};

}  // namespace

std::string EncodeSpoolRecord(const SpoolRecord& r) {
  std::string out;
  size_t estimate = 64 + r.provider.size() + r.source.size();
  for (const auto& m : r.messages) estimate += m.topic.size() + m.key.size() + m.value.size() + 256;
  out.reserve(estimate);
  out.push_back(static_cast<char>(kRecordVersion));
  PutString(out, r.provider);
  PutString(out, r.source);
  PutU64(out, static_cast<uint64_t>(r.spooled_at_ms));
  PutU32(out, static_cast<uint32_t>(r.event_ids.size()));
  for (const auto& id : r.event_ids) PutString(out, id);
  PutU32(out, static_cast<uint32_t>(r.messages.size()));
  for (const auto& m : r.messages) {
    PutString(out, m.topic);
    PutString(out, m.key);
    PutString(out, m.value);
    PutU32(out, static_cast<uint32_t>(m.headers.size()));
    for (const auto& [k, v] : m.headers) {
      PutString(out, k);
      PutString(out, v);
    }
  }
  return out;
}

bool DecodeSpoolRecord(std::string_view payload, SpoolRecord& r, std::string& error) {
  Reader in(payload);
  uint8_t version = 0;
  uint64_t spooled_at = 0;
  uint32_t n = 0;
  r = SpoolRecord();
  auto fail = [&](const char* what) {
    error = std::string("spool record: ") + what + ".";
    return false;
  };
  if (!in.U8(version)) return fail("empty");
  if (version != kRecordVersion) return fail("unknown version");
  if (!in.String(r.provider) || !in.String(r.source) || !in.U64(spooled_at)) {
    return fail("truncated header");
  }
  r.spooled_at_ms = static_cast<int64_t>(spooled_at);
  if (!in.Count(n, 4)) return fail("bad id count");
  r.event_ids.resize(n);
  for (auto& id : r.event_ids) {
    if (!in.String(id)) return fail("truncated id");
  }
  if (!in.Count(n, 16)) return fail("bad message count");
  r.messages.resize(n);
  for (auto& m : r.messages) {
    uint32_t headers = 0;
    if (!in.String(m.topic) || !in.String(m.key) || !in.String(m.value) || !in.Count(headers, 8)) {
      return fail("truncated message");
    }
    m.headers.resize(headers);
    for (auto& [k, v] : m.headers) {
      if (!in.String(k) || !in.String(v)) return fail("truncated header");
    }
  }
  if (!in.empty()) return fail("trailing bytes");
  if (r.messages.empty()) return fail("no messages");
  return true;
}

std::string SealSpoolRecord(std::string_view key, std::string_view body) {
  std::string out = crypto::Hmac(crypto::Digest::kSha256, key, body);
  out.append(body);
  return out;
}

std::optional<std::string_view> OpenSpoolRecord(const std::vector<std::string>& keys,
                                                std::string_view sealed) {
  constexpr size_t kTag = 32;
  if (sealed.size() < kTag) return std::nullopt;
  const std::string_view tag = sealed.substr(0, kTag), body = sealed.substr(kTag);
  bool ok = false;
  for (const std::string& key : keys) {
    ok |= crypto::ConstantTimeEquals(crypto::Hmac(crypto::Digest::kSha256, key, body), tag);
  }
  if (!ok) return std::nullopt;
  return body;
}

bool Spool::Unseal(std::string_view payload, SpoolRecord& record, std::string& why) const {
  const auto body = OpenSpoolRecord(options_.keys, payload);
  if (!body) {
    why = "not sealed by the configured spool key (written by someone else, or with another key)";
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
  ++counters_.quarantined;
  const std::string dir = options_.dir + "/quarantine";
  const std::string name =
      dir + "/" + std::to_string(where.segment) + "-" + std::to_string(where.offset) + ".record";
  ::mkdir(dir.c_str(), 0700);
  const int fd = ::open(name.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  bool kept = false;
  if (fd >= 0) {
    kept = ::write(fd, payload.data(), payload.size()) == static_cast<ssize_t>(payload.size());
    ::close(fd);
  }
  log::Error("spool_record_quarantined", {{"segment", where.segment},
                                          {"offset", where.offset},
                                          {"reason", why},
                                          {"kept_in", kept ? name : std::string("(not kept)")}});
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

std::unique_ptr<Spool> Spool::Open(SpoolOptions options, Publisher& publisher,
                                   std::shared_ptr<RecentIds> recent, std::string& error) {
  std::unique_ptr<Spool> s(new Spool());
  s->options_ = std::move(options);
  s->publisher_ = &publisher;
  s->recent_ = std::move(recent);
  s->backoff_ = s->options_.retry_backoff_initial;
  if (s->options_.keys.empty() || s->options_.keys.front().empty()) {
    error = "the spool needs a key to seal its records (spool_key_file).";
    return nullptr;
  }
  std::vector<JournalEntry> existing;
  s->journal_ = Journal::Open(s->options_.dir, s->options_.segment_bytes, existing, error);
  if (!s->journal_) return nullptr;
  std::lock_guard lock(s->mu_);
  s->counters_.quarantined += s->journal_->quarantined_files();
  for (JournalEntry& e : existing) {
    SpoolRecord record;
    std::string why;
    if (!s->Unseal(e.payload, record, why)) {
      // Never published, never a crash: set aside for a person to look at.
      s->QuarantineLocked(e, e.payload, why);
      e.payload.clear();
      s->PushLocked(e, 0, {}, kAcked);
      continue;
    }
    e.payload.clear();
    s->PushLocked(e, record.spooled_at_ms, std::move(record.event_ids), kIdle);
  }
  s->synced_seq_ = s->appended_seq_;
  s->PopAckedLocked();  // releases segments left fully drained
  s->writer_ = std::thread([p = s.get()] {
    NameThisThread("sb-spool-write");
    p->WriteLoop();
  });
  if (!existing.empty()) {
    log::Info("spool_recovered", {{"records", existing.size()},
                                  {"bytes", s->journal_->disk_bytes()},
                                  {"dir", s->options_.dir}});
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

void Spool::PushLocked(JournalEntry where, int64_t spooled_at_ms, std::vector<std::string> ids,
                       int state) {
  for (const auto& id : ids) ++pending_ids_[id];
  records_.push_back(Pending{++appended_seq_, std::move(where), spooled_at_ms, std::move(ids),
                             std::make_shared<std::atomic<int>>(state)});
}

void Spool::AppendAsync(SpoolRecord record, AppendCallback done) {
  Queued q{SealSpoolRecord(options_.keys.front(), EncodeSpoolRecord(record)), record.spooled_at_ms,
           std::move(record.event_ids), std::move(done)};
  AppendResult refused;
  {
    std::lock_guard lock(mu_);
    const uint64_t bytes = journal_->disk_bytes() + queued_bytes_;
    if (broken_) {
      refused = {Status::kFailed, broken_error_};
    } else if (bytes + Journal::kHeaderBytes + q.payload.size() > options_.max_bytes) {
      ++counters_.full;
      refused = {Status::kFull, "the durable spool is full (" + std::to_string(bytes) + " of " +
                                    std::to_string(options_.max_bytes) +
                                    " bytes) while Kafka catches up; retry later."};
    } else {
      // Counted at once, so a retry arriving before the write is a duplicate.
      for (const auto& id : q.ids) ++pending_ids_[id];
      queued_bytes_ += Journal::kHeaderBytes + q.payload.size();
      queue_.push_back(std::move(q));
      queued_cv_.notify_one();
      return;
    }
  }
  q.done(refused);
}

void Spool::ForgetIdsLocked(const std::vector<std::string>& ids) {
  for (const auto& id : ids) {
    auto it = pending_ids_.find(id);
    if (it != pending_ids_.end() && --it->second <= 0) pending_ids_.erase(it);
  }
}

DurableSpool::AppendResult Spool::WriteLocked(Queued& q) {
  if (broken_) {
    ForgetIdsLocked(q.ids);
    return {Status::kFailed, broken_error_};
  }
  std::string error;
  if (journal_->NeedsRoll(q.payload.size()) && !journal_->Roll(error)) {
    ForgetIdsLocked(q.ids);
    broken_ = true;
    broken_error_ = "the durable spool cannot be written: " + error;
    log::Error("spool_write_failed", {{"error", error}});
    return {Status::kFailed, broken_error_};
  }
  JournalEntry where;
  if (!journal_->Append(q.payload, where, error)) {
    ForgetIdsLocked(q.ids);
    broken_ = true;
    broken_error_ = "the durable spool cannot be written: " + error;
    log::Error("spool_write_failed", {{"error", error}});
    return {Status::kFailed, broken_error_};
  }
  records_.push_back(Pending{++appended_seq_, std::move(where), q.spooled_at_ms, std::move(q.ids),
                             std::make_shared<std::atomic<int>>(kIdle)});
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
    const uint64_t target = appended_seq_;
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
      for (AppendResult& r : results) {
        if (r.status == Status::kStored) r = {Status::kFailed, broken_error_};
      }
      // Written but not durable: never published, never answered 2xx.
      for (auto it = records_.begin(); it != records_.end();) {
        if (it->seq > synced_seq_) {
          ForgetIdsLocked(it->ids);
          it = records_.erase(it);
        } else {
          ++it;
        }
      }
    } else {
      synced_seq_ = std::max(synced_seq_, target);
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
    if (pending_ids_.find(id) == pending_ids_.end()) return false;
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
      if (stop_requested_ && (records_.empty() || now >= stop_deadline_)) break;
      if (may_drain_ && !may_drain_()) continue;
      // Failed records go back to idle and are sent again after a back-off.
      const size_t window = std::min(records_.size(), options_.max_in_flight);
      bool failed = false;
      for (size_t i = 0; i < window; ++i) {
        int expected = kFailed;
        failed |= records_[i].state->compare_exchange_strong(expected, kIdle);
      }
      if (failed) {
        ++counters_.retries;
        retry_at_ = now + backoff_;
        log::Warn("spool_publish_retry",
                  {{"records", records_.size()}, {"retry_in_ms", backoff_.count()}});
        backoff_ = std::min(backoff_ * 2, options_.retry_backoff_max);
        continue;
      }
      if (now < retry_at_) continue;
      for (size_t i = 0; i < window; ++i) {
        Pending& p = records_[i];
        if (p.seq > synced_seq_) break;
        int expected = kIdle;
        if (p.state->compare_exchange_strong(expected, kInFlight)) to_send.push_back(p);
      }
    }
    for (const Pending& p : to_send) Send(p);
  }
}

void Spool::Send(const Pending& p) {
  std::string payload, error;
  SpoolRecord record;
  if (!journal_->Read(p.where, payload, error)) {
    // Synced and checksummed when written: only a damaged disk gets here.
    log::Error("spool_record_unreadable", {{"error", error}});
    std::lock_guard lock(mu_);
    ++counters_.unreadable;
    p.state->store(kAcked);
    return;
  }
  if (!Unseal(payload, record, error)) {
    // Checked when the journal was opened; a record written into the file
    // since then by someone else.
    std::lock_guard lock(mu_);
    QuarantineLocked(p.where, payload, error);
    p.state->store(kAcked);
    return;
  }
  if (recent_ && recent_->FindAll(record.event_ids, UnixMillisNow())) {
    // Published before: by a previous process that died before it could drop
    // the record, or by another replica that got the same delivery.
    std::lock_guard lock(mu_);
    ++counters_.already_published;
    p.state->store(kAcked);
    return;
  }
  // Kafka's own timeout (message.timeout.ms) ends an attempt; the record is
  // not sent again while an earlier attempt may still succeed.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  publisher_->Publish(
      std::move(record.messages), deadline,
      [state = p.state, waker = waker_, recent = recent_, ids = std::move(record.event_ids),
       replica = options_.replica_id](const PublishOutcome& outcome) {
        const bool ok = outcome.status == PublishStatus::kAcked;
        if (ok && recent) recent->Insert(ids, replica, UnixMillisNow());
        state->store(ok ? kAcked : kFailed);
        waker->Poke();
      });
}

void Spool::PopAckedLocked() {
  bool popped = false;
  uint64_t last_segment = 0, last_end = 0;
  while (!records_.empty() && records_.front().state->load() == kAcked) {
    Pending& p = records_.front();
    ForgetIdsLocked(p.ids);
    last_segment = p.where.segment;
    last_end = p.where.offset + p.where.size;
    records_.pop_front();
    ++counters_.drained;
    popped = true;
  }
  if (popped) backoff_ = options_.retry_backoff_initial;
  // Segments before the oldest record still needed are fully drained.
  const uint64_t keep_from =
      records_.empty() ? journal_->active_segment() : records_.front().where.segment;
  for (uint64_t seg : journal_->segments()) {
    if (seg < keep_from) journal_->Release(seg);
  }
  if (records_.empty() && !syncing_ && journal_->active_size() >= kRollDrainedBytes) {
    const uint64_t old = journal_->active_segment();
    std::string error;
    if (journal_->Roll(error)) {
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
  s.records = records_.size();
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
