#pragma once

// The canonical scheduling event (schemas/scheduling-event.v1.json). Knows
// nothing else of ours: providers fill it, the pipeline serializes it.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bridge {

inline constexpr std::string_view kEventSchema = "scheduling-event/v1";

struct Person {
  std::optional<std::string> name;
  std::optional<std::string> email;
  std::optional<std::string> timezone;
  std::optional<bool> no_show;
};

struct EventTypeRef {
  std::optional<std::string> id;
  std::optional<std::string> slug;
  std::optional<std::string> name;
};

struct Cancellation {
  std::optional<std::string> reason;
  std::optional<std::string> canceled_by;
  std::optional<bool> reschedule_requested;
};

struct Booking {
  std::string uid;           // "<provider>:<provider booking id>"
  std::string provider_ref;  // the provider's full reference (id or URI)
  std::optional<std::string> status;
  std::optional<std::string> title;
  std::optional<std::string> start_time;
  std::optional<std::string> end_time;
  std::optional<std::string> timezone;
  std::optional<EventTypeRef> event_type;
  std::optional<std::string> location;
  std::optional<Person> organizer;
  std::vector<Person> attendees;
  std::optional<std::string> previous_uid;
  std::optional<std::string> rescheduled_to_uid;
  /// The first booking of a reschedule chain (Cal.com `rootBookingUid`), so
  /// consumers can group a chain: every booking in it carries the same root.
  std::optional<std::string> root_uid;
  std::optional<Cancellation> cancellation;
  std::optional<std::string> metadata_json;  // raw JSON object
  std::optional<std::string> payment_json;   // raw JSON object
};

/// What a non-booking event is about (a form response, an out-of-office entry...).
struct Subject {
  std::string uid;   // "<provider>:<kind>:<id>" or a booking uid
  std::string type;  // "form_response", "out_of_office", "booking", ...
  std::optional<std::string> provider_ref;
  std::optional<std::string> data_json;  // raw JSON object
};

struct CanonicalEvent {
  std::string event_id;
  std::string event_type;  // booking.created, meeting.ended, form.submitted, ...
  std::string provider;
  std::string provider_event_type;
  std::string source;
  std::string occurred_at;
  std::string received_at;
  std::optional<std::string> delivery_id;  // the provider's own delivery/idempotency id
  std::optional<Booking> booking;
  std::optional<Subject> subject;
  std::optional<std::string> extensions_json;  // raw JSON object

  /// The Kafka key: booking.uid, else subject.uid.
  const std::string& Key() const { return booking ? booking->uid : subject->uid; }
};

/// The source name of a provider's default source (its unnamed webhook URL).
inline constexpr std::string_view kDefaultSource = "default";

/// Deterministic event id: a UUID-shaped (version 8) digest of the parts that
/// identify one provider event. `discriminator` is the provider's delivery id,
/// else its event time, else a digest of the raw body. A named source is part
/// of the digest, so one source's deliveries never share an id with (and so
/// are never suppressed as duplicates of) another's; the default source adds
/// nothing, so its ids are the same as before sources were part of the id.
std::string MakeEventId(std::string_view provider, std::string_view provider_event_type,
                        std::string_view event_type, std::string_view key,
                        std::string_view discriminator, std::string_view source = kDefaultSource);

/// Compact JSON, fields in schema order.
std::string ToJson(const CanonicalEvent& event);

}  // namespace bridge
