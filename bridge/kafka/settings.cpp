#include "bridge/kafka/settings.h"

#include <initializer_list>
#include <stdexcept>

namespace bridge {

std::map<std::string, std::string> ProducerProperties(const KafkaSettings& settings) {
  std::map<std::string, std::string> props = {
      {"bootstrap.servers", settings.brokers},
      {"client.id", "schedbridge"},
      // The HTTP answer waits for the ack: no timer wait for a batch to fill
      // (at 1,000/s, linger.ms=2 was the whole p50). Under load, batches form
      // by themselves while the previous produce request is in flight.
      {"linger.ms", "0"},
      // One produce request in flight per broker (librdkafka's default with
      // idempotence is 5; franz-go always uses 1): what arrives meanwhile goes
      // out as one larger request. Measured on one broker (docs/performance.md):
      // at 32 connections +15 % webhooks/s, -12 % service and -27 % broker CPU
      // per webhook, and no change to the p99 at 1,000/s. The cost is up to one
      // produce round trip of extra wait under load on a distant cluster.
      {"max.in.flight.requests.per.connection", "1"},
      // Nagle on the broker connection held small produce requests back until
      // the broker's delayed ACK (p99 54 ms at 1,000/s).
      {"socket.nagle.disable", "true"},
      // The producer's queue is memory: bounded well under the pod's limit.
      // When full, a webhook is answered 503 at once.
      {"queue.buffering.max.kbytes", "65536"},
      {"compression.type", "lz4"},
      {"socket.keepalive.enable", "true"},
      // Feeds the in-flight and broker-error metrics.
      {"statistics.interval.ms", "5000"},
  };
  for (const auto& [k, v] : settings.properties) props[k] = v;
  // librdkafka's alias of the same setting: an operator's value wins over
  // our default of the full name (applied after it, the default would).
  if (settings.properties.count("max.in.flight") &&
      !settings.properties.count("max.in.flight.requests.per.connection")) {
    props.erase("max.in.flight.requests.per.connection");
  }
  // The delivery guarantees are not negotiable (README: "A 2xx is a promise").
  auto enforce = [&](const std::string& name, const std::string& value,
                     std::initializer_list<const char*> accepted) {
    auto it = settings.properties.find(name);
    if (it != settings.properties.end()) {
      bool ok = false;
      for (const char* a : accepted) ok |= it->second == a;
      if (!ok) {
        throw std::invalid_argument(
            "kafka." + name + " would weaken the delivery guarantee; it must be " + value + ".");
      }
    }
    props[name] = value;
  };
  enforce("enable.idempotence", "true", {"true"});
  enforce("acks", "all", {"all", "-1"});
  enforce("partitioner", "murmur2_random", {"murmur2_random"});
  return props;
}

}  // namespace bridge
