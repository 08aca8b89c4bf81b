#pragma once

// Small librdkafka helpers shared by the producer, the topic reader,
// the transactional producer and the id follower. Internal to kafka/.

#include <librdkafka/rdkafkacpp.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "bridge/util/log.h"

namespace bridge::rdkafka {

/// Owns the TopicPartition objects the C++ API hands around by raw pointer.
struct PartitionList {
  std::vector<RdKafka::TopicPartition*> items;
  PartitionList() = default;
  PartitionList(const PartitionList&) = delete;
  PartitionList& operator=(const PartitionList&) = delete;
  PartitionList(PartitionList&& other) noexcept : items(std::move(other.items)) {
    other.items.clear();
  }
  ~PartitionList() { RdKafka::TopicPartition::destroy(items); }
};

/// `offsets` (partition → offset) of `topic` as a partition list.
inline PartitionList OffsetsFor(const std::string& topic,
                                const std::map<int32_t, int64_t>& offsets) {
  PartitionList list;
  for (const auto& [p, o] : offsets)
    list.items.push_back(RdKafka::TopicPartition::create(topic, p, o));
  return list;
}

/// Takes ownership of `e`: its text, or "" when there is no error.
inline std::string ErrorText(RdKafka::Error* e) {
  std::unique_ptr<RdKafka::Error> owned(e);
  return owned ? owned->str() : std::string();
}

/// Routes one librdkafka log or error event into the JSON log, tagged with
/// the client it came from. Returns true for a fatal error.
inline bool LogKafkaEvent(std::string_view client, RdKafka::Event& event) {
  switch (event.type()) {
    case RdKafka::Event::EVENT_ERROR:
      if (event.fatal()) {
        log::Error("kafka_fatal_error", {{"client", client},
                                         {"reason", RdKafka::err2str(event.err())},
                                         {"error", event.str()}});
        return true;
      }
      // Informational: librdkafka recovers by itself.
      log::Warn(
          "kafka_error",
          {{"client", client}, {"reason", RdKafka::err2str(event.err())}, {"error", event.str()}});
      return false;
    case RdKafka::Event::EVENT_LOG: {
      // GETPID: the idempotent producer asking for its id before a broker is
      // up, at every start; not a problem unless it lasts (kafka_ready says).
      // FAIL: a broker connection failed; the error event that follows says
      // the same (kafka_error), so this line is debug: one line per failure.
      const bool quiet = event.fac() == "GETPID";
      const bool repeated = event.fac() == "FAIL";
      const int severity = event.severity();
      const log::Level level =
          repeated                                                       ? log::Level::kDebug
          : severity <= RdKafka::Event::EVENT_SEVERITY_ERROR             ? log::Level::kError
          : severity <= RdKafka::Event::EVENT_SEVERITY_WARNING && !quiet ? log::Level::kWarn
          : severity <= RdKafka::Event::EVENT_SEVERITY_NOTICE            ? log::Level::kInfo
                                                                         : log::Level::kDebug;
      log::Write(level, "kafka_log",
                 {{"client", client}, {"facility", event.fac()}, {"message", event.str()}});
      return false;
    }
    default:
      return false;
  }
}

/// An event callback that only logs (the clients without their own).
class LoggingEvents final : public RdKafka::EventCb {
 public:
  explicit LoggingEvents(std::string client) : client_(std::move(client)) {}
  void event_cb(RdKafka::Event& event) override {
    try {
      LogKafkaEvent(client_, event);
    } catch (...) {
    }
  }

 private:
  std::string client_;
};

/// One logging callback per client name, alive for the whole process (a
/// handle may outlive the code that made it).
inline RdKafka::EventCb* LoggingEventsFor(const std::string& client) {
  static std::mutex mu;
  static std::map<std::string, std::unique_ptr<LoggingEvents>> all;
  std::lock_guard lock(mu);
  auto& slot = all[client];
  if (!slot) slot = std::make_unique<LoggingEvents>(client);
  return slot.get();
}

/// A global configuration with every property set; nullptr and
/// "invalid <what> <name>: <reason>" in `error` on the first one refused.
/// librdkafka's logs go to the JSON log as `client` (never plain stderr).
inline std::unique_ptr<RdKafka::Conf> MakeConf(const std::map<std::string, std::string>& props,
                                               const std::string& what, std::string& error,
                                               const std::string& client = "kafka") {
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::string ignored;
  conf->set("event_cb", LoggingEventsFor(client), ignored);
  for (const auto& [k, v] : props) {
    std::string reason;
    if (conf->set(k, v, reason) != RdKafka::Conf::CONF_OK) {
      // librdkafka quotes the value it refused; a configuration value is
      // never repeated in an error (it may be a secret).
      for (size_t at; !v.empty() && (at = reason.find(v)) != std::string::npos;) {
        reason.replace(at, v.size(), "...");
      }
      error = "invalid " + what + k + ": " + reason;
      return nullptr;
    }
  }
  return conf;
}

}  // namespace bridge::rdkafka
