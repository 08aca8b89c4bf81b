#pragma once

// `schedbridge subscriptions list|diff|apply`.

#include <ostream>

#include "bridge/commands/command.h"
#include "bridge/config/config.h"
#include "bridge/sync/subscriptions.h"

namespace bridge {

using SubscriptionsFlags = SubscriptionsRequest;

/// Runs the use case and maps its outcome to the exit code (0, 1 runtime,
/// 2 usage, 78 configuration, including a credential the provider refuses).
int SubscriptionsCommand(const Config& config, const SubscriptionsFlags& flags, std::ostream& out,
                         std::ostream& err);

Command AddSubscriptionsCommand(CLI::App& app);

}  // namespace bridge
