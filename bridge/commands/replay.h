#pragma once

// `schedbridge replay`: dead-letter records back through the current
// normalizer into the events topic.

#include "bridge/commands/command.h"

namespace bridge {

Command AddReplayCommand(CLI::App& app);

}  // namespace bridge
