// `schedbridge subscriptions` and `schedbridge reconcile`, the real binary
// against fake provider APIs (tests/support/fake_apis) and the real broker:
// reconcile fills exactly the gaps left by withheld webhooks, publishes
// nothing new on a second run or in a dry run, and nothing at all when the
// API fails (an expired key, 5xx that do not stop); subscriptions apply twice
// changes the provider once.

#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "bridge/model/time.h"
#include "bridge/util/json.h"
#include "fake_apis.h"
#include "kafka_helpers.h"
#include "support.h"

namespace bridge::testing {
namespace {

constexpr const char* kSecret = "calcom-secret-0123456789";

/// An RFC 3339 time `minutes` from now (negative: ago), whole seconds.
std::string Minutes(int minutes) {
  const auto t = std::chrono::system_clock::now() + std::chrono::minutes(minutes);
  return FormatTimestamp(std::chrono::time_point_cast<std::chrono::seconds>(t));
}

class ReconcileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    brokers_ = TestBrokers();
    events_ = RandomName("reconcile-events");
    dlq_ = RandomName("reconcile-dlq");
    CreateTopic(brokers_, events_, 3);
    CreateTopic(brokers_, dlq_, 1);
    dir_ = TempDir("reconcile");
    key_file_ = dir_ + "/calcom.key";
    std::ofstream(key_file_) << fake_.api_key() << "\n";
    std::filesystem::permissions(
        key_file_, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  }

  std::map<std::string, std::string> Env() const {
    return {{"SCHEDBRIDGE_KAFKA_BROKERS", brokers_},
            {"SCHEDBRIDGE_TOPIC_EVENTS", events_},
            {"SCHEDBRIDGE_TOPIC_DLQ", dlq_},
            {"SCHEDBRIDGE_SECRET_CALCOM", kSecret},
            {"SCHEDBRIDGE_API_URL_CALCOM", fake_.url()},
            {"SCHEDBRIDGE_API_KEY_FILE_CALCOM", key_file_},
            {"SCHEDBRIDGE_PUBLIC_URL", "https://hooks.example.com"}};
  }

  /// Runs the binary; returns the exit status, output in out/err.
  int Run(std::vector<std::string> args, std::string& out, std::string& err,
          std::map<std::string, std::string> extra = {}) {
    std::map<std::string, std::string> env = Env();
    for (auto& [k, v] : extra) env[k] = v;
    Command c(std::move(args), env);
    const int status = c.Wait(std::chrono::seconds(90));
    out = c.Stdout();
    err = c.Stderr();
    return status;
  }

  void AddBooking(const std::string& uid, const std::string& status, int updated_min_ago) {
    fake_.With([&](FakeApis::State& s) {
      FakeCalBooking b;
      b.uid = uid;
      b.status = status;
      b.start = start_;
      b.end = end_;
      b.created_at = Minutes(-90);
      b.updated_at = Minutes(-updated_min_ago);
      s.calcom_bookings.push_back(b);
    });
  }

  /// The BOOKING_CREATED webhook Cal.com would have sent for `uid`.
  std::string CreatedBody(const std::string& uid) const {
    return R"({"triggerEvent":"BOOKING_CREATED","createdAt":")" + Minutes(-80) +
           R"(","payload":{"uid":")" + uid + R"(","title":"Intro call","startTime":")" + start_ +
           R"(","endTime":")" + end_ +
           R"(","status":"ACCEPTED","organizer":{"name":"Host","email":"host@example.com","timeZone":"Europe/Berlin"},"attendees":[{"name":"Ana","email":"ana@example.com","timeZone":"Europe/Lisbon"}]}})";
  }

  static int Post(int port, const std::string& body) {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(30, 0);
    httplib::Headers h{{"X-Cal-Signature-256", HmacSha256Hex(kSecret, body)}};
    auto r = c.Post("/webhooks/calcom", h, body, "application/json");
    return r ? r->status : 0;
  }

  static size_t Lines(const std::string& text) {
    size_t n = 0;
    for (char ch : text) n += ch == '\n';
    return n;
  }

  FakeApis fake_;
  std::string brokers_, events_, dlq_, dir_, key_file_;
  const std::string start_ = Minutes(24 * 60), end_ = Minutes(24 * 60 + 30);
};

TEST_F(ReconcileTest, FillsExactlyTheWithheldWebhooksOnceAndADryRunPublishesNothing) {
  for (const char* uid : {"b1", "b2", "b3", "b4", "b5", "b6"}) AddBooking(uid, "accepted", 60);
  {
    ServiceProcess service(Env());
    ASSERT_TRUE(service.WaitReady(std::chrono::seconds(30))) << service.Log();
    // b5 and b6 never announced; b2's cancellation never sent.
    for (const char* uid : {"b1", "b2", "b3", "b4"}) {
      ASSERT_EQ(Post(service.port(), CreatedBody(uid)), 202) << uid;
    }
  }
  fake_.With([](FakeApis::State& s) {
    s.calcom_bookings[1].status = "cancelled";
    s.calcom_bookings[1].updated_at = Minutes(-5);
  });
  ASSERT_EQ(MessageCount(brokers_, events_), 4);

  std::string out, err;
  ASSERT_EQ(
      Run({"reconcile", "--source", "calcom", "--since", "2h", "--dry-run", "--page-size", "2"},
          out, err),
      0)
      << err;
  EXPECT_EQ(Lines(out), 3u) << out;
  EXPECT_NE(err.find("would publish 3"), std::string::npos) << err;
  EXPECT_EQ(MessageCount(brokers_, events_), 4);

  // A 429 (Retry-After: 1) and a 503 on the way: retried, same result.
  fake_.With([](FakeApis::State& s) {
    s.rate_limited_requests = 1;
    s.list_requests = 0;
    s.fail_list_request[2] = 1;
  });
  const std::string metrics = dir_ + "/reconcile.prom";
  ASSERT_EQ(Run({"reconcile", "--source", "calcom", "--since", "2h", "--page-size", "2",
                 "--metrics-file", metrics},
                out, err),
            0)
      << err;
  EXPECT_NE(err.find("published 3 (1 booking.canceled, 2 booking.created)"), std::string::npos)
      << err;
  const std::string pushed = ReadFile(metrics);
  EXPECT_NE(pushed.find("schedbridge_reconcile_success 1\n"), std::string::npos) << pushed;
  EXPECT_NE(pushed.find("schedbridge_reconcile_published_events 3\n"), std::string::npos) << pushed;
  EXPECT_NE(pushed.find("schedbridge_reconcile_api_rate_limited 1\n"), std::string::npos) << pushed;
  EXPECT_NE(err.find("2 retried, 1 rate-limited"), std::string::npos) << err;
  EXPECT_NE(err.find("page(s)"), std::string::npos) << err;  // progress
  const std::vector<Consumed> all = Consume(brokers_, events_, 7);
  ASSERT_EQ(all.size(), 7u);
  std::set<std::string> reconciled;
  for (const Consumed& m : all) {
    rapidjson::Document doc;
    ASSERT_TRUE(json::Parse(m.value, doc).ok);
    if (!json::Bool(json::Path(&doc, "extensions.reconciled")).value_or(false)) continue;
    reconciled.insert(m.key + " " + json::StringAt(&doc, "event_type").value_or(""));
    EXPECT_EQ(m.headers.at("ce_id"), json::StringAt(&doc, "event_id"));
    EXPECT_EQ(SchemaErrors("scheduling-event.v1.json", m.value), "");
  }
  EXPECT_EQ(reconciled,
            (std::set<std::string>{"calcom:b2 booking.canceled", "calcom:b5 booking.created",
                                   "calcom:b6 booking.created"}));

  // Run again: the topic has every state now.
  ASSERT_EQ(Run({"reconcile", "--source", "calcom", "--since", "2h"}, out, err), 0) << err;
  EXPECT_NE(err.find("published 0"), std::string::npos) << err;
  EXPECT_EQ(MessageCount(brokers_, events_), 7);
}

TEST_F(ReconcileTest, AnExpiredKeyOrAnApiThatKeepsFailingPublishesNothing) {
  for (const char* uid : {"c1", "c2", "c3"}) AddBooking(uid, "accepted", 30);
  fake_.With([](FakeApis::State& s) { s.key_expired = true; });
  std::string out, err;
  EXPECT_EQ(Run({"reconcile", "--source", "calcom", "--since", "2h"}, out, err), 78) << err;
  EXPECT_NE(err.find("refused the API key"), std::string::npos) << err;
  EXPECT_NE(err.find("Nothing was published"), std::string::npos) << err;
  EXPECT_EQ(err.find(fake_.api_key()), std::string::npos) << "the key was printed";

  // The second page fails for good: the first page's bookings are not published either.
  fake_.With([](FakeApis::State& s) {
    s.key_expired = false;
    s.list_requests = 0;
    s.retry_after = "0";
    s.fail_list_request[2] = 1000;
  });
  EXPECT_EQ(Run({"reconcile", "--source", "calcom", "--since", "2h", "--page-size", "1"}, out, err),
            1)
      << err;
  EXPECT_NE(err.find("HTTP 503"), std::string::npos) << err;
  EXPECT_NE(err.find("Nothing was published"), std::string::npos) << err;
  EXPECT_EQ(MessageCount(brokers_, events_), 0);

  // Usage errors: a source that does not exist, a window backwards.
  EXPECT_EQ(Run({"reconcile", "--source", "calendly", "--since", "2h"}, out, err), 2) << err;
  EXPECT_NE(err.find("no source calendly"), std::string::npos) << err;
  EXPECT_EQ(Run({"reconcile", "--source", "calcom", "--since", "1h", "--until", "2h"}, out, err),
            2);
}

TEST_F(ReconcileTest, AnApiWhosePagingNeverEndsStopsTheRunWithNothingPublished) {
  for (const char* uid : {"p1", "p2", "p3"}) AddBooking(uid, "accepted", 30);
  // hasNextPage for ever, the same bookings on every page (the cursor ignored).
  fake_.With([](FakeApis::State& s) {
    s.ignore_cursor = true;
    s.calcom_webhooks.push_back({"7", "https://other.example.com/hook", {"BOOKING_CREATED"}});
  });
  std::string out, err;
  EXPECT_EQ(Run({"reconcile", "--source", "calcom", "--since", "2h", "--page-size", "1",
                 "--max-bookings", "5"},
                out, err),
            1)
      << err;
  EXPECT_NE(err.find("never end"), std::string::npos) << err;
  EXPECT_NE(err.find("Nothing was published"), std::string::npos) << err;
  EXPECT_LE(fake_.Snapshot().requests.size(), 5u);
  EXPECT_EQ(MessageCount(brokers_, events_), 0);
  // subscriptions list the same: an error, not a loop.
  EXPECT_EQ(Run({"subscriptions", "list"}, out, err), 1) << err;
  EXPECT_NE(err.find("never end"), std::string::npos) << err;
}

TEST_F(ReconcileTest, SubscriptionsApplyTwiceChangesTheProviderOnce) {
  std::string out, err;
  ASSERT_EQ(Run({"subscriptions", "diff"}, out, err), 0) << err;
  EXPECT_NE(out.find("create: no subscription to https://hooks.example.com/webhooks/calcom"),
            std::string::npos)
      << out;
  EXPECT_TRUE(fake_.Snapshot().calcom_webhooks.empty());  // diff changes nothing
  ASSERT_EQ(Run({"subscriptions", "apply"}, out, err), 0) << err;
  EXPECT_NE(out.find("created"), std::string::npos) << out;
  const size_t writes = Writes(fake_.Snapshot());
  ASSERT_EQ(Run({"subscriptions", "apply"}, out, err), 0) << err;
  EXPECT_NE(out.find("in sync"), std::string::npos) << out;
  EXPECT_EQ(Writes(fake_.Snapshot()), writes);  // listed, nothing written
  ASSERT_EQ(fake_.Snapshot().calcom_webhooks.size(), 1u);
  EXPECT_EQ(fake_.Snapshot().calcom_webhooks[0].secret, kSecret);
  ASSERT_EQ(Run({"subscriptions", "list"}, out, err), 0) << err;
  EXPECT_NE(out.find("← this source"), std::string::npos) << out;
  EXPECT_EQ(out.find(kSecret), std::string::npos) << "a secret was printed";

  // Orufy has no API: the command says what to set by hand.
  ASSERT_EQ(Run({"subscriptions", "diff", "--source", "orufy"}, out, err,
                {{"SCHEDBRIDGE_SECRET_ORUFY", "orufy-secret-0123456789"}}),
            0)
      << err;
  EXPECT_NE(out.find("Orufy documents no API"), std::string::npos) << out;
  EXPECT_NE(out.find("https://hooks.example.com/webhooks/orufy"), std::string::npos) << out;

  // SavvyCal issues the secret: without a file to store it in, nothing is created.
  EXPECT_EQ(Run({"subscriptions", "apply", "--source", "savvycal"}, out, err,
                {{"SCHEDBRIDGE_SECRET_SAVVYCAL", "savvy-secret-0123456789"},
                 {"SCHEDBRIDGE_API_URL_SAVVYCAL", fake_.url()},
                 {"SCHEDBRIDGE_API_KEY_FILE_SAVVYCAL", key_file_}}),
            78);
  EXPECT_NE(err.find("issues the webhook's secret"), std::string::npos) << err;
  EXPECT_TRUE(fake_.Snapshot().savvycal_webhooks.empty());
  // With one (empty at first), apply stores the issued secret there.
  const std::string savvy_file = dir_ + "/savvycal.secret";
  std::ofstream(savvy_file).close();
  const std::map<std::string, std::string> savvy = {
      {"SCHEDBRIDGE_SECRET_SAVVYCAL_FILE", savvy_file},
      {"SCHEDBRIDGE_API_URL_SAVVYCAL", fake_.url()},
      {"SCHEDBRIDGE_API_KEY_FILE_SAVVYCAL", key_file_}};
  ASSERT_EQ(Run({"subscriptions", "apply", "--source", "savvycal"}, out, err, savvy), 0) << err;
  ASSERT_EQ(fake_.Snapshot().savvycal_webhooks.size(), 1u);
  EXPECT_EQ(ReadFile(savvy_file), fake_.Snapshot().savvycal_webhooks[0].secret + "\n");
  ASSERT_EQ(Run({"subscriptions", "diff", "--source", "savvycal"}, out, err, savvy), 0) << err;
  EXPECT_NE(out.find("in sync"), std::string::npos) << out;

  // Without public_url there is nothing to compare with.
  EXPECT_EQ(Run({"subscriptions", "apply"}, out, err, {{"SCHEDBRIDGE_PUBLIC_URL", ""}}), 78);
}

}  // namespace
}  // namespace bridge::testing
