#pragma once

// The durable spool behind `ack: spool` sources. A delivery is queued to the
// spool's writer thread, which appends it to the journal and syncs it
// (fdatasync, group commit: one sync serves every record queued meanwhile)
// before its completion runs and the 2xx goes out; a background thread drains
// the journal into Kafka in order, retrying without a time limit; a record is
// dropped from the journal only after Kafka acknowledged it. On start-up the
// records left by the previous process are drained first.
//
// Memory does not grow with the backlog: the journal is read through a cursor
// into a window of at most max_in_flight records (without their payloads);
// what stays per stored record is one 64-bit hash per event id, for Holds().

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "bridge/pipeline/pipeline.h"
#include "bridge/pipeline/publisher.h"
#include "bridge/spool/journal.h"
#include "bridge/spool/settings.h"

namespace bridge {

/// The size of a record's tag (HMAC-SHA256).
inline constexpr size_t kSpoolSealBytes = 32;

/// A record in the journal: a 32-byte tag, then the body. The tag is
/// HMAC-SHA256(key, "schedbridge-spool-record/2" | segment u64 | offset u64 |
/// body): it binds the record to its position, so a copy anywhere else (or a
/// later segment of the same number: numbers are never reused) is refused. The
/// body carries the spooled_at time, sealed with it.
std::string SealSpoolRecord(std::string_view key, const JournalPosition& at, std::string_view body);
/// How a record was sealed.
enum class SealFormat { kNone, kPositioned, kLegacy };
/// The body of a sealed record that one of `keys` verifies at `at`, or nullopt.
/// A record of the previous format (HMAC over the body alone, no position)
/// is accepted as kLegacy: see the README's "Durable spool".
std::optional<std::string_view> OpenSpoolRecord(const std::vector<std::string>& keys,
                                                const JournalPosition& at, std::string_view sealed,
                                                SealFormat* format = nullptr);

/// The dead letter (reason stale_spool_record) for a record's events that is
/// too old to publish: its body holds the events as they were spooled, so
/// `schedbridge replay` can publish them once a person decided to.
OutgoingMessage StaleSpoolDeadLetter(const SpoolRecord& record,
                                     const std::vector<OutgoingMessage>& events,
                                     const std::string& detail, const std::string& dlq_topic);

/// The journal payload of a record (versioned binary; tests and fuzzing use these).
std::string EncodeSpoolRecord(const SpoolRecord& record);
bool DecodeSpoolRecord(std::string_view payload, SpoolRecord& record, std::string& error);

class Spool final : public DurableSpool {
 public:
  /// Opens the journal in `options.dir`, reading what a previous process left.
  static std::unique_ptr<Spool> Open(SpoolOptions options, Publisher& publisher,
                                     std::shared_ptr<RecentIds> recent, std::string& error);
  ~Spool() override;

  void AppendAsync(SpoolRecord record, AppendCallback done) override;
  bool Holds(const std::vector<std::string>& ids) const override;

  /// Starts draining. Records are published only while `may_drain()` is true
  /// (for example once the id index is seeded, so records a previous process
  /// already published are recognised and skipped).
  void Start(std::function<bool()> may_drain);
  /// Keeps draining for up to `timeout`, then stops draining; what is left
  /// stays on disk. Appends are still taken until the spool is destroyed.
  void Stop(std::chrono::milliseconds timeout);

  struct Stats {
    size_t records = 0;    // stored, not yet acknowledged by Kafka (nor set aside)
    uint64_t bytes = 0;    // journal files on disk
    size_t in_memory = 0;  // of `records`, those read into the window (at most max_in_flight)
    double oldest_age_seconds = 0;
    uint64_t appended = 0, drained = 0, already_published = 0, retries = 0, full = 0,
             unreadable = 0;
    /// Records set aside in <dir>/quarantine/, never published: not sealed by
    /// a configured key, not readable, or naming a topic not configured.
    uint64_t quarantined = 0;
    /// Records older than max_age when drained: dead-lettered, not published.
    uint64_t stale = 0;
    /// Records of the previous seal format (no position) drained after an upgrade.
    uint64_t legacy = 0;
  };
  Stats stats() const;
  /// False once an append could not be written or synced (disk full, I/O error).
  bool Healthy() const;
  /// True while another record of `bytes` would fit.
  bool HasRoom(uint64_t bytes = 4096) const;

 private:
  enum State : int { kIdle = 0, kInFlight = 1, kAcked = 2, kFailed = 3 };
  /// A record of the window: read from the journal, not yet dropped.
  struct Pending {
    JournalEntry where;  // without payload: read again when sent
    int64_t spooled_at_ms;
    std::vector<std::string> ids;
    std::shared_ptr<std::atomic<int>> state;
  };
  struct Waker {
    std::mutex mu;
    std::condition_variable cv;
    bool poked = false;
    void Poke();
    void Sleep(std::chrono::milliseconds at_most);
  };

  /// A record waiting for the writer thread.
  struct Queued {
    std::string body;  // sealed when its position is known
    int64_t spooled_at_ms;
    std::vector<std::string> ids;  // already counted in pending_ids_
    AppendCallback done;
  };

  Spool() = default;
  static uint64_t IdHash(const std::string& id);
  void CountIdsLocked(const std::vector<std::string>& ids);
  void ForgetIdsLocked(const std::vector<std::string>& ids);
  /// Reads synced records from the journal's cursor until the window holds
  /// max_in_flight of them; quarantines what does not check out (under mu_).
  void FillWindowLocked();
  /// The writer thread: takes every queued record, writes them, syncs once,
  /// then runs their completions.
  void WriteLoop();
  /// Writes one queued record (under mu_). On failure its ids are forgotten
  /// again (they were counted when it was queued).
  AppendResult WriteLocked(Queued& q);
  /// Copies a record that will not be published to <dir>/quarantine/ and
  /// counts it (under mu_).
  void QuarantineLocked(const JournalEntry& where, std::string_view payload,
                        const std::string& why);
  /// The record's body if it is sealed by a key for its position and names
  /// only configured topics; otherwise an error sentence in `why`.
  bool Unseal(const JournalEntry& where, std::string_view payload, SpoolRecord& record,
              std::string& why, SealFormat* format = nullptr) const;
  /// Publishes a record's dead letters as they are and its events as one
  /// stale_spool_record dead letter.
  std::vector<OutgoingMessage> DeadLetterStale(SpoolRecord& record, int64_t now_ms) const;
  void DrainLoop();
  void Send(const Pending& p);
  /// Drops acknowledged records from the front; releases drained segments.
  void PopAckedLocked();

  SpoolOptions options_;
  Publisher* publisher_ = nullptr;
  std::shared_ptr<RecentIds> recent_;
  std::unique_ptr<Journal> journal_;

  mutable std::mutex mu_;
  std::condition_variable queued_cv_;
  std::deque<Queued> queue_;  // for the writer thread
  uint64_t queued_bytes_ = 0;
  bool stop_writer_ = false;
  std::thread writer_;
  std::deque<Pending> records_;  // the window, oldest first, at most max_in_flight
  size_t stored_ = 0;            // records in the journal not yet dropped
  // Hash of each stored record's ids → count (8-byte key per id: Holds() for
  // a backlog that is not in memory).
  std::unordered_map<uint64_t, uint32_t> pending_ids_;
  JournalPosition synced_end_;  // records before it are synced: the cursor's limit
  bool syncing_ = false;
  bool broken_ = false;
  std::string broken_error_;
  Stats counters_;
  std::chrono::milliseconds backoff_{0};
  std::chrono::steady_clock::time_point retry_at_{};

  std::shared_ptr<Waker> waker_ = std::make_shared<Waker>();
  std::function<bool()> may_drain_;
  std::atomic<bool> stop_requested_{false};
  std::chrono::steady_clock::time_point stop_deadline_{};
  std::thread drainer_;
};

}  // namespace bridge
