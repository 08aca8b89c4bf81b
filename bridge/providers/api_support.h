#pragma once

// What a provider's API client shares with its webhook normalizer: the
// triggers to subscribe to, and, for providers whose API returns the same
// resources their webhooks carry (Calendly's invitees, SavvyCal's events),
// the normalizer over the webhook envelope the provider would have sent, so
// a reconciled booking reads exactly as a live one.

#include <rapidjson/document.h>

#include <optional>
#include <string>
#include <vector>

#include "bridge/api/provider_api.h"
#include "bridge/providers/provider.h"

namespace bridge {

/// The booking event for `booking_uid` among what `normalizer` makes of
/// `envelope`, or nullopt when it makes none (a dead letter).
std::optional<CanonicalEvent> NormalizeEnvelope(const Provider& normalizer,
                                                const rapidjson::Document& envelope,
                                                const std::string& booking_uid,
                                                const std::string& source,
                                                const std::string& received_at);

/// The provider's triggers that its subscription API accepts, sorted: what
/// the normalizer maps, within what the API takes.
std::vector<std::string> SubscribedEvents(const ProviderApi& api, const Provider& normalizer);

}  // namespace bridge
