#pragma once

// Cross-replica duplicate suppression with nothing but Kafka: every replica
// reads the events topic's `ce_id` (and `schedbridge_replica`) headers from
// `window` ago to the end, then keeps following it, and records each id in
// the shared RecentIds. A delivery that reaches any replica after its first
// copy was acknowledged — and read back — is then answered `duplicate`.
//
// Partitions are assigned directly (no consumer group, nothing committed):
// each replica reads every partition. Partitions added to the topic while the
// process runs are picked up at its next start.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "bridge/kafka/rdkafka_publisher.h"
#include "bridge/pipeline/dedup.h"

namespace bridge {

struct IdFollowerOptions {
  std::string topic;
  std::chrono::milliseconds window = std::chrono::hours(24);
  std::string self_replica;
  /// How long the broker may hold a fetch for more data (fetch.wait.max.ms):
  /// on a quiet topic, the delay before a peer's id is known.
  std::chrono::milliseconds fetch_wait{100};
  /// Called with the seconds between a peer's produce time and this replica
  /// reading the id, once seeded (the cross-replica race window).
  std::function<void(double)> on_peer_lag;
};

class IdFollower {
 public:
  /// Fails (nullptr + `error`) on an invalid setting, never on an unreachable
  /// cluster: it keeps trying in the background.
  static std::unique_ptr<IdFollower> Start(const KafkaSettings& settings, IdFollowerOptions options,
                                           std::shared_ptr<RecentIds> ids, std::string& error);
  ~IdFollower();

  /// True once every id published within the window before start-up is read.
  bool Seeded() const { return seeded_.load(); }
  uint64_t ids_read() const { return ids_read_.load(); }
  uint64_t errors() const { return errors_.load(); }

 private:
  class Impl;
  IdFollower() = default;
  void Run();
  /// Assigns every partition from `window` ago; false with `problem` (may be
  /// empty) and the wait before the next try.
  bool AssignWindow(std::string& problem, std::chrono::milliseconds& retry);
  /// Reads ids until stopped.
  void Follow(std::chrono::steady_clock::time_point started,
              const std::function<void(const std::string&)>& problem);
  /// Marks the index seeded once every partition reached its seed end.
  void CheckSeeded(std::chrono::steady_clock::time_point started);
  /// Wakes librdkafka's fetchers while seeding (id_follower.cpp says why).
  void Nudge();
  /// Sleeps `d`, or less when stopped.
  void Sleep(std::chrono::milliseconds d) const;

  std::unique_ptr<Impl> impl_;
  IdFollowerOptions options_;
  std::shared_ptr<RecentIds> ids_;
  std::atomic<bool> running_{true};
  std::atomic<bool> seeded_{false};
  std::atomic<uint64_t> ids_read_{0};
  std::atomic<uint64_t> errors_{0};
  std::thread thread_;
};

}  // namespace bridge
