#pragma once

// `schedbridge settings`: every setting as a Markdown table.

#include "bridge/commands/command.h"

namespace bridge {

Command AddSettingsCommand(CLI::App& app);

}  // namespace bridge
