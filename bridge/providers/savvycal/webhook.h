#pragma once

// SavvyCal's webhooks: signature check and normalizer.

#include <memory>

#include "bridge/providers/provider.h"

namespace bridge {

/// The SavvyCal webhook normalizer.
std::unique_ptr<Provider> MakeSavvyCalProvider();

}  // namespace bridge
