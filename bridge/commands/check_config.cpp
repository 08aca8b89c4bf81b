#include "bridge/commands/check_config.h"

#include <sys/stat.h>
#include <unistd.h>

#include <iostream>
#include <map>

#include "bridge/commands/common.h"
#include "bridge/webhook/webhook_server.h"

namespace bridge {

std::string SpoolDirProblem(const std::string& dir) {
  std::string path = dir;
  while (!path.empty()) {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) {
      if (!S_ISDIR(st.st_mode)) return path + " is not a directory";
      if (::access(path.c_str(), W_OK | X_OK) != 0) {
        return path == dir ? "the spool directory " + dir + " is not writable"
                           : "the spool directory " + dir + " does not exist and " + path +
                                 " is not writable, so it cannot be created";
      }
      return {};
    }
    const size_t slash = path.find_last_of('/');
    path =
        slash == std::string::npos || slash == 0 ? (slash == 0 ? "/" : "") : path.substr(0, slash);
    if (path == "/") {
      return ::access("/", W_OK | X_OK) == 0 ? std::string()
                                             : "the spool directory " + dir + " cannot be created";
    }
  }
  return {};
}

int CheckConfig(const Config& config, RdKafkaPublisher& publisher, bool connect) {
  std::string error;
  if (!config.http.tls_cert_file.empty() && !WebhookServer::CheckTls(config.http, error)) {
    return ConfigFailure(error);
  }
  if (config.AnySpooledSource()) {
    if (std::string problem = SpoolDirProblem(config.spool.dir); !problem.empty()) {
      return ConfigFailure(problem + " (spool_dir).");
    }
  }
  // With --connect, Kafka is checked before anything is called OK: a failure
  // is never printed after a success.
  std::string reached;
  if (connect) {
    std::map<std::string, int> partitions;
    if (!publisher.DescribeTopics({config.pipeline.events_topic, config.pipeline.dlq_topic},
                                  std::chrono::seconds(10), partitions, error)) {
      std::cerr << "schedbridge: Kafka: " << error << "\n";
      return kExitRuntime;
    }
    bool missing = false;
    for (const std::string& topic : {config.pipeline.events_topic, config.pipeline.dlq_topic}) {
      if (partitions[topic] < 0) {
        std::cerr << "schedbridge: configuration error: topic " << topic
                  << " does not exist (create it, or fix topics in the configuration).\n";
        missing = true;
      } else {
        reached +=
            "kafka: topic " + topic + ": " + std::to_string(partitions[topic]) + " partition(s)\n";
      }
    }
    if (missing) return kExitConfig;
  }
  std::string sources;
  for (const SourceConfig& s : config.sources) {
    sources += (sources.empty() ? "" : ", ") + s.provider + "/" + s.name;
  }
  std::cout << "configuration OK: " << config.sources.size() << " source(s) (" << sources
            << "), brokers " << config.kafka.brokers << ", topics " << config.pipeline.events_topic
            << " / " << config.pipeline.dlq_topic << "\n"
            << reached;
  return 0;
}

}  // namespace bridge
