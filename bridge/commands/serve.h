#pragma once

// `schedbridge serve`: the webhook ingress.

#include "bridge/commands/command.h"

namespace bridge {

Command AddServeCommand(CLI::App& app);

}  // namespace bridge
