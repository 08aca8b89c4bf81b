#pragma once

// Reads a topic from a consumer group's committed offsets (or the beginning)
// to the end it had when the reader started: the dead-letter topic for
// replay and `dlq`, the events topic for reconcile. Partitions are assigned
// directly (no rebalancing): replay is one process per group.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "bridge/kafka/rdkafka_publisher.h"

namespace RdKafka {
class KafkaConsumer;
class ConsumerGroupMetadata;
}  // namespace RdKafka

namespace bridge {

/// The passthrough settings (`kafka.*`) that concern the connection — TLS,
/// SASL, sockets, client id — for a consumer built from producer settings.
std::map<std::string, std::string> ConsumerConnectionProperties(const KafkaSettings& settings);

struct ConsumedRecord {
  int32_t partition = 0;
  int64_t offset = 0;
  int64_t timestamp_ms = -1;
  std::string key;
  std::string value;
};

/// A general reader of one topic, from committed offsets (or a time) to the
/// end snapshot taken at creation.
class TopicReader {
 public:
  /// `group` empty = an anonymous group that never commits. With `start_ms`,
  /// reading starts at the first record written at or after that time.
  static std::unique_ptr<TopicReader> Create(const KafkaSettings& settings,
                                             const std::string& topic, const std::string& group,
                                             std::string& error,
                                             std::optional<int64_t> start_ms = std::nullopt);
  ~TopicReader();

  /// The next record, or nullopt once every partition reached its end.
  /// Throws std::runtime_error on a consumer error.
  std::optional<ConsumedRecord> Next();

  /// Records left before the end snapshot.
  int64_t Remaining() const;
  int64_t Total() const { return total_; }

  /// Commits `next_offsets` (partition → next offset to read) for the group.
  bool Commit(const std::map<int32_t, int64_t>& next_offsets, std::string& error);

  const std::string& topic() const { return topic_; }
  RdKafka::KafkaConsumer* consumer() const { return consumer_.get(); }

 private:
  TopicReader() = default;
  /// Every partition of topic_ at OFFSET_BEGINNING; false with `error` set.
  bool ReadPartitions(std::map<int32_t, int64_t>& start, std::string& error);
  /// Moves `start` to where `group` left off.
  bool ApplyCommitted(const std::string& group, std::map<int32_t, int64_t>& start,
                      std::string& error);
  /// The first offset at or after `start_ms` per partition (-1: none).
  bool OffsetsAtTime(const std::map<int32_t, int64_t>& start, int64_t start_ms,
                     std::map<int32_t, int64_t>& at_time, std::string& error);
  /// Sets the end snapshot and the start positions, then assigns.
  bool Assign(std::map<int32_t, int64_t>& start, const std::map<int32_t, int64_t>& at_time,
              std::string& error);
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
  std::string topic_;
  std::map<int32_t, int64_t> end_;       // high watermark at start
  std::map<int32_t, int64_t> position_;  // next offset to read
  std::map<int32_t, bool> done_;
  int64_t total_ = 0;
};

}  // namespace bridge
