#include "bridge/pipeline/dedup.h"

namespace bridge {

void RecentIds::Insert(const std::vector<std::string>& ids) {
  if (capacity_ == 0) return;
  std::lock_guard lock(mu_);
  for (const std::string& id : ids) {
    if (!set_.insert(id).second) continue;
    order_.push_back(id);
    if (order_.size() > capacity_) {
      set_.erase(order_.front());
      order_.pop_front();
    }
  }
}

bool RecentIds::ContainsAll(const std::vector<std::string>& ids) const {
  if (ids.empty()) return false;
  std::lock_guard lock(mu_);
  for (const std::string& id : ids) {
    if (set_.count(id) == 0) return false;
  }
  return true;
}

size_t RecentIds::size() const {
  std::lock_guard lock(mu_);
  return set_.size();
}

}  // namespace bridge
