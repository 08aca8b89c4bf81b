#include "bridge/kafka/topic_reader.h"

#include <librdkafka/rdkafkacpp.h>

#include <chrono>
#include <stdexcept>
#include <thread>

#include "bridge/kafka/rdkafka_conf.h"

namespace bridge {
namespace {

using rdkafka::OffsetsFor;
using rdkafka::PartitionList;

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

std::unique_ptr<TopicReader> TopicReader::Create(const KafkaSettings& settings,
                                                 const std::string& topic, const std::string& group,
                                                 std::string& error,
                                                 std::optional<int64_t> start_ms) {
  std::unique_ptr<TopicReader> self(new TopicReader());
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
  std::map<int32_t, int64_t> start;
  if (!self->ReadPartitions(start, error)) return nullptr;
  // Where the group left off.
  if (!group.empty() && !self->ApplyCommitted(group, start, error)) return nullptr;
  std::map<int32_t, int64_t> at_time;
  if (start_ms && !self->OffsetsAtTime(start, *start_ms, at_time, error)) return nullptr;
  if (!self->Assign(start, at_time, error)) return nullptr;
  return self;
}

bool TopicReader::ReadPartitions(std::map<int32_t, int64_t>& start, std::string& error) {
  std::string err;
  std::unique_ptr<RdKafka::Topic> t(RdKafka::Topic::create(consumer_.get(), topic_, nullptr, err));
  RdKafka::Metadata* raw = nullptr;
  const auto md_err = consumer_->metadata(false, t.get(), &raw, 10000);
  std::unique_ptr<RdKafka::Metadata> md(raw);
  if (md_err != RdKafka::ERR_NO_ERROR || !md) {
    error = "cannot read metadata for topic " + topic_ + ": " + RdKafka::err2str(md_err);
    return false;
  }
  for (const auto* tm : *md->topics()) {
    if (tm->topic() != topic_) continue;
    if (tm->err() != RdKafka::ERR_NO_ERROR) {
      error = "topic " + topic_ + ": " + RdKafka::err2str(tm->err());
      return false;
    }
    for (const auto* pm : *tm->partitions()) start[pm->id()] = RdKafka::Topic::OFFSET_BEGINNING;
  }
  if (start.empty()) {
    error = "topic " + topic_ + " has no partitions (does it exist?)";
    return false;
  }
  return true;
}

bool TopicReader::ApplyCommitted(const std::string& group, std::map<int32_t, int64_t>& start,
                                 std::string& error) {
  PartitionList committed = OffsetsFor(topic_, start);
  if (consumer_->committed(committed.items, 10000) != RdKafka::ERR_NO_ERROR) {
    error = "cannot read the committed offsets of group " + group;
    return false;
  }
  for (const auto* tp : committed.items) {
    if (tp->offset() >= 0) start[tp->partition()] = tp->offset();
  }
  return true;
}

bool TopicReader::OffsetsAtTime(const std::map<int32_t, int64_t>& start, int64_t start_ms,
                                std::map<int32_t, int64_t>& at_time, std::string& error) {
  PartitionList times = OffsetsFor(topic_, start);
  for (auto* tp : times.items) tp->set_offset(start_ms);
  if (consumer_->offsetsForTimes(times.items, 10000) != RdKafka::ERR_NO_ERROR) {
    error = "cannot look up the offsets of " + topic_ + " for the start time";
    return false;
  }
  for (const auto* tp : times.items) at_time[tp->partition()] = tp->offset();
  return true;
}

bool TopicReader::Assign(std::map<int32_t, int64_t>& start,
                         const std::map<int32_t, int64_t>& at_time, std::string& error) {
  for (auto& [p, offset] : start) {
    int64_t low = 0, high = 0;
    if (consumer_->query_watermark_offsets(topic_, p, &low, &high, 10000) !=
        RdKafka::ERR_NO_ERROR) {
      error = "cannot read the end offsets of " + topic_;
      return false;
    }
    if (offset < 0 || offset < low) offset = low;
    if (auto at = at_time.find(p); at != at_time.end()) offset = at->second < 0 ? high : at->second;
    end_[p] = high;
    position_[p] = offset;
    done_[p] = offset >= high;
    total_ += std::max<int64_t>(0, high - offset);
  }
  PartitionList assignment = OffsetsFor(topic_, start);
  if (consumer_->assign(assignment.items) != RdKafka::ERR_NO_ERROR) {
    error = "cannot assign the partitions of " + topic_;
    return false;
  }
  return true;
}

TopicReader::~TopicReader() {
  if (consumer_) consumer_->close();
}

std::optional<ConsumedRecord> TopicReader::Next() {
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

int64_t TopicReader::Remaining() const {
  int64_t n = 0;
  for (const auto& [p, end] : end_) {
    if (!done_.at(p)) n += std::max<int64_t>(0, end - position_.at(p));
  }
  return n;
}

bool TopicReader::Commit(const std::map<int32_t, int64_t>& next_offsets, std::string& error) {
  if (next_offsets.empty()) return true;
  PartitionList list = OffsetsFor(topic_, next_offsets);
  const auto err = consumer_->commitSync(list.items);
  if (err != RdKafka::ERR_NO_ERROR) {
    error = "offset commit failed: " + RdKafka::err2str(err);
    return false;
  }
  return true;
}

}  // namespace bridge
