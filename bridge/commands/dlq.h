#pragma once

// `schedbridge dlq show|normalize`: dead-letter records for people.

#include "bridge/commands/command.h"

namespace bridge {

Command AddDlqCommand(CLI::App& app);

}  // namespace bridge
