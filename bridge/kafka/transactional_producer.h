#pragma once

// A transactional producer: consume-transform-produce with the consumed
// offsets committed inside the transaction (replay).

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "bridge/kafka/rdkafka_publisher.h"
#include "bridge/kafka/topic_reader.h"

namespace bridge {

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
  bool SendOffsets(const TopicReader& reader, const std::map<int32_t, int64_t>& next_offsets,
                   std::string& error);
  bool Commit(std::string& error);
  void Abort();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bridge
