#include "bridge/kafka/transactional_producer.h"

#include <librdkafka/rdkafkacpp.h>

#include <stdexcept>

#include "bridge/kafka/rdkafka_conf.h"

namespace bridge {

using rdkafka::ErrorText;
using rdkafka::OffsetsFor;
using rdkafka::PartitionList;

class TransactionalProducer::Impl {
 public:
  std::unique_ptr<RdKafka::Producer> producer;
};

std::unique_ptr<TransactionalProducer> TransactionalProducer::Create(
    const KafkaSettings& settings, const std::string& transactional_id, std::string& error) {
  std::unique_ptr<TransactionalProducer> self(new TransactionalProducer());
  self->impl_ = std::make_unique<Impl>();
  std::map<std::string, std::string> props;
  try {
    props = ProducerProperties(settings);
  } catch (const std::invalid_argument& e) {
    error = e.what();
    return nullptr;
  }
  props["transactional.id"] = transactional_id;
  props["transaction.timeout.ms"] = "60000";
  std::unique_ptr<RdKafka::Conf> conf =
      rdkafka::MakeConf(props, "Kafka setting ", error, "replay_producer");
  if (!conf) return nullptr;
  std::string err;
  self->impl_->producer.reset(RdKafka::Producer::create(conf.get(), err));
  if (!self->impl_->producer) {
    error = "could not create the transactional producer: " + err;
    return nullptr;
  }
  // Fences any earlier instance with this id and aborts its open transaction.
  if (std::string e = ErrorText(self->impl_->producer->init_transactions(30000)); !e.empty()) {
    error = "init_transactions: " + e;
    return nullptr;
  }
  return self;
}

TransactionalProducer::~TransactionalProducer() {
  if (impl_ && impl_->producer) impl_->producer->flush(5000);
}

bool TransactionalProducer::Begin(std::string& error) {
  error = ErrorText(impl_->producer->begin_transaction());
  return error.empty();
}

bool TransactionalProducer::Produce(const OutgoingMessage& m, std::string& error) {
  for (int attempt = 0; attempt < 2000; ++attempt) {
    std::unique_ptr<RdKafka::Headers> headers(RdKafka::Headers::create());
    for (const auto& [k, v] : m.headers) headers->add(k, v);
    const auto err = impl_->producer->produce(
        m.topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
        const_cast<char*>(m.value.data()), m.value.size(), m.key.data(), m.key.size(), 0,
        headers.get(), nullptr);
    if (err == RdKafka::ERR_NO_ERROR) {
      (void)headers.release();
      return true;
    }
    if (err != RdKafka::ERR__QUEUE_FULL) {
      error = "produce to " + m.topic + ": " + RdKafka::err2str(err);
      return false;
    }
    impl_->producer->poll(10);
  }
  error = "produce to " + m.topic + ": the queue stayed full";
  return false;
}

bool TransactionalProducer::SendOffsets(const TopicReader& reader,
                                        const std::map<int32_t, int64_t>& next_offsets,
                                        std::string& error) {
  if (next_offsets.empty()) return true;
  PartitionList list = OffsetsFor(reader.topic(), next_offsets);
  std::unique_ptr<RdKafka::ConsumerGroupMetadata> meta(reader.consumer()->groupMetadata());
  error = ErrorText(impl_->producer->send_offsets_to_transaction(list.items, meta.get(), 30000));
  return error.empty();
}

bool TransactionalProducer::Commit(std::string& error) {
  error = ErrorText(impl_->producer->commit_transaction(60000));
  return error.empty();
}

void TransactionalProducer::Abort() { (void)ErrorText(impl_->producer->abort_transaction(30000)); }

}  // namespace bridge
