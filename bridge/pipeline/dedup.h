#pragma once

#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace bridge {

/// The most recent `capacity` event ids this process saw acknowledged by
/// Kafka. Ids are recorded only after the ack, never before. Oldest ids are
/// forgotten first. Thread-safe.
class RecentIds {
 public:
  explicit RecentIds(size_t capacity) : capacity_(capacity) {}

  void Insert(const std::vector<std::string>& ids);
  /// True when every id is present (an empty list is never a duplicate).
  bool ContainsAll(const std::vector<std::string>& ids) const;
  size_t size() const;

 private:
  size_t capacity_;
  mutable std::mutex mu_;
  std::unordered_set<std::string> set_;
  std::deque<std::string> order_;
};

}  // namespace bridge
