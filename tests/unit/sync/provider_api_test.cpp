// The provider-API layer against fake API servers (tests/support/fake_apis):
// retries (429 with Retry-After, 5xx), credentials, pagination, a booking
// changed between pages, subscriptions planned and applied (twice: the
// second changes nothing), secret rotation, and the reconcile comparison.

#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <thread>

#include "bridge/commands/reconcile.h"
#include "bridge/commands/subscriptions.h"
#include "bridge/config/config.h"
#include "bridge/model/time.h"
#include "bridge/providers/api_support.h"
#include "bridge/providers/registry.h"
#include "bridge/sync/reconcile.h"
#include "bridge/sync/source_api.h"
#include "bridge/sync/subscriptions.h"
#include "bridge/util/clock.h"
#include "bridge/util/files.h"
#include "bridge/util/json.h"
#include "fake_apis.h"
#include "support.h"

namespace bridge {
namespace {

using testing::FakeApis;
using testing::FakeCalBooking;
using testing::FakeCalendlyInvitee;
using testing::FakeSavvyEvent;
using testing::FakeWebhook;

/// A session on the fake, recording the waits instead of sleeping.
struct Client {
  explicit Client(FakeApis& fake, std::string provider, std::string key = {},
                  std::chrono::milliseconds request_deadline = kRequestDeadline,
                  const std::function<void(RetryPolicy&)>& adjust = {}) {
    std::string error;
    transport = MakeHttpTransport(fake.url(), std::chrono::seconds(5), error, request_deadline);
    RetryPolicy policy;
    policy.max_attempts = 4;
    // Waits are recorded, and the clock the run deadline reads moves by them.
    policy.sleep = [this](std::chrono::milliseconds d) { waits.push_back(d); };
    policy.now = [this] {
      auto t = std::chrono::steady_clock::now();
      for (auto w : waits) t += w;
      return t;
    };
    if (adjust) adjust(policy);
    session = std::make_unique<ApiSession>(
        *transport, provider, "Bearer " + (key.empty() ? fake.api_key() : key), policy);
    normalizer = ProviderRegistry::BuiltIn().Find(provider);
    api = MakeProviderApi(provider, *session, *normalizer);
  }
  std::unique_ptr<HttpTransport> transport;
  std::unique_ptr<ApiSession> session;
  std::unique_ptr<ProviderApi> api;
  const Provider* normalizer = nullptr;
  std::vector<std::chrono::milliseconds> waits;
};

std::string Iso(int minutes) {
  // Minutes after 2026-12-01T00:00:00Z.
  const int64_t base = 1796083200000LL;
  return FormatTimestamp(FromUnixMillis(base + int64_t{minutes} * 60000));
}

TEST(ApiSession, WaitsAsRetryAfterSaysOn429) {
  FakeApis fake;
  fake.With([](FakeApis::State& s) {
    s.rate_limited_requests = 2;
    s.retry_after = "3";
  });
  Client c(fake, "calcom");
  EXPECT_NO_THROW(c.api->ListSubscriptions());
  ASSERT_EQ(c.waits.size(), 2u);
  EXPECT_EQ(c.waits[0], std::chrono::seconds(3));
  EXPECT_EQ(c.session->stats().rate_limited, 2);
  EXPECT_EQ(c.session->stats().requests, 3);
}

/// Answers every request with a fresh JSON body of about `bytes` bytes.
class BigAnswers final : public HttpTransport {
 public:
  explicit BigAnswers(size_t bytes) : bytes_(bytes) {}
  HttpResponse Send(const HttpRequest&) override {
    HttpResponse r;
    r.status = 200;
    r.body = R"({"n":)" + std::to_string(++sent) + R"(,"pad":")" + std::string(bytes_, 'x') + "\"}";
    return r;
  }
  int sent = 0;

 private:
  size_t bytes_;
};

// Each answer is capped, and so is their sum in one run: what a listing keeps
// from page to page cannot grow without bound.
TEST(ApiSession, TheAnswersOfOneRunAreBoundedInAll) {
  BigAnswers transport(4 << 20);
  ApiSession session(transport, "calcom", "Bearer k");
  try {
    for (int i = 0; i < 100; ++i) session.Call("GET", "/v2/bookings?skip=" + std::to_string(i));
    ADD_FAILURE() << "400 MiB of answers were read";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.kind(), ApiError::Kind::kBadResponse);
    EXPECT_NE(std::string(e.what()).find("MiB in this run"), std::string::npos) << e.what();
  }
  EXPECT_LE(transport.sent, static_cast<int>(kMaxRunResponseBytes / (4 << 20)) + 1);
}

TEST(ApiSession, AFarFutureRetryAfterDateIsALongWaitNotNone) {
  const auto now = std::chrono::system_clock::now();
  const auto wait = ParseRetryAfter("Fri, 31 Dec 9999 23:59:59 GMT", now);
  ASSERT_TRUE(wait);
  EXPECT_GE(*wait, std::chrono::hours(24));
}

TEST(ApiSession, RetryAfterAsAnHttpDate) {
  const auto now = std::chrono::system_clock::from_time_t(1796083200);  // 2026-12-01T00:00:00Z
  EXPECT_EQ(ParseRetryAfter("Tue, 01 Dec 2026 00:00:07 GMT", now), std::chrono::seconds(7));
  EXPECT_EQ(ParseRetryAfter("12", now), std::chrono::seconds(12));
  EXPECT_FALSE(ParseRetryAfter("soon", now));
  EXPECT_FALSE(ParseRetryAfter("", now));
}

TEST(ApiSession, AnExpiredKeyIsACredentialErrorAtOnceAndNeverEchoesTheKey) {
  FakeApis fake;
  fake.With([](FakeApis::State& s) { s.key_expired = true; });
  Client c(fake, "calcom");
  try {
    c.api->ListSubscriptions();
    FAIL() << "no error";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.kind(), ApiError::Kind::kCredentials);
    EXPECT_NE(std::string(e.what()).find("expired"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("api_key_file"), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find(fake.api_key()), std::string::npos);
  }
  EXPECT_EQ(c.session->stats().requests, 1);
  EXPECT_TRUE(c.waits.empty());
}

TEST(ApiSession, ServerErrorsAreRetriedThenGivenUp) {
  FakeApis fake;
  fake.With([](FakeApis::State& s) { s.fail_list_request[1] = 2; });
  Client c(fake, "calcom");
  int seen = 0;
  BookingWindow window{0, UnixMillis(*ParseTimestamp(Iso(100000))), 0, 100};
  EXPECT_NO_THROW(c.api->ListBookings(
      window, "default", [&](ApiBooking) { ++seen; }, [](const ListProgress&) {}));
  EXPECT_EQ(c.session->stats().server_errors, 2);
  EXPECT_EQ(c.waits.size(), 2u);

  fake.With([](FakeApis::State& s) {
    s.list_requests = 0;
    s.fail_list_request[1] = 100;
  });
  Client again(fake, "calcom");
  try {
    again.api->ListBookings(
        window, "default", [&](ApiBooking) {}, [](const ListProgress&) {});
    FAIL() << "no error";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.kind(), ApiError::Kind::kFailed);
    EXPECT_NE(std::string(e.what()).find("HTTP 503"), std::string::npos) << e.what();
  }
  EXPECT_EQ(again.session->stats().requests, 4);  // max_attempts
}

TEST(CalcomApi, PagesThroughEveryBookingAndSeesOneChangedBetweenPagesOnceInItsLatestState) {
  FakeApis fake;
  fake.With([](FakeApis::State& s) {
    for (int i = 0; i < 250; ++i) {
      testing::FakeCalBooking b;
      b.uid = "bk" + std::to_string(i);
      b.start = Iso(10000 + i);
      b.end = Iso(10030 + i);
      b.created_at = Iso(i);
      b.updated_at = Iso(i);
      s.calcom_bookings.push_back(b);
    }
    // After the first page, bk3 (already read) is cancelled: it moves to the
    // end of the updatedAt order. Paging by number would skip a booking here.
    s.after_list_page = nullptr;
  });
  fake.With([&fake](FakeApis::State& s) {
    s.after_list_page = [&fake](int page) {
      if (page != 1) return;
      fake.With([](FakeApis::State& st) {
        st.calcom_bookings[3].status = "cancelled";
        st.calcom_bookings[3].updated_at = Iso(400);
      });
    };
  });
  Client c(fake, "calcom");
  std::map<std::string, std::vector<std::string>> seen;  // uid → event types, in order
  ListProgress last;
  BookingWindow window{0, UnixMillis(*ParseTimestamp(Iso(500))), 0, 100};
  c.api->ListBookings(
      window, "default",
      [&](ApiBooking b) { seen[b.event.booking->uid].push_back(b.event.event_type); },
      [&](const ListProgress& p) { last = p; });
  EXPECT_EQ(seen.size(), 250u);
  EXPECT_GE(last.pages, 3);
  ASSERT_EQ(seen["calcom:bk3"].size(), 2u);
  EXPECT_EQ(seen["calcom:bk3"].back(), "booking.canceled");
  // Every request asked for at most 100 and carried the API version.
  for (const std::string& r : fake.Snapshot().requests) {
    if (r.find("/v2/bookings") != std::string::npos) {
      EXPECT_NE(r.find("take=100"), std::string::npos) << r;
    }
  }
}

TEST(CalcomApi, MapsApiStatesToTheCanonicalEvents) {
  FakeApis fake;
  fake.With([](FakeApis::State& s) {
    const std::vector<std::pair<std::string, std::string>> states = {{"a", "accepted"},
                                                                     {"p", "pending"},
                                                                     {"c", "cancelled"},
                                                                     {"r", "rejected"},
                                                                     {"old", "cancelled"}};
    int i = 0;
    for (const auto& [uid, status] : states) {
      testing::FakeCalBooking b;
      b.uid = uid;
      b.status = status;
      b.start = Iso(1000);
      b.end = Iso(1030);
      b.created_at = b.updated_at = Iso(++i);
      if (uid == "old") b.rescheduled_to = "a";
      s.calcom_bookings.push_back(b);
    }
    s.calcom_bookings[0].rescheduled_from = "old";
  });
  Client c(fake, "calcom");
  std::map<std::string, CanonicalEvent> got;
  c.api->ListBookings(
      BookingWindow{0, UnixMillis(*ParseTimestamp(Iso(100000))), 0, 100}, "default",
      [&](ApiBooking b) { got[b.event.booking->uid] = b.event; }, [](const ListProgress&) {});
  EXPECT_EQ(got["calcom:a"].event_type, "booking.created");
  EXPECT_EQ(got["calcom:a"].booking->previous_uid, "calcom:old");
  EXPECT_EQ(got["calcom:p"].event_type, "booking.requested");
  EXPECT_EQ(got["calcom:c"].event_type, "booking.canceled");
  EXPECT_EQ(got["calcom:r"].event_type, "booking.rejected");
  EXPECT_EQ(got["calcom:old"].event_type, "booking.rescheduled");
  EXPECT_EQ(got["calcom:old"].booking->rescheduled_to_uid, "calcom:a");
  EXPECT_EQ(got["calcom:a"].booking->start_time, Iso(1000));
  ASSERT_FALSE(got["calcom:a"].booking->attendees.empty());
  EXPECT_EQ(got["calcom:a"].booking->attendees[0].email, "ana@example.com");
}

TEST(CalendlyApi, ReadsInviteesOfEveryEventAcrossPagesWithinTheWindow) {
  FakeApis fake;
  fake.With([](FakeApis::State& s) {
    for (int e = 0; e < 5; ++e) {
      s.calendly_events.push_back({"EV" + std::to_string(e), "active", Iso(2000 + e * 60),
                                   Iso(2030 + e * 60), Iso(e), Iso(e)});
      for (int i = 0; i < 3; ++i) {
        testing::FakeCalendlyInvitee inv;
        inv.uuid = "INV" + std::to_string(e) + std::to_string(i);
        inv.event_uuid = "EV" + std::to_string(e);
        inv.created_at = inv.updated_at = Iso(10 + e * 3 + i);
        s.calendly_invitees.push_back(inv);
      }
    }
    // One rescheduled (old invitee canceled, pointing at a new one), one outside the window.
    s.calendly_invitees[0].status = "canceled";
    s.calendly_invitees[0].rescheduled = true;
    s.calendly_invitees[0].new_invitee = "INV01";
    s.calendly_invitees[14].updated_at = Iso(900);
    // A plain cancellation: the event and its invitee canceled.
    s.calendly_events[2].status = "canceled";
    s.calendly_invitees[6].status = "canceled";
  });
  Client c(fake, "calendly");
  std::map<std::string, CanonicalEvent> got;
  BookingWindow window{UnixMillis(*ParseTimestamp(Iso(0))), UnixMillis(*ParseTimestamp(Iso(100))),
                       30LL * 86400000, 2};
  c.api->ListBookings(
      window, "default", [&](ApiBooking b) { got[b.event.booking->uid] = b.event; },
      [](const ListProgress&) {});
  EXPECT_EQ(got.size(), 14u);
  EXPECT_FALSE(got.count("calendly:INV42"));
  EXPECT_EQ(got["calendly:INV00"].event_type, "booking.rescheduled");
  EXPECT_EQ(got["calendly:INV10"].event_type, "booking.created");
  EXPECT_EQ(got["calendly:INV10"].booking->start_time, Iso(2060));
  // The fake lists canceled events only when not filtered by status, as Calendly does.
  EXPECT_EQ(got["calendly:INV20"].event_type, "booking.canceled");
  int with_token = 0;
  for (const std::string& r : fake.Snapshot().requests)
    with_token += r.find("page_token=") != std::string::npos;
  EXPECT_GE(with_token, 2);  // 5 events in pages of 2
}

// SavvyCal lists confirmed events only unless asked for every state (the
// fake does the same): a cancellation whose webhook was lost is still seen.
TEST(SavvyCalApi, SeesChangesOnlyThroughCreatedCanceledAndRescheduledTimes) {
  FakeApis fake;
  fake.With([](FakeApis::State& s) {
    for (int i = 0; i < 5; ++i) {
      testing::FakeSavvyEvent e;
      e.id = "ev" + std::to_string(i);
      e.start_at = Iso(5000 + i * 60);
      e.end_at = Iso(5030 + i * 60);
      e.created_at = Iso(i);
      s.savvycal_events.push_back(e);
    }
    s.savvycal_events[1].state = "canceled";
    s.savvycal_events[1].canceled_at = Iso(50);
    s.savvycal_events[2].rescheduled_at = Iso(60);
    s.savvycal_events[3].created_at = Iso(-500);  // before the window, unchanged since
  });
  Client c(fake, "savvycal");
  std::map<std::string, ApiBooking> got;
  BookingWindow window{UnixMillis(*ParseTimestamp(Iso(0))), UnixMillis(*ParseTimestamp(Iso(100))),
                       0, 2};
  c.api->ListBookings(
      window, "default", [&](ApiBooking b) { got[b.event.booking->uid] = b; },
      [](const ListProgress&) {});
  EXPECT_EQ(got.size(), 4u);
  EXPECT_EQ(got["savvycal:ev1"].event.event_type, "booking.canceled");
  EXPECT_EQ(got["savvycal:ev1"].changed_at, Iso(50));
  EXPECT_EQ(got["savvycal:ev2"].event.event_type, "booking.rescheduled");
  EXPECT_EQ(got["savvycal:ev0"].event.event_type, "booking.created");
}

// ---- subscriptions ----

SubscriptionTarget Target(const Client& c, const std::string& url, const std::string& secret) {
  return SubscriptionTarget{url, SubscribedEvents(*c.api, *c.normalizer), secret};
}

TEST(Subscriptions, SourcesAreNamedAsEveryCommandNamesThem) {
  Config config;
  config.sources = {{"calcom", "team-a"}, {"calendly", "default"}, {"calendly", "team-b"}};
  std::string error;
  // A provider with one source: that one.
  auto one = SelectSources(config, "calcom", error);
  ASSERT_EQ(one.size(), 1u) << error;
  EXPECT_EQ(one[0]->name, "team-a");
  // A provider's default source, by the provider's name; a name; provider/name.
  EXPECT_EQ(SelectSources(config, "calendly", error).at(0)->name, "default");
  EXPECT_EQ(SelectSources(config, "team-b", error).at(0)->provider, "calendly");
  EXPECT_EQ(SelectSources(config, "calendly/team-b", error).size(), 1u);
  // Nothing matching: the error says how to name one, and lists them.
  EXPECT_TRUE(SelectSources(config, "savvycal", error).empty());
  EXPECT_NE(error.find("name one as provider/name, or by its name (configured: calcom/team-a, "
                       "calendly/default, calendly/team-b)"),
            std::string::npos)
      << error;
  config.sources.push_back({"calcom", "team-c"});
  EXPECT_TRUE(SelectSources(config, "calcom", error).empty());
  EXPECT_NE(error.find("names several sources (calcom/team-a, calcom/team-c)"), std::string::npos)
      << error;
}

// One list: apply subscribes every trigger the normalizer maps that the API
// offers. For Calendly that is every event of the README's table but
// user.updated (not offered by Calendly's subscription API).
TEST(Subscriptions, CalendlySubscribesEveryEventTheReadmeTableNamesThatTheApiOffers) {
  FakeApis fake;
  Client c(fake, "calendly");
  const std::vector<std::string> subscribed = SubscribedEvents(*c.api, *c.normalizer);
  const std::string readme = testing::ReadFile(std::string(SCHEDBRIDGE_SOURCE_DIR) + "/README.md");
  const size_t section = readme.find("### Calendly");
  const std::string table = readme.substr(section, readme.find("\n### ", section + 1) - section);
  size_t named = 0;
  for (const std::string& trigger : c.normalizer->Triggers()) {
    // Named whole, or abbreviated in a row: `invitee_no_show.created` / `.deleted`.
    const size_t dot = trigger.rfind('.');
    const std::string row_start = "| `" + trigger.substr(0, dot + 1);
    const size_t row = table.find(row_start);
    const std::string line =
        row == std::string::npos ? "" : table.substr(row, table.find('\n', row) - row);
    const bool in_table = table.find("`" + trigger + "`") != std::string::npos ||
                          line.find("`" + trigger.substr(dot) + "`") != std::string::npos;
    EXPECT_TRUE(in_table) << trigger << " is not in the README's Calendly table";
    const bool is_subscribed =
        std::find(subscribed.begin(), subscribed.end(), trigger) != subscribed.end();
    EXPECT_EQ(is_subscribed, trigger != "user.updated") << trigger;
    named += in_table;
  }
  EXPECT_EQ(subscribed.size(), 8u);
  EXPECT_EQ(named, c.normalizer->Triggers().size());
}

TEST(Subscriptions, CalcomApplyCreatesEverythingOnceAndTheSecondRunChangesNothing) {
  FakeApis fake;
  fake.With([](FakeApis::State& s) {
    s.calcom_webhooks.push_back(
        {"7", "https://zapier.example/hook", {"BOOKING_CREATED"}, true, "", "", ""});
  });
  Client c(fake, "calcom");
  const SubscriptionTarget target =
      Target(c, "https://hooks.example.com/webhooks/calcom", "current-secret-1234");
  std::ostringstream out;
  SubscriptionPlan plan = PlanSubscription(*c.api, target, c.api->ListSubscriptions(), {});
  ASSERT_EQ(plan.changes.size(), 1u);
  EXPECT_EQ(plan.changes[0].kind, SubscriptionChange::Kind::kCreate);
  EXPECT_EQ(plan.others.size(), 1u);
  ApplyPlan(*c.api, plan, "", out);

  auto state = fake.Snapshot();
  ASSERT_EQ(state.calcom_webhooks.size(), 2u);
  const testing::FakeWebhook& made = state.calcom_webhooks[1];
  EXPECT_EQ(made.url, target.url);
  EXPECT_EQ(made.secret, "current-secret-1234");
  EXPECT_TRUE(made.payload_template.empty());
  EXPECT_TRUE(made.active);
  EXPECT_NE(std::find(made.events.begin(), made.events.end(), "BOOKING_CANCELLED"),
            made.events.end());
  EXPECT_NE(std::find(made.events.begin(), made.events.end(), "MEETING_ENDED"), made.events.end());
  // The normalizer also maps BOOKING_CONFIRMED, but the API refuses it.
  EXPECT_EQ(std::find(made.events.begin(), made.events.end(), "BOOKING_CONFIRMED"),
            made.events.end());

  const size_t writes = testing::Writes(fake.Snapshot());
  SubscriptionPlan again = PlanSubscription(*c.api, target, c.api->ListSubscriptions(), {});
  EXPECT_TRUE(again.in_sync()) << DescribePlan(again);
  ApplyPlan(*c.api, again, "", out);
  EXPECT_EQ(testing::Writes(fake.Snapshot()), writes);                               // listed only
  EXPECT_EQ(fake.Snapshot().calcom_webhooks[0].url, "https://zapier.example/hook");  // left alone
}

TEST(Subscriptions, ListsEveryPageEvenWhenTheApiCapsThePageSize) {
  FakeApis fake;  // answers at most 50 webhooks per page, whatever `take` asks
  fake.With([](FakeApis::State& s) {
    for (int i = 0; i < 120; ++i) {
      s.calcom_webhooks.push_back({std::to_string(i + 1),
                                   "https://other.example/" + std::to_string(i),
                                   {"BOOKING_CREATED"},
                                   true,
                                   "",
                                   "",
                                   ""});
    }
  });
  Client c(fake, "calcom");
  EXPECT_EQ(c.api->ListSubscriptions().size(), 120u);
}

TEST(Reconcile, AFailedRunSaysSoFirstAndItsSummarySaysItFailed) {
  ReconcileSummary summary;
  summary.provider = "savvycal";
  summary.source = "default";
  summary.dry_run = true;
  summary.error = "savvycal API GET /v1/events answered HTTP 500. Nothing was published.";
  summary.outcome = SyncOutcome::kFailed;
  const std::string text = summary.Text();
  EXPECT_EQ(text.rfind("reconcile failed: savvycal API GET /v1/events answered HTTP 500.", 0), 0u)
      << text;
  EXPECT_NE(text.find("\nreconcile savvycal/default FAILED: 0 booking(s)"), std::string::npos)
      << text;
  summary.error.clear();
  summary.outcome = SyncOutcome::kDone;
  EXPECT_EQ(summary.Text().rfind("reconcile savvycal/default: 0 booking(s)", 0), 0u);
}

TEST(Reconcile, MetricsForAPushgatewayOrATextfile) {
  ReconcileSummary summary;
  summary.provider = "calcom";
  summary.source = "sales";
  summary.api_bookings = 7;
  summary.published = 2;
  summary.api.retries = 3;
  const std::string text = ReconcileMetricsText(summary, 1796083200);
  for (const char* line :
       {"schedbridge_reconcile_success 1\n", "schedbridge_reconcile_bookings 7\n",
        "schedbridge_reconcile_published_events 2\n", "schedbridge_reconcile_api_retries 3\n",
        "schedbridge_reconcile_last_run_timestamp_seconds 1796083200\n"}) {
    EXPECT_NE(text.find(line), std::string::npos) << line << " in\n" << text;
  }
  // The Pushgateway API: PUT /metrics/job/<job>/<label>/<value>, text format.
  httplib::Server gateway;
  std::string path, body;
  gateway.Put(R"(/metrics/.*)", [&](const httplib::Request& req, httplib::Response& res) {
    path = req.path;
    body = req.body;
    res.status = 200;
  });
  const int port = gateway.bind_to_any_port("127.0.0.1");
  std::thread t([&] { gateway.listen_after_bind(); });
  gateway.wait_until_ready();
  EXPECT_EQ(PushMetrics("http://127.0.0.1:" + std::to_string(port), summary, text), "");
  gateway.stop();
  t.join();
  EXPECT_EQ(path, "/metrics/job/schedbridge_reconcile/source/calcom_sales");
  EXPECT_EQ(body, text);
  summary.outcome = SyncOutcome::kFailed;
  EXPECT_NE(ReconcileMetricsText(summary, 0).find("schedbridge_reconcile_success 0\n"),
            std::string::npos);
  EXPECT_NE(PushMetrics("http://127.0.0.1:" + std::to_string(port), summary, text), "");  // gone
}

TEST(Subscriptions, CalcomDriftIsFixedInPlaceAndDuplicatesDeleted) {
  FakeApis fake;
  const std::string url = "https://hooks.example.com/webhooks/calcom/sales";
  fake.With([&](FakeApis::State& s) {
    s.calcom_webhooks.push_back(
        {"1", url, {"BOOKING_CREATED"}, false, "old-secret-123456", "{\"x\":1}", ""});
    s.calcom_webhooks.push_back(
        {"2", url, {"BOOKING_CREATED"}, true, "current-secret-1234", "", ""});
  });
  Client c(fake, "calcom");
  const SubscriptionTarget target = Target(c, url, "current-secret-1234");
  SubscriptionPlan plan = PlanSubscription(*c.api, target, c.api->ListSubscriptions(), {});
  ASSERT_EQ(plan.changes.size(), 2u);
  EXPECT_EQ(plan.changes[0].kind, SubscriptionChange::Kind::kUpdate);
  const std::string text = DescribePlan(plan);
  for (const char* part :
       {"events +", "inactive", "payload template", "secret", "delete duplicate 2"}) {
    EXPECT_NE(text.find(part), std::string::npos) << part << " in\n" << text;
  }
  EXPECT_EQ(text.find("old-secret"), std::string::npos) << "a secret was printed";
  std::ostringstream out;
  ApplyPlan(*c.api, plan, "", out);
  auto state = fake.Snapshot();
  ASSERT_EQ(state.calcom_webhooks.size(), 1u);
  EXPECT_EQ(state.calcom_webhooks[0].id, "1");
  EXPECT_TRUE(state.calcom_webhooks[0].active);
  EXPECT_TRUE(state.calcom_webhooks[0].payload_template.empty());
  EXPECT_EQ(state.calcom_webhooks[0].secret, "current-secret-1234");
  EXPECT_TRUE(PlanSubscription(*c.api, target, c.api->ListSubscriptions(), {}).in_sync());
}

/// The documented rotation: the new secret goes first in the secret file (the
/// old one kept after it, so the service accepts both), apply gives the
/// provider the new one, then the old line is dropped.
TEST(Subscriptions, SecretRotationFlowForCalcom) {
  FakeApis fake;
  const std::string dir = testing::TempDir("rotation");
  const std::string file = dir + "/calcom.secret";
  std::ofstream(file) << "old-secret-0123456789\n";
  Client c(fake, "calcom");
  const std::string url = "https://hooks.example.com/webhooks/calcom";
  const auto apply = [&] {
    const std::vector<std::string> secrets = ReadSecretFile(file);
    SubscriptionPlan plan =
        PlanSubscription(*c.api, Target(c, url, secrets.front()), c.api->ListSubscriptions(), {});
    std::ostringstream out;
    ApplyPlan(*c.api, plan, file, out);
    return plan;
  };
  apply();
  EXPECT_EQ(fake.Snapshot().calcom_webhooks.at(0).secret, "old-secret-0123456789");

  std::ofstream(file) << "new-secret-9876543210\nold-secret-0123456789\n";
  SubscriptionPlan rotated = apply();
  ASSERT_EQ(rotated.changes.size(), 1u);
  EXPECT_NE(DescribePlan(rotated).find("secret is not the source's current secret"),
            std::string::npos);
  EXPECT_EQ(fake.Snapshot().calcom_webhooks.at(0).secret, "new-secret-9876543210");

  // Meanwhile the service verifies either secret.
  SourceConfig source{"calcom", "default", ReadSecretFile(file)};
  const std::string body =
      R"({"triggerEvent":"PING","createdAt":"2026-11-30T00:00:00Z","payload":{}})";
  for (const std::string secret : {"old-secret-0123456789", "new-secret-9876543210"}) {
    Headers h;
    h.Add("X-Cal-Signature-256", testing::HmacSha256Hex(secret, body));
    SystemClock clock;
    EXPECT_TRUE(ProviderRegistry::BuiltIn()
                    .Find("calcom")
                    ->Verify(Delivery{body, &h, {}}, source, clock)
                    .ok());
  }
  std::ofstream(file) << "new-secret-9876543210\n";
  EXPECT_TRUE(apply().in_sync());
}

TEST(Subscriptions, CalendlyMovesAUserScopedSubscriptionToOrganizationScope) {
  FakeApis fake;
  const std::string url = "https://hooks.example.com/webhooks/calendly";
  fake.With([&](FakeApis::State& s) {
    s.calendly_subscriptions.push_back(
        {"SUBU", url, {"invitee.created"}, true, "k-0123456789abc", "", "user"});
  });
  Client c(fake, "calendly");
  SubscriptionPlan plan =
      PlanSubscription(*c.api, Target(c, url, "k-0123456789abc"), c.api->ListSubscriptions(), {});
  ASSERT_EQ(plan.changes.size(), 1u) << DescribePlan(plan);
  EXPECT_EQ(plan.changes[0].kind, SubscriptionChange::Kind::kRecreate);
  EXPECT_NE(DescribePlan(plan).find("scope user"), std::string::npos);
  std::ostringstream out;
  ApplyPlan(*c.api, plan, "", out);
  auto state = fake.Snapshot();
  ASSERT_EQ(state.calendly_subscriptions.size(), 1u);
  EXPECT_EQ(state.calendly_subscriptions[0].scope, "organization");
  EXPECT_EQ(state.calendly_subscriptions[0].events.size(), 8u);
}

TEST(Subscriptions, CalendlyHasNoUpdateSoTheSigningKeyIsSentByRecreating) {
  FakeApis fake;
  Client c(fake, "calendly");
  const std::string url = "https://hooks.example.com/webhooks/calendly";
  std::ostringstream out;
  ApplyPlan(*c.api,
            PlanSubscription(*c.api, Target(c, url, "first-key-0123456789"),
                             c.api->ListSubscriptions(), {}),
            "", out);
  auto state = fake.Snapshot();
  ASSERT_EQ(state.calendly_subscriptions.size(), 1u);
  EXPECT_EQ(state.calendly_subscriptions[0].scope, "organization");
  EXPECT_EQ(state.calendly_subscriptions[0].secret, "first-key-0123456789");
  EXPECT_NE(
      std::find(state.calendly_subscriptions[0].events.begin(),
                state.calendly_subscriptions[0].events.end(), "routing_form_submission.created"),
      state.calendly_subscriptions[0].events.end());
  // The key is write-only: a rotation cannot be seen, only asked for.
  const SubscriptionTarget rotated = Target(c, url, "second-key-0123456789");
  EXPECT_TRUE(PlanSubscription(*c.api, rotated, c.api->ListSubscriptions(), {}).in_sync());
  SubscriptionPlan plan = PlanSubscription(*c.api, rotated, c.api->ListSubscriptions(), {true, {}});
  ASSERT_EQ(plan.changes.size(), 1u);
  EXPECT_EQ(plan.changes[0].kind, SubscriptionChange::Kind::kRecreate);
  ApplyPlan(*c.api, plan, "", out);
  state = fake.Snapshot();
  ASSERT_EQ(state.calendly_subscriptions.size(), 1u);
  EXPECT_EQ(state.calendly_subscriptions[0].secret, "second-key-0123456789");
}

// The API chooses the issued secret: one serve would refuse, or one that
// forges lines in the file, is refused and the file left as it was.
TEST(Subscriptions, AnUnusableIssuedSecretIsRefusedAndTheFileKept) {
  for (const std::string& bad : {std::string("abc"), std::string("short-evil-1\ncd\n\x1b[31mx")}) {
    FakeApis fake;
    fake.With([&](FakeApis::State& s) { s.savvycal_issued_secret = bad; });
    const std::string file = testing::TempDir("savvy-bad") + "/savvycal.secret";
    std::ofstream(file) << "existing-good-secret-123456\n";
    Client c(fake, "savvycal");
    std::ostringstream out;
    const SubscriptionPlan plan =
        PlanSubscription(*c.api, Target(c, "https://hooks.example.com/webhooks/savvycal", ""),
                         c.api->ListSubscriptions(), {});
    try {
      ApplyPlan(*c.api, plan, file, out);
      ADD_FAILURE() << "an unusable issued secret was stored";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("not usable"), std::string::npos) << e.what();
    }
    EXPECT_EQ(ReadSecretFile(file), std::vector<std::string>{"existing-good-secret-123456"});
  }
}

TEST(Subscriptions, SavvyCalIssuesTheSecretAndApplyStoresItFirstInTheSourceFile) {
  FakeApis fake;
  const std::string file = testing::TempDir("savvy") + "/savvycal.secret";
  Client c(fake, "savvycal");
  const std::string url = "https://hooks.example.com/webhooks/savvycal";
  std::ostringstream out;
  SubscriptionPlan plan =
      PlanSubscription(*c.api, Target(c, url, ""), c.api->ListSubscriptions(), {});
  ApplyPlan(*c.api, plan, file, out);
  const std::string issued = fake.Snapshot().savvycal_webhooks.at(0).secret;
  EXPECT_EQ(ReadSecretFile(file), std::vector<std::string>{issued});
  EXPECT_TRUE(PlanSubscription(*c.api, Target(c, url, issued), c.api->ListSubscriptions(),
                               {false, ReadSecretFile(file)})
                  .in_sync());
  // A file that lost the secret gets it back without touching the webhook.
  std::ofstream(file) << "something-else-0123456\n";
  plan = PlanSubscription(*c.api, Target(c, url, "something-else-0123456"),
                          c.api->ListSubscriptions(), {false, ReadSecretFile(file)});
  ASSERT_EQ(plan.changes.size(), 1u);
  EXPECT_EQ(plan.changes[0].kind, SubscriptionChange::Kind::kStoreSecret);
  ApplyPlan(*c.api, plan, file, out);
  EXPECT_EQ(ReadSecretFile(file), (std::vector<std::string>{issued, "something-else-0123456"}));
  // Rotation: a new webhook, a new issued secret first, the old one kept.
  plan = PlanSubscription(*c.api, Target(c, url, issued), c.api->ListSubscriptions(),
                          {true, ReadSecretFile(file)});
  ApplyPlan(*c.api, plan, file, out);
  const std::string renewed = fake.Snapshot().savvycal_webhooks.at(0).secret;
  EXPECT_NE(renewed, issued);
  EXPECT_EQ(ReadSecretFile(file).front(), renewed);
  EXPECT_EQ(ReadSecretFile(file).at(1), issued);
  EXPECT_EQ(fake.Snapshot().savvycal_webhooks.size(), 1u);
}

// ---- the reconcile comparison ----

ApiBooking Booked(const std::string& uid, const std::string& type, const std::string& status,
                  const std::string& start, const std::string& changed) {
  ApiBooking b;
  b.event.event_type = type;
  b.event.provider = "calcom";
  b.event.source = "default";
  b.event.received_at = Iso(100);
  b.event.booking.emplace();
  b.event.booking->uid = uid;
  b.event.booking->status = status;
  b.event.booking->start_time = start;
  b.changed_at = changed;
  return b;
}

TEST(Reconcile, PublishesOnlyTheStatesTheTopicLacksWithStableIds) {
  std::map<std::string, ApiBooking> api = {
      {"calcom:new", Booked("calcom:new", "booking.created", "confirmed", Iso(10), Iso(1))},
      {"calcom:same", Booked("calcom:same", "booking.created", "confirmed", Iso(10), Iso(1))},
      {"calcom:gone", Booked("calcom:gone", "booking.canceled", "canceled", Iso(10), Iso(2))},
      {"calcom:moved", Booked("calcom:moved", "booking.created", "confirmed", Iso(20), Iso(3))},
  };
  std::map<std::string, TopicBooking> topic;
  const std::set<std::string> wanted = {"calcom:same", "calcom:gone", "calcom:moved"};
  for (
      const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
          {"calcom:same",
           R"({"event_id":"a","event_type":"booking.created","booking":{"uid":"calcom:same","start_time":")" +
               Iso(10) + R"("}})"},
          {"calcom:gone",
           R"({"event_id":"b","event_type":"booking.created","booking":{"uid":"calcom:gone","status":"confirmed","start_time":")" +
               Iso(10) + R"("}})"},
          {"calcom:moved",
           R"({"event_id":"c","event_type":"booking.created","booking":{"uid":"calcom:moved","start_time":")" +
               Iso(10) + R"("}})"},
          {"calcom:other", R"({"event_id":"d","event_type":"booking.canceled"})"}}) {
    FoldTopicRecord(key, value, wanted, topic);
  }
  EXPECT_FALSE(topic.count("calcom:other"));
  ReconcileSummary summary;
  std::vector<CanonicalEvent> out = MissingEvents(api, topic, summary);
  std::map<std::string, CanonicalEvent> by_uid;
  for (const CanonicalEvent& e : out) by_uid[e.booking->uid] = e;
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(by_uid["calcom:new"].event_type, "booking.created");
  EXPECT_EQ(by_uid["calcom:gone"].event_type, "booking.canceled");
  EXPECT_EQ(by_uid["calcom:moved"].event_type, "booking.rescheduled");  // same id, new time
  EXPECT_EQ(summary.in_topic, 1);
  for (const CanonicalEvent& e : out) {
    EXPECT_EQ(e.provider_event_type, "reconcile");
    rapidjson::Document ext;
    ASSERT_TRUE(json::Parse(*e.extensions_json, ext).ok);
    EXPECT_TRUE(json::Bool(json::Get(&ext, "reconciled")).value_or(false));
    EXPECT_EQ(json::StringAt(&ext, "updated_at"), e.occurred_at);
    EXPECT_EQ(testing::SchemaErrors("scheduling-event.v1.json", ToJson(e)), "");
  }
  // Deterministic: the same state gives the same ids, and an id in the topic is not published
  // again.
  ReconcileSummary again;
  std::vector<CanonicalEvent> second = MissingEvents(api, topic, again);
  ASSERT_EQ(second.size(), 3u);
  for (size_t i = 0; i < second.size(); ++i) EXPECT_EQ(second[i].event_id, out[i].event_id);
  for (const CanonicalEvent& e : out) {
    FoldTopicRecord(e.booking->uid, ToJson(e), {"calcom:new", "calcom:gone", "calcom:moved"},
                    topic);
  }
  ReconcileSummary third;
  EXPECT_TRUE(MissingEvents(api, topic, third).empty());
  // A later change is a new state with a new id.
  api["calcom:new"] = Booked("calcom:new", "booking.canceled", "canceled", Iso(10), Iso(9));
  ReconcileSummary fourth;
  std::vector<CanonicalEvent> later = MissingEvents(api, topic, fourth);
  ASSERT_EQ(later.size(), 1u);
  EXPECT_NE(later[0].event_id, by_uid["calcom:new"].event_id);
}

// ---- a hostile, compromised or broken API, or a man in the middle ----

/// The ApiError a call throws, or a failure when it throws none.
template <typename F>
ApiError ErrorOf(F&& f) {
  try {
    f();
  } catch (const ApiError& e) {
    return e;
  }
  ADD_FAILURE() << "no ApiError";
  return ApiError(ApiError::Kind::kFailed, "none");
}

void SeedEverything(FakeApis& fake) {
  fake.With([](FakeApis::State& s) {
    for (int i = 0; i < 3; ++i) {
      const std::string n = std::to_string(i);
      FakeWebhook h;
      h.id = std::to_string(10 + i);
      h.url = "https://other.example.com/" + n;
      h.events = {"BOOKING_CREATED"};
      h.scope = "organization";
      s.calcom_webhooks.push_back(h);
      h.id = "SUB" + n;
      s.calendly_subscriptions.push_back(h);
      FakeCalBooking b;
      b.uid = "b" + n;
      b.start = Iso(600);
      b.end = Iso(630);
      b.created_at = b.updated_at = Iso(10 + i);
      s.calcom_bookings.push_back(b);
      s.calendly_events.push_back({"EV" + n, "active", Iso(600), Iso(630), Iso(10), Iso(10 + i)});
      FakeCalendlyInvitee inv;
      inv.uuid = "INV" + n;
      inv.event_uuid = "EV" + n;
      inv.created_at = inv.updated_at = Iso(10 + i);
      s.calendly_invitees.push_back(inv);
      FakeSavvyEvent e;
      e.id = "ev" + n;
      e.start_at = Iso(600);
      e.end_at = Iso(630);
      e.created_at = Iso(10 + i);
      s.savvycal_events.push_back(e);
    }
  });
}

/// Every list loop of every provider, with page size 1.
std::vector<std::pair<std::string, std::function<void(ProviderApi&)>>> ListLoops() {
  const BookingWindow window{0, UnixMillis(*ParseTimestamp(Iso(100000))), 0, 1};
  const auto bookings = [window](ProviderApi& api) {
    api.ListBookings(
        window, "default", [](ApiBooking) {}, [](const ListProgress&) {});
  };
  const auto subscriptions = [](ProviderApi& api) { api.ListSubscriptions(); };
  return {{"calcom", bookings},
          {"calcom", subscriptions},
          {"calendly", bookings},
          {"calendly", subscriptions},
          {"savvycal", bookings}};
}

TEST(HostileApi, PagingThatIgnoresItsCursorEndsWithAClearErrorInEveryListLoop) {
  for (const auto& [provider, loop] : ListLoops()) {
    FakeApis fake;
    SeedEverything(fake);
    fake.With([](FakeApis::State& s) { s.ignore_cursor = true; });
    Client c(fake, provider);
    const ApiError e = ErrorOf([&, &loop = loop] { loop(*c.api); });
    EXPECT_EQ(e.kind(), ApiError::Kind::kBadResponse) << provider;
    EXPECT_NE(std::string(e.what()).find("never end"), std::string::npos) << e.what();
    EXPECT_LE(c.session->stats().requests, 6) << provider << ": " << e.what();
  }
}

TEST(HostileApi, ARepeatedCursorEndsTheListing) {
  for (const auto& [provider, loop] : ListLoops()) {
    if (provider == "calcom") continue;  // Cal.com's cursors are ours, not the API's
    FakeApis fake;
    SeedEverything(fake);
    fake.With([](FakeApis::State& s) { s.repeat_cursor = true; });
    Client c(fake, provider);
    const ApiError e = ErrorOf([&, &loop = loop] { loop(*c.api); });
    EXPECT_NE(std::string(e.what()).find("cursor it had sent before"), std::string::npos)
        << e.what();
    EXPECT_LE(c.session->stats().requests, 8) << provider;
  }
}

TEST(HostileApi, PageCapEndsAListingOfEverFreshPages) {
  PageGuard guard("test listing", 3);
  rapidjson::Document page;
  for (int i = 0; i < 3; ++i) {
    guard.Next(std::to_string(i));
    page.Parse(("[" + std::to_string(i) + "]").c_str());
    guard.Page(page);
  }
  const ApiError e = ErrorOf([&] { guard.Next("3"); });
  EXPECT_NE(std::string(e.what()).find("more than 3 pages"), std::string::npos) << e.what();
  // Empty pages never count as repeats (an empty last page is normal).
  PageGuard empty("empty pages");
  page.Parse("[]");
  for (int i = 0; i < 3; ++i) {
    empty.Next(std::to_string(i));
    EXPECT_NO_THROW(empty.Page(page));
  }
}

TEST(HostileApi, RepeatedPagesUnderMaxBookingsStopReconcileAndPublishNothing) {
  FakeApis fake;
  SeedEverything(fake);
  fake.With([](FakeApis::State& s) { s.ignore_cursor = true; });
  Client c(fake, "calcom");
  ReconcileOptions o;
  o.provider = "calcom";
  o.until_ms = UnixMillis(*ParseTimestamp(Iso(100000)));
  o.max_bookings = 5;
  o.page_size = 1;
  o.dry_run = true;
  std::ostringstream out, err;
  const ReconcileSummary summary =
      RunReconcile(*c.api, nullptr, *c.normalizer, KafkaSettings{}, o, out, err);
  EXPECT_EQ(summary.outcome, SyncOutcome::kFailed);
  EXPECT_NE(summary.error.find("never end"), std::string::npos) << summary.error;
  EXPECT_NE(summary.error.find("Nothing was published"), std::string::npos) << summary.error;
  EXPECT_EQ(summary.published, 0);
  EXPECT_EQ(out.str(), "");
  EXPECT_LE(c.session->stats().requests, 6);
}

TEST(HostileApi, ATrickledAnswerEndsAtTheRequestDeadline) {
  FakeApis fake;
  fake.With([](FakeApis::State& s) { s.trickle_ms = 100; });  // ~3 s for an empty list
  Client c(fake, "calcom", {}, std::chrono::milliseconds(300),
           [](RetryPolicy& p) { p.max_attempts = 2; });
  const ApiError e = ErrorOf([&] { c.api->ListSubscriptions(); });
  EXPECT_EQ(e.kind(), ApiError::Kind::kFailed);
  EXPECT_NE(std::string(e.what()).find("no complete answer within"), std::string::npos) << e.what();
  EXPECT_EQ(c.session->stats().requests, 2);
}

TEST(HostileApi, TheRunDeadlineEndsRetriesAndWaits) {
  FakeApis fake;
  fake.With([](FakeApis::State& s) {
    s.rate_limited_requests = 1000;
    s.retry_after = "30";
  });
  Client c(fake, "calcom", {}, kRequestDeadline, [](RetryPolicy& p) {
    p.max_attempts = 1000;
    p.run_deadline = std::chrono::seconds(60);
  });
  const ApiError e = ErrorOf([&] { c.api->ListSubscriptions(); });
  EXPECT_EQ(e.kind(), ApiError::Kind::kFailed);
  EXPECT_NE(std::string(e.what()).find("deadline"), std::string::npos) << e.what();
  // Waits of 30 s: the second would end past the 60 s deadline.
  EXPECT_EQ(c.waits.size(), 1u);
}

TEST(HostileApi, AHugeContentLengthIsABadResponseNeverAnAbort) {
  FakeApis fake;
  fake.With([](FakeApis::State& s) { s.huge_content_length = true; });
  Client c(fake, "calcom");
  const ApiError e = ErrorOf([&] { c.api->ListSubscriptions(); });
  EXPECT_EQ(e.kind(), ApiError::Kind::kBadResponse);
  EXPECT_NE(std::string(e.what()).find("larger than"), std::string::npos) << e.what();
  EXPECT_EQ(c.session->stats().requests, 1);  // never retried
}

TEST(HostileApi, ReflectedCredentialsAndTerminalEscapesNeverReachTheError) {
  FakeApis fake;
  fake.With([](FakeApis::State& s) { s.reflect = true; });
  Client c(fake, "calcom");
  const ApiError e = ErrorOf([&] { c.api->ListSubscriptions(); });
  const std::string what = e.what();
  EXPECT_NE(what.find("bad request from"), std::string::npos) << what;
  for (const std::string& leak :
       {fake.api_key(), std::string("sk_live_reflected"), std::string("reflected-key-value"),
        std::string("whsec_reflected"), std::string("\x1b"), std::string("\x07"), std::string("\n"),
        std::string("\r")}) {
    EXPECT_EQ(what.find(leak), std::string::npos) << "leaked " << leak << " in " << what;
  }
}

TEST(HostileApi, SafeExcerptStripsControlsAndCredentials) {
  EXPECT_EQ(SafeExcerpt("upstream \x1b[31mred\x1b[0m\r\nfake"), "upstream red  fake");
  EXPECT_EQ(SafeExcerpt("Bearer abc.def ok"), "Bearer [redacted] ok");
  EXPECT_EQ(SafeExcerpt("Authorization: Basic dXNlcg=="), "Authorization: [redacted] [redacted]");
  EXPECT_EQ(SafeExcerpt("url?token=t0k&x=1"), "url?token=[redacted]&x=1");
  EXPECT_EQ(SafeExcerpt(R"({"secret": "s3cr3t"})"), R"({"secret": "[redacted]"})");
  EXPECT_EQ(SafeExcerpt("id 0123456789abcdef0123456789abcdef here"), "id [redacted] here");
  EXPECT_EQ(SafeExcerpt("your key mykey-1 is bad", "mykey-1"), "your key [redacted] is bad");
  EXPECT_EQ(SafeExcerpt("The access token expired"), "The access token expired");
  // An escape sequence inside a reflected key does not hide it.
  EXPECT_EQ(SafeExcerpt("esc-split Sk.live.ab\x1b[0m12.cd34.X!9q", "Sk.live.ab12.cd34.X!9q")
                .find("Sk.live"),
            std::string::npos);
  EXPECT_EQ(SafeExcerpt(std::string(500, 'a') + " x", {}, 50), "[redacted] x");
}

TEST(ApiUrl, HttpIsRefusedExceptToLoopbackOrWhenAllowed) {
  EXPECT_EQ(CheckApiUrl("https://api.cal.com", false), "");
  EXPECT_NE(CheckApiUrl("http://api.cal.com", false), "");
  EXPECT_EQ(CheckApiUrl("http://api.cal.com", true), "");
  for (const char* loopback : {"http://127.0.0.1:8080", "http://127.1.2.3/v2", "http://localhost",
                               "http://[::1]:9000/api"}) {
    EXPECT_EQ(CheckApiUrl(loopback, false), "") << loopback;
  }
  for (const char* remote : {"http://127.0.0.1.evil.example", "http://127.0.0.1@evil.example",
                             "http://localhost.evil.example", "ftp://api.cal.com"}) {
    EXPECT_NE(CheckApiUrl(remote, false), "") << remote;
  }
}

/// One calcom source on the fake, for the commands.
Config CommandConfig(FakeApis& fake, const std::string& dir) {
  const std::string key = dir + "/calcom.key";
  { std::ofstream(key) << fake.api_key() << "\n"; }
  ::chmod(key.c_str(), 0600);
  Config config;
  SourceConfig s;
  s.provider = "calcom";
  s.secrets = {"calcom-secret-0123456789"};
  s.api_url = fake.url();
  s.api_key_file = key;
  config.sources.push_back(s);
  config.public_url = "https://hooks.example.com";
  return config;
}

TEST(ApiCommands, AnHttpApiUrlOrAnOpenKeyFileIsCalledOut) {
  FakeApis fake;
  const std::string dir = testing::TempDir("api-url");
  Config config = CommandConfig(fake, dir);
  std::ostringstream out, err;
  EXPECT_EQ(SubscriptionsCommand(config, {"list", "", false, {}}, out, err), 0) << err.str();
  EXPECT_EQ(err.str().find("warning"), std::string::npos) << err.str();

  config.sources[0].api_url = "http://api.example.invalid";
  err.str("");
  EXPECT_EQ(SubscriptionsCommand(config, {"list", "", false, {}}, out, err), 78);
  EXPECT_NE(err.str().find("clear text"), std::string::npos) << err.str();

  config.sources[0].api_url = fake.url();
  ::chmod(config.sources[0].api_key_file.c_str(), 0644);
  err.str("");
  EXPECT_EQ(SubscriptionsCommand(config, {"list", "", false, {}}, out, err), 0);
  EXPECT_NE(err.str().find("may be read by group or others (mode 0644)"), std::string::npos)
      << err.str();
  EXPECT_EQ(err.str().find(fake.api_key()), std::string::npos);
}

TEST(ApiCommands, AHugeAnswerEndsReconcileWithExit1AndItsMetricsStillWritten) {
  FakeApis fake;
  fake.With([](FakeApis::State& s) { s.huge_content_length = true; });
  const std::string dir = testing::TempDir("huge");
  ReconcileFlags flags;
  flags.source = "calcom";
  flags.options.until_ms = UnixMillis(*ParseTimestamp(Iso(100000)));
  flags.options.dry_run = true;
  flags.metrics_file = dir + "/reconcile.prom";
  std::ostringstream out, err;
  EXPECT_EQ(ReconcileCommand(CommandConfig(fake, dir), flags, out, err), 1) << err.str();
  EXPECT_NE(err.str().find("larger than"), std::string::npos) << err.str();
  EXPECT_NE(testing::ReadFile(flags.metrics_file).find("schedbridge_reconcile_success 0"),
            std::string::npos);
}

// ---- files the commands write, in a directory a local user can write ----

bool IsSymlink(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode);
}

TEST(SafeFiles, APlantedTmpSymlinkIsNeverWrittenThrough) {
  const std::string dir = testing::TempDir("planted");
  const std::string victim = dir + "/victim", file = dir + "/savvycal.secret";
  std::ofstream(victim) << "precious\n";
  ASSERT_EQ(::symlink(victim.c_str(), (file + ".tmp").c_str()), 0);
  StoreIssuedSecret(file, "whsec_issued_0123456789");
  EXPECT_EQ(testing::ReadFile(victim), "precious\n");
  EXPECT_FALSE(IsSymlink(file));
  EXPECT_EQ(testing::ReadFile(file), "whsec_issued_0123456789\n");
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);

  // The metrics textfile the same way, from the command.
  FakeApis fake;
  const std::string metrics = dir + "/reconcile.prom";
  ASSERT_EQ(::symlink(victim.c_str(), (metrics + ".tmp").c_str()), 0);
  ReconcileFlags flags;
  flags.source = "calcom";
  flags.options.until_ms = UnixMillis(*ParseTimestamp(Iso(100000)));
  flags.options.dry_run = true;
  flags.metrics_file = metrics;
  std::ostringstream out, err;
  EXPECT_EQ(ReconcileCommand(CommandConfig(fake, dir), flags, out, err), 0) << err.str();
  EXPECT_EQ(testing::ReadFile(victim), "precious\n");
  EXPECT_FALSE(IsSymlink(metrics));
  EXPECT_NE(testing::ReadFile(metrics).find("schedbridge_reconcile_success 1"), std::string::npos);
}

TEST(SafeFiles, ATargetThatIsASymlinkIsRefused) {
  const std::string dir = testing::TempDir("target-link");
  const std::string victim = dir + "/victim", file = dir + "/savvycal.secret";
  std::ofstream(victim) << "precious\n";
  ASSERT_EQ(::symlink(victim.c_str(), file.c_str()), 0);
  EXPECT_THROW(StoreIssuedSecret(file, "whsec_issued_0123456789"), std::runtime_error);
  EXPECT_THROW(files::WriteAtomically(file, "x"), std::runtime_error);
  EXPECT_EQ(testing::ReadFile(victim), "precious\n");
  EXPECT_TRUE(IsSymlink(file));
  // A directory is not a file either; nothing is left behind.
  EXPECT_THROW(files::WriteAtomically(dir, "x"), std::runtime_error);
  files::WriteAtomically(dir + "/plain", "one");
  files::WriteAtomically(dir + "/plain", "two", 0644);
  EXPECT_EQ(testing::ReadFile(dir + "/plain"), "two");
  struct stat st {};
  ASSERT_EQ(::stat((dir + "/plain").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
}

}  // namespace
}  // namespace bridge
