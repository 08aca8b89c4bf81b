#pragma once

// Small librdkafka helpers shared by the producer, the dead-letter reader,
// the transactional producer and the id follower. Internal to kafka/.

#include <librdkafka/rdkafkacpp.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

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

/// A global configuration with every property set; nullptr and
/// "invalid <what> <name>: <reason>" in `error` on the first one refused.
inline std::unique_ptr<RdKafka::Conf> MakeConf(const std::map<std::string, std::string>& props,
                                               const std::string& what, std::string& error) {
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
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
