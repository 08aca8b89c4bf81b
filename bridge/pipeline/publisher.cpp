#include "bridge/pipeline/publisher.h"

namespace bridge {

void PendingPublish::ReportLocked(size_t n, bool ok, const std::string& error,
                                  std::unique_lock<std::mutex>& lock) {
  if (!ok && !failed_) {
    failed_ = true;
    error_ = error;
  }
  remaining_ = n >= remaining_ ? 0 : remaining_ - n;
  if (remaining_ != 0) return;
  const PublishOutcome outcome{failed_ ? PublishStatus::kFailed : PublishStatus::kAcked, error_};
  Completion done = std::move(on_complete_);
  on_complete_ = nullptr;
  lock.unlock();
  cv_.notify_all();
  if (done) done(outcome);
}

void PendingPublish::Report(bool ok, const std::string& error) {
  std::unique_lock lock(mu_);
  ReportLocked(1, ok, error, lock);
}

void PendingPublish::Abandon(size_t n, const std::string& error) {
  if (n == 0) return;
  std::unique_lock lock(mu_);
  ReportLocked(n, false, error, lock);
}

PublishOutcome PendingPublish::Wait(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mu_);
  if (!cv_.wait_until(lock, deadline, [&] { return remaining_ == 0; })) {
    return {PublishStatus::kTimedOut, "Kafka did not acknowledge within the deadline."};
  }
  return {failed_ ? PublishStatus::kFailed : PublishStatus::kAcked, error_};
}

}  // namespace bridge
