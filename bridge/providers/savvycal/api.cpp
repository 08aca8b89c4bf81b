// SavvyCal API v1: webhooks (/v1/webhooks; SavvyCal issues each webhook's
// secret) and events (/v1/events). Events have no updated_at and no time
// filter beyond past/upcoming and a cursor, so reconcile pages through the
// upcoming events and a change shows only through created_at, canceled_at
// and rescheduled_at.

#include "bridge/providers/savvycal/api.h"

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

Subscription ReadWebhook(const Value& w) {
  Subscription s;
  s.id = json::StringAt(&w, "id").value_or("");
  s.url = json::StringAt(&w, "url").value_or("");
  s.events = SortedStrings(json::Get(&w, "events"));
  s.active = json::StringAt(&w, "state").value_or("active") == "active";
  s.secret = json::StringAt(&w, "secret");
  return s;
}

/// A list answer: {"entries": [...]} or a bare array.
const Value& Entries(const rapidjson::Document& doc, const std::string& what) {
  if (doc.IsArray()) return doc;
  const Value* e = json::Get(&doc, "entries");
  if (e == nullptr || !e->IsArray()) {
    throw ApiError(ApiError::Kind::kBadResponse,
                   "savvycal API GET " + what + ": the answer has no entries array.");
  }
  return *e;
}

/// The latest of the times SavvyCal records on an event.
std::optional<TimePoint> ChangedAt(const Value& ev) {
  std::optional<TimePoint> latest;
  for (const char* key : {"created_at", "canceled_at", "rescheduled_at"}) {
    if (auto t = json::StringAt(&ev, key)) {
      if (auto at = ParseTimestamp(*t); at && (!latest || *at > *latest)) latest = at;
    }
  }
  return latest;
}

std::string WebhookType(const Value& ev) {
  const std::string state = provider_util::Lower(json::StringAt(&ev, "state").value_or(""));
  if (state == "canceled" || state == "cancelled") return "event.canceled";
  if (state == "declined") return "event.declined";
  if (state == "awaiting_approval" || state == "tentative") return "event.requested";
  if (json::StringAt(&ev, "rescheduled_at")) return "event.rescheduled";
  return "event.created";
}

class SavvyCalApi final : public ProviderApi {
 public:
  SavvyCalApi(ApiSession& session, const Provider& normalizer)
      : session_(session), normalizer_(normalizer) {}

  SecretMode secret_mode() const override { return SecretMode::kIssued; }
  std::vector<std::string> SubscribableEvents() const override {
    return {"event.approved",           "event.attendee.added",
            "event.attendee.canceled",  "event.attendee.rescheduled",
            "event.canceled",           "event.changed",
            "event.checkout.completed", "event.checkout.expired",
            "event.checkout.pending",   "event.created",
            "event.declined",           "event.requested",
            "event.rescheduled",        "poll.response.created",
            "poll.response.updated",    "workflow.action.triggered"};
  }

  std::vector<Subscription> ListSubscriptions() override {
    rapidjson::Document doc = session_.Call("GET", "/v1/webhooks");
    std::vector<Subscription> out;
    for (const Value& w : Entries(doc, "/v1/webhooks").GetArray()) out.push_back(ReadWebhook(w));
    return out;
  }

  Subscription Create(const SubscriptionTarget& target) override {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    w.Key("url");
    w.String(target.url);
    WriteStrings(w, "events", target.events);
    w.EndObject();
    rapidjson::Document doc = session_.Call("POST", "/v1/webhooks", buf.GetString());
    const Value* r = doc.IsObject() && doc.HasMember("webhook") ? json::Get(&doc, "webhook") : &doc;
    Subscription s = r != nullptr && r->IsObject() ? ReadWebhook(*r) : Subscription{};
    if (!s.secret || s.secret->empty()) {
      throw ApiError(ApiError::Kind::kBadResponse,
                     "savvycal API POST /v1/webhooks: the new webhook has no secret.");
    }
    return s;
  }

  bool Update(const Subscription&, const SubscriptionTarget&) override { return false; }

  void Delete(const Subscription& existing) override {
    session_.Call("DELETE", "/v1/webhooks/" + UrlEncode(existing.id));
  }

  void ListBookings(const BookingWindow& window, const std::string& source,
                    const std::function<void(ApiBooking)>& each,
                    const std::function<void(const ListProgress&)>& progress) override {
    const std::string received_at = FormatTimestamp(std::chrono::system_clock::now());
    ListProgress p;
    std::string after;
    PageGuard guard("savvycal API GET /v1/events");
    for (;;) {
      guard.Next(after);
      rapidjson::Document doc = session_.Call(
          // state=all: the API lists only confirmed events unless asked, and a
          // cancellation is what a lost webhook most often hides.
          "GET", "/v1/events?state=all&period=upcoming&limit=" + std::to_string(window.page_size) +
                     (after.empty() ? "" : "&after=" + UrlEncode(after)));
      ++p.pages;
      const Value& page = Entries(doc, "/v1/events");
      guard.Page(page);
      for (const Value& ev : page.GetArray()) {
        const auto changed = ChangedAt(ev);
        const auto id = json::StringAt(&ev, "id");
        if (!changed || !id || UnixMillis(*changed) < window.since_ms ||
            UnixMillis(*changed) > window.until_ms) {
          continue;
        }
        const std::string changed_at = FormatTimestamp(*changed);
        rapidjson::Document envelope(rapidjson::kObjectType);
        auto& a = envelope.GetAllocator();
        envelope.AddMember("type", rapidjson::Value(WebhookType(ev).c_str(), a), a);
        envelope.AddMember("occurred_at", rapidjson::Value(changed_at.c_str(), a), a);
        envelope.AddMember("payload", rapidjson::Value().CopyFrom(ev, a), a);
        auto e = NormalizeEnvelope(normalizer_, envelope, "savvycal:" + *id, source, received_at);
        if (!e) continue;
        ++p.bookings;
        each(ApiBooking{std::move(*e), changed_at});
      }
      progress(p);
      after = json::StringAt(&doc, "metadata.after").value_or("");
      if (after.empty()) return;
    }
  }

 private:
  ApiSession& session_;
  const Provider& normalizer_;
};

}  // namespace

std::unique_ptr<ProviderApi> MakeSavvyCalApi(ApiSession& session, const Provider& normalizer) {
  return std::make_unique<SavvyCalApi>(session, normalizer);
}

}  // namespace bridge
