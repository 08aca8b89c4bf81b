#include "bridge/kafka/id_follower.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafkacpp.h>

#include <algorithm>
#include <map>
#include <vector>

#include "bridge/kafka/rdkafka_conf.h"
#include "bridge/kafka/topic_reader.h"
#include "bridge/util/log.h"
#include "bridge/util/thread_name.h"

namespace bridge {
namespace {

using rdkafka::PartitionList;

/// How long an empty queue may last while seeding before Nudge(); after a
/// nudge that brought nothing the wait doubles, up to kNudgeMaxMs (a window
/// whose end waits on an open transaction, a broker away), and a record
/// brings it back to kSeedIdleMs.
constexpr int kSeedIdleMs = 20;
constexpr int kNudgeMaxMs = 1000;

/// The last value of header `name`, read in place through the C API (the C++
/// wrapper's headers() copies every header of the record first).
std::string_view HeaderValue(RdKafka::Message& m, const char* name) {
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(m.c_ptr(), &headers) != RD_KAFKA_RESP_ERR_NO_ERROR) return {};
  const void* value = nullptr;
  size_t size = 0;
  if (rd_kafka_header_get_last(headers, name, &value, &size) != RD_KAFKA_RESP_ERR_NO_ERROR ||
      value == nullptr) {
    return {};
  }
  return {static_cast<const char*>(value), size};
}

}  // namespace

class IdFollower::Impl {
 public:
  std::unique_ptr<RdKafka::KafkaConsumer> consumer;
  std::map<int32_t, int64_t> seed_end;  // high watermark per partition at start
  std::map<int32_t, int64_t> position;
};

std::unique_ptr<IdFollower> IdFollower::Start(const KafkaSettings& settings,
                                              IdFollowerOptions options,
                                              std::shared_ptr<RecentIds> ids, std::string& error) {
  std::unique_ptr<IdFollower> self(new IdFollower());
  self->impl_ = std::make_unique<Impl>();
  self->options_ = std::move(options);
  self->ids_ = std::move(ids);
  std::map<std::string, std::string> props = {
      {"bootstrap.servers", settings.brokers},
      {"client.id", "schedbridge-dedup"},
      // Required by the consumer API; partitions are assigned, nothing is committed.
      {"group.id", "schedbridge-dedup"},
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      {"enable.partition.eof", "true"},
      // Aborted replay transactions never count as published.
      {"isolation.level", "read_committed"},
      // A fetch returns once 64 KiB arrived or after fetch_wait: under load,
      // a few fetches a second instead of one per produce (half the broker's
      // CPU at 3,000 webhooks/s); when quiet, a peer's id is known within
      // fetch_wait (the race window, README).
      {"fetch.min.bytes", "65536"},
      {"fetch.wait.max.ms", std::to_string(self->options_.fetch_wait.count())},
      // Only headers are needed, but whole records arrive: a bounded prefetch
      // (8 MiB, filled 1 MiB per fetch) keeps the seed's memory flat however
      // large the window. Measured on 310,000 events (107 MB, docs/performance.md):
      // 4 MiB → 1.6 s to seed and 52 MiB peak RSS, 8 MiB → 1.0–1.2 s and
      // 58 MiB, 16 MiB → 1.0 s and 74 MiB.
      {"queued.max.messages.kbytes", "8192"},
      {"fetch.max.bytes", "1048576"},
      {"max.partition.fetch.bytes", "262144"},
  };
  for (const auto& [k, v] : ConsumerConnectionProperties(settings)) {
    if (k != "client.id") props[k] = v;
  }
  std::unique_ptr<RdKafka::Conf> conf =
      rdkafka::MakeConf(props, "consumer setting ", error, "dedup_follower");
  if (!conf) return nullptr;
  std::string err;
  self->impl_->consumer.reset(RdKafka::KafkaConsumer::create(conf.get(), err));
  if (!self->impl_->consumer) {
    error = "could not create the Kafka consumer for duplicate suppression: " + err;
    return nullptr;
  }
  self->thread_ = std::thread([p = self.get()] {
    NameThisThread("sb-dedup-follow");
    p->Run();
  });
  return self;
}

IdFollower::~IdFollower() {
  running_ = false;
  if (thread_.joinable()) thread_.join();
  if (impl_ && impl_->consumer) impl_->consumer->close();
}

void IdFollower::Run() {
  const auto started = std::chrono::steady_clock::now();
  // 1. Where the window starts in each partition, and where "now" ends.
  std::string last_problem;
  auto problem = [&](const std::string& text) {
    ++errors_;
    if (text != last_problem) log::Warn("dedup_follower_waiting", {{"reason", text}});
    last_problem = text;
  };
  while (running_) {
    std::string why;
    std::chrono::milliseconds retry{1000};
    if (AssignWindow(why, retry)) break;
    if (!why.empty()) problem(why);
    Sleep(retry);
  }
  // 2. Read: first up to the seed end, then follow.
  Follow(started, problem);
}

void IdFollower::Sleep(std::chrono::milliseconds d) const {
  const auto until = std::chrono::steady_clock::now() + d;
  while (running_ && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

bool IdFollower::AssignWindow(std::string& problem, std::chrono::milliseconds& retry) {
  RdKafka::KafkaConsumer& consumer = *impl_->consumer;
  const std::string& topic = options_.topic;
  std::string errstr;
  std::unique_ptr<RdKafka::Topic> t(RdKafka::Topic::create(&consumer, topic, nullptr, errstr));
  RdKafka::Metadata* raw = nullptr;
  const auto md_err = consumer.metadata(false, t.get(), &raw, 5000);
  std::unique_ptr<RdKafka::Metadata> md(raw);
  if (md_err != RdKafka::ERR_NO_ERROR || !md) {
    problem = "cannot read metadata for " + topic + ": " + RdKafka::err2str(md_err);
    return false;
  }
  std::vector<int32_t> partitions;
  bool missing = false;
  for (const auto* tm : *md->topics()) {
    if (tm->topic() != topic) continue;
    missing = tm->err() == RdKafka::ERR_UNKNOWN_TOPIC_OR_PART;
    for (const auto* pm : *tm->partitions()) partitions.push_back(pm->id());
  }
  if (partitions.empty()) {
    // No topic, nothing published: nothing to seed. Look again later.
    if (!seeded_.exchange(true)) {
      log::Info("dedup_index_seeded", {{"topic", topic}, {"ids", "0"}, {"note", "no topic yet"}});
    }
    if (!missing) problem = "topic " + topic + " has no partitions";
    retry = std::chrono::seconds(5);
    return false;
  }
  const int64_t since = UnixMillisNow() - options_.window.count();
  PartitionList list;
  for (int32_t p : partitions)
    list.items.push_back(RdKafka::TopicPartition::create(topic, p, since));
  if (consumer.offsetsForTimes(list.items, 10000) != RdKafka::ERR_NO_ERROR) {
    problem = "cannot look up offsets by time in " + topic;
    return false;
  }
  for (auto* tp : list.items) {
    int64_t low = 0, high = 0;
    if (consumer.query_watermark_offsets(topic, tp->partition(), &low, &high, 10000) !=
        RdKafka::ERR_NO_ERROR) {
      problem = "cannot read the end offsets of " + topic;
      return false;
    }
    // -1: nothing as new as the window's start in this partition.
    const int64_t from = tp->offset() < 0 ? high : std::max(tp->offset(), low);
    tp->set_offset(from);
    impl_->seed_end[tp->partition()] = high;
    impl_->position[tp->partition()] = from;
  }
  if (consumer.assign(list.items) != RdKafka::ERR_NO_ERROR) {
    problem = "cannot assign the partitions of " + topic;
    return false;
  }
  return true;
}

void IdFollower::CheckSeeded(std::chrono::steady_clock::time_point started) {
  for (const auto& [p, end] : impl_->seed_end) {
    if (impl_->position[p] < end) return;
  }
  if (impl_->seed_end.empty()) return;
  impl_->seed_end.clear();
  seeded_ = true;
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - started)
                      .count();
  log::Info("dedup_index_seeded", {{"topic", options_.topic},
                                   {"ids", ids_->size()},
                                   {"read", ids_read_.load()},
                                   {"duration_ms", ms}});
}

void IdFollower::Nudge() {
  // librdkafka 2.0 stops fetching while its prefetch queue is over
  // queued.max.messages.kbytes, and looks again only when its broker thread
  // wakes: at most a second later. Reading the window back, the brokers
  // outrun us and every such pause cost a whole second (a 300,000-event
  // window took 36 s, 1 s of it CPU). A ListOffsets request wakes the
  // leaders' threads now; it is answered from the brokers' memory.
  PartitionList list;
  for (const auto& [p, end] : impl_->seed_end) {
    list.items.push_back(RdKafka::TopicPartition::create(options_.topic, p, -1));
  }
  if (!list.items.empty()) impl_->consumer->offsetsForTimes(list.items, 1000);
}

void IdFollower::Follow(std::chrono::steady_clock::time_point started,
                        const std::function<void(const std::string&)>& problem) {
  RdKafka::KafkaConsumer& consumer = *impl_->consumer;
  CheckSeeded(started);
  int nudge_after_ms = kSeedIdleMs;
  auto last_record = std::chrono::steady_clock::now();
  while (running_) {
    // While seeding, an empty queue for kSeedIdleMs means librdkafka is
    // holding a fetch back (see Nudge); once seeded, wait longer between polls.
    std::unique_ptr<RdKafka::Message> m(consumer.consume(seeded_ ? 200 : kSeedIdleMs));
    switch (m->err()) {
      case RdKafka::ERR_NO_ERROR: {
        nudge_after_ms = kSeedIdleMs;
        last_record = std::chrono::steady_clock::now();
        impl_->position[m->partition()] = m->offset() + 1;
        const std::string_view id = HeaderValue(*m, "ce_id");
        if (!id.empty()) {
          const std::string_view replica = HeaderValue(*m, "schedbridge_replica");
          const int64_t ts = m->timestamp().timestamp;
          ids_->InsertOne(id, replica, ts > 0 ? ts : UnixMillisNow());
          ++ids_read_;
          if (seeded_ && ts > 0 && replica != options_.self_replica && options_.on_peer_lag) {
            options_.on_peer_lag(static_cast<double>(UnixMillisNow() - ts) / 1000.0);
          }
        }
        CheckSeeded(started);
        break;
      }
      case RdKafka::ERR__PARTITION_EOF:
        impl_->position[m->partition()] = std::max(impl_->position[m->partition()], m->offset());
        CheckSeeded(started);
        break;
      case RdKafka::ERR__TIMED_OUT:
        if (!seeded_ && std::chrono::steady_clock::now() - last_record >=
                            std::chrono::milliseconds(nudge_after_ms)) {
          Nudge();
          last_record = std::chrono::steady_clock::now();
          nudge_after_ms = std::min(nudge_after_ms * 2, kNudgeMaxMs);
        }
        break;
      default:
        problem("reading " + options_.topic + ": " + m->errstr());
        break;
    }
  }
}

}  // namespace bridge
