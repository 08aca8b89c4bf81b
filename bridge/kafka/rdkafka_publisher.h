#pragma once

// The Publisher over librdkafka: idempotent producer, acks=all, murmur2_random
// partitioner, one delivery-report trampoline, a poll thread and a readiness
// probe thread. The rest of the bridge never sees poll().

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "bridge/kafka/settings.h"
#include "bridge/pipeline/publisher.h"

namespace RdKafka {
class Producer;
}
struct rd_kafka_s;

namespace bridge {

class RdKafkaPublisher final : public Publisher {
 public:
  /// Fails (nullptr + `error`) on an invalid setting; never on an unreachable cluster.
  static std::unique_ptr<RdKafkaPublisher> Create(const KafkaSettings& settings,
                                                  std::string& error);
  ~RdKafkaPublisher() override;

  std::shared_ptr<PendingPublish> Publish(std::vector<OutgoingMessage> messages,
                                          std::chrono::steady_clock::time_point deadline,
                                          PendingPublish::Completion on_complete) override;
  bool Ready() const override;
  /// message.max.bytes (librdkafka's, 1,000,000 unless kafka.message.max.bytes
  /// says otherwise), less a margin for librdkafka's framing of a message.
  size_t MaxMessageBytes() const override { return max_message_bytes_; }
  /// Fetches the cluster's metadata (all topics, so none is auto-created) and
  /// reports each of `topics`' partition count, or -1 when it does not exist.
  /// False with a sentence in `error` when no broker answers in `timeout`.
  bool DescribeTopics(const std::vector<std::string>& topics, std::chrono::milliseconds timeout,
                      std::map<std::string, int>& partitions, std::string& error) const;
  /// True after librdkafka reported a fatal error: this producer publishes
  /// nothing more (/healthz fails, so the pod is restarted).
  bool Fatal() const;
  /// For /healthz: "kafka_fatal_error" after a fatal error, else "".
  std::string LivenessProblem() const { return Fatal() ? "kafka_fatal_error" : std::string(); }

  /// Waits up to `timeout` for queued messages; what remains is purged and its
  /// completions run as failed. Idempotent. Returns the number of messages
  /// that were never acknowledged.
  int Close(std::chrono::milliseconds timeout);

  /// Messages queued or in flight.
  int QueueLength() const;

  /// A property of the live producer, read back from librdkafka (tests use it
  /// to prove enable.idempotence is on).
  std::string EffectiveProperty(const std::string& name) const;

  /// The latest librdkafka statistics JSON (only with kafka.statistics.interval.ms
  /// set). Its `eos` object shows the idempotent producer's state and the
  /// producer id the broker assigned.
  std::string LastStatistics() const;

  /// Figures from librdkafka's periodic statistics and error events.
  struct Stats {
    int64_t inflight_requests = 0;  // requests sent, awaiting a broker response
    int64_t queued_requests = 0;    // requests waiting to be sent
    int64_t transmit_errors = 0;    // cumulative, all brokers
    int64_t request_timeouts = 0;   // cumulative, all brokers
    int64_t error_events = 0;       // cumulative error callbacks (connection refused, ...)
  };
  Stats CurrentStats() const;

  /// The underlying C handle, for librdkafka's mock-cluster API in fault tests.
  rd_kafka_s* c_handle() const;

 private:
  class Callbacks;
  RdKafkaPublisher();
  void PollLoop();
  void ReadinessLoop(std::chrono::milliseconds interval);

  // Declared before the producer: callbacks must outlive it.
  std::unique_ptr<Callbacks> callbacks_;
  std::unique_ptr<RdKafka::Producer> producer_;
  std::map<std::string, std::string> properties_;
  size_t max_message_bytes_ = 0;
  std::atomic<bool> running_{true};
  std::atomic<bool> closed_{false};
  std::atomic<bool> metadata_ok_{false};
  std::thread poll_thread_;
  std::thread readiness_thread_;
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
};

}  // namespace bridge
