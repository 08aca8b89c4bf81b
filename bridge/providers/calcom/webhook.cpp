// Cal.com: X-Cal-Signature-256 = lowercase hex HMAC-SHA256 over the raw body.
// Body shapes and triggers: README.md, "Cal.com", and tests/fixtures/calcom/.

#include "bridge/providers/calcom/webhook.h"

#include <algorithm>
#include <array>
#include <functional>
#include <string>

#include "bridge/providers/mapping.h"

namespace bridge {
namespace {

using json::Value;
using mapping::Envelope;
using mapping::ObjectBuilder;
using mapping::RawObject;
using mapping::Time;

constexpr std::string_view kName = "calcom";
constexpr std::string_view kSignatureHeader = "X-Cal-Signature-256";
constexpr std::string_view kUnsignedMarker = "no-secret-provided";

std::string Uid(std::string_view provider_id) {
  return std::string(kName) + ":" + std::string(provider_id);
}

std::optional<std::string> CanonicalStatus(const std::optional<std::string>& s) {
  if (!s) return std::nullopt;
  const std::string v = provider_util::Lower(*s);
  if (v == "accepted") return "confirmed";
  if (v == "pending" || v == "awaiting_host") return "pending";
  if (v == "cancelled" || v == "canceled") return "canceled";
  if (v == "rejected") return "rejected";
  return std::nullopt;
}

const mapping::PersonFields kPerson = {"name", "email", "timeZone", "noShow"};

/// A booking object as Cal.com sends it (envelope payload, or the root of a
/// MEETING_* body) → canonical booking. `uid` is the provider id to use.
Booking ReadBooking(const Value* p, const std::string& provider_uid) {
  Booking b = mapping::ReadBooking(p, Uid(provider_uid), provider_uid,
                                   {.title = {"title"},
                                    .start_time = "startTime",
                                    .end_time = "endTime",
                                    .event_type_id = "eventTypeId",
                                    .event_type_slug = "type",
                                    .event_type_name = "eventTitle",
                                    .location = {"location"}});
  b.status = CanonicalStatus(json::StringAt(p, "status"));
  // Envelope bodies carry `organizer`; MEETING_* bodies carry the host as `user`.
  const Value* organizer = json::Get(p, "organizer");
  if (organizer == nullptr) organizer = json::Get(p, "user");
  if (organizer != nullptr && organizer->IsObject()) {
    b.organizer = mapping::ReadPerson(organizer, kPerson);
    b.timezone = b.organizer->timezone;
  }
  b.attendees = mapping::ReadPeople(json::Get(p, "attendees"), kPerson);
  b.metadata_json = RawObject(json::Get(p, "metadata"));
  if (json::Get(p, "paymentId") != nullptr || json::Get(p, "paymentData") != nullptr) {
    ObjectBuilder pay;
    pay.Add("id", json::Get(p, "paymentId"))
        .Add("amount", json::Get(p, "price"))
        .Add("currency", json::Get(p, "currency"))
        .Add("data", json::Get(p, "paymentData"));
    b.payment_json = pay.Finish();
  }
  if (auto from = json::StringAt(p, "fromReschedule")) b.previous_uid = Uid(*from);
  if (auto root = json::StringAt(p, "rootBookingUid")) b.root_uid = Uid(*root);
  return b;
}

std::optional<std::string> Extensions(const Value* p,
                                      const std::vector<std::pair<const char*, const char*>>& picks,
                                      const std::function<void(ObjectBuilder&)>& extra = {}) {
  ObjectBuilder ext;
  ext.Pick(p, picks);
  if (extra) extra(ext);
  return ext.Finish();
}

const std::vector<std::pair<const char*, const char*>> kBookingExtensions = {
    {"booking_id", "bookingId"},
    {"ical_uid", "iCalUID"},
    {"ical_sequence", "iCalSequence"},
    {"rescheduled_by", "rescheduledBy"},
    {"rejection_reason", "rejectionReason"},
    {"creation_source", "creationSource"},
    {"reschedule_uid", "rescheduleUid"},
};

/// What a trigger handler sees.
struct Input {
  const Value* data;  // `payload` or, with no envelope, the root
  Envelope env;
};

NormalizeFailure MissingId(const Input& in, std::string_view field) {
  return mapping::MissingId(in.env, "Cal.com", field);
}

/// A booking event on `payload.uid` (or another field holding the uid).
NormalizeResult SimpleBooking(const Input& in, std::string event_type, const char* uid_field,
                              std::optional<std::string> forced_status = std::nullopt) {
  auto uid = json::StringAt(in.data, uid_field);
  if (!uid) return MissingId(in, std::string("payload.") + uid_field);
  CanonicalEvent e = mapping::NewEvent(in.env, std::move(event_type));
  e.booking = ReadBooking(in.data, *uid);
  if (forced_status) e.booking->status = forced_status;
  e.extensions_json = Extensions(in.data, kBookingExtensions);
  return mapping::Events(mapping::Finish(in.env, std::move(e)));
}

/// BOOKING_REQUESTED; with `rescheduleUid`, a reschedule that waits for the
/// host's confirmation: the new booking names the one it would replace.
NormalizeResult Requested(const Input& in) {
  auto r = SimpleBooking(in, "booking.requested", "uid", "pending");
  if (auto* events = std::get_if<std::vector<CanonicalEvent>>(&r)) {
    auto old_uid = json::StringAt(in.data, "rescheduleUid");
    auto uid = json::StringAt(in.data, "uid");
    if (old_uid && *old_uid != uid.value_or(""))
      events->front().booking->previous_uid = Uid(*old_uid);
  }
  return r;
}

/// Cal.com names (outside its webhook enum, in its API docs) a few more
/// booking triggers: accepted as the canonical events they mean.
NormalizeResult Reopened(const Input& in) {
  auto r = SimpleBooking(in, "booking.updated", "uid");
  if (auto* events = std::get_if<std::vector<CanonicalEvent>>(&r)) {
    events->front().extensions_json = Extensions(
        in.data, kBookingExtensions, [](ObjectBuilder& b) { b.Add("action", "reopened"); });
  }
  return r;
}

NormalizeResult Cancelled(const Input& in) {
  auto r = SimpleBooking(in, "booking.canceled", "uid", "canceled");
  if (auto* events = std::get_if<std::vector<CanonicalEvent>>(&r)) {
    Cancellation c;
    c.reason = json::StringAt(in.data, "cancellationReason");
    c.canceled_by = json::StringAt(in.data, "cancelledBy");
    c.reschedule_requested = json::Bool(json::Get(in.data, "requestReschedule"));
    if (c.reason || c.canceled_by || c.reschedule_requested)
      events->front().booking->cancellation = c;
  }
  return r;
}

/// One delivery, two keys: the old booking is rescheduled, the new one created.
NormalizeResult Rescheduled(const Input& in) {
  auto new_uid = json::StringAt(in.data, "uid");
  auto old_uid = json::StringAt(in.data, "rescheduleUid");
  if (!new_uid && old_uid) {
    // A seated event's attendee moved to another slot: Cal.com sends no `uid`
    // for the seat's new booking. One event on the booking they left.
    CanonicalEvent e = mapping::NewEvent(in.env, "booking.rescheduled");
    e.booking = ReadBooking(in.data, *old_uid);
    e.extensions_json = Extensions(in.data, kBookingExtensions,
                                   [](ObjectBuilder& b) { b.Add("seat_reschedule", true); });
    return mapping::Events(mapping::Finish(in.env, std::move(e)));
  }
  if (!new_uid) return MissingId(in, "payload.uid");
  if (!old_uid) return MissingId(in, "payload.rescheduleUid (the booking it replaces)");

  CanonicalEvent old_event = mapping::NewEvent(in.env, "booking.rescheduled");
  old_event.booking = ReadBooking(in.data, *old_uid);
  old_event.booking->status = "rescheduled";
  old_event.booking->start_time = Time(in.data, "rescheduleStartTime");
  old_event.booking->end_time = Time(in.data, "rescheduleEndTime");
  old_event.booking->previous_uid.reset();
  old_event.booking->metadata_json.reset();  // describes the new booking
  old_event.booking->rescheduled_to_uid = Uid(*new_uid);
  old_event.extensions_json = Extensions(in.data, {{"booking_id", "rescheduleId"},
                                                   {"rescheduled_by", "rescheduledBy"},
                                                   {"ical_uid", "iCalUID"}});

  CanonicalEvent new_event = mapping::NewEvent(in.env, "booking.created");
  new_event.booking = ReadBooking(in.data, *new_uid);
  new_event.booking->previous_uid = Uid(*old_uid);
  new_event.extensions_json = Extensions(in.data, kBookingExtensions);
  return mapping::Events(mapping::Finish(in.env, std::move(old_event)),
                         mapping::Finish(in.env, std::move(new_event)));
}

NormalizeResult NoShowUpdated(const Input& in) {
  auto uid = json::StringAt(in.data, "bookingUid");
  if (!uid) return MissingId(in, "payload.bookingUid");
  Booking b;
  b.uid = Uid(*uid);
  b.provider_ref = *uid;
  b.attendees = mapping::ReadPeople(json::Get(in.data, "attendees"), kPerson);
  const bool any_no_show = std::any_of(b.attendees.begin(), b.attendees.end(),
                                       [](const Person& p) { return p.no_show.value_or(false); });
  CanonicalEvent e =
      mapping::NewEvent(in.env, any_no_show ? "booking.no_show" : "booking.no_show_cleared");
  e.booking = std::move(b);
  e.extensions_json = Extensions(in.data, {{"booking_id", "bookingId"}, {"message", "message"}});
  return mapping::Events(mapping::Finish(in.env, std::move(e)));
}

NormalizeResult VideoNoShow(const Input& in, std::string_view party) {
  auto uid = json::StringAt(in.data, "bookingUid");
  if (!uid) uid = json::StringAt(in.data, "uid");
  if (!uid) return MissingId(in, "payload.bookingUid");
  CanonicalEvent e = mapping::NewEvent(in.env, "booking.no_show");
  e.booking = ReadBooking(in.data, *uid);
  e.extensions_json = Extensions(in.data, {{"booking_id", "bookingId"}}, [&](ObjectBuilder& b) {
    if (!party.empty()) b.Add("no_show_party", party);
  });
  return mapping::Events(mapping::Finish(in.env, std::move(e)));
}

/// A non-booking event keyed "calcom:<kind>:<id>" (or by the booking uid).
NormalizeResult SubjectEvent(const Input& in, std::string event_type, std::string kind,
                             std::optional<std::string> id, std::string_view id_field,
                             bool id_is_booking = false) {
  if (!id) return MissingId(in, id_field);
  std::string uid = id_is_booking ? Uid(*id) : std::string(kName) + ":" + kind + ":" + *id;
  return mapping::Events(mapping::SubjectEvent(in.env, std::move(event_type), std::move(uid),
                                               std::move(kind), *id, RawObject(in.data)));
}

NormalizeResult FormSubmitted(const Input& in) {
  if (auto response = json::StringAt(in.data, "responseId")) {
    return SubjectEvent(in, "form.submitted", "form_response", response, "payload.responseId");
  }
  return SubjectEvent(in, "form.submitted", "form", json::StringAt(in.data, "formId"),
                      "payload.formId or payload.responseId");
}

using Handler = std::function<NormalizeResult(const Input&)>;

const std::map<std::string, Handler, std::less<>>& CalcomTriggers() {
  static const std::map<std::string, Handler, std::less<>> table = {
      {"BOOKING_CREATED",
       [](const Input& in) { return SimpleBooking(in, "booking.created", "uid"); }},
      {"BOOKING_REQUESTED", Requested},
      {"BOOKING_CONFIRMED",
       [](const Input& in) { return SimpleBooking(in, "booking.confirmed", "uid", "confirmed"); }},
      {"BOOKING_COMPLETED",
       [](const Input& in) { return SimpleBooking(in, "booking.updated", "uid", "completed"); }},
      {"BOOKING_NO_SHOW", [](const Input& in) { return VideoNoShow(in, {}); }},
      {"BOOKING_REOPENED", Reopened},
      {"BOOKING_REJECTED",
       [](const Input& in) { return SimpleBooking(in, "booking.rejected", "uid", "rejected"); }},
      {"BOOKING_CANCELLED", Cancelled},
      {"BOOKING_RESCHEDULED", Rescheduled},
      {"BOOKING_PAYMENT_INITIATED",
       [](const Input& in) { return SimpleBooking(in, "booking.payment_initiated", "uid"); }},
      {"BOOKING_PAID", [](const Input& in) { return SimpleBooking(in, "booking.paid", "uid"); }},
      {"BOOKING_NO_SHOW_UPDATED", NoShowUpdated},
      {"AFTER_HOSTS_CAL_VIDEO_NO_SHOW", [](const Input& in) { return VideoNoShow(in, "host"); }},
      {"AFTER_GUESTS_CAL_VIDEO_NO_SHOW", [](const Input& in) { return VideoNoShow(in, "guests"); }},
      {"MEETING_STARTED",
       [](const Input& in) { return SimpleBooking(in, "meeting.started", "uid"); }},
      {"MEETING_ENDED", [](const Input& in) { return SimpleBooking(in, "meeting.ended", "uid"); }},
      {"INSTANT_MEETING",
       [](const Input& in) { return SimpleBooking(in, "booking.created", "uid"); }},
      {"RECORDING_READY",
       [](const Input& in) {
         return SubjectEvent(in, "recording.ready", "booking", json::StringAt(in.data, "uid"),
                             "payload.uid", true);
       }},
      {"RECORDING_TRANSCRIPTION_GENERATED",
       [](const Input& in) {
         return SubjectEvent(in, "recording.ready", "booking", json::StringAt(in.data, "uid"),
                             "payload.uid", true);
       }},
      {"FORM_SUBMITTED", FormSubmitted},
      {"FORM_SUBMITTED_NO_EVENT", FormSubmitted},
      {"ROUTING_FORM_FALLBACK_HIT", FormSubmitted},
      {"OOO_CREATED",
       [](const Input& in) {
         auto id = json::StringAt(in.data, "oooEntry.uuid");
         if (!id) id = json::StringAt(in.data, "oooEntry.id");
         return SubjectEvent(in, "out_of_office.created", "out_of_office", id,
                             "payload.oooEntry.uuid");
       }},
      {"WRONG_ASSIGNMENT_REPORT",
       [](const Input& in) {
         return SubjectEvent(in, "workflow.action", "booking",
                             json::StringAt(in.data, "booking.uid"), "payload.booking.uid", true);
       }},
      {"DELEGATION_CREDENTIAL_ERROR",
       [](const Input& in) {
         return SubjectEvent(in, "workflow.action", "workflow",
                             std::optional<std::string>("delegation_credential_error"), "");
       }},
  };
  return table;
}

class CalcomProvider final : public Provider {
 public:
  std::string_view Name() const override { return kName; }
  std::vector<std::string> Triggers() const override {
    std::vector<std::string> names;
    for (const auto& [name, handler] : CalcomTriggers()) names.push_back(name);
    return names;
  }

  bool AcceptsMediaType(std::string_view media_type) const override {
    // x-www-form-urlencoded: what Cal.com sends for a non-JSON payload template.
    return Provider::AcceptsMediaType(media_type) ||
           media_type == "application/x-www-form-urlencoded";
  }

  std::vector<std::string_view> KeptHeaders() const override {
    return {"Content-Type", "User-Agent", "X-Cal-Webhook-Version"};
  }

  VerifyResult Verify(const Delivery& d, const SourceConfig& source,
                      const Clock& /*clock*/) const override {
    // A webhook without a secret says so instead of signing.
    if (d.headers->Count(kSignatureHeader) == 1 &&
        provider_util::Trim(*d.headers->Get(kSignatureHeader)) == kUnsignedMarker) {
      if (source.allow_unsigned) return VerifyResult::Ok();
      return {VerifyStatus::kUnsignedRejected,
              "the Cal.com webhook has no secret (X-Cal-Signature-256: no-secret-provided); set "
              "one in Cal.com and in schedbridge, or configure the source allow_unsigned."};
    }
    return provider_util::VerifyBodyHmacHeader(d, source, kSignatureHeader);
  }

  NormalizeResult Normalize(const Delivery& d, const NormalizeContext& ctx) const override {
    const auto content_type = d.headers ? d.headers->Get("Content-Type") : std::nullopt;
    if (content_type &&
        provider_util::Lower(*content_type).find("application/x-www-form-urlencoded") == 0) {
      return mapping::Fail(reason::kCustomTemplate,
                           "Cal.com sent a form-encoded body, which means the webhook has a "
                           "custom payload template; clear the template in Cal.com.");
    }
    json::ScratchDocument scratch;
    if (auto failure = mapping::ParseObject(d.body, scratch)) return *failure;
    rapidjson::Document& doc = scratch.get();
    auto trigger = json::StringAt(&doc, "triggerEvent");
    if (!trigger) {
      return mapping::Fail(reason::kCustomTemplate,
                           "the body has no triggerEvent: the webhook probably has a custom "
                           "payload template; clear the template in Cal.com.",
                           std::nullopt, BookingUidGuess(&doc));
    }
    const auto& table = CalcomTriggers();
    const auto handler = table.find(*trigger);
    if (handler == table.end()) {
      return mapping::Fail(reason::kUnknownEventType,
                           "unknown Cal.com triggerEvent \"" + *trigger + "\".", *trigger,
                           BookingUidGuess(&doc));
    }
    Input in;
    const Value* payload = json::Get(&doc, "payload");
    in.data = payload != nullptr && payload->IsObject() ? payload : &doc;
    in.env.provider = std::string(kName);
    in.env.provider_event_type = *trigger;
    in.env.ctx = &ctx;
    // MEETING_* bodies carry an idempotency key per scheduled job.
    in.env.delivery_id = json::StringAt(&doc, "idempotencyKey");
    std::optional<std::string> occurred;
    if (*trigger == "MEETING_STARTED") occurred = Time(&doc, "startTime");
    if (*trigger == "MEETING_ENDED") occurred = Time(&doc, "endTime");
    if (!occurred && payload != nullptr) occurred = Time(&doc, "createdAt");
    in.env.occurred_at = occurred.value_or(ctx.received_at);
    in.env.Identify(json::StringAt(&doc, "createdAt"), d.body);
    NormalizeResult result = handler->second(in);
    if (auto* failure = std::get_if<NormalizeFailure>(&result)) {
      failure->provider_event_type = *trigger;
      if (!failure->booking_uid) failure->booking_uid = BookingUidGuess(&doc);
    }
    return result;
  }

 private:
  /// For dead-letter keys: any booking uid we can find, so a dead letter sorts
  /// with its booking.
  static std::optional<std::string> BookingUidGuess(const Value* doc) {
    for (const char* path : {"payload.uid", "payload.bookingUid", "uid", "bookingUid"}) {
      if (auto uid = json::StringAt(doc, path)) return Uid(*uid);
    }
    return std::nullopt;
  }
};

}  // namespace

std::unique_ptr<Provider> MakeCalcomProvider() { return std::make_unique<CalcomProvider>(); }

}  // namespace bridge
