#pragma once

// SavvyCal's REST API: webhook subscriptions and bookings (see provider_api.h).

#include <memory>

#include "bridge/api/provider_api.h"
#include "bridge/providers/provider.h"

namespace bridge {

/// The SavvyCal API client over `session`; `normalizer` is SavvyCal's webhook normalizer.
std::unique_ptr<ProviderApi> MakeSavvyCalApi(ApiSession& session, const Provider& normalizer);

}  // namespace bridge
