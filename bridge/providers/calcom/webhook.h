#pragma once

// Cal.com's webhooks: signature check and normalizer.

#include <memory>

#include "bridge/providers/provider.h"

namespace bridge {

/// The Cal.com webhook normalizer.
std::unique_ptr<Provider> MakeCalcomProvider();

}  // namespace bridge
