#include "bridge/pipeline/dedup.h"

#include <algorithm>
#include <cstring>

#include "bridge/crypto/hmac.h"
#include "bridge/util/log.h"

namespace bridge {
namespace {

constexpr size_t kMaxReplicaNames = 1024;

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

int64_t UnixMillisNow() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

RecentIds::RecentIds(size_t capacity, std::chrono::milliseconds window)
    : capacity_(capacity), window_(window) {
  replicas_.emplace_back();  // index 0: unknown
  replica_index_.emplace("", 0);
}

uint64_t RecentIds::HashOf(const Key& key) {
  // Event ids are digests: their bytes are already uniformly spread.
  uint64_t h;
  std::memcpy(&h, key.data(), sizeof h);
  return h;
}

RecentIds::Key RecentIds::KeyOf(std::string_view id) {
  // Our ids are UUID-shaped (36 characters): 16 bytes of hex. Anything else
  // is reduced to a SHA-256 prefix, so the key is 16 bytes either way.
  Key key{};
  if (id.size() == 36) {
    size_t n = 0;
    bool ok = true;
    for (size_t i = 0; i < id.size() && ok; ++i) {
      if (i == 8 || i == 13 || i == 18 || i == 23) {
        ok = id[i] == '-';
        continue;
      }
      const int v = HexValue(id[i]);
      ok = v >= 0;
      if (ok) {
        key[n / 2] = static_cast<uint8_t>(key[n / 2] | (n % 2 == 0 ? v << 4 : v));
        ++n;
      }
    }
    if (ok && n == 32) return key;
  }
  const std::string digest = crypto::Sha256(id);
  std::memcpy(key.data(), digest.data(), key.size());
  return key;
}

uint16_t RecentIds::ReplicaIndexLocked(std::string_view replica) {
  if (auto it = replica_index_.find(replica); it != replica_index_.end()) return it->second;
  if (replicas_.size() >= kMaxReplicaNames) return 0;
  const auto index = static_cast<uint16_t>(replicas_.size());
  replicas_.emplace_back(replica);
  replica_index_.emplace(std::string(replica), index);
  return index;
}

int64_t RecentIds::FindLocked(const Key& key) const {
  if (index_.empty()) return -1;
  const size_t mask = index_.size() - 1;
  for (size_t i = HashOf(key) & mask;; i = (i + 1) & mask) {
    const uint32_t slot = index_[i];
    if (slot == 0) return -1;
    if (keys_[slot - 1] == key) return slot - 1;
  }
}

void RecentIds::IndexInsertLocked(const Key& key, uint32_t position) {
  const size_t mask = index_.size() - 1;
  size_t i = HashOf(key) & mask;
  while (index_[i] != 0) i = (i + 1) & mask;
  index_[i] = position + 1;
}

void RecentIds::IndexEraseLocked(const Key& key) {
  // Linear probing with backward-shift deletion: no tombstones.
  const size_t mask = index_.size() - 1;
  size_t i = HashOf(key) & mask;
  while (index_[i] != 0 && keys_[index_[i] - 1] != key) i = (i + 1) & mask;
  if (index_[i] == 0) return;
  size_t hole = i;
  for (size_t j = (hole + 1) & mask; index_[j] != 0; j = (j + 1) & mask) {
    const size_t home = HashOf(keys_[index_[j] - 1]) & mask;
    // Move j into the hole when its home is not in (hole, j] (cyclically).
    const bool between = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
    if (!between) {
      index_[hole] = index_[j];
      hole = j;
    }
  }
  index_[hole] = 0;
}

void RecentIds::GrowLocked() {
  // Re-lay the ring from position 0 at twice the size (at most the capacity)
  // and rebuild the index at twice that.
  const size_t ring = std::min(capacity_, std::max<size_t>(1024, keys_.size() * 2));
  std::vector<Key> keys(ring);
  std::vector<int64_t> times(ring);
  std::vector<uint16_t> replicas(ring);
  for (size_t n = 0; n < size_; ++n) {
    const size_t from = (head_ + n) % keys_.size();
    keys[n] = keys_[from];
    times[n] = acked_at_ms_[from];
    replicas[n] = replica_of_[from];
  }
  keys_.swap(keys);
  acked_at_ms_.swap(times);
  replica_of_.swap(replicas);
  head_ = 0;
  size_t slots = 1;
  while (slots < ring * 2) slots <<= 1;
  index_.assign(slots, 0);
  for (size_t n = 0; n < size_; ++n) IndexInsertLocked(keys_[n], static_cast<uint32_t>(n));
}

void RecentIds::ExpireLocked(int64_t now_ms) {
  const int64_t cutoff = now_ms - window_.count();
  while (size_ > 0 && acked_at_ms_[head_] < cutoff) {
    IndexEraseLocked(keys_[head_]);
    head_ = (head_ + 1) % keys_.size();
    --size_;
  }
}

void RecentIds::Insert(const std::vector<std::string>& ids, std::string_view replica,
                       int64_t acked_at_ms) {
  if (capacity_ == 0) return;
  std::lock_guard lock(mu_);
  const uint16_t r = ReplicaIndexLocked(replica);
  latest_ms_ = std::max(latest_ms_, acked_at_ms);
  ExpireLocked(latest_ms_);
  for (const std::string& id : ids) InsertLocked(id, r, acked_at_ms);
}

void RecentIds::InsertOne(std::string_view id, std::string_view replica, int64_t acked_at_ms) {
  if (capacity_ == 0) return;
  std::lock_guard lock(mu_);
  const uint16_t r = ReplicaIndexLocked(replica);
  latest_ms_ = std::max(latest_ms_, acked_at_ms);
  ExpireLocked(latest_ms_);
  InsertLocked(id, r, acked_at_ms);
}

void RecentIds::InsertLocked(std::string_view id, uint16_t r, int64_t acked_at_ms) {
  const Key key = KeyOf(id);
  if (const int64_t at = FindLocked(key); at >= 0) {
    // Seen again (our own ack, then the same id read back from the topic):
    // keep the first publisher, extend to the latest time.
    acked_at_ms_[at] = std::max(acked_at_ms_[at], acked_at_ms);
    return;
  }
  if (size_ == keys_.size() && keys_.size() < capacity_) GrowLocked();
  if (size_ == keys_.size()) {
    // Full at capacity: the oldest goes, though still inside the window.
    // Its replay would now be published again: counted, and said at most
    // once a minute.
    ++evicted_early_;
    if (latest_ms_ - last_warned_ms_ >= 60000) {
      last_warned_ms_ = latest_ms_;
      log::Warn("dedup_evicting_early",
                {{"capacity", capacity_},
                 {"window_seconds", window_.count() / 1000},
                 {"evicted_age_seconds", (latest_ms_ - acked_at_ms_[head_]) / 1000},
                 {"evicted_so_far", evicted_early_},
                 {"remedy", "raise dedup_capacity (or shorten dedup_window_seconds)"}});
    }
    IndexEraseLocked(keys_[head_]);
    head_ = (head_ + 1) % keys_.size();
    --size_;
  }
  const size_t at = (head_ + size_) % keys_.size();
  keys_[at] = key;
  acked_at_ms_[at] = acked_at_ms;
  replica_of_[at] = r;
  ++size_;
  IndexInsertLocked(key, static_cast<uint32_t>(at));
}

void RecentIds::Insert(const std::vector<std::string>& ids) { Insert(ids, "", UnixMillisNow()); }

std::optional<std::string> RecentIds::FindAll(const std::vector<std::string>& ids,
                                              int64_t now_ms) const {
  if (ids.empty()) return std::nullopt;
  const int64_t cutoff = now_ms - window_.count();
  std::lock_guard lock(mu_);
  std::optional<std::string> first;
  for (const std::string& id : ids) {
    const int64_t at = FindLocked(KeyOf(id));
    if (at < 0 || acked_at_ms_[at] < cutoff) return std::nullopt;
    if (!first) first = replicas_[replica_of_[at]];
  }
  return first;
}

bool RecentIds::ContainsAll(const std::vector<std::string>& ids) const {
  int64_t latest;
  {
    std::lock_guard lock(mu_);
    latest = latest_ms_;
  }
  return FindAll(ids, latest).has_value();
}

size_t RecentIds::size() const {
  std::lock_guard lock(mu_);
  return size_;
}

uint64_t RecentIds::evicted_early() const {
  std::lock_guard lock(mu_);
  return evicted_early_;
}

}  // namespace bridge
