#pragma once

// The Kafka client's settings: brokers and librdkafka passthrough properties,
// and the producer properties they become.

#include <chrono>
#include <map>
#include <string>

namespace bridge {

struct KafkaSettings {
  std::string brokers = "localhost:9092";
  /// librdkafka properties passed through as-is (`kafka.<name>`); may override
  /// anything but the delivery guarantees below.
  std::map<std::string, std::string> properties;
  std::chrono::milliseconds readiness_interval{2000};
};

/// The librdkafka properties a publisher built from `settings` would use,
/// after our defaults and the guarantees we enforce. Throws std::invalid_argument
/// when a passthrough setting would weaken the guarantees.
std::map<std::string, std::string> ProducerProperties(const KafkaSettings& settings);

}  // namespace bridge
