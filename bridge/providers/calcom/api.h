#pragma once

// Cal.com's REST API: webhook subscriptions and bookings (see provider_api.h).

#include <memory>

#include "bridge/api/provider_api.h"
#include "bridge/providers/provider.h"

namespace bridge {

/// The Cal.com API client over `session`; `normalizer` is Cal.com's webhook normalizer.
std::unique_ptr<ProviderApi> MakeCalcomApi(ApiSession& session, const Provider& normalizer);

}  // namespace bridge
