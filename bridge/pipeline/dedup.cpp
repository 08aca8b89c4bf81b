#include "bridge/pipeline/dedup.h"

#include <cstring>

#include "bridge/crypto/hmac.h"

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

size_t RecentIds::KeyHash::operator()(const Key& k) const {
  // Event ids are digests: their first bytes are already uniformly spread.
  size_t h;
  std::memcpy(&h, k.data(), sizeof h);
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

void RecentIds::ExpireLocked(int64_t now_ms) {
  const int64_t cutoff = now_ms - window_.count();
  while (!order_.empty()) {
    auto it = entries_.find(order_.front());
    const bool expired = it == entries_.end() || it->second.acked_at_ms < cutoff;
    const bool over = order_.size() > capacity_;
    if (!expired && !over) break;
    if (!expired) ++evicted_early_;
    if (it != entries_.end()) entries_.erase(it);
    order_.pop_front();
  }
}

void RecentIds::Insert(const std::vector<std::string>& ids, std::string_view replica,
                       int64_t acked_at_ms) {
  if (capacity_ == 0) return;
  std::lock_guard lock(mu_);
  const uint16_t r = ReplicaIndexLocked(replica);
  for (const std::string& id : ids) {
    const Key key = KeyOf(id);
    auto [it, inserted] = entries_.try_emplace(key, Entry{acked_at_ms, r});
    if (!inserted) {
      // Seen again (our own ack, then the same id read back from the topic):
      // keep the first publisher, extend to the latest time.
      it->second.acked_at_ms = std::max(it->second.acked_at_ms, acked_at_ms);
      continue;
    }
    order_.push_back(key);
  }
  latest_ms_ = std::max(latest_ms_, acked_at_ms);
  ExpireLocked(latest_ms_);
}

void RecentIds::Insert(const std::vector<std::string>& ids) { Insert(ids, "", UnixMillisNow()); }

std::optional<std::string> RecentIds::FindAll(const std::vector<std::string>& ids,
                                              int64_t now_ms) const {
  if (ids.empty()) return std::nullopt;
  const int64_t cutoff = now_ms - window_.count();
  std::lock_guard lock(mu_);
  std::optional<std::string> first;
  for (const std::string& id : ids) {
    auto it = entries_.find(KeyOf(id));
    if (it == entries_.end() || it->second.acked_at_ms < cutoff) return std::nullopt;
    if (!first) first = replicas_[it->second.replica];
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
  return entries_.size();
}

uint64_t RecentIds::evicted_early() const {
  std::lock_guard lock(mu_);
  return evicted_early_;
}

}  // namespace bridge
