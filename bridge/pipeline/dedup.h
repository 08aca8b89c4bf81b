#pragma once

// The event ids acknowledged by Kafka within a time window, by this process
// and (fed by kafka/id_follower.h) by every other replica publishing to the
// same topic. A delivery whose every id is known is a duplicate.

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bridge {

class RecentIds {
 public:
  /// Keeps ids for `window` after they were acknowledged, and at most
  /// `capacity` of them (the oldest go first). capacity 0 = remember nothing.
  explicit RecentIds(size_t capacity, std::chrono::milliseconds window = std::chrono::hours(24));

  /// Records ids acknowledged at `acked_at_ms` (Unix ms) by `replica`.
  void Insert(const std::vector<std::string>& ids, std::string_view replica, int64_t acked_at_ms);
  /// One id (the topic follower: one record at a time, no copies).
  void InsertOne(std::string_view id, std::string_view replica, int64_t acked_at_ms);
  /// Same, acknowledged now by this process (tests, replay).
  void Insert(const std::vector<std::string>& ids);

  /// When every id is known and inside the window at `now_ms`: the replica
  /// that published the first of them. An empty list is never a duplicate.
  std::optional<std::string> FindAll(const std::vector<std::string>& ids, int64_t now_ms) const;
  /// FindAll at the newest acknowledgement time seen.
  bool ContainsAll(const std::vector<std::string>& ids) const;

  size_t size() const;
  /// Ids dropped for capacity while still inside the window: raise the
  /// capacity when this grows.
  uint64_t evicted_early() const;
  std::chrono::milliseconds window() const { return window_; }

 private:
  using Key = std::array<uint8_t, 16>;
  static Key KeyOf(std::string_view id);
  static uint64_t HashOf(const Key& key);
  uint16_t ReplicaIndexLocked(std::string_view replica);
  void ExpireLocked(int64_t now_ms);
  /// The ring position holding `key`, or -1.
  int64_t FindLocked(const Key& key) const;
  void IndexInsertLocked(const Key& key, uint32_t position);
  void InsertLocked(std::string_view id, uint16_t replica, int64_t acked_at_ms);
  void IndexEraseLocked(const Key& key);
  void GrowLocked();

  const size_t capacity_;
  const std::chrono::milliseconds window_;
  mutable std::mutex mu_;
  // Ids in acknowledgement order: a ring of parallel arrays (26 bytes per id).
  std::vector<Key> keys_;
  std::vector<int64_t> acked_at_ms_;
  std::vector<uint16_t> replica_of_;
  size_t head_ = 0, size_ = 0;
  // Open addressing (linear probing) from key to ring position + 1; 0 = empty.
  // Kept at most half full: 8 more bytes per id.
  std::vector<uint32_t> index_;
  std::vector<std::string> replicas_;
  std::map<std::string, uint16_t, std::less<>> replica_index_;
  uint64_t evicted_early_ = 0;
  int64_t last_warned_ms_ = INT64_MIN / 2;
  int64_t latest_ms_ = 0;  // the newest acknowledgement time seen: expiry follows it
};

/// Unix milliseconds now, from the system clock.
int64_t UnixMillisNow();

}  // namespace bridge
