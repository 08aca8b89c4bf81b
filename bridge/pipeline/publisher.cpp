#include "bridge/pipeline/publisher.h"

namespace bridge {

size_t MessageBytes(const OutgoingMessage& m) {
  constexpr size_t kPrefixes = 10;  // two varint lengths
  size_t n = m.key.size() + m.value.size() + kPrefixes;
  for (const auto& [name, value] : m.headers) n += name.size() + value.size() + kPrefixes;
  return n;
}

PublishOutcome PendingPublish::OutcomeLocked() const {
  if (!failed_) return {PublishStatus::kAcked, {}};
  return {too_large_ ? PublishStatus::kTooLarge : PublishStatus::kFailed, error_};
}

void PendingPublish::ReportLocked(size_t n, bool ok, const std::string& error, bool too_large,
                                  std::unique_lock<std::mutex>& lock) {
  if (!ok && !failed_) {
    failed_ = true;
    too_large_ = too_large;
    error_ = error;
  }
  remaining_ = n >= remaining_ ? 0 : remaining_ - n;
  if (remaining_ != 0) return;
  const PublishOutcome outcome = OutcomeLocked();
  Completion done = std::move(on_complete_);
  on_complete_ = nullptr;
  lock.unlock();
  cv_.notify_all();
  if (done) done(outcome);
}

void PendingPublish::Report(bool ok, const std::string& error) {
  std::unique_lock lock(mu_);
  ReportLocked(1, ok, error, /*too_large=*/false, lock);
}

void PendingPublish::Abandon(size_t n, const std::string& error, bool too_large) {
  if (n == 0) return;
  std::unique_lock lock(mu_);
  ReportLocked(n, false, error, too_large, lock);
}

PublishOutcome PendingPublish::Wait(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mu_);
  if (!cv_.wait_until(lock, deadline, [&] { return remaining_ == 0; })) {
    return {PublishStatus::kTimedOut, "Kafka did not acknowledge within the deadline."};
  }
  return OutcomeLocked();
}

}  // namespace bridge
