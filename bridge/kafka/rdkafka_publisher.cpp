#include "bridge/kafka/rdkafka_publisher.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafkacpp.h>

#include <cstdlib>
#include <stdexcept>

#include "bridge/kafka/rdkafka_conf.h"
#include "bridge/util/json.h"
#include "bridge/util/log.h"
#include "bridge/util/thread_name.h"

namespace bridge {
namespace {

// Per-message opaque: a strong reference to the batch, deleted in dr_cb.
using BatchRef = std::shared_ptr<PendingPublish>;

}  // namespace

class RdKafkaPublisher::Callbacks final : public RdKafka::DeliveryReportCb,
                                          public RdKafka::EventCb {
 public:
  void dr_cb(RdKafka::Message& message) override {
    // Never let an exception cross into librdkafka's C frames.
    try {
      std::unique_ptr<BatchRef> batch(static_cast<BatchRef*>(message.msg_opaque()));
      if (!batch) return;
      const bool ok = message.err() == RdKafka::ERR_NO_ERROR;
      // A broker's size refusal (a topic's max.message.bytes below the
      // producer's message.max.bytes) is one of the whole record batch, which
      // holds other deliveries too: a failure like any other, for a retry to
      // land in another batch.
      (*batch)->Report(ok, ok ? std::string() : message.errstr());
    } catch (...) {
    }
  }

  void event_cb(RdKafka::Event& event) override {
    try {
      switch (event.type()) {
        case RdKafka::Event::EVENT_ERROR:
          ++error_events;
          if (rdkafka::LogKafkaEvent("producer", event)) fatal = true;
          break;
        case RdKafka::Event::EVENT_LOG:
          rdkafka::LogKafkaEvent("producer", event);
          break;
        case RdKafka::Event::EVENT_STATS: {
          ParseStats(event.str());
          std::lock_guard lock(stats_mu);
          stats = event.str();
          break;
        }
        default:
          break;
      }
    } catch (...) {
    }
  }

  void ParseStats(const std::string& text) {
    rapidjson::Document doc;
    if (!json::Parse(text, doc).ok) return;
    const json::Value* brokers = json::Get(&doc, "brokers");
    if (brokers == nullptr || !brokers->IsObject()) return;
    int64_t inflight = 0, queued = 0, txerrs = 0, timeouts = 0;
    for (const auto& b : brokers->GetObject()) {
      inflight += json::Int(json::Get(&b.value, "waitresp_cnt")).value_or(0);
      queued += json::Int(json::Get(&b.value, "outbuf_cnt")).value_or(0);
      txerrs += json::Int(json::Get(&b.value, "txerrs")).value_or(0);
      timeouts += json::Int(json::Get(&b.value, "req_timeouts")).value_or(0);
    }
    inflight_requests = inflight;
    queued_requests = queued;
    transmit_errors = txerrs;
    request_timeouts = timeouts;
  }

  std::atomic<bool> fatal{false};
  std::atomic<int64_t> error_events{0}, inflight_requests{0}, queued_requests{0},
      transmit_errors{0}, request_timeouts{0};
  std::mutex stats_mu;
  std::string stats;
};

RdKafkaPublisher::RdKafkaPublisher() : callbacks_(std::make_unique<Callbacks>()) {}

std::unique_ptr<RdKafkaPublisher> RdKafkaPublisher::Create(const KafkaSettings& settings,
                                                           std::string& error) {
  std::unique_ptr<RdKafkaPublisher> self(new RdKafkaPublisher());
  try {
    self->properties_ = ProducerProperties(settings);
  } catch (const std::invalid_argument& e) {
    error = e.what();
    return nullptr;
  }
  std::unique_ptr<RdKafka::Conf> conf =
      rdkafka::MakeConf(self->properties_, "Kafka setting kafka.", error);
  if (!conf) return nullptr;
  std::string errstr;
  if (conf->set("dr_cb", static_cast<RdKafka::DeliveryReportCb*>(self->callbacks_.get()), errstr) !=
          RdKafka::Conf::CONF_OK ||
      conf->set("event_cb", static_cast<RdKafka::EventCb*>(self->callbacks_.get()), errstr) !=
          RdKafka::Conf::CONF_OK) {
    error = "librdkafka: " + errstr;
    return nullptr;
  }
  self->producer_.reset(RdKafka::Producer::create(conf.get(), errstr));
  if (!self->producer_) {
    error = "could not create the Kafka producer: " + errstr;
    return nullptr;
  }
  // librdkafka refuses a message whose key, value and headers with its own
  // framing exceed message.max.bytes; the margin covers that framing.
  constexpr size_t kFraming = 1024;
  const size_t max_bytes =
      std::strtoull(self->EffectiveProperty("message.max.bytes").c_str(), nullptr, 10);
  if (max_bytes < 2 * kFraming) {
    error = "Kafka setting kafka.message.max.bytes is " + std::to_string(max_bytes) +
            ": too small for an event (at least " + std::to_string(2 * kFraming) + ").";
    return nullptr;
  }
  self->max_message_bytes_ = max_bytes - kFraming;
  self->poll_thread_ = std::thread([p = self.get()] {
    NameThisThread("sb-kafka-acks");
    p->PollLoop();
  });
  self->readiness_thread_ = std::thread([p = self.get(), i = settings.readiness_interval] {
    NameThisThread("sb-kafka-ready");
    p->ReadinessLoop(i);
  });
  return self;
}

RdKafkaPublisher::~RdKafkaPublisher() { Close(std::chrono::seconds(10)); }

void RdKafkaPublisher::PollLoop() {
  while (running_.load()) producer_->poll(50);
}

void RdKafkaPublisher::ReadinessLoop(std::chrono::milliseconds interval) {
  while (running_.load()) {
    RdKafka::Metadata* md = nullptr;
    const auto err = producer_->metadata(
        false, nullptr, &md, static_cast<int>(std::max<int64_t>(interval.count(), 500)));
    std::unique_ptr<RdKafka::Metadata> owned(md);
    const bool ok = err == RdKafka::ERR_NO_ERROR && owned && !owned->brokers()->empty();
    if (ok != metadata_ok_.exchange(ok)) {
      if (ok) {
        log::Info("kafka_reachable", {{"brokers", static_cast<int64_t>(owned->brokers()->size())}});
      } else {
        log::Warn("kafka_unreachable", {{"reason", RdKafka::err2str(err)}});
      }
    }
    std::unique_lock lock(stop_mu_);
    stop_cv_.wait_for(lock, interval, [&] { return !running_.load(); });
  }
}

bool RdKafkaPublisher::DescribeTopics(const std::vector<std::string>& topics,
                                      std::chrono::milliseconds timeout,
                                      std::map<std::string, int>& partitions,
                                      std::string& error) const {
  RdKafka::Metadata* md = nullptr;
  const auto err = producer_->metadata(true, nullptr, &md, static_cast<int>(timeout.count()));
  std::unique_ptr<RdKafka::Metadata> owned(md);
  if (err != RdKafka::ERR_NO_ERROR || !owned) {
    error = "no broker answered within " + std::to_string(timeout.count()) + " ms (" +
            RdKafka::err2str(err) + ")";
    return false;
  }
  for (const std::string& t : topics) partitions[t] = -1;
  for (const RdKafka::TopicMetadata* tm : *owned->topics()) {
    if (auto it = partitions.find(tm->topic());
        it != partitions.end() && tm->err() == RdKafka::ERR_NO_ERROR) {
      it->second = static_cast<int>(tm->partitions()->size());
    }
  }
  return true;
}

bool RdKafkaPublisher::Fatal() const { return callbacks_->fatal.load(); }

bool RdKafkaPublisher::Ready() const {
  return metadata_ok_.load() && !callbacks_->fatal.load() && !closed_.load();
}

std::shared_ptr<PendingPublish> RdKafkaPublisher::Publish(
    std::vector<OutgoingMessage> messages, std::chrono::steady_clock::time_point deadline,
    PendingPublish::Completion on_complete) {
  auto batch = std::make_shared<PendingPublish>(messages.size(), std::move(on_complete));
  if (closed_.load()) {
    batch->Abandon(messages.size(), "the service is shutting down.");
    return batch;
  }
  for (size_t i = 0; i < messages.size(); ++i) {
    OutgoingMessage& m = messages[i];
    for (;;) {
      std::unique_ptr<RdKafka::Headers> headers(RdKafka::Headers::create());
      for (const auto& [k, v] : m.headers) headers->add(k, v);
      auto opaque = std::make_unique<BatchRef>(batch);
      const RdKafka::ErrorCode err = producer_->produce(
          m.topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY, m.value.data(),
          m.value.size(), m.key.data(), m.key.size(), 0, headers.get(), opaque.get());
      if (err == RdKafka::ERR_NO_ERROR) {
        // librdkafka owns the headers now; the opaque comes back in dr_cb.
        (void)headers.release();
        (void)opaque.release();
        break;
      }
      if (err == RdKafka::ERR__QUEUE_FULL && std::chrono::steady_clock::now() < deadline) {
        // The poll thread drains the queue; give it a moment.
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        continue;
      }
      batch->Abandon(messages.size() - i,
                     "could not queue the message for " + m.topic + ": " + RdKafka::err2str(err),
                     err == RdKafka::ERR_MSG_SIZE_TOO_LARGE);
      return batch;
    }
  }
  return batch;
}

int RdKafkaPublisher::Close(std::chrono::milliseconds timeout) {
  if (closed_.exchange(true)) return 0;
  int remaining = 0;
  if (producer_) {
    producer_->flush(static_cast<int>(timeout.count()));
    remaining = producer_->outq_len();
    if (remaining > 0) {
      log::Warn("kafka_unflushed", {{"messages", remaining}});
      producer_->purge(RdKafka::Producer::PURGE_QUEUE | RdKafka::Producer::PURGE_INFLIGHT);
    }
  }
  {
    std::lock_guard lock(stop_mu_);
    running_ = false;
  }
  stop_cv_.notify_all();
  if (poll_thread_.joinable()) poll_thread_.join();
  if (readiness_thread_.joinable()) readiness_thread_.join();
  // Serve the delivery reports of purged messages so their completions run.
  if (producer_) producer_->poll(0);
  return remaining;
}

int RdKafkaPublisher::QueueLength() const { return producer_ ? producer_->outq_len() : 0; }

std::string RdKafkaPublisher::EffectiveProperty(const std::string& name) const {
  // The C++ API has no getter on a live handle; the C API does.
  const rd_kafka_conf_t* conf = rd_kafka_conf(producer_->c_ptr());
  char buf[512];
  size_t size = sizeof buf;
  if (rd_kafka_conf_get(conf, name.c_str(), buf, &size) != RD_KAFKA_CONF_OK) return {};
  return std::string(buf);
}

RdKafkaPublisher::Stats RdKafkaPublisher::CurrentStats() const {
  Stats s;
  s.inflight_requests = callbacks_->inflight_requests.load();
  s.queued_requests = callbacks_->queued_requests.load();
  s.transmit_errors = callbacks_->transmit_errors.load();
  s.request_timeouts = callbacks_->request_timeouts.load();
  s.error_events = callbacks_->error_events.load();
  return s;
}

std::string RdKafkaPublisher::LastStatistics() const {
  std::lock_guard lock(callbacks_->stats_mu);
  return callbacks_->stats;
}

}  // namespace bridge

namespace bridge {
rd_kafka_s* RdKafkaPublisher::c_handle() const { return producer_->c_ptr(); }
}  // namespace bridge
