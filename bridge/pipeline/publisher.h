#pragma once

// The seam between the pipeline and Kafka. The pipeline sees messages and
// outcomes; librdkafka lives behind it (kafka/rdkafka_publisher.h).

#include <chrono>
#include <condition_variable>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace bridge {

struct OutgoingMessage {
  std::string topic;
  std::string key;
  std::string value;
  std::vector<std::pair<std::string, std::string>> headers;
};

enum class PublishStatus {
  kAcked,     // every message acknowledged by the cluster (acks=all)
  kFailed,    // at least one message failed permanently or could not be queued
  kTimedOut,  // the caller's deadline passed first; messages may still be delivered
  kTooLarge,  // the producer refused a message for its size: a retry cannot help
};

struct PublishOutcome {
  PublishStatus status = PublishStatus::kAcked;
  std::string error;  // first error, one sentence
};

/// The state of one batch of messages. Completed exactly once, when every
/// message has a delivery report (or could not be queued). Thread-safe.
class PendingPublish {
 public:
  using Completion = std::function<void(const PublishOutcome&)>;

  PendingPublish(size_t messages, Completion on_complete)
      : remaining_(messages), on_complete_(std::move(on_complete)) {}

  /// Records the outcome of one message. The last call runs the completion.
  void Report(bool ok, const std::string& error);

  /// Marks `n` messages that were never queued as failed (`too_large`: the
  /// producer refused them for their size).
  void Abandon(size_t n, const std::string& error, bool too_large = false);

  /// Blocks until complete or `deadline`. Returns kTimedOut on the deadline.
  PublishOutcome Wait(std::chrono::steady_clock::time_point deadline);

 private:
  void ReportLocked(size_t n, bool ok, const std::string& error, bool too_large,
                    std::unique_lock<std::mutex>& lock);
  PublishOutcome OutcomeLocked() const;

  std::mutex mu_;
  std::condition_variable cv_;
  size_t remaining_;
  bool failed_ = false;
  bool too_large_ = false;  // the first failure was a message's size
  std::string error_;
  Completion on_complete_;
};

class Publisher {
 public:
  virtual ~Publisher() = default;

  /// Queues every message (waiting for queue space until `deadline` at most)
  /// and returns at once. `on_complete` runs once, possibly on another thread,
  /// when all messages are acknowledged or one has failed for good — even if
  /// that happens after the caller stopped waiting.
  virtual std::shared_ptr<PendingPublish> Publish(std::vector<OutgoingMessage> messages,
                                                  std::chrono::steady_clock::time_point deadline,
                                                  PendingPublish::Completion on_complete) = 0;

  /// True when the cluster is reachable and the producer has no fatal error.
  virtual bool Ready() const = 0;

  /// The largest message, as MessageBytes() counts it, that Publish() can
  /// queue: a larger one is refused for good. The pipeline checks every
  /// message of a delivery against it before queuing any, so that no delivery
  /// is published in part, then refused on every retry, for its size.
  virtual size_t MaxMessageBytes() const { return std::numeric_limits<size_t>::max(); }
};

/// What a message counts against Publisher::MaxMessageBytes(): its key, value
/// and headers, with room for their length prefixes.
size_t MessageBytes(const OutgoingMessage& m);

}  // namespace bridge
