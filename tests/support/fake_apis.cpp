#include "fake_apis.h"

#include <httplib.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <stdexcept>

#include "bridge/model/time.h"

namespace bridge::testing {
namespace {

using W = rapidjson::Writer<rapidjson::StringBuffer>;

void Str(W& w, const char* key, const std::string& value, bool null_when_empty = false) {
  w.Key(key);
  if (null_when_empty && value.empty()) {
    w.Null();
  } else {
    w.String(value);
  }
}

void Strings(W& w, const char* key, const std::vector<std::string>& values) {
  w.Key(key);
  w.StartArray();
  for (const std::string& v : values) w.String(v);
  w.EndArray();
}

int64_t Ms(const std::string& t) {
  auto at = ParseTimestamp(t);
  return at ? UnixMillis(*at) : 0;
}

int IntParam(const httplib::Request& req, const char* name, int fallback) {
  return req.has_param(name) ? std::stoi(req.get_param_value(name)) : fallback;
}

std::vector<std::string> ReadStrings(const rapidjson::Value& doc, const char* key) {
  std::vector<std::string> out;
  if (doc.HasMember(key) && doc[key].IsArray()) {
    for (const auto& v : doc[key].GetArray()) {
      if (v.IsString()) out.emplace_back(v.GetString());
    }
  }
  return out;
}

std::string ReadString(const rapidjson::Value& doc, const char* key) {
  return doc.HasMember(key) && doc[key].IsString() ? doc[key].GetString() : "";
}

void Json(httplib::Response& res, int status, const rapidjson::StringBuffer& buf) {
  res.status = status;
  res.set_content(buf.GetString(), "application/json");
}

void Error(httplib::Response& res, int status, const std::string& message) {
  rapidjson::StringBuffer buf;
  W w(buf);
  w.StartObject();
  Str(w, "status", "error");
  Str(w, "message", message);
  w.EndObject();
  Json(res, status, buf);
}

void CalWebhook(W& w, const FakeWebhook& h) {
  w.StartObject();
  w.Key("id");
  w.Int(std::stoi(h.id));
  Str(w, "subscriberUrl", h.url);
  Strings(w, "triggers", h.events);
  w.Key("active");
  w.Bool(h.active);
  Str(w, "payloadTemplate", h.payload_template, true);
  Str(w, "secret", h.secret, true);
  w.EndObject();
}

void CalendlySub(W& w, const FakeWebhook& h) {
  w.StartObject();
  Str(w, "uri", "https://api.calendly.com/webhook_subscriptions/" + h.id);
  Str(w, "callback_url", h.url);
  Strings(w, "events", h.events);
  Str(w, "scope", h.scope);
  Str(w, "state", h.active ? "active" : "disabled");
  Str(w, "organization", FakeApis::kCalendlyOrg);
  w.EndObject();
}

void SavvyWebhook(W& w, const FakeWebhook& h) {
  w.StartObject();
  Str(w, "id", h.id);
  Str(w, "url", h.url);
  Strings(w, "events", h.events);
  Str(w, "secret", h.secret);
  Str(w, "state", h.active ? "active" : "disabled");
  Str(w, "version", "2020-11-18");
  w.EndObject();
}

}  // namespace

size_t Writes(const FakeApis::State& state) {
  return static_cast<size_t>(
      std::count_if(state.requests.begin(), state.requests.end(),
                    [](const std::string& r) { return r.rfind("GET ", 0) != 0; }));
}

FakeApis::FakeApis(std::string api_key, int port)
    : api_key_(std::move(api_key)), server_(std::make_unique<httplib::Server>()) {
  const auto handler = [this](const httplib::Request& req, httplib::Response& res) {
    Handle(req, res);
  };
  for (const char* pattern : {R"(/.*)"}) {
    server_->Get(pattern, handler);
    server_->Post(pattern, handler);
    server_->Patch(pattern, handler);
    server_->Delete(pattern, handler);
  }
  port_ = port == 0 ? server_->bind_to_any_port("127.0.0.1")
                    : (server_->bind_to_port("127.0.0.1", port) ? port : -1);
  if (port_ < 0) throw std::runtime_error("cannot listen on 127.0.0.1:" + std::to_string(port));
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  server_->wait_until_ready();
}

FakeApis::~FakeApis() {
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

void FakeApis::With(const std::function<void(State&)>& f) {
  std::lock_guard<std::mutex> lock(mu_);
  f(state_);
}

FakeApis::State FakeApis::Snapshot() {
  std::lock_guard<std::mutex> lock(mu_);
  return state_;
}

/// Authentication and injected faults; false when the answer is given.
bool FakeApis::Guard(const httplib::Request& req, httplib::Response& res, bool list) {
  state_.requests.push_back(req.method + " " + req.target);
  if (req.get_header_value("Authorization") != "Bearer " + api_key_) {
    Error(res, 401, "Invalid API key");
    return false;
  }
  if (state_.key_expired) {
    Error(res, 401, "The access token expired");
    return false;
  }
  if (state_.rate_limited_requests > 0) {
    --state_.rate_limited_requests;
    res.set_header("Retry-After", state_.retry_after);
    Error(res, 429, "Too many requests");
    return false;
  }
  if (list) {
    ++state_.list_requests;
    auto f = state_.fail_list_request.find(state_.list_requests);
    if (f != state_.fail_list_request.end() && f->second > 0) {
      --f->second;
      --state_.list_requests;  // the retry asks for the same page again
      Error(res, 503, "upstream unavailable");
      return false;
    }
  }
  return true;
}

void FakeApis::Answer(const httplib::Request& req, httplib::Response& res) {
  const std::string& path = req.path;
  const bool list =
      req.method == "GET" &&
      (path == "/v2/bookings" || path == "/scheduled_events" ||
       (path.rfind("/scheduled_events/", 0) == 0 && path.find("/invitees") != std::string::npos) ||
       path == "/v1/events");
  int page = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!Guard(req, res, list)) return;
    page = state_.list_requests;
    rapidjson::Document body;
    if (!req.body.empty() && (body.Parse(req.body.c_str()).HasParseError() || !body.IsObject())) {
      return Error(res, 400, "body is not a JSON object");
    }
    rapidjson::StringBuffer buf;
    W w(buf);
    // ---- Cal.com v2 ----
    if (state_.reflect) {
      return Error(res, 400,
                   "bad request from " + req.get_header_value("Authorization") +
                       " \x1b[2J\x1b]0;owned\x07\r\nFAKE LOG LINE level=error "
                       "Authorization: Bearer sk_live_reflected0123456789abcdef "
                       "api_key=reflected-key-value secret=whsec_reflected");
    }
    // A list's cursor, as a hostile API may treat it.
    const auto cursor = [&](const char* name) {
      return state_.ignore_cursor || !req.has_param(name) ? 0
                                                          : std::stoi(req.get_param_value(name));
    };
    const auto next_cursor = [&](bool more, int next) -> std::string {
      if (state_.repeat_cursor) return "1";
      if (state_.ignore_cursor) return std::to_string(state_.fresh_cursor++);
      return more ? std::to_string(next) : "";
    };
    if (path == "/v2/webhooks" && req.method == "GET") {
      const int take = std::min(IntParam(req, "take", 10), 50), skip = cursor("skip");
      w.StartObject();
      Str(w, "status", "success");
      w.Key("data");
      w.StartArray();
      for (int i = skip; i < static_cast<int>(state_.calcom_webhooks.size()) && i < skip + take;
           ++i) {
        CalWebhook(w, state_.calcom_webhooks[i]);
      }
      w.EndArray();
      w.EndObject();
      return Json(res, 200, buf);
    }
    if (path == "/v2/webhooks" && req.method == "POST") {
      FakeWebhook h;
      h.id = std::to_string(state_.next_id++);
      h.url = ReadString(body, "subscriberUrl");
      h.events = ReadStrings(body, "triggers");
      std::sort(h.events.begin(), h.events.end());
      h.secret = ReadString(body, "secret");
      h.payload_template = ReadString(body, "payloadTemplate");
      h.active = !body.HasMember("active") || body["active"].GetBool();
      if (h.url.empty() || h.events.empty())
        return Error(res, 400, "subscriberUrl and triggers are required");
      for (const std::string& t : h.events) {
        if (t == "BOOKING_CONFIRMED" || t == "BOOKING_COMPLETED" || t == "BOOKING_REOPENED" ||
            t == "BOOKING_NO_SHOW") {
          return Error(res, 400, "triggers must be one of the webhook trigger events");
        }
      }
      state_.calcom_webhooks.push_back(h);
      w.StartObject();
      Str(w, "status", "success");
      w.Key("data");
      CalWebhook(w, h);
      w.EndObject();
      return Json(res, 201, buf);
    }
    if (path.rfind("/v2/webhooks/", 0) == 0) {
      const std::string id = path.substr(13);
      auto it = std::find_if(state_.calcom_webhooks.begin(), state_.calcom_webhooks.end(),
                             [&](const FakeWebhook& h) { return h.id == id; });
      if (it == state_.calcom_webhooks.end()) return Error(res, 404, "webhook not found");
      if (req.method == "DELETE") {
        state_.calcom_webhooks.erase(it);
        res.status = 200;
        return res.set_content(R"({"status":"success"})", "application/json");
      }
      if (req.method == "PATCH") {
        if (body.HasMember("subscriberUrl")) it->url = ReadString(body, "subscriberUrl");
        if (body.HasMember("triggers")) {
          it->events = ReadStrings(body, "triggers");
          std::sort(it->events.begin(), it->events.end());
        }
        if (body.HasMember("secret")) it->secret = ReadString(body, "secret");
        if (body.HasMember("payloadTemplate"))
          it->payload_template = ReadString(body, "payloadTemplate");
        if (body.HasMember("active")) it->active = body["active"].GetBool();
        w.StartObject();
        Str(w, "status", "success");
        w.Key("data");
        CalWebhook(w, *it);
        w.EndObject();
        return Json(res, 200, buf);
      }
    }
    if (path == "/v2/bookings" && req.method == "GET") {
      if (req.get_header_value("cal-api-version").empty()) {
        return Error(res, 400, "cal-api-version header required");
      }
      const int64_t after =
          req.has_param("afterUpdatedAt") ? Ms(req.get_param_value("afterUpdatedAt")) : 0;
      const int64_t before =
          req.has_param("beforeUpdatedAt") ? Ms(req.get_param_value("beforeUpdatedAt")) : INT64_MAX;
      const int take = std::min(IntParam(req, "take", 100), 100), skip = cursor("skip");
      std::vector<FakeCalBooking> match;
      // `status` (a comma list) narrows the listing as documented; without it
      // every booking is listed, cancelled and unconfirmed ones included.
      const std::string status = req.get_param_value("status");
      const auto listed = [&status](const FakeCalBooking& b) {
        if (status.empty()) return true;
        const bool cancelled = b.status == "cancelled" || b.status == "rejected";
        return (status.find("cancelled") != std::string::npos && cancelled) ||
               (status.find("unconfirmed") != std::string::npos && b.status == "pending") ||
               ((status.find("upcoming") != std::string::npos ||
                 status.find("past") != std::string::npos) &&
                b.status == "accepted");
      };
      for (const FakeCalBooking& b : state_.calcom_bookings) {
        if (Ms(b.updated_at) >= after && Ms(b.updated_at) <= before && listed(b)) {
          match.push_back(b);
        }
      }
      std::stable_sort(match.begin(), match.end(),
                       [](const FakeCalBooking& a, const FakeCalBooking& b) {
                         return Ms(a.updated_at) < Ms(b.updated_at);
                       });
      w.StartObject();
      Str(w, "status", "success");
      w.Key("data");
      w.StartArray();
      for (int i = skip; i < static_cast<int>(match.size()) && i < skip + take; ++i) {
        const FakeCalBooking& b = match[i];
        w.StartObject();
        w.Key("id");
        w.Int(i + 1);
        Str(w, "uid", b.uid);
        Str(w, "title", b.title);
        Str(w, "status", b.status);
        Str(w, "start", b.start);
        Str(w, "end", b.end);
        Str(w, "createdAt", b.created_at);
        Str(w, "updatedAt", b.updated_at);
        Str(w, "rescheduledFromUid", b.rescheduled_from, true);
        Str(w, "rescheduledToUid", b.rescheduled_to, true);
        w.Key("eventTypeId");
        w.Int(42);
        w.Key("hosts");
        w.StartArray();
        w.StartObject();
        Str(w, "name", "Host");
        Str(w, "email", "host@example.com");
        Str(w, "timeZone", "Europe/Berlin");
        w.EndObject();
        w.EndArray();
        w.Key("attendees");
        w.StartArray();
        w.StartObject();
        Str(w, "name", "Ana");
        Str(w, "email", b.attendee_email);
        Str(w, "timeZone", "Europe/Lisbon");
        w.Key("absent");
        w.Bool(false);
        w.EndObject();
        w.EndArray();
        w.EndObject();
      }
      w.EndArray();
      w.Key("pagination");
      w.StartObject();
      w.Key("totalItems");
      w.Int(static_cast<int>(match.size()));
      w.Key("hasNextPage");
      w.Bool(state_.ignore_cursor || skip + take < static_cast<int>(match.size()));
      w.EndObject();
      w.EndObject();
      Json(res, 200, buf);
    }
    // ---- Calendly ----
    else if (path == "/users/me") {
      w.StartObject();
      w.Key("resource");
      w.StartObject();
      Str(w, "uri", "https://api.calendly.com/users/USER1");
      Str(w, "current_organization", kCalendlyOrg);
      w.EndObject();
      w.EndObject();
      return Json(res, 200, buf);
    } else if (path == "/webhook_subscriptions" && req.method == "GET") {
      if (req.get_param_value("organization") != kCalendlyOrg) {
        return Error(res, 400, "organization is required");
      }
      const std::string scope = req.get_param_value("scope");
      if (scope == "user" &&
          req.get_param_value("user") != "https://api.calendly.com/users/USER1") {
        return Error(res, 400, "user is required with scope user");
      }
      const int count = IntParam(req, "count", 20);
      const int token = cursor("page_token");
      w.StartObject();
      w.Key("collection");
      w.StartArray();
      std::vector<FakeWebhook> match;
      for (const FakeWebhook& h : state_.calendly_subscriptions) {
        if (scope.empty() || h.scope == scope) match.push_back(h);
      }
      const int n = static_cast<int>(match.size());
      for (int i = token; i < n && i < token + count; ++i) CalendlySub(w, match[i]);
      w.EndArray();
      w.Key("pagination");
      w.StartObject();
      Str(w, "next_page_token", next_cursor(token + count < n, token + count), true);
      w.EndObject();
      w.EndObject();
      return Json(res, 200, buf);
    } else if (path == "/webhook_subscriptions" && req.method == "POST") {
      FakeWebhook h;
      h.id = "SUB" + std::to_string(state_.next_id++);
      h.url = ReadString(body, "url");
      h.events = ReadStrings(body, "events");
      std::sort(h.events.begin(), h.events.end());
      h.scope = ReadString(body, "scope");
      h.secret = ReadString(body, "signing_key");
      if (ReadString(body, "organization") != kCalendlyOrg || h.url.empty() || h.events.empty()) {
        return Error(res, 400, "url, events, organization and scope are required");
      }
      for (const FakeWebhook& other : state_.calendly_subscriptions) {
        if (other.url == h.url) return Error(res, 409, "Hook with this url already exists");
      }
      state_.calendly_subscriptions.push_back(h);
      w.StartObject();
      w.Key("resource");
      CalendlySub(w, h);
      w.EndObject();
      return Json(res, 201, buf);
    } else if (path.rfind("/webhook_subscriptions/", 0) == 0 && req.method == "DELETE") {
      const std::string id = path.substr(23);
      auto& subs = state_.calendly_subscriptions;
      auto it =
          std::find_if(subs.begin(), subs.end(), [&](const FakeWebhook& h) { return h.id == id; });
      if (it == subs.end()) return Error(res, 404, "Resource Not Found");
      subs.erase(it);
      res.status = 204;
      return;
    } else if (path == "/scheduled_events" && req.method == "GET") {
      const int64_t min = Ms(req.get_param_value("min_start_time"));
      const int64_t max = Ms(req.get_param_value("max_start_time"));
      const int count = std::min(IntParam(req, "count", 20), 100);
      const int token = cursor("page_token");
      std::vector<FakeCalendlyEvent> match;
      // As documented: active and canceled events unless `status` names one.
      const std::string status = req.get_param_value("status");
      for (const auto& e : state_.calendly_events) {
        if (Ms(e.start) >= min && Ms(e.start) < max && (status.empty() || e.status == status)) {
          match.push_back(e);
        }
      }
      w.StartObject();
      w.Key("collection");
      w.StartArray();
      const int n = static_cast<int>(match.size());
      for (int i = token; i < n && i < token + count; ++i) {
        const auto& e = match[i];
        w.StartObject();
        Str(w, "uri", "https://api.calendly.com/scheduled_events/" + e.uuid);
        Str(w, "name", e.name);
        Str(w, "status", e.status);
        Str(w, "start_time", e.start);
        Str(w, "end_time", e.end);
        Str(w, "event_type", "https://api.calendly.com/event_types/ET1");
        Str(w, "created_at", e.created_at);
        Str(w, "updated_at", e.updated_at);
        w.EndObject();
      }
      w.EndArray();
      w.Key("pagination");
      w.StartObject();
      Str(w, "next_page_token", next_cursor(token + count < n, token + count), true);
      w.EndObject();
      w.EndObject();
      Json(res, 200, buf);
    } else if (path.rfind("/scheduled_events/", 0) == 0 && req.method == "GET") {
      const std::string event = path.substr(18, path.find('/', 18) - 18);
      const int count = std::min(IntParam(req, "count", 20), 100);
      const int token = cursor("page_token");
      std::vector<FakeCalendlyInvitee> match;
      const std::string status = req.get_param_value("status");
      for (const auto& i : state_.calendly_invitees) {
        if (i.event_uuid == event && (status.empty() || i.status == status)) match.push_back(i);
      }
      w.StartObject();
      w.Key("collection");
      w.StartArray();
      const int n = static_cast<int>(match.size());
      for (int k = token; k < n && k < token + count; ++k) {
        const auto& i = match[k];
        const std::string base =
            "https://api.calendly.com/scheduled_events/" + event + "/invitees/";
        w.StartObject();
        Str(w, "uri", base + i.uuid);
        Str(w, "email", i.email);
        Str(w, "name", "Ana");
        Str(w, "status", i.status);
        Str(w, "timezone", "Europe/Lisbon");
        Str(w, "event", "https://api.calendly.com/scheduled_events/" + event);
        Str(w, "created_at", i.created_at);
        Str(w, "updated_at", i.updated_at);
        w.Key("rescheduled");
        w.Bool(i.rescheduled);
        Str(w, "new_invitee", i.new_invitee.empty() ? "" : base + i.new_invitee, true);
        Str(w, "old_invitee", i.old_invitee.empty() ? "" : base + i.old_invitee, true);
        if (i.status == "canceled") {
          w.Key("cancellation");
          w.StartObject();
          Str(w, "canceled_by", "Ana");
          Str(w, "reason", i.rescheduled ? "" : "cannot make it");
          Str(w, "canceler_type", "invitee");
          w.EndObject();
        }
        w.EndObject();
      }
      w.EndArray();
      w.Key("pagination");
      w.StartObject();
      Str(w, "next_page_token", next_cursor(token + count < n, token + count), true);
      w.EndObject();
      w.EndObject();
      Json(res, 200, buf);
    }
    // ---- SavvyCal v1 ----
    else if (path == "/v1/webhooks" && req.method == "GET") {
      w.StartObject();
      w.Key("entries");
      w.StartArray();
      for (const FakeWebhook& h : state_.savvycal_webhooks) SavvyWebhook(w, h);
      w.EndArray();
      w.EndObject();
      return Json(res, 200, buf);
    } else if (path == "/v1/webhooks" && req.method == "POST") {
      FakeWebhook h;
      h.id = "wh_" + std::to_string(state_.next_id++);
      h.url = ReadString(body, "url");
      h.events = ReadStrings(body, "events");
      std::sort(h.events.begin(), h.events.end());
      h.secret = state_.savvycal_issued_secret.empty()
                     ? "whsec_issued_" + std::to_string(state_.next_id++) + "_abcdefghijkl"
                     : state_.savvycal_issued_secret;
      if (h.url.empty()) return Error(res, 422, "url is required");
      state_.savvycal_webhooks.push_back(h);
      SavvyWebhook(w, h);
      return Json(res, 201, buf);
    } else if (path.rfind("/v1/webhooks/", 0) == 0 && req.method == "DELETE") {
      const std::string id = path.substr(13);
      auto& hooks = state_.savvycal_webhooks;
      auto it = std::find_if(hooks.begin(), hooks.end(),
                             [&](const FakeWebhook& h) { return h.id == id; });
      if (it == hooks.end()) return Error(res, 404, "not found");
      hooks.erase(it);
      res.status = 204;
      return;
    } else if (path == "/v1/events" && req.method == "GET") {
      const int limit = std::min(IntParam(req, "limit", 20), 100);
      const int after = cursor("after");
      w.StartObject();
      w.Key("entries");
      w.StartArray();
      // As documented: state confirmed (the default), canceled or all.
      const std::string state = req.has_param("state") ? req.get_param_value("state") : "confirmed";
      std::vector<FakeSavvyEvent> match;
      for (const FakeSavvyEvent& e : state_.savvycal_events) {
        if (state == "all" || e.state == state) match.push_back(e);
      }
      const int n = static_cast<int>(match.size());
      for (int i = after; i < n && i < after + limit; ++i) {
        const FakeSavvyEvent& e = match[i];
        w.StartObject();
        Str(w, "id", e.id);
        Str(w, "state", e.state);
        Str(w, "summary", e.summary);
        Str(w, "start_at", e.start_at);
        Str(w, "end_at", e.end_at);
        Str(w, "created_at", e.created_at);
        Str(w, "canceled_at", e.canceled_at, true);
        Str(w, "rescheduled_at", e.rescheduled_at, true);
        w.Key("attendees");
        w.StartArray();
        w.StartObject();
        Str(w, "display_name", "Ana");
        Str(w, "email", "ana@example.com");
        Str(w, "time_zone", "Europe/Lisbon");
        w.EndObject();
        w.EndArray();
        w.EndObject();
      }
      w.EndArray();
      w.Key("metadata");
      w.StartObject();
      Str(w, "after", next_cursor(after + limit < n, after + limit), true);
      w.Key("limit");
      w.Int(limit);
      w.EndObject();
      w.EndObject();
      Json(res, 200, buf);
    } else {
      return Error(res, 404, "no route " + req.method + " " + path);
    }
  }
  std::function<void(int)> hook;
  {
    std::lock_guard<std::mutex> lock(mu_);
    hook = state_.after_list_page;
  }
  if (list && hook) hook(page);
}

void FakeApis::Handle(const httplib::Request& req, httplib::Response& res) {
  Answer(req, res);
  int trickle_ms = 0;
  bool huge = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    trickle_ms = state_.trickle_ms;
    huge = state_.huge_content_length;
  }
  Hostile(res, trickle_ms, huge);
}

void FakeApis::Hostile(httplib::Response& res, int trickle_ms, bool huge) {
  if (huge) {
    res.body.clear();
    res.set_content_provider(size_t{1} << 40, "application/json",
                             [](size_t, size_t, httplib::DataSink& sink) {
                               sink.write("{\"data\":[", 9);
                               return false;  // and hang up
                             });
  } else if (trickle_ms > 0 && !res.body.empty()) {
    auto body = std::make_shared<std::string>(std::move(res.body));
    res.body.clear();
    res.set_content_provider(body->size(), "application/json",
                             [body, trickle_ms](size_t offset, size_t, httplib::DataSink& sink) {
                               std::this_thread::sleep_for(std::chrono::milliseconds(trickle_ms));
                               return sink.write(body->data() + offset, 1);
                             });
  }
}

}  // namespace bridge::testing
