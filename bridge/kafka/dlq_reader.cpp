#include "bridge/kafka/dlq_reader.h"

#include <librdkafka/rdkafkacpp.h>

#include <chrono>
#include <stdexcept>
#include <thread>

#include "bridge/kafka/rdkafka_conf.h"

namespace bridge {
namespace {

using rdkafka::PartitionList;

PartitionList OffsetsFor(const std::string& topic, const std::map<int32_t, int64_t>& offsets) {
  PartitionList list;
  for (const auto& [p, o] : offsets)
    list.items.push_back(RdKafka::TopicPartition::create(topic, p, o));
  return list;
}

std::string ErrorText(RdKafka::Error* e) {
  std::unique_ptr<RdKafka::Error> owned(e);
  return owned ? owned->str() : std::string();
}

}  // namespace

std::map<std::string, std::string> ConsumerConnectionProperties(const KafkaSettings& settings) {
  // Passthrough settings that concern the connection (TLS, SASL, ...) apply
  // to consumers too; producer-only ones are skipped.
  std::map<std::string, std::string> props;
  for (const auto& [k, v] : settings.properties) {
    if (k.rfind("ssl.", 0) == 0 || k.rfind("sasl.", 0) == 0 || k == "security.protocol" ||
        k.rfind("socket.", 0) == 0 || k == "client.id" || k == "client.rack" ||
        k.rfind("reconnect.", 0) == 0 || k.rfind("test.mock.", 0) == 0) {
      props[k] = v;
    }
  }
  return props;
}

std::unique_ptr<DlqReader> DlqReader::Create(const KafkaSettings& settings,
                                             const std::string& topic, const std::string& group,
                                             std::string& error, std::optional<int64_t> start_ms) {
  std::unique_ptr<DlqReader> self(new DlqReader());
  self->topic_ = topic;
  std::map<std::string, std::string> props = {
      {"bootstrap.servers", settings.brokers},
      {"client.id", "schedbridge-replay"},
      {"group.id", group.empty() ? "schedbridge-replay-anonymous" : group},
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      {"enable.partition.eof", "true"},
      {"isolation.level", "read_committed"},
  };
  for (const auto& [k, v] : ConsumerConnectionProperties(settings)) props[k] = v;
  std::unique_ptr<RdKafka::Conf> conf =
      rdkafka::MakeConf(props, "consumer setting ", error, "dlq_reader");
  if (!conf) return nullptr;
  std::string err;
  self->consumer_.reset(RdKafka::KafkaConsumer::create(conf.get(), err));
  if (!self->consumer_) {
    error = "could not create the Kafka consumer: " + err;
    return nullptr;
  }
  // Partitions of the topic.
  std::unique_ptr<RdKafka::Topic> t(
      RdKafka::Topic::create(self->consumer_.get(), topic, nullptr, err));
  RdKafka::Metadata* raw = nullptr;
  const auto md_err = self->consumer_->metadata(false, t.get(), &raw, 10000);
  std::unique_ptr<RdKafka::Metadata> md(raw);
  if (md_err != RdKafka::ERR_NO_ERROR || !md) {
    error = "cannot read metadata for topic " + topic + ": " + RdKafka::err2str(md_err);
    return nullptr;
  }
  std::map<int32_t, int64_t> start;
  for (const auto* tm : *md->topics()) {
    if (tm->topic() != topic) continue;
    if (tm->err() != RdKafka::ERR_NO_ERROR) {
      error = "topic " + topic + ": " + RdKafka::err2str(tm->err());
      return nullptr;
    }
    for (const auto* pm : *tm->partitions()) start[pm->id()] = RdKafka::Topic::OFFSET_BEGINNING;
  }
  if (start.empty()) {
    error = "topic " + topic + " has no partitions (does it exist?)";
    return nullptr;
  }
  // Where the group left off.
  if (!group.empty()) {
    PartitionList committed = OffsetsFor(topic, start);
    if (self->consumer_->committed(committed.items, 10000) != RdKafka::ERR_NO_ERROR) {
      error = "cannot read the committed offsets of group " + group;
      return nullptr;
    }
    for (const auto* tp : committed.items) {
      if (tp->offset() >= 0) start[tp->partition()] = tp->offset();
    }
  }
  std::map<int32_t, int64_t> at_time;
  if (start_ms) {
    PartitionList times = OffsetsFor(topic, start);
    for (auto* tp : times.items) tp->set_offset(*start_ms);
    if (self->consumer_->offsetsForTimes(times.items, 10000) != RdKafka::ERR_NO_ERROR) {
      error = "cannot look up the offsets of " + topic + " for the start time";
      return nullptr;
    }
    for (const auto* tp : times.items) at_time[tp->partition()] = tp->offset();
  }
  for (auto& [p, offset] : start) {
    int64_t low = 0, high = 0;
    if (self->consumer_->query_watermark_offsets(topic, p, &low, &high, 10000) !=
        RdKafka::ERR_NO_ERROR) {
      error = "cannot read the end offsets of " + topic;
      return nullptr;
    }
    if (offset < 0 || offset < low) offset = low;
    if (auto at = at_time.find(p); at != at_time.end()) offset = at->second < 0 ? high : at->second;
    self->end_[p] = high;
    self->position_[p] = offset;
    self->done_[p] = offset >= high;
    self->total_ += std::max<int64_t>(0, high - offset);
  }
  PartitionList assignment = OffsetsFor(topic, start);
  if (self->consumer_->assign(assignment.items) != RdKafka::ERR_NO_ERROR) {
    error = "cannot assign the partitions of " + topic;
    return nullptr;
  }
  return self;
}

DlqReader::~DlqReader() {
  if (consumer_) consumer_->close();
}

std::optional<ConsumedRecord> DlqReader::Next() {
  int idle_polls = 0;
  for (;;) {
    bool all_done = true;
    for (const auto& [p, d] : done_) all_done &= d;
    if (all_done) return std::nullopt;
    std::unique_ptr<RdKafka::Message> m(consumer_->consume(200));
    switch (m->err()) {
      case RdKafka::ERR_NO_ERROR: {
        const int32_t p = m->partition();
        position_[p] = m->offset() + 1;
        if (position_[p] >= end_[p]) done_[p] = true;
        if (m->offset() >= end_[p]) continue;  // arrived after we started: next run's
        ConsumedRecord r;
        r.partition = p;
        r.offset = m->offset();
        r.timestamp_ms = m->timestamp().timestamp;
        if (m->key()) r.key = *m->key();
        r.value.assign(static_cast<const char*>(m->payload()), m->len());
        return r;
      }
      case RdKafka::ERR__PARTITION_EOF:
        // The end, possibly past a transaction marker the snapshot counted.
        done_[m->partition()] = true;
        break;
      case RdKafka::ERR__TIMED_OUT:
        if (++idle_polls > 150)
          throw std::runtime_error("no progress reading " + topic_ + " for 30 s");
        break;
      default:
        throw std::runtime_error("reading " + topic_ + ": " + m->errstr());
    }
  }
}

int64_t DlqReader::Remaining() const {
  int64_t n = 0;
  for (const auto& [p, end] : end_) {
    if (!done_.at(p)) n += std::max<int64_t>(0, end - position_.at(p));
  }
  return n;
}

bool DlqReader::Commit(const std::map<int32_t, int64_t>& next_offsets, std::string& error) {
  if (next_offsets.empty()) return true;
  PartitionList list = OffsetsFor(topic_, next_offsets);
  const auto err = consumer_->commitSync(list.items);
  if (err != RdKafka::ERR_NO_ERROR) {
    error = "offset commit failed: " + RdKafka::err2str(err);
    return false;
  }
  return true;
}

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

bool TransactionalProducer::SendOffsets(const DlqReader& reader,
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
