#pragma once

// What `replay` and `dlq` share: the options that choose dead-letter
// records, and the checks before reading them.

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <vector>

#include "bridge/config/config.h"
#include "bridge/replay/replay.h"

namespace bridge {

struct ReplayFlags {
  ReplayOptions options;
  std::string config_file, brokers, since, until;
  std::vector<std::string> kafka;
  bool from_set = false, to_set = false;
};

/// Adds replay's and dlq's shared options to a subcommand.
void AddRecordOptions(CLI::App* cmd, ReplayFlags& f);

/// What replay and dlq share before reading: the configuration, the topics,
/// the time window and filters checked. nullopt with the exit code set.
std::optional<Config> PrepareRecordCommand(ReplayFlags& f, int& exit_code);

}  // namespace bridge
