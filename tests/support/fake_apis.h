#pragma once

// Fake provider APIs for tests, on loopback port 0 (cpp-httplib): Cal.com v2
// (webhooks, bookings), Calendly v2 (users/me, webhook_subscriptions,
// scheduled_events and invitees) and SavvyCal v1 (webhooks, events), from
// their documented request and response shapes, with pagination, and faults
// to switch on: 429 with Retry-After, an expired key, 5xx on a given list
// request, a hook between pages (to change a booking mid-run), and a hostile
// API's answers (paging that never ends, a trickled body, a huge
// Content-Length, errors that reflect the credential and terminal escapes).

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace bridge::testing {

struct FakeWebhook {
  std::string id;
  std::string url;
  std::vector<std::string> events;
  bool active = true;
  std::string secret;  // Cal.com: given; Calendly: the signing key; SavvyCal: issued
  std::string payload_template;
  std::string scope;
};

struct FakeCalBooking {
  std::string uid;
  std::string status = "accepted";  // accepted, pending, cancelled, rejected
  std::string start, end;
  std::string created_at, updated_at;
  std::string title = "Intro call";
  std::string rescheduled_to, rescheduled_from;
  std::string attendee_email = "ana@example.com";
};

struct FakeCalendlyEvent {
  std::string uuid;
  std::string status = "active";
  std::string start, end, created_at, updated_at;
  std::string name = "30 Minute Meeting";
};

struct FakeCalendlyInvitee {
  std::string uuid;
  std::string event_uuid;
  std::string status = "active";  // active, canceled
  std::string created_at, updated_at;
  std::string email = "ana@example.com";
  bool rescheduled = false;
  std::string new_invitee, old_invitee;  // uuids
};

struct FakeSavvyEvent {
  std::string id;
  std::string state = "confirmed";
  std::string start_at, end_at, created_at;
  std::string canceled_at, rescheduled_at;  // "" = null
  std::string summary = "Coffee chat";
};

class FakeApis {
 public:
  /// On `port` (0: a free one).
  explicit FakeApis(std::string api_key = "test-api-key-0123456789", int port = 0);
  ~FakeApis();
  FakeApis(const FakeApis&) = delete;
  FakeApis& operator=(const FakeApis&) = delete;

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  const std::string& api_key() const { return api_key_; }
  static constexpr const char* kCalendlyOrg = "https://api.calendly.com/organizations/ORG1";

  // State, read and written under the lock by the tests.
  struct State {
    std::vector<FakeWebhook> calcom_webhooks, calendly_subscriptions, savvycal_webhooks;
    std::vector<FakeCalBooking> calcom_bookings;
    std::vector<FakeCalendlyEvent> calendly_events;
    std::vector<FakeCalendlyInvitee> calendly_invitees;
    std::vector<FakeSavvyEvent> savvycal_events;
    std::string savvycal_issued_secret;  // what SavvyCal issues ("": a fresh good one)
    bool key_expired = false;
    int rate_limited_requests = 0;  // the next N requests answer 429
    std::string retry_after = "1";
    /// List request number (1-based, bookings/events/invitees) → 5xx answers still to give.
    std::map<int, int> fail_list_request;
    /// Called (unlocked) after a list page was answered, with its number.
    std::function<void(int)> after_list_page;
    int list_requests = 0;
    std::vector<std::string> requests;  // "METHOD target" of every request
    int next_id = 100;
    // ---- a hostile API ----
    /// Lists ignore their cursor (skip, page_token, after): the first page
    /// again, always announcing more (a fresh token each time).
    bool ignore_cursor = false;
    /// Lists always give the same next cursor (Calendly's next_page_token,
    /// SavvyCal's metadata.after).
    bool repeat_cursor = false;
    /// Every answer's body comes one byte per this many ms (0: at once).
    int trickle_ms = 0;
    /// Every answer announces a Content-Length of 1 TiB and sends a few bytes.
    bool huge_content_length = false;
    /// Every request is answered 400 with a message echoing the
    /// Authorization header, a bearer token, a key= value and terminal escapes.
    bool reflect = false;
    int fresh_cursor = 1000;
  };
  /// Runs `f` with the state locked.
  void With(const std::function<void(State&)>& f);
  State Snapshot();

 private:
  void Handle(const httplib::Request& req, httplib::Response& res);
  void Answer(const httplib::Request& req, httplib::Response& res);
  bool Guard(const httplib::Request& req, httplib::Response& res, bool list);
  /// The hostile answer faults, applied to an answer made.
  static void Hostile(httplib::Response& res, int trickle_ms, bool huge);

  std::string api_key_;
  std::mutex mu_;
  State state_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

/// Requests that were not GETs (creates, updates, deletes).
size_t Writes(const FakeApis::State& state);

}  // namespace bridge::testing
