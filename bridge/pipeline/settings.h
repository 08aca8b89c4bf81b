#pragma once

// The pipeline's settings: topics, ack timeout, duplicate suppression.

#include <chrono>
#include <cstddef>
#include <string>

namespace bridge {

struct PipelineOptions {
  std::string events_topic = "scheduling.events.v1";
  std::string dlq_topic = "scheduling.dlq.v1";
  std::chrono::milliseconds ack_timeout{10000};
  /// Event ids remembered for duplicate suppression: at most this many, for
  /// at most `dedup_window` after their acknowledgement.
  size_t dedup_capacity = 1000000;
  std::chrono::milliseconds dedup_window = std::chrono::hours(24);
  /// Live deliveries whose signed body time (the event's occurred_at) is
  /// older than this are refused (401 stale_delivery), for providers whose
  /// signature covers no time. 0 = no bound. Replays of dead letters are not
  /// checked: they were authenticated when they arrived.
  std::chrono::milliseconds max_delivery_age{0};
  /// Written as the `schedbridge_replica` header of every event, so every
  /// replica knows who published an id first. Empty = no header.
  std::string replica_id;
};

/// Duplicate suppression across replicas: every replica follows the events
/// topic, so it knows every id any replica acknowledged.
struct DedupSettings {
  /// Read the events topic so every replica knows every acknowledged id.
  bool across_replicas = true;
  /// On a quiet topic, how soon a peer's id is known (the race window).
  std::chrono::milliseconds fetch_wait{100};
};

}  // namespace bridge
