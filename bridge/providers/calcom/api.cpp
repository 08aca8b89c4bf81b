// Cal.com API v2: webhooks (/v2/webhooks) and bookings (/v2/bookings, with
// cal-api-version 2024-08-13). Bookings are read in order of updatedAt from
// a cursor (afterUpdatedAt + sortUpdatedAt=asc), not by page number, so a
// booking that changes during the run moves to the end instead of shifting
// another one off a page boundary.

#include "bridge/providers/calcom/api.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>

#include "bridge/api/api_support.h"
#include "bridge/model/time.h"
#include "bridge/providers/mapping.h"
#include "bridge/util/json.h"

namespace bridge {
namespace {

using json::Value;

constexpr const char* kBookingsVersion = "2024-08-13";

/// The `triggers` enum of Cal.com's webhook API: the normalizer also maps
/// BOOKING_CONFIRMED and friends, which the API does not accept.
const std::vector<std::string>& ApiTriggers() {
  static const std::vector<std::string> triggers = {"BOOKING_CREATED",
                                                    "BOOKING_PAYMENT_INITIATED",
                                                    "BOOKING_PAID",
                                                    "BOOKING_RESCHEDULED",
                                                    "BOOKING_REQUESTED",
                                                    "BOOKING_CANCELLED",
                                                    "BOOKING_REJECTED",
                                                    "BOOKING_NO_SHOW_UPDATED",
                                                    "FORM_SUBMITTED",
                                                    "MEETING_ENDED",
                                                    "MEETING_STARTED",
                                                    "RECORDING_READY",
                                                    "INSTANT_MEETING",
                                                    "RECORDING_TRANSCRIPTION_GENERATED",
                                                    "OOO_CREATED",
                                                    "AFTER_HOSTS_CAL_VIDEO_NO_SHOW",
                                                    "AFTER_GUESTS_CAL_VIDEO_NO_SHOW",
                                                    "FORM_SUBMITTED_NO_EVENT",
                                                    "ROUTING_FORM_FALLBACK_HIT",
                                                    "DELEGATION_CREDENTIAL_ERROR",
                                                    "WRONG_ASSIGNMENT_REPORT"};
  return triggers;
}

std::string IdText(const Value* v) {
  if (v == nullptr) return {};
  if (v->IsString()) return {v->GetString(), v->GetStringLength()};
  if (v->IsInt64()) return std::to_string(v->GetInt64());
  return {};
}

Subscription ReadWebhook(const Value& w) {
  Subscription s;
  s.id = IdText(json::Get(&w, "id"));
  s.url = json::StringAt(&w, "subscriberUrl").value_or("");
  s.events = SortedStrings(json::Get(&w, "triggers"));
  s.active = json::Bool(json::Get(&w, "active")).value_or(true);
  s.secret = json::StringAt(&w, "secret");
  s.payload_template = json::StringAt(&w, "payloadTemplate").value_or("");
  return s;
}

std::string WebhookBody(const SubscriptionTarget& t, bool clear_template) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("active");
  w.Bool(true);
  w.Key("subscriberUrl");
  w.String(t.url);
  WriteStrings(w, "triggers", t.events);
  if (!t.secret.empty()) {
    w.Key("secret");
    w.String(t.secret);
  }
  if (clear_template) {
    w.Key("payloadTemplate");
    w.String("");
  }
  w.EndObject();
  return buf.GetString();
}

/// Where an API v2 booking keeps a host's or an attendee's fields.
const mapping::PersonFields kApiPerson{"name", "email", "timeZone", "absent"};

/// One API booking as the event that announces its current state.
std::optional<ApiBooking> ReadBooking(const Value& b, const std::string& source,
                                      const std::string& received_at) {
  auto uid = json::StringAt(&b, "uid");
  if (!uid || uid->empty()) return std::nullopt;
  const std::string status = provider_util::Lower(json::StringAt(&b, "status").value_or(""));
  const auto rescheduled_to = json::StringAt(&b, "rescheduledToUid");
  const bool rescheduled = json::Bool(json::Get(&b, "rescheduled")).value_or(false);
  ApiBooking out;
  CanonicalEvent& e = out.event;
  Booking& bk = e.booking.emplace();
  bk.uid = "calcom:" + *uid;
  bk.provider_ref = *uid;
  if (status == "accepted") {
    e.event_type = "booking.created";
    bk.status = "confirmed";
  } else if (status == "pending") {
    e.event_type = "booking.requested";
    bk.status = "pending";
  } else if (status == "rejected") {
    e.event_type = "booking.rejected";
    bk.status = "rejected";
  } else if (status == "cancelled" || status == "canceled") {
    if (rescheduled_to || rescheduled) {
      e.event_type = "booking.rescheduled";
      bk.status = "rescheduled";
    } else {
      e.event_type = "booking.canceled";
      bk.status = "canceled";
    }
  } else {
    return std::nullopt;  // a state the canonical vocabulary has no word for
  }
  e.provider = "calcom";
  e.source = source;
  e.received_at = received_at;
  bk.title = json::StringAt(&b, "title");
  bk.start_time = mapping::Time(&b, "start");
  bk.end_time = mapping::Time(&b, "end");
  std::string type_id = IdText(json::Get(&b, "eventTypeId"));
  if (type_id.empty()) type_id = IdText(json::Path(&b, "eventType.id"));
  if (!type_id.empty()) {
    bk.event_type = EventTypeRef{type_id, json::StringAt(&b, "eventType.slug"), std::nullopt};
  }
  bk.location = json::StringAt(&b, "location");
  if (std::vector<Person> hosts = mapping::ReadPeople(json::Get(&b, "hosts"), kApiPerson);
      !hosts.empty()) {
    bk.organizer = hosts.front();
    bk.timezone = bk.organizer->timezone;
  }
  bk.attendees = mapping::ReadPeople(json::Get(&b, "attendees"), kApiPerson);
  if (auto from = json::StringAt(&b, "rescheduledFromUid")) bk.previous_uid = "calcom:" + *from;
  if (rescheduled_to) bk.rescheduled_to_uid = "calcom:" + *rescheduled_to;
  if (bk.status == "canceled") {
    Cancellation c;
    c.reason = json::StringAt(&b, "cancellationReason");
    c.canceled_by = json::StringAt(&b, "cancelledByEmail");
    if (c.reason || c.canceled_by) bk.cancellation = c;
  }
  bk.metadata_json = mapping::RawObject(json::Get(&b, "metadata"));
  out.changed_at =
      mapping::Time(&b, "updatedAt").value_or(mapping::Time(&b, "createdAt").value_or(received_at));
  e.occurred_at = out.changed_at;
  return out;
}

class CalcomApi final : public ProviderApi {
 public:
  explicit CalcomApi(ApiSession& session) : session_(session) {}

  SecretMode secret_mode() const override { return SecretMode::kReadable; }
  bool updates_in_place() const override { return true; }
  std::vector<std::string> SubscribableEvents() const override { return ApiTriggers(); }

  std::vector<Subscription> ListSubscriptions() override {
    // Until an empty page: the API may cap `take` below what was asked.
    std::vector<Subscription> out;
    PageGuard guard("calcom API GET /v2/webhooks");
    for (size_t skip = 0;;) {
      guard.Next(std::to_string(skip));
      rapidjson::Document doc =
          session_.Call("GET", "/v2/webhooks?take=100&skip=" + std::to_string(skip));
      const Value* data = json::Get(&doc, "data");
      if (data == nullptr || !data->IsArray()) {
        throw ApiError(ApiError::Kind::kBadResponse,
                       "calcom API GET /v2/webhooks: the answer has no data array.");
      }
      if (data->Empty()) return out;
      guard.Page(*data);
      for (const Value& w : data->GetArray()) out.push_back(ReadWebhook(w));
      skip += data->Size();
    }
  }

  Subscription Create(const SubscriptionTarget& target) override {
    rapidjson::Document doc = session_.Call("POST", "/v2/webhooks", WebhookBody(target, false));
    const Value* data = json::Get(&doc, "data");
    return data != nullptr && data->IsObject() ? ReadWebhook(*data) : Subscription{};
  }

  bool Update(const Subscription& existing, const SubscriptionTarget& target) override {
    session_.Call("PATCH", "/v2/webhooks/" + UrlEncode(existing.id),
                  WebhookBody(target, !existing.payload_template.empty()));
    return true;
  }

  void Delete(const Subscription& existing) override {
    session_.Call("DELETE", "/v2/webhooks/" + UrlEncode(existing.id));
  }

  void ListBookings(const BookingWindow& window, const std::string& source,
                    const std::function<void(ApiBooking)>& each,
                    const std::function<void(const ListProgress&)>& progress) override {
    const std::string received_at = FormatTimestamp(std::chrono::system_clock::now());
    const std::string until = FormatTimestamp(FromUnixMillis(window.until_ms));
    std::string cursor = FormatTimestamp(FromUnixMillis(window.since_ms));
    int64_t skip = 0;  // bookings at exactly `cursor` already seen
    ListProgress p;
    PageGuard guard("calcom API GET /v2/bookings");
    for (;;) {
      // The cursor is the pair: a page of one instant advances by skip alone.
      guard.Next(cursor + "|" + std::to_string(skip));
      rapidjson::Document doc =
          session_.Call("GET",
                        "/v2/bookings?afterUpdatedAt=" + UrlEncode(cursor) +
                            "&beforeUpdatedAt=" + UrlEncode(until) + "&sortUpdatedAt=asc&take=" +
                            std::to_string(window.page_size) + "&skip=" + std::to_string(skip),
                        {}, {{"cal-api-version", kBookingsVersion}});
      const Value* data = json::Get(&doc, "data");
      if (data == nullptr || !data->IsArray()) {
        throw ApiError(ApiError::Kind::kBadResponse,
                       "calcom API GET /v2/bookings: the answer has no data array.");
      }
      guard.Page(*data);
      ++p.pages;
      std::string last;
      int64_t at_last = 0;
      for (const Value& b : data->GetArray()) {
        const std::string updated = json::StringAt(&b, "updatedAt").value_or("");
        if (updated == last) {
          ++at_last;
        } else {
          last = updated;
          at_last = 1;
        }
        if (auto booking = ReadBooking(b, source, received_at)) {
          ++p.bookings;
          each(std::move(*booking));
        }
      }
      progress(p);
      const bool more =
          json::Bool(json::Path(&doc, "pagination.hasNextPage"))
              .value_or(data->Size() >= static_cast<rapidjson::SizeType>(window.page_size));
      if (!more || data->Empty()) return;
      if (last == cursor || last.empty()) {
        skip += data->Size();  // a whole page at one instant: page through it
      } else {
        cursor = last;
        skip = at_last;
      }
    }
  }

 private:
  ApiSession& session_;
};

}  // namespace

std::unique_ptr<ProviderApi> MakeCalcomApi(ApiSession& session, const Provider&) {
  return std::make_unique<CalcomApi>(session);
}

}  // namespace bridge
