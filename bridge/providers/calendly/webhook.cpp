// Calendly (API v2 webhook subscriptions): Calendly-Webhook-Signature =
// t=<unix>,v1=<hex HMAC-SHA256 over "<t>." + raw body>; README.md, "Calendly".

#include "bridge/providers/calendly/webhook.h"

#include <charconv>
#include <cstdlib>

#include "bridge/providers/mapping.h"

namespace bridge {
namespace {

using json::Value;
using mapping::Envelope;
using mapping::ObjectBuilder;
using mapping::RawObject;
using mapping::Time;

constexpr std::string_view kName = "calendly";
constexpr std::string_view kSignatureHeader = "Calendly-Webhook-Signature";

std::string Uid(std::string_view id) { return std::string(kName) + ":" + std::string(id); }

std::optional<std::string> CanonicalStatus(const std::optional<std::string>& s) {
  if (!s) return std::nullopt;
  const std::string v = provider_util::Lower(*s);
  if (v == "active") return "confirmed";
  if (v == "canceled" || v == "cancelled") return "canceled";
  return std::nullopt;
}

/// The invitee resource (invitee.* and invitee_no_show.* payloads) → booking.
/// The booking unit is the invitee: its UUID is the booking id.
Booking ReadInvitee(const Value* p, const std::string& invitee_uuid) {
  const std::string uri = json::StringAt(p, "uri").value_or(invitee_uuid);
  Booking b = mapping::ReadBooking(
      p, Uid(invitee_uuid), uri,
      {.title = {"scheduled_event.name"},
       .start_time = "scheduled_event.start_time",
       .end_time = "scheduled_event.end_time",
       .event_type_id = nullptr,
       .event_type_slug = nullptr,
       .event_type_name = "scheduled_event.name",
       .location = {"scheduled_event.location.join_url", "scheduled_event.location.location",
                    "scheduled_event.location.type"}});
  // The event type is a URI; its last segment is the id.
  if (auto id = mapping::LastSegment(json::StringAt(p, "scheduled_event.event_type"))) {
    if (!b.event_type) b.event_type = EventTypeRef{};
    b.event_type->id = id;
  }
  b.status = CanonicalStatus(json::StringAt(p, "status"));
  const Value* members = json::Path(p, "scheduled_event.event_memberships");
  if (members != nullptr && members->IsArray() && !members->Empty() && (*members)[0].IsObject()) {
    b.organizer = mapping::ReadPerson(&(*members)[0], {"user_name", "user_email", nullptr});
  }
  const Person invitee = mapping::ReadPerson(p, {"name", "email", "timezone"});
  b.timezone = invitee.timezone;
  if (invitee.name || invitee.email) b.attendees.push_back(invitee);
  if (auto old_uuid = mapping::LastSegment(json::StringAt(p, "old_invitee"))) {
    b.previous_uid = Uid(*old_uuid);
  }
  b.cancellation = mapping::ReadCancellation(p, "cancellation.reason", "cancellation.canceled_by");
  b.payment_json = RawObject(json::Get(p, "payment"));
  return b;
}

std::optional<std::string> InviteeExtensions(const Value* p) {
  ObjectBuilder ext;
  ext.Pick(p, {{"scheduled_event_uri", "scheduled_event.uri"},
               {"event_type_uri", "scheduled_event.event_type"},
               {"canceler_type", "cancellation.canceler_type"},
               {"questions_and_answers", "questions_and_answers"},
               {"tracking", "tracking"},
               {"routing_form_submission", "routing_form_submission"},
               {"no_show_uri", "no_show.uri"},
               {"invitees_counter", "scheduled_event.invitees_counter"}});
  return ext.Finish();
}

NormalizeResult InviteeEvent(const Value* p, const Envelope& env) {
  auto uuid = mapping::LastSegment(json::StringAt(p, "uri"));
  if (!uuid) return mapping::MissingId(env, "Calendly", "payload.uri (the invitee)");
  const std::string& type = env.provider_event_type;
  Booking booking = ReadInvitee(p, *uuid);
  std::string event_type;
  if (type == "invitee.created") {
    event_type = "booking.created";
  } else if (type == "invitee.canceled") {
    // A reschedule cancels the old invitee (rescheduled: true) and creates a
    // new one under a new scheduled event; each delivery stands on its own.
    if (json::Bool(json::Get(p, "rescheduled")).value_or(false)) {
      event_type = "booking.rescheduled";
      booking.status = "rescheduled";
      if (auto next = mapping::LastSegment(json::StringAt(p, "new_invitee"))) {
        booking.rescheduled_to_uid = Uid(*next);
      }
    } else {
      event_type = "booking.canceled";
      booking.status = "canceled";
    }
  } else if (type == "invitee_no_show.created" || type == "invitee_no_show.deleted") {
    const bool no_show = type == "invitee_no_show.created";
    event_type = no_show ? "booking.no_show" : "booking.no_show_cleared";
    for (Person& a : booking.attendees) a.no_show = no_show;
  }
  CanonicalEvent e = mapping::NewEvent(env, std::move(event_type));
  e.booking = std::move(booking);
  e.extensions_json = InviteeExtensions(p);
  return mapping::Events(mapping::Finish(env, std::move(e)));
}

NormalizeResult RoutingFormSubmission(const Value* p, const Envelope& env) {
  auto uuid = mapping::LastSegment(json::StringAt(p, "uri"));
  if (!uuid) return mapping::MissingId(env, "Calendly", "payload.uri (the submission)");
  return mapping::Events(
      mapping::SubjectEvent(env, "form.submitted", std::string(kName) + ":form_response:" + *uuid,
                            "form_response", json::StringAt(p, "uri"), RawObject(p)));
}

NormalizeResult EventTypeChanged(const Value* p, const Envelope& env) {
  auto uuid = mapping::LastSegment(json::StringAt(p, "uri"));
  if (!uuid) return mapping::MissingId(env, "Calendly", "payload.uri (the event type)");
  CanonicalEvent e = mapping::NewEvent(env, "event_type.updated");
  e.subject = Subject{std::string(kName) + ":event_type:" + *uuid, "event_type",
                      json::StringAt(p, "uri"), RawObject(p)};
  // created / updated / deleted: one canonical type, the action kept here.
  ObjectBuilder ext;
  ext.Add("action", env.provider_event_type.substr(env.provider_event_type.find('.') + 1));
  e.extensions_json = ext.Finish();
  return mapping::Events(mapping::Finish(env, std::move(e)));
}

/// `user.updated` (named by Calendly integrations, not in its webhook list):
/// a change to a user of the organization, keyed by the user.
NormalizeResult UserUpdated(const Value* p, const Envelope& env) {
  auto uuid = mapping::LastSegment(json::StringAt(p, "uri"));
  if (!uuid) return mapping::MissingId(env, "Calendly", "payload.uri (the user)");
  return mapping::Events(mapping::SubjectEvent(env, "user.updated",
                                               std::string(kName) + ":user:" + *uuid, "user",
                                               json::StringAt(p, "uri"), RawObject(p)));
}

/// v1 values accepted in one signature header (Calendly sends one; rotation
/// may add a second).
constexpr size_t kMaxSignatures = 4;

class CalendlyProvider final : public Provider {
 public:
  std::string_view Name() const override { return kName; }
  std::vector<std::string> Triggers() const override {
    return {"invitee.created",
            "invitee.canceled",
            "invitee_no_show.created",
            "invitee_no_show.deleted",
            "routing_form_submission.created",
            "event_type.created",
            "event_type.updated",
            "event_type.deleted",
            "user.updated"};
  }

  std::vector<std::string_view> KeptHeaders() const override {
    return {"Content-Type", "User-Agent"};
  }

  bool SignsDeliveryTime() const override { return true; }
  VerifyResult Verify(const Delivery& d, const SourceConfig& source,
                      const Clock& clock) const override {
    const size_t count = d.headers->Count(kSignatureHeader);
    if (count > 1) {
      return {VerifyStatus::kMalformedSignature,
              "Calendly-Webhook-Signature was sent more than once."};
    }
    if (count == 0) {
      if (source.allow_unsigned) return VerifyResult::Ok();
      return {VerifyStatus::kMissingSignature, "missing Calendly-Webhook-Signature header."};
    }
    const auto sig = ParseCalendlySignature(*d.headers->Get(kSignatureHeader));
    if (!sig) {
      return {VerifyStatus::kMalformedSignature,
              "Calendly-Webhook-Signature must look like t=<unix seconds>,v1=<hex>."};
    }
    if (source.secrets.empty()) {
      if (source.allow_unsigned) return VerifyResult::Ok();
      return {VerifyStatus::kNoSecretConfigured, "no signing key is configured for this source."};
    }
    if (sig->v1.size() > kMaxSignatures) {
      // Each value costs a comparison; a header full of them is an attack.
      return {VerifyStatus::kMalformedSignature, "Calendly-Webhook-Signature carries more than " +
                                                     std::to_string(kMaxSignatures) +
                                                     " v1 signatures."};
    }
    const std::string t = std::to_string(sig->timestamp);
    // One MAC per secret over the (up to 1 MiB) body, compared with every v1.
    const bool matched =
        provider_util::AnySecretMatchesAnyHex(source.secrets, sig->v1, {t, ".", d.body});
    if (!matched) {
      return {VerifyStatus::kBadSignature,
              "Calendly-Webhook-Signature does not match the body under any configured signing "
              "key."};
    }
    const int64_t now =
        std::chrono::duration_cast<std::chrono::seconds>(clock.Now().time_since_epoch()).count();
    if (std::llabs(now - sig->timestamp) > source.tolerance.count()) {
      return {VerifyStatus::kTimestampOutOfTolerance,
              "the Calendly signature timestamp is " + std::to_string(now - sig->timestamp) +
                  " s away from now, beyond the tolerance of " +
                  std::to_string(source.tolerance.count()) + " s (replay or clock skew)."};
    }
    return VerifyResult::Ok();
  }

  NormalizeResult Normalize(const Delivery& d, const NormalizeContext& ctx) const override {
    json::ScratchDocument scratch;
    if (auto failure = mapping::ParseObject(d.body, scratch)) return *failure;
    rapidjson::Document& doc = scratch.get();
    auto type = json::StringAt(&doc, "event");
    const Value* payload = json::Get(&doc, "payload");
    if (!type) {
      return mapping::Fail(reason::kUnknownEventType, "the body has no Calendly \"event\" name.");
    }
    if (payload == nullptr || !payload->IsObject()) {
      return mapping::Fail(reason::kMissingBookingId, "Calendly " + *type + " has no payload.",
                           *type);
    }
    Envelope env;
    env.provider = std::string(kName);
    env.provider_event_type = *type;
    env.ctx = &ctx;
    env.occurred_at = Time(&doc, "created_at").value_or(ctx.received_at);
    env.Identify(json::StringAt(&doc, "created_at"), d.body);

    NormalizeResult result;
    if (*type == "invitee.created" || *type == "invitee.canceled" ||
        *type == "invitee_no_show.created" || *type == "invitee_no_show.deleted") {
      result = InviteeEvent(payload, env);
    } else if (*type == "routing_form_submission.created") {
      result = RoutingFormSubmission(payload, env);
    } else if (*type == "event_type.created" || *type == "event_type.updated" ||
               *type == "event_type.deleted") {
      result = EventTypeChanged(payload, env);
    } else if (*type == "user.updated") {
      result = UserUpdated(payload, env);
    } else {
      return mapping::Fail(reason::kUnknownEventType, "unknown Calendly event \"" + *type + "\".",
                           *type, BookingUidGuess(payload));
    }
    if (auto* failure = std::get_if<NormalizeFailure>(&result)) {
      failure->provider_event_type = *type;
    }
    return result;
  }

 private:
  static std::optional<std::string> BookingUidGuess(const Value* payload) {
    auto uri = json::StringAt(payload, "uri");
    if (!uri || uri->find("/invitees/") == std::string::npos) return std::nullopt;
    auto uuid = mapping::LastSegment(uri);
    return uuid ? std::optional<std::string>(Uid(*uuid)) : std::nullopt;
  }
};

}  // namespace

std::optional<CalendlySignature> ParseCalendlySignature(std::string_view header) {
  CalendlySignature sig;
  bool have_t = false;
  while (!header.empty()) {
    const size_t comma = header.find(',');
    const std::string_view item = provider_util::Trim(header.substr(0, comma));
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos) continue;
    const std::string_view key = provider_util::Trim(item.substr(0, eq));
    const std::string_view value = provider_util::Trim(item.substr(eq + 1));
    if (key == "t") {
      if (have_t || value.empty() || value.size() > 12) return std::nullopt;
      int64_t t = 0;
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), t);
      if (ec != std::errc() || end != value.data() + value.size() || t < 0) return std::nullopt;
      sig.timestamp = t;
      have_t = true;
    } else if (key == "v1") {
      if (value.size() == 64) sig.v1.emplace_back(value);
    }
  }
  if (!have_t || sig.v1.empty()) return std::nullopt;
  return sig;
}

std::unique_ptr<Provider> MakeCalendlyProvider() { return std::make_unique<CalendlyProvider>(); }

}  // namespace bridge
