// SavvyCal: x-savvycal-signature = sha256=<HEX HMAC-SHA256 over the raw body>,
// hex compared case-insensitively; README.md, "SavvyCal".

#include "bridge/providers/savvycal/webhook.h"

#include "bridge/providers/mapping.h"

namespace bridge {
namespace {

using json::Value;
using mapping::Envelope;
using mapping::ObjectBuilder;
using mapping::RawObject;
using mapping::Time;

constexpr std::string_view kName = "savvycal";
constexpr std::string_view kSignatureHeader = "x-savvycal-signature";

std::string Uid(std::string_view id) { return std::string(kName) + ":" + std::string(id); }

std::optional<std::string> CanonicalStatus(const std::optional<std::string>& state) {
  if (!state) return std::nullopt;
  const std::string s = provider_util::Lower(*state);
  if (s == "confirmed") return "confirmed";
  if (s == "awaiting_approval" || s == "awaiting_checkout" || s == "tentative") return "pending";
  if (s == "canceled" || s == "cancelled" || s == "checkout_expired") return "canceled";
  if (s == "declined") return "rejected";
  return std::nullopt;
}

Person ReadAttendee(const Value* a) {
  Person p = mapping::ReadPerson(a, {"display_name", "email", "time_zone"});
  if (!p.name) {
    auto first = json::StringAt(a, "first_name"), last = json::StringAt(a, "last_name");
    if (first || last) {
      p.name = first.value_or("") + (first && last ? " " : "") + last.value_or("");
    }
  }
  return p;
}

/// The Event resource → booking. SavvyCal keeps the event id across a reschedule.
Booking ReadEvent(const Value* ev, const std::string& id) {
  Booking b = mapping::ReadBooking(ev, Uid(id), id,
                                   {.title = {"summary"},
                                    .start_time = "start_at",
                                    .end_time = "end_at",
                                    .event_type_id = "link.id",
                                    .event_type_slug = "link.slug",
                                    .event_type_name = "link.name",
                                    .location = {"conferencing.join_url", "location"}});
  b.status = CanonicalStatus(json::StringAt(ev, "state"));
  const Value* organizer = json::Get(ev, "organizer");
  if (organizer != nullptr && organizer->IsObject()) {
    b.organizer = ReadAttendee(organizer);
    b.timezone = b.organizer->timezone;
  }
  const Value* attendees = json::Get(ev, "attendees");
  if (attendees != nullptr && attendees->IsArray()) {
    b.attendees.reserve(mapping::CountObjects(attendees));
    for (const Value& a : attendees->GetArray()) {
      // The organizer is listed among the attendees too; keep it in one place.
      if (a.IsObject() && !json::Bool(json::Get(&a, "is_organizer")).value_or(false)) {
        b.attendees.push_back(ReadAttendee(&a));
      }
    }
  }
  b.cancellation = mapping::ReadCancellation(ev, "cancel_reason", nullptr);
  b.metadata_json = RawObject(json::Get(ev, "metadata"));
  b.payment_json = RawObject(json::Get(ev, "payment"));
  return b;
}

std::optional<std::string> EventExtensions(const Value* ev, const Value* root) {
  ObjectBuilder ext;
  ext.Pick(ev, {{"url", "url"},
                {"scope", "scope"},
                {"state", "state"},
                {"rescheduled_at", "rescheduled_at"},
                {"reschedule_reason", "reschedule_reason"},
                {"original_start_at", "original_start_at"},
                {"original_end_at", "original_end_at"},
                {"canceled_at", "canceled_at"},
                {"is_group_session", "is_group_session"},
                {"scheduler_email", "scheduler.email"}});
  ext.Pick(root, {{"payload_version", "version"}});
  return ext.Finish();
}

struct BookingMapping {
  const char* event_type;
  bool attendee_event;  // payload is {event, attendee}
};

const std::map<std::string, BookingMapping, std::less<>>& BookingTypes() {
  static const std::map<std::string, BookingMapping, std::less<>> table = {
      {"event.created", {"booking.created", false}},
      {"event.requested", {"booking.requested", false}},
      {"event.approved", {"booking.confirmed", false}},
      {"event.declined", {"booking.rejected", false}},
      {"event.rescheduled", {"booking.rescheduled", false}},
      {"event.changed", {"booking.updated", false}},
      {"event.canceled", {"booking.canceled", false}},
      {"event.checkout.pending", {"booking.payment_initiated", false}},
      {"event.checkout.completed", {"booking.paid", false}},
      {"event.checkout.expired", {"booking.canceled", false}},
      {"event.attendee.added", {"booking.attendee_added", true}},
      {"event.attendee.canceled", {"booking.attendee_canceled", true}},
      {"event.attendee.rescheduled", {"booking.attendee_rescheduled", true}},
  };
  return table;
}

NormalizeResult BookingEvent(const Value* root, const Value* payload, const BookingMapping& m,
                             const Envelope& env) {
  // event.changed and event.attendee.* wrap the Event as payload.event.
  const Value* ev = json::Get(payload, "event");
  if (ev == nullptr || !ev->IsObject()) ev = payload;
  auto id = json::StringAt(ev, "id");
  if (!id) return mapping::MissingId(env, "SavvyCal", "payload.id (the event)");
  CanonicalEvent e = mapping::NewEvent(env, m.event_type);
  e.booking = ReadEvent(ev, *id);
  if (env.provider_event_type == "event.checkout.expired") {
    e.booking->status = "canceled";
    if (!e.booking->cancellation) e.booking->cancellation = Cancellation{};
    if (!e.booking->cancellation->reason) e.booking->cancellation->reason = "checkout expired";
  }
  std::optional<std::string> extensions = EventExtensions(ev, root);
  if (m.attendee_event) {
    // The attendee the event is about; the full attendee list stays in the booking.
    const Value* attendee = json::Get(payload, "attendee");
    if (attendee != nullptr && attendee->IsObject()) {
      ObjectBuilder ext;
      ext.Add("attendee", attendee);
      ext.Pick(ev, {{"url", "url"}, {"state", "state"}});
      extensions = ext.Finish();
      Person p = ReadAttendee(attendee);
      bool listed = false;
      for (const Person& a : e.booking->attendees) listed |= a.email && a.email == p.email;
      if (!listed) e.booking->attendees.push_back(std::move(p));
    }
  }
  e.extensions_json = std::move(extensions);
  return mapping::Events(mapping::Finish(env, std::move(e)));
}

NormalizeResult OtherEvent(const Value* payload, const std::string& kind, std::string event_type,
                           const Envelope& env) {
  auto id = json::StringAt(payload, "id");
  if (!id) id = env.delivery_id;  // nothing better to key on: one key per delivery
  if (!id) return mapping::MissingId(env, "SavvyCal", "payload.id");
  return mapping::Events(mapping::SubjectEvent(env, std::move(event_type),
                                               std::string(kName) + ":" + kind + ":" + *id, kind,
                                               *id, RawObject(payload)));
}

class SavvyCalProvider final : public Provider {
 public:
  std::string_view Name() const override { return kName; }
  std::vector<std::string> Triggers() const override {
    std::vector<std::string> names;
    for (const auto& [name, mapping] : BookingTypes()) names.push_back(name);
    for (const char* other :
         {"poll.response.created", "poll.response.updated", "workflow.action.triggered"}) {
      names.emplace_back(other);
    }
    return names;
  }

  std::vector<std::string_view> KeptHeaders() const override {
    return {"Content-Type", "User-Agent", "x-savvycal-webhook-id"};
  }

  VerifyResult Verify(const Delivery& d, const SourceConfig& source,
                      const Clock& /*clock*/) const override {
    return provider_util::VerifyBodyHmacHeader(d, source, kSignatureHeader);
  }

  NormalizeResult Normalize(const Delivery& d, const NormalizeContext& ctx) const override {
    json::ScratchDocument scratch;
    if (auto failure = mapping::ParseObject(d.body, scratch)) return *failure;
    rapidjson::Document& doc = scratch.get();
    auto type = json::StringAt(&doc, "type");
    if (!type)
      return mapping::Fail(reason::kUnknownEventType, "the body has no SavvyCal \"type\".");
    const Value* payload = json::Get(&doc, "payload");
    if (payload == nullptr || !payload->IsObject()) {
      return mapping::Fail(reason::kMissingBookingId, "SavvyCal " + *type + " has no payload.",
                           *type);
    }
    Envelope env;
    env.provider = std::string(kName);
    env.provider_event_type = *type;
    env.ctx = &ctx;
    env.delivery_id = json::StringAt(&doc, "id");  // "payload_…": unique per payload
    env.occurred_at = Time(&doc, "occurred_at").value_or(ctx.received_at);
    env.Identify(json::StringAt(&doc, "occurred_at"), d.body);

    NormalizeResult result;
    if (auto m = BookingTypes().find(*type); m != BookingTypes().end()) {
      result = BookingEvent(&doc, payload, m->second, env);
    } else if (*type == "poll.response.created" || *type == "poll.response.updated") {
      result = OtherEvent(payload, "poll_response", "poll.response", env);
    } else if (*type == "workflow.action.triggered") {
      result = OtherEvent(payload, "workflow_action", "workflow.action", env);
    } else {
      std::optional<std::string> guess;
      if (auto id = json::StringAt(payload, "id"); id && id->rfind("event_", 0) == 0)
        guess = Uid(*id);
      return mapping::Fail(reason::kUnknownEventType, "unknown SavvyCal type \"" + *type + "\".",
                           *type, guess);
    }
    if (auto* failure = std::get_if<NormalizeFailure>(&result))
      failure->provider_event_type = *type;
    return result;
  }
};

}  // namespace

std::unique_ptr<Provider> MakeSavvyCalProvider() { return std::make_unique<SavvyCalProvider>(); }

}  // namespace bridge
