#pragma once

// `schedbridge normalize`: the canonical event(s) for one raw body.

#include <ostream>
#include <string>

#include "bridge/commands/command.h"
#include "bridge/providers/provider.h"

namespace bridge {

/// The current normalizer's verdict on one body: JSON lines of events on
/// `out`, or "dead-letter: <reason>: <detail>". True when it normalizes.
bool NormalizeBody(const Provider& provider, const std::string& source, const std::string& body,
                   const std::string& received_at, std::ostream& out);

Command AddNormalizeCommand(CLI::App& app);

}  // namespace bridge
