// The webhook route without sockets: fake request heads and bodies driven
// through WebhookRoute as the transport would, over a pipeline whose
// publisher is a FakePublisher.

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>

#include "bridge/util/clock.h"
#include "bridge/util/json.h"
#include "bridge/util/log.h"
#include "bridge/webhook/route.h"
#include "support.h"

namespace bridge {
namespace {

using boost::beast::http::verb;
using testing::CompactFixture;
using testing::FakePublisher;
using testing::HmacSha256Hex;

class WebhookRouteTest : public ::testing::Test {
 protected:
  WebhookRouteTest()
      : sources_({SourceConfig{"calcom", "default", {"s3cret"}}}),
        pipeline_(Options(), publisher_, clock_),
        route_(sources_, pipeline_, ProviderRegistry::BuiltIn(), metrics_) {
    log::SetLevel(log::Level::kOff);
  }

  static PipelineOptions Options() {
    PipelineOptions options;
    options.ack_timeout = std::chrono::milliseconds(200);
    return options;
  }

  /// A head as the transport makes it: `target`, `fields` and `body` outlive it.
  RequestHead Head(verb method, const std::string& target, const HeaderFields& fields,
                   const std::string& body) const {
    RequestHead head;
    head.method = method;
    head.target = target;
    head.fields = &fields;
    head.content_length = body.size();
    head.request_id = "route-test";
    head.started = std::chrono::steady_clock::now();
    head.draining = draining_;
    return head;
  }

  /// One request through Route, Admit and OnBody, as the transport drives
  /// it; a later answer is awaited (and made) here. `exchange` receives the
  /// exchange the route took, if any.
  Answer Send(verb method, const std::string& target, HeaderFields fields, const std::string& body,
              std::shared_ptr<Exchange>* exchange = nullptr) {
    const RequestHead head = Head(method, target, fields, body);
    Routed routed = route_.Route(head);
    if (exchange != nullptr) *exchange = routed.exchange;
    if (!routed.exchange) return routed.answer;
    if (std::optional<Answer> refused = routed.exchange->Admit(head)) return *refused;
    auto later = std::make_shared<std::promise<std::function<Answer()>>>();
    std::future<std::function<Answer()>> made = later->get_future();
    std::optional<Answer> now = routed.exchange->OnBody(
        target, fields, body, [later](std::function<Answer()> make) { later->set_value(make); });
    if (now) return *now;
    if (made.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready) {
      EXPECT_TRUE(routed.exchange->Deadline().has_value());
      routed.exchange->Expire();
    }
    return made.get()();
  }

  Answer Post(const std::string& target, const std::string& body,
              const std::string& secret = "s3cret",
              const std::string& content_type = "application/json") {
    return Send(
        verb::post, target,
        {{"Content-Type", content_type}, {"X-Cal-Signature-256", HmacSha256Hex(secret, body)}},
        body);
  }

  static std::string Status(const Answer& a) {
    rapidjson::Document doc;
    if (!json::Parse(a.body, doc).ok) return "<not json: " + a.body + ">";
    return json::StringAt(&doc, "status").value_or("<no status>");
  }

  double Requests(const std::string& provider, const std::string& source, int code) const {
    return metrics_.Value(
        "schedbridge_webhook_requests_total",
        {{"provider", provider}, {"source", source}, {"code", std::to_string(code)}});
  }

  FakePublisher publisher_;
  SystemClock clock_;
  Metrics metrics_;
  SourceTable sources_;
  Pipeline pipeline_;
  WebhookRoute route_;
  bool draining_ = false;
};

TEST_F(WebhookRouteTest, AcceptedThroughThePipeline) {
  const std::string body = CompactFixture("calcom/BOOKING_CREATED.json");
  const Answer a = Post("/webhooks/calcom", body);
  EXPECT_EQ(a.status, 202);
  EXPECT_EQ(Status(a), "accepted");
  EXPECT_FALSE(a.retry_after);
  EXPECT_EQ(publisher_.Published().size(), 1u);
  EXPECT_EQ(Requests("calcom", "default", 202), 1);
  // The same delivery again: a duplicate, not published twice.
  const Answer again = Post("/webhooks/calcom?x=1", body);
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(Status(again), "duplicate");
  EXPECT_EQ(publisher_.Published().size(), 1u);
}

TEST_F(WebhookRouteTest, BadSignatureIs401) {
  const Answer a = Post("/webhooks/calcom", CompactFixture("calcom/BOOKING_CREATED.json"), "wrong");
  EXPECT_EQ(a.status, 401);
  EXPECT_EQ(Status(a), "unauthorized");
  EXPECT_TRUE(publisher_.Published().empty());
  EXPECT_EQ(Requests("calcom", "default", 401), 1);
}

TEST_F(WebhookRouteTest, UnknownProviderAndSourceAre404) {
  std::shared_ptr<Exchange> exchange;
  Answer a = Send(verb::post, "/webhooks/nope", {}, "{}", &exchange);
  EXPECT_EQ(a.status, 404);
  EXPECT_EQ(exchange, nullptr);  // answered at once
  EXPECT_NE(a.body.find("unknown provider \\\"nope\\\""), std::string::npos) << a.body;
  EXPECT_EQ(Requests("unknown", "unknown", 404), 1);
  a = Post("/webhooks/calcom/team-z", "{}");
  EXPECT_EQ(a.status, 404);
  EXPECT_EQ(Requests("calcom", "unknown", 404), 1);
  // Not a webhook path: 404, not counted as a webhook.
  a = Send(verb::post, "/other", {}, "{}");
  EXPECT_EQ(a.status, 404);
  EXPECT_EQ(Requests("unknown", "unknown", 404), 1);
}

TEST_F(WebhookRouteTest, HealthzAndMethods) {
  Answer a = Send(verb::get, "/healthz", {}, "");
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(a.body, R"({"status":"ok"})");
  a = Send(verb::post, "/healthz", {}, "");
  EXPECT_EQ(a.status, 405);
  EXPECT_STREQ(a.allow, "GET, HEAD");
  a = Send(verb::get, "/webhooks/calcom", {}, "");
  EXPECT_EQ(a.status, 405);
  EXPECT_STREQ(a.allow, "POST");
  EXPECT_EQ(Requests("calcom", "default", 405), 1);  // a webhook path: counted and logged
  a = Send(verb::put, "/webhooks/zoom", {}, "");
  EXPECT_EQ(a.status, 405);
  EXPECT_EQ(Requests("unknown", "unknown", 405), 1);
}

TEST_F(WebhookRouteTest, MediaTypeAndEmptyBody) {
  Answer a = Post("/webhooks/calcom", "{}", "s3cret", "text/plain");
  EXPECT_EQ(a.status, 415);
  EXPECT_EQ(Status(a), "unsupported_media_type");
  a = Post("/webhooks/calcom", "");
  EXPECT_EQ(a.status, 400);
  EXPECT_EQ(Requests("calcom", "default", 415), 1);
  EXPECT_EQ(Requests("calcom", "default", 400), 1);
}

TEST_F(WebhookRouteTest, DrainingIs503WithRetryAfter) {
  draining_ = true;
  const Answer a = Post("/webhooks/calcom", "{}");
  EXPECT_EQ(a.status, 503);
  EXPECT_TRUE(a.retry_after);
  EXPECT_EQ(Requests("calcom", "default", 503), 1);
}

TEST_F(WebhookRouteTest, NoAckInTimeIs503) {
  publisher_.mode = FakePublisher::Mode::kHold;
  const Answer a = Post("/webhooks/calcom", CompactFixture("calcom/BOOKING_CREATED.json"));
  EXPECT_EQ(a.status, 503);
  EXPECT_EQ(Status(a), "unavailable");
  EXPECT_TRUE(a.retry_after);
  EXPECT_EQ(metrics_.Value("schedbridge_publish_failures_total", {{"provider", "calcom"}}), 1);
  publisher_.Release(true);
}

// What Kafka can never take is 413, not a 503 the provider would retry forever.
TEST_F(WebhookRouteTest, AMessageKafkaRefusesForItsSizeIs413) {
  publisher_.mode = FakePublisher::Mode::kTooLarge;
  const Answer a = Post("/webhooks/calcom", CompactFixture("calcom/BOOKING_CREATED.json"));
  EXPECT_EQ(a.status, 413);
  EXPECT_EQ(Status(a), "payload_too_large");
  EXPECT_FALSE(a.retry_after);
  EXPECT_EQ(Requests("calcom", "default", 413), 1);
  EXPECT_EQ(metrics_.Value("schedbridge_publish_failures_total", {{"provider", "calcom"}}), 0);
}

TEST_F(WebhookRouteTest, TransportEndedRequestsAreCounted) {
  const std::string target = "/webhooks/calcom", body = "{}";
  HeaderFields fields{{"Content-Type", "application/json"}};
  const RequestHead head = Head(verb::post, target, fields, body);
  Routed routed = route_.Route(head);
  ASSERT_NE(routed.exchange, nullptr);
  routed.exchange->Ended(413, "payload_too_large");
  EXPECT_EQ(Requests("calcom", "default", 413), 1);
}

}  // namespace
}  // namespace bridge
