#pragma once

// What schedbridge asks of a scheduling provider's API: its webhook
// subscriptions (`schedbridge subscriptions`) and its bookings in a window
// (`schedbridge reconcile`). One implementation per provider
// (providers/<name>/api.h), each over an ApiSession, made through the
// provider registry; Orufy documents no API and has none.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bridge/api/api_client.h"
#include "bridge/model/event.h"

namespace bridge {

/// One webhook subscription as the provider shows it.
struct Subscription {
  std::string id;  // the provider's id or URI
  std::string url;
  std::vector<std::string> events;  // sorted
  bool active = true;
  /// The signing secret, when the API shows it (Cal.com, SavvyCal).
  std::optional<std::string> secret;
  /// Cal.com's payload template: must be empty for schedbridge to read the body.
  std::string payload_template;
  std::string scope;  // Calendly: organization or user
};

/// The subscription one source should have.
struct SubscriptionTarget {
  std::string url;
  std::vector<std::string> events;  // sorted
  std::string secret;               // the source's current secret ("" = none yet)
};

/// Bookings changed within [since, until]. Providers that filter only by a
/// booking's start time list those starting from since − 1 day to until +
/// horizon, and keep the ones whose change time is inside the window.
struct BookingWindow {
  int64_t since_ms = 0;
  int64_t until_ms = 0;
  int64_t horizon_ms = 0;
  int page_size = 100;
};

/// One booking's current state from the API, as the canonical event that
/// announces it (event id, source and extensions are set by reconcile).
struct ApiBooking {
  CanonicalEvent event;
  std::string changed_at;  // RFC 3339: when the provider last changed it
};

/// Progress of a listing, for long windows.
struct ListProgress {
  int64_t pages = 0;
  int64_t bookings = 0;
};

class ProviderApi {
 public:
  /// Whether a subscription's secret can be read back and compared (Cal.com),
  /// is write-only (Calendly's signing key), or is issued by the provider
  /// (SavvyCal: read back and written to the source's secret file).
  enum class SecretMode { kReadable, kWriteOnly, kIssued };

  virtual ~ProviderApi() = default;
  virtual SecretMode secret_mode() const = 0;
  /// Whether Update() changes a subscription in place (else apply deletes and creates).
  virtual bool updates_in_place() const { return false; }
  /// The event types the provider's subscription API accepts.
  virtual std::vector<std::string> SubscribableEvents() const = 0;
  virtual std::vector<Subscription> ListSubscriptions() = 0;
  virtual Subscription Create(const SubscriptionTarget& target) = 0;
  /// Changes `existing` into `target` in place; false when the API has no
  /// update (apply then deletes and creates).
  virtual bool Update(const Subscription& existing, const SubscriptionTarget& target) = 0;
  virtual void Delete(const Subscription& existing) = 0;
  /// Calls `each` for every booking changed in the window (a booking seen
  /// twice, e.g. changed between two pages, is reported each time; the
  /// caller keeps the latest). Throws ApiError.
  virtual void ListBookings(const BookingWindow& window, const std::string& source,
                            const std::function<void(ApiBooking)>& each,
                            const std::function<void(const ListProgress&)>& progress) = 0;
};

}  // namespace bridge
