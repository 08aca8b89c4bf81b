#pragma once

// Orufy's webhooks: signature check and normalizer.

#include <memory>

#include "bridge/providers/provider.h"

namespace bridge {

/// The Orufy webhook normalizer.
std::unique_ptr<Provider> MakeOrufyProvider();

}  // namespace bridge
