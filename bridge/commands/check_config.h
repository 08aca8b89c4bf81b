#pragma once

// `serve --check-config [--connect]`: everything that can be checked without
// serving.

#include <string>

#include "bridge/config/config.h"
#include "bridge/kafka/rdkafka_publisher.h"

namespace bridge {

/// A directory the spool could use: it exists and is writable, or the
/// nearest existing parent is (schedbridge creates it). "" or a sentence.
std::string SpoolDirProblem(const std::string& dir);

/// Prints one sentence per problem, or the configuration's summary; returns
/// the exit code.
int CheckConfig(const Config& config, RdKafkaPublisher& publisher, bool connect);

}  // namespace bridge
