#pragma once

// Calendly's REST API: webhook subscriptions and bookings (see provider_api.h).

#include <memory>

#include "bridge/api/provider_api.h"
#include "bridge/providers/provider.h"

namespace bridge {

/// The Calendly API client over `session`; `normalizer` is Calendly's webhook normalizer.
std::unique_ptr<ProviderApi> MakeCalendlyApi(ApiSession& session, const Provider& normalizer);

}  // namespace bridge
