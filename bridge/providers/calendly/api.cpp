// Calendly API v2: webhook_subscriptions (organization scope: routing forms
// need it) and scheduled_events with their invitees. Calendly filters
// scheduled events by start time only, so reconcile lists events starting
// from one day before the window to `horizon` after it, and keeps invitees
// whose updated_at is inside the window. A subscription cannot be changed in
// place, and its signing key is write-only.

#include "bridge/providers/calendly/api.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>

#include "bridge/api/api_support.h"
#include "bridge/model/time.h"
#include "bridge/providers/api_support.h"
#include "bridge/providers/mapping.h"
#include "bridge/util/json.h"

namespace bridge {
namespace {

using json::Value;

constexpr int64_t kDayMs = 24LL * 3600 * 1000;

Subscription ReadSubscription(const Value& w) {
  Subscription s;
  s.id = json::StringAt(&w, "uri").value_or("");
  s.url = json::StringAt(&w, "callback_url").value_or("");
  s.events = SortedStrings(json::Get(&w, "events"));
  s.active = json::StringAt(&w, "state").value_or("active") == "active";
  s.scope = json::StringAt(&w, "scope").value_or("");
  return s;
}

const Value& Collection(const rapidjson::Document& doc, const std::string& what) {
  const Value* c = json::Get(&doc, "collection");
  if (c == nullptr || !c->IsArray()) {
    throw ApiError(ApiError::Kind::kBadResponse,
                   "calendly API GET " + what + ": the answer has no collection array.");
  }
  return *c;
}

std::string NextToken(const rapidjson::Document& doc) {
  return json::StringAt(&doc, "pagination.next_page_token").value_or("");
}

class CalendlyApi final : public ProviderApi {
 public:
  CalendlyApi(ApiSession& session, const Provider& normalizer)
      : session_(session), normalizer_(normalizer) {}

  SecretMode secret_mode() const override { return SecretMode::kWriteOnly; }
  std::vector<std::string> SubscribableEvents() const override {
    // The events POST /webhook_subscriptions accepts (user.updated is not
    // among them: it is understood if it ever arrives, never subscribed).
    return {"invitee.canceled",
            "invitee.created",
            "invitee_no_show.created",
            "invitee_no_show.deleted",
            "routing_form_submission.created",
            "event_type.created",
            "event_type.updated",
            "event_type.deleted"};
  }

  /// Organization-scoped subscriptions, and the key owner's user-scoped ones
  /// (one of those on our URL is moved to organization scope by apply).
  std::vector<Subscription> ListSubscriptions() override {
    std::vector<Subscription> out;
    const std::string org = UrlEncode(Organization());
    for (const std::string& scope :
         {std::string("organization"), "user&user=" + UrlEncode(user_)}) {
      std::string token;
      PageGuard guard("calendly API GET /webhook_subscriptions");
      do {
        guard.Next(token);
        rapidjson::Document doc = session_.Call(
            "GET", "/webhook_subscriptions?organization=" + org + "&scope=" + scope + "&count=100" +
                       (token.empty() ? "" : "&page_token=" + UrlEncode(token)));
        const Value& page = Collection(doc, "/webhook_subscriptions");
        guard.Page(page);
        for (const Value& w : page.GetArray()) out.push_back(ReadSubscription(w));
        token = NextToken(doc);
      } while (!token.empty());
    }
    return out;
  }

  Subscription Create(const SubscriptionTarget& target) override {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    w.Key("url");
    w.String(target.url);
    WriteStrings(w, "events", target.events);
    w.Key("organization");
    w.String(Organization());
    w.Key("scope");
    w.String("organization");
    if (!target.secret.empty()) {
      w.Key("signing_key");
      w.String(target.secret);
    }
    w.EndObject();
    rapidjson::Document doc = session_.Call("POST", "/webhook_subscriptions", buf.GetString());
    const Value* r = json::Get(&doc, "resource");
    return r != nullptr && r->IsObject() ? ReadSubscription(*r) : Subscription{};
  }

  bool Update(const Subscription&, const SubscriptionTarget&) override { return false; }

  void Delete(const Subscription& existing) override {
    const auto uuid = mapping::LastSegment(existing.id);
    session_.Call("DELETE", "/webhook_subscriptions/" + UrlEncode(uuid.value_or(existing.id)));
  }

  void ListBookings(const BookingWindow& window, const std::string& source,
                    const std::function<void(ApiBooking)>& each,
                    const std::function<void(const ListProgress&)>& progress) override {
    const std::string received_at = FormatTimestamp(std::chrono::system_clock::now());
    const std::string min_start = FormatTimestamp(FromUnixMillis(window.since_ms - kDayMs));
    const std::string max_start =
        FormatTimestamp(FromUnixMillis(window.until_ms + window.horizon_ms));
    ListProgress p;
    std::string token;
    PageGuard guard("calendly API GET /scheduled_events");
    do {
      guard.Next(token);
      rapidjson::Document events = session_.Call(
          "GET", "/scheduled_events?organization=" + UrlEncode(Organization()) +
                     "&min_start_time=" + UrlEncode(min_start) +
                     "&max_start_time=" + UrlEncode(max_start) +
                     "&sort=start_time:asc&count=" + std::to_string(window.page_size) +
                     (token.empty() ? "" : "&page_token=" + UrlEncode(token)));
      ++p.pages;
      const Value& page = Collection(events, "/scheduled_events");
      guard.Page(page);
      for (const Value& event : page.GetArray()) {
        Invitees(event, window, source, received_at, each, p);
      }
      progress(p);
      token = NextToken(events);
    } while (!token.empty());
  }

 private:
  /// The organization the API key belongs to (GET /users/me), read once.
  const std::string& Organization() {
    if (organization_.empty()) {
      rapidjson::Document me = session_.Call("GET", "/users/me");
      organization_ = json::StringAt(&me, "resource.current_organization").value_or("");
      user_ = json::StringAt(&me, "resource.uri").value_or("");
      if (organization_.empty()) {
        throw ApiError(ApiError::Kind::kBadResponse,
                       "calendly API GET /users/me: no resource.current_organization.");
      }
    }
    return organization_;
  }

  void Invitees(const Value& event, const BookingWindow& window, const std::string& source,
                const std::string& received_at, const std::function<void(ApiBooking)>& each,
                ListProgress& p) {
    const auto uuid = mapping::LastSegment(json::StringAt(&event, "uri"));
    if (!uuid) return;
    std::string token;
    PageGuard guard("calendly API GET /scheduled_events/…/invitees");
    do {
      guard.Next(token);
      rapidjson::Document doc =
          session_.Call("GET", "/scheduled_events/" + UrlEncode(*uuid) + "/invitees?count=100" +
                                   (token.empty() ? "" : "&page_token=" + UrlEncode(token)));
      ++p.pages;
      const Value& page = Collection(doc, "/scheduled_events/…/invitees");
      guard.Page(page);
      for (const Value& invitee : page.GetArray()) {
        const auto changed = mapping::Time(&invitee, "updated_at")
                                 .value_or(mapping::Time(&invitee, "created_at").value_or(""));
        const auto at = ParseTimestamp(changed);
        if (!at || UnixMillis(*at) < window.since_ms || UnixMillis(*at) > window.until_ms) continue;
        const auto invitee_uuid = mapping::LastSegment(json::StringAt(&invitee, "uri"));
        if (!invitee_uuid) continue;
        // The webhook envelope Calendly would have sent for this state.
        rapidjson::Document envelope(rapidjson::kObjectType);
        auto& a = envelope.GetAllocator();
        const bool canceled = json::StringAt(&invitee, "status").value_or("") == "canceled";
        envelope.AddMember(
            "event", rapidjson::Value(canceled ? "invitee.canceled" : "invitee.created", a), a);
        envelope.AddMember("created_at", rapidjson::Value(changed.c_str(), a), a);
        rapidjson::Value payload;
        payload.CopyFrom(invitee, a);
        if (payload.HasMember("scheduled_event")) payload.RemoveMember("scheduled_event");
        payload.AddMember("scheduled_event", rapidjson::Value().CopyFrom(event, a), a);
        envelope.AddMember("payload", payload, a);
        auto e = NormalizeEnvelope(normalizer_, envelope, "calendly:" + *invitee_uuid, source,
                                   received_at);
        if (!e) continue;
        ++p.bookings;
        each(ApiBooking{std::move(*e), changed});
      }
      token = NextToken(doc);
    } while (!token.empty());
  }

  ApiSession& session_;
  const Provider& normalizer_;
  std::string organization_;
  std::string user_;  // the API key's owner
};

}  // namespace

std::unique_ptr<ProviderApi> MakeCalendlyApi(ApiSession& session, const Provider& normalizer) {
  return std::make_unique<CalendlyApi>(session, normalizer);
}

}  // namespace bridge
