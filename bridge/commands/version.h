#pragma once

// `schedbridge version` (and `--version`).

#include <string>

#include "bridge/commands/command.h"

namespace bridge {

/// "schedbridge <version>"
std::string VersionText();

Command AddVersionCommand(CLI::App& app);

}  // namespace bridge
