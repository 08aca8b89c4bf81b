#include "bridge/http/limits.h"

#include <sys/resource.h>

#include <iterator>

namespace bridge {

bool ByteBudget::TryTake(size_t n) {
  size_t used = used_.load(std::memory_order_relaxed);
  do {
    if (n > capacity_ || used > capacity_ - n) return false;
  } while (!used_.compare_exchange_weak(used, used + n, std::memory_order_relaxed));
  return true;
}

ConnectionLimiter::Admission ConnectionLimiter::Admit(const std::string& address) {
  std::lock_guard lock(mu_);
  if (open_ >= max_total_) return Admission::kTooManyInAll;
  size_t& mine = per_address_[address];
  if (max_per_address_ != 0 && mine >= max_per_address_) {
    if (mine == 0) per_address_.erase(address);
    return Admission::kTooManyFromAddress;
  }
  ++mine;
  ++open_;
  return Admission::kAdmitted;
}

void ConnectionLimiter::Release(const std::string& address) {
  std::lock_guard lock(mu_);
  auto it = per_address_.find(address);
  if (it == per_address_.end()) return;
  if (--it->second == 0) per_address_.erase(it);
  --open_;
}

size_t ConnectionLimiter::open() const {
  std::lock_guard lock(mu_);
  return open_;
}

const std::vector<std::string>& WebhookLimitNames() {
  static const std::vector<std::string> names(std::begin(limit::kAll), std::end(limit::kAll));
  return names;
}

uint64_t RaiseOpenFileLimit() {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) != 0) return 0;
  if (r.rlim_cur < r.rlim_max) {
    rlimit raised = r;
    raised.rlim_cur = r.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) r = raised;
  }
  return static_cast<uint64_t>(r.rlim_cur);
}

}  // namespace bridge
