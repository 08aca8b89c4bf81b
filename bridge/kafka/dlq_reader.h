#pragma once

// Reads a topic from a consumer group's committed offsets (or the beginning)
// to the end it had when the reader started. Partitions are assigned
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

class DlqReader {
 public:
  /// `group` empty = an anonymous group that never commits. With `start_ms`,
  /// reading starts at the first record written at or after that time.
  static std::unique_ptr<DlqReader> Create(const KafkaSettings& settings, const std::string& topic,
                                           const std::string& group, std::string& error,
                                           std::optional<int64_t> start_ms = std::nullopt);
  ~DlqReader();

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
  DlqReader() = default;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
  std::string topic_;
  std::map<int32_t, int64_t> end_;       // high watermark at start
  std::map<int32_t, int64_t> position_;  // next offset to read
  std::map<int32_t, bool> done_;
  int64_t total_ = 0;
};

/// A transactional producer: consume-transform-produce with the consumed
/// offsets committed inside the transaction.
class TransactionalProducer {
 public:
  static std::unique_ptr<TransactionalProducer> Create(const KafkaSettings& settings,
                                                       const std::string& transactional_id,
                                                       std::string& error);
  ~TransactionalProducer();
  bool Begin(std::string& error);
  bool Produce(const OutgoingMessage& m, std::string& error);
  /// Adds the reader's offsets to the open transaction.
  bool SendOffsets(const DlqReader& reader, const std::map<int32_t, int64_t>& next_offsets,
                   std::string& error);
  bool Commit(std::string& error);
  void Abort();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bridge
