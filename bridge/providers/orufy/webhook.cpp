// Orufy Bookings. The provider does not document how its "Secret Token" is
// sent (README.md, "Orufy Bookings"), so each source chooses:
//   auth: token (default) — a shared token from a header (default
//         `Authorization: Bearer <token>`) or a query parameter;
//   auth: hmac — a generic HMAC over the raw body (header, sha256/sha512,
//         hex/base64, optional prefix).

#include "bridge/providers/orufy/webhook.h"

#include <chrono>
#include <set>

#include "bridge/crypto/hmac.h"
#include "bridge/model/time.h"
#include "bridge/providers/mapping.h"

namespace bridge {
namespace {

using json::Value;
using mapping::Envelope;
using mapping::ObjectBuilder;
using mapping::RawObject;
using mapping::Time;

constexpr std::string_view kName = "orufy";

std::string Uid(std::string_view id) { return std::string(kName) + ":" + std::string(id); }

std::string Option(const SourceConfig& s, const std::string& key, const std::string& fallback) {
  auto it = s.options.find(key);
  return it == s.options.end() ? fallback : it->second;
}

/// Constant time in the token's content and length: digests are compared.
bool TokenMatches(const std::vector<std::string>& secrets, std::string_view token) {
  const std::string given = crypto::Sha256(token);
  bool matched = false;
  for (const std::string& secret : secrets) {
    matched |= crypto::ConstantTimeEquals(given, crypto::Sha256(secret));
  }
  return matched;
}

std::optional<std::string> CanonicalStatus(const std::optional<std::string>& s) {
  if (!s) return std::nullopt;
  const std::string v = provider_util::Lower(*s);
  if (v == "active") return "confirmed";
  if (v == "cancelled" || v == "canceled") return "canceled";
  return std::nullopt;
}

const mapping::PersonFields kPerson = {"name", "email", "timezone"};

Booking ReadMeeting(const Value* m, const std::string& id) {
  Booking b = mapping::ReadBooking(m, Uid(id), id,
                                   {.title = {"modifiedEventName", "eventName"},
                                    .start_time = nullptr,
                                    .end_time = nullptr,
                                    .event_type_id = "eventId",
                                    .event_type_slug = "eventSlug",
                                    .event_type_name = "eventName",
                                    .location = {"calendarEvent.meetingLink", "modeNote"}});
  b.status = CanonicalStatus(json::StringAt(m, "status"));
  // `time` is the start; the end is `duration` minutes later.
  if (auto start = json::StringAt(m, "time")) {
    if (auto t = ParseTimestamp(*start)) {
      b.start_time = FormatTimestamp(*t);
      if (auto minutes = json::Int(json::Get(m, "duration"));
          minutes && *minutes > 0 && *minutes < 100000) {
        b.end_time = FormatTimestamp(*t + std::chrono::minutes(*minutes));
      }
    }
  }
  const Value* agents = json::Get(m, "agentsDetails");
  if (agents != nullptr && agents->IsArray() && !agents->Empty() && (*agents)[0].IsObject()) {
    b.organizer = mapping::ReadPerson(&(*agents)[0], kPerson);
    b.timezone = b.organizer->timezone;
  }
  b.attendees = mapping::ReadPeople(json::Get(m, "attendees"), kPerson);
  b.cancellation = mapping::ReadCancellation(m, "cancellation.reason", "cancellation.cancelledBy");
  b.payment_json = RawObject(json::Get(m, "payment"));
  return b;
}

std::optional<std::string> Extensions(const Value* m) {
  ObjectBuilder ext;
  ext.Pick(m, {{"app_id", "appId"},
               {"meeting_type", "type"},
               {"notes", "notes"},
               {"external_ids", "externalIds"},
               {"reschedule", "reschedule"},
               {"cancelled_at", "cancellation.cancelledAt"},
               {"mark_as_no_show", "markAsNoShow"},
               {"multiple_booking_identifier", "multipleBookingIdentifier"}});
  return ext.Finish();
}

CanonicalEvent MeetingEvent(const Envelope& env, std::string type, Booking b, const Value* m) {
  CanonicalEvent e = mapping::NewEvent(env, std::move(type));
  e.booking = std::move(b);
  e.extensions_json = Extensions(m);
  return mapping::Finish(env, std::move(e));
}

class OrufyProvider final : public Provider {
 public:
  std::string_view Name() const override { return kName; }
  std::vector<std::string> Triggers() const override { return {"BOOK", "CANCEL", "RESCHEDULE"}; }

  std::vector<std::string_view> KeptHeaders() const override {
    return {"Content-Type", "User-Agent"};
  }

  std::string CheckSource(const SourceConfig& s) const override {
    static const std::set<std::string> kKnown = {"auth",        "token_header",   "token_query",
                                                 "hmac_header", "hmac_algorithm", "hmac_encoding",
                                                 "hmac_prefix"};
    for (const auto& [k, v] : s.options) {
      (void)v;
      if (!kKnown.count(k)) return "unknown orufy option \"" + k + "\".";
    }
    const std::string auth = Option(s, "auth", "token");
    if (auth != "token" && auth != "hmac") return "orufy option auth must be token or hmac.";
    if (auth == "hmac") {
      if (Option(s, "hmac_header", "").empty()) return "orufy auth: hmac needs hmac_header.";
      const std::string alg = Option(s, "hmac_algorithm", "sha256");
      if (alg != "sha256" && alg != "sha512")
        return "orufy hmac_algorithm must be sha256 or sha512.";
      const std::string enc = Option(s, "hmac_encoding", "hex");
      if (enc != "hex" && enc != "base64") return "orufy hmac_encoding must be hex or base64.";
    }
    return {};
  }

  VerifyResult Verify(const Delivery& d, const SourceConfig& source,
                      const Clock& /*clock*/) const override {
    if (source.secrets.empty()) {
      if (source.allow_unsigned) return VerifyResult::Ok();
      return {VerifyStatus::kNoSecretConfigured, "no token is configured for this source."};
    }
    return Option(source, "auth", "token") == "hmac" ? VerifyHmac(d, source)
                                                     : VerifyToken(d, source);
  }

  NormalizeResult Normalize(const Delivery& d, const NormalizeContext& ctx) const override {
    json::ScratchDocument scratch;
    if (auto failure = mapping::ParseObject(d.body, scratch)) return *failure;
    rapidjson::Document& doc = scratch.get();
    auto type = json::StringAt(&doc, "eventType");
    const Value* m = json::Get(&doc, "meetData");
    if (!type) return mapping::Fail(reason::kUnknownEventType, "the body has no Orufy eventType.");
    Envelope env;
    env.provider = std::string(kName);
    env.provider_event_type = *type;
    env.ctx = &ctx;
    // No envelope time and no delivery id: the body itself identifies the delivery.
    std::optional<std::string> occurred;
    if (*type == "CANCEL") occurred = Time(m, "cancellation.cancelledAt");
    if (*type == "RESCHEDULE") occurred = Time(m, "reschedule.rescheduledAt");
    env.occurred_at = occurred.value_or(ctx.received_at);
    env.Identify(std::nullopt, d.body);
    auto id = json::StringAt(m, "_id");
    if (m == nullptr || !m->IsObject() || !id) {
      return mapping::MissingId(env, "Orufy", "meetData._id");
    }

    std::vector<CanonicalEvent> events;
    if (*type == "BOOK") {
      events.push_back(MeetingEvent(env, "booking.created", ReadMeeting(m, *id), m));
    } else if (*type == "CANCEL") {
      Booking b = ReadMeeting(m, *id);
      b.status = "canceled";
      events.push_back(MeetingEvent(env, "booking.canceled", std::move(b), m));
    } else if (*type == "RESCHEDULE") {
      auto prev = json::StringAt(m, "prevMeetId");
      if (prev && *prev != *id) {
        // A new meeting id: the old key is rescheduled, the new key created.
        Booking old_booking = ReadMeeting(m, *prev);
        old_booking.status = "rescheduled";
        old_booking.start_time.reset();  // the old slot is not in the body
        old_booking.end_time.reset();
        old_booking.rescheduled_to_uid = Uid(*id);
        events.push_back(MeetingEvent(env, "booking.rescheduled", std::move(old_booking), m));
        Booking new_booking = ReadMeeting(m, *id);
        new_booking.previous_uid = Uid(*prev);
        events.push_back(MeetingEvent(env, "booking.created", std::move(new_booking), m));
      } else {
        // The same id kept: one booking.rescheduled with the new times.
        events.push_back(MeetingEvent(env, "booking.rescheduled", ReadMeeting(m, *id), m));
      }
    } else if (auto no_show = json::Bool(json::Get(m, "markAsNoShow"))) {
      // The "Mark as no-show" trigger's eventType is undocumented: any other
      // eventType that carries markAsNoShow is read as a no-show change.
      Booking b = ReadMeeting(m, *id);
      for (Person& a : b.attendees) a.no_show = *no_show;
      events.push_back(MeetingEvent(env, *no_show ? "booking.no_show" : "booking.no_show_cleared",
                                    std::move(b), m));
    } else {
      return mapping::Fail(reason::kUnknownEventType, "unknown Orufy eventType \"" + *type + "\".",
                           *type, Uid(*id));
    }
    return events;
  }

 private:
  static VerifyResult VerifyToken(const Delivery& d, const SourceConfig& source) {
    const std::string query = Option(source, "token_query", "");
    std::string_view token;
    std::string where;
    if (!query.empty()) {
      auto it = d.query.find(query);
      where = "query parameter " + query;
      if (it == d.query.end()) {
        return {VerifyStatus::kMissingSignature, "missing the " + where + " with the Orufy token."};
      }
      token = it->second;
    } else {
      const std::string header = Option(source, "token_header", "Authorization");
      where = header + " header";
      const size_t count = d.headers->Count(header);
      if (count == 0) {
        return {VerifyStatus::kMissingSignature, "missing the " + where + " with the Orufy token."};
      }
      if (count > 1)
        return {VerifyStatus::kMalformedSignature, "the " + where + " was sent twice."};
      token = provider_util::Trim(*d.headers->Get(header));
      if (provider_util::Lower(token.substr(0, 6)) == "bearer" &&
          (token.size() == 6 || token[6] == ' ')) {
        token = provider_util::Trim(token.substr(6));
      }
    }
    if (token.empty()) return {VerifyStatus::kMalformedSignature, "the " + where + " is empty."};
    if (!TokenMatches(source.secrets, token)) {
      return {VerifyStatus::kBadSignature,
              "the token in the " + where + " is not a configured one."};
    }
    return VerifyResult::Ok();
  }

  static VerifyResult VerifyHmac(const Delivery& d, const SourceConfig& source) {
    const std::string header = Option(source, "hmac_header", "");
    const size_t count = d.headers->Count(header);
    if (count == 0) return {VerifyStatus::kMissingSignature, "missing " + header + " header."};
    if (count > 1) return {VerifyStatus::kMalformedSignature, header + " was sent more than once."};
    std::string_view sig = provider_util::Trim(*d.headers->Get(header));
    const std::string prefix = Option(source, "hmac_prefix", "");
    if (!prefix.empty()) {
      if (sig.substr(0, prefix.size()) != prefix) {
        return {VerifyStatus::kMalformedSignature,
                header + " does not start with the configured prefix."};
      }
      sig.remove_prefix(prefix.size());
    }
    const auto digest = Option(source, "hmac_algorithm", "sha256") == "sha512"
                            ? crypto::Digest::kSha512
                            : crypto::Digest::kSha256;
    const bool base64 = Option(source, "hmac_encoding", "hex") == "base64";
    std::string expected_raw;
    if (!base64 && !crypto::HexDecode(sig, expected_raw)) {
      return {VerifyStatus::kMalformedSignature, header + " is not hex."};
    }
    bool matched = false;
    for (const std::string& secret : source.secrets) {
      const std::string mac = crypto::Hmac(digest, secret, d.body);
      matched |= base64 ? crypto::ConstantTimeEquals(crypto::Base64(mac), sig)
                        : crypto::ConstantTimeEquals(mac, expected_raw);
    }
    if (!matched) {
      return {VerifyStatus::kBadSignature,
              header + " does not match the body under any configured secret."};
    }
    return VerifyResult::Ok();
  }
};

}  // namespace

std::unique_ptr<Provider> MakeOrufyProvider() { return std::make_unique<OrufyProvider>(); }

}  // namespace bridge
