// The webhook port on an ephemeral loopback port with a fake publisher: every
// status code of the HTTP API; the admin port apart.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "bridge/http/admin_server.h"
#include "bridge/http/server.h"
#include "bridge/spool/spool.h"
#include "bridge/util/cpus.h"
#include "bridge/util/json.h"
#include "bridge/util/log.h"
#include "bridge/webhook/webhook_server.h"
#include "ingress_fixture.h"
#include "raw_client.h"
#include "support.h"

namespace bridge {
namespace {

using testing::CompactFixture;
using testing::FakePublisher;
using testing::HmacSha256Hex;

class HttpServerTest : public testing::IngressFixture {
 protected:
  void SetUp() override {
    IngressFixture::SetUp();
    config_.http.max_body_bytes = 64 * 1024;
    config_.http.io_threads = 2;
    config_.pipeline.ack_timeout = std::chrono::milliseconds(300);
    config_.sources.push_back(SourceConfig{"calcom", "default", {"s3cret"}});
    config_.sources.push_back(SourceConfig{"calcom", "team-b", {"b-secret"}});
    StartServer();
    client_ = std::make_unique<httplib::Client>("127.0.0.1", port_);
  }

  httplib::Result Post(const std::string& path, const std::string& body,
                       const std::string& secret = "s3cret",
                       const std::string& content_type = "application/json") {
    httplib::Headers h;
    if (!secret.empty()) h.emplace("X-Cal-Signature-256", HmacSha256Hex(secret, body));
    return client_->Post(path.c_str(), h, body, content_type.c_str());
  }

  static std::string Status(const httplib::Result& r) {
    rapidjson::Document doc;
    if (!json::Parse(r->body, doc).ok) return "<not json: " + r->body + ">";
    return json::StringAt(&doc, "status").value_or("<no status>");
  }

  std::unique_ptr<httplib::Client> client_;
};

TEST_F(HttpServerTest, AcceptedThenDuplicate) {
  const std::string body = CompactFixture("calcom/BOOKING_CREATED.json");
  auto r = Post("/webhooks/calcom", body);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 202);
  EXPECT_EQ(Status(r), "accepted");
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
  rapidjson::Document doc;
  ASSERT_TRUE(json::Parse(r->body, doc).ok);
  ASSERT_TRUE(doc["event_ids"].IsArray());
  EXPECT_EQ(doc["event_ids"].Size(), 1u);
  EXPECT_TRUE(doc["error"].IsNull());
  r = Post("/webhooks/calcom", body);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(Status(r), "duplicate");
  EXPECT_EQ(publisher_.Published().size(), 1u);
  EXPECT_EQ(metrics_.Value("schedbridge_webhook_requests_total",
                           {{"provider", "calcom"}, {"source", "default"}, {"code", "202"}}),
            1);
}

TEST_F(HttpServerTest, LatencyHistogramAndRequestIds) {
  const std::string body = CompactFixture("calcom/BOOKING_CREATED.json");
  httplib::Headers h{{"X-Cal-Signature-256", HmacSha256Hex("s3cret", body)},
                     {"X-Request-Id", "trace-abc_123"}};
  auto r = client_->Post("/webhooks/calcom", h, body, "application/json");
  EXPECT_EQ(r->get_header_value("X-Request-Id"), "trace-abc_123");
  r = client_->Post("/webhooks/calcom", {{"X-Request-Id", "bad id\twith junk"}}, "{}",
                    "application/json");
  const std::string generated = r->get_header_value("X-Request-Id");
  EXPECT_EQ(generated.size(), 16u);
  const std::string text = metrics_.Render();
  EXPECT_NE(
      text.find("schedbridge_webhook_duration_seconds_bucket{provider=\"calcom\",le=\"+Inf\"} 2"),
      std::string::npos)
      << text;
  EXPECT_NE(text.find("schedbridge_webhook_duration_seconds_count{provider=\"calcom\"} 2"),
            std::string::npos);
  // Bucket bounds as written, so le="0.025" queries match.
  EXPECT_NE(
      text.find("schedbridge_webhook_duration_seconds_bucket{provider=\"calcom\",le=\"0.025\"}"),
      std::string::npos)
      << text;
  EXPECT_NE(text.find("le=\"0.0025\""), std::string::npos);
}

TEST_F(HttpServerTest, NamedSourceUsesItsOwnSecret) {
  const std::string body = CompactFixture("calcom/BOOKING_CREATED.json");
  EXPECT_EQ(Post("/webhooks/calcom/team-b", body, "s3cret")->status, 401);
  auto r = Post("/webhooks/calcom/team-b", body, "b-secret");
  EXPECT_EQ(r->status, 202);
  ASSERT_EQ(publisher_.Published().size(), 1u);
  EXPECT_NE(publisher_.Published()[0].value.find("\"source\":\"team-b\""), std::string::npos);
}

TEST_F(HttpServerTest, ReplacedSecretsApplyToTheNextRequest) {
  const std::string body = CompactFixture("calcom/BOOKING_CREATED.json");
  std::vector<SourceConfig> rotated = config_.sources;
  rotated[0].secrets = {"rotated-secret"};
  sources_->Replace(rotated);
  EXPECT_EQ(Post("/webhooks/calcom", body, "s3cret")->status, 401);
  EXPECT_EQ(Post("/webhooks/calcom", body, "rotated-secret")->status, 202);
}

TEST_F(HttpServerTest, DeadLettered) {
  auto r =
      Post("/webhooks/calcom", CompactFixture("calcom/BOOKING_CREATED_with_payloadTemplate.json"));
  EXPECT_EQ(r->status, 202);
  EXPECT_EQ(Status(r), "dead_lettered");
  EXPECT_NE(r->body.find("custom payload template"), std::string::npos);
}

TEST_F(HttpServerTest, Unauthorized) {
  const std::string body = CompactFixture("calcom/BOOKING_CREATED.json");
  auto r = Post("/webhooks/calcom", body, "wrong");
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(Status(r), "unauthorized");
  EXPECT_EQ(r->body.find("s3cret"), std::string::npos);
  EXPECT_EQ(r->body.find(HmacSha256Hex("wrong", body)), std::string::npos);
  EXPECT_EQ(Post("/webhooks/calcom", body, "")->status, 401);
  EXPECT_TRUE(publisher_.Published().empty());
  // Nor in metrics labels.
  const std::string metrics = metrics_.Render();
  EXPECT_EQ(metrics.find("s3cret"), std::string::npos);
  EXPECT_EQ(metrics.find(HmacSha256Hex("wrong", body)), std::string::npos);
  EXPECT_EQ(metrics_.Value("schedbridge_verification_failures_total",
                           {{"provider", "calcom"}, {"reason", "bad_signature"}}),
            1);
}

TEST_F(HttpServerTest, NotFound) {
  auto r = Post("/webhooks/zoom", "{}");
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(Status(r), "not_found");
  EXPECT_NE(r->body.find("unknown provider"), std::string::npos);
  r = Post("/webhooks/calcom/nobody", "{}");
  EXPECT_EQ(r->status, 404);
  EXPECT_NE(r->body.find("no source"), std::string::npos);
  r = client_->Get("/nothing-here");
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(Status(r), "not_found");
}

/// The log line of each webhook answer (the server logs on its own threads).
std::vector<rapidjson::Document> WebhookLogLines(const std::string& captured) {
  std::vector<rapidjson::Document> out;
  std::istringstream lines(captured);
  for (std::string line; std::getline(lines, line);) {
    rapidjson::Document d;
    if (json::Parse(line, d).ok && json::StringAt(&d, "event") == "webhook") {
      out.push_back(std::move(d));
    }
  }
  return out;
}

TEST_F(HttpServerTest, TheLogLineNamesWhatWentWrong) {
  log::SetTextFormat(false);
  log::SetLevel(log::Level::kInfo);
  ::testing::internal::CaptureStderr();
  Post("/webhooks/calcom/nobody", "{}");
  Post("/webhooks/calcom", CompactFixture("calcom/BOOKING_CREATED_with_payloadTemplate.json"));
  Post("/webhooks/calcom", CompactFixture("calcom/BOOKING_CREATED.json"), "wrong");
  const std::vector<rapidjson::Document> logged =
      WebhookLogLines(::testing::internal::GetCapturedStderr());
  ASSERT_EQ(logged.size(), 3u);
  // A 404: the bounded label stays "unknown", the detail names what was asked for.
  EXPECT_EQ(json::StringAt(&logged[0], "source"), "unknown");
  EXPECT_NE(json::StringAt(&logged[0], "detail").value_or("").find("\"nobody\""),
            std::string::npos);
  // A dead letter: its id and its reason.
  EXPECT_FALSE(json::StringAt(&logged[1], "dead_letter_id").value_or("").empty());
  EXPECT_NE(json::StringAt(&logged[1], "detail").value_or("").find("payload template"),
            std::string::npos);
  // A 401: why.
  EXPECT_FALSE(json::StringAt(&logged[2], "detail").value_or("").empty());
  EXPECT_FALSE(json::StringAt(&logged[2], "dead_letter_id"));  // empty fields are left out
}

TEST_F(HttpServerTest, MethodNotAllowed) {
  std::vector<httplib::Result> results;
  results.push_back(client_->Get("/webhooks/calcom"));
  results.push_back(client_->Put("/webhooks/calcom", "{}", "application/json"));
  results.push_back(client_->Delete("/webhooks/calcom/team-b"));
  for (auto& r : results) {
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 405);
    EXPECT_EQ(r->get_header_value("Allow"), "POST");
    EXPECT_EQ(Status(r), "method_not_allowed");
  }
}

TEST_F(HttpServerTest, BadRequestAndUnsupportedMediaType) {
  auto r = Post("/webhooks/calcom", "");
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(Status(r), "bad_request");
  r = Post("/webhooks/calcom", "<xml/>", "s3cret", "text/xml");
  EXPECT_EQ(r->status, 415);
  EXPECT_EQ(Status(r), "unsupported_media_type");
  EXPECT_TRUE(publisher_.Published().empty());
}

TEST_F(HttpServerTest, PayloadTooLarge) {
  auto r = Post("/webhooks/calcom", std::string(65 * 1024, ' '));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(Status(r), "payload_too_large");
  EXPECT_TRUE(publisher_.Published().empty());
}

TEST_F(HttpServerTest, UnavailableWithRetryAfterWhenKafkaDoesNotAck) {
  publisher_.mode = FakePublisher::Mode::kHold;
  const auto started = std::chrono::steady_clock::now();
  auto r = Post("/webhooks/calcom", CompactFixture("calcom/BOOKING_CREATED.json"));
  const auto waited = std::chrono::steady_clock::now() - started;
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(Status(r), "unavailable");
  EXPECT_EQ(r->get_header_value("Retry-After"), "5");
  EXPECT_GE(waited, std::chrono::milliseconds(300));  // it did wait for the ack deadline
  publisher_.Release(false);
}

TEST_F(HttpServerTest, ConcurrentRequestsDoNotSerialize) {
  // Every publish is held until all eight requests are in flight at once.
  publisher_.mode = FakePublisher::Mode::kHold;
  config_.pipeline.ack_timeout = std::chrono::milliseconds(30000);
  auto pipeline = std::make_unique<Pipeline>(config_.pipeline, publisher_, clock_);
  WebhookServer server(config_.http, *sources_, *pipeline, ProviderRegistry::BuiltIn(), metrics_);
  std::string error;
  const int port = server.Bind("127.0.0.1", 0, error);
  ASSERT_GT(port, 0) << error;
  server.Start();
  std::vector<std::thread> clients;
  std::atomic<int> accepted{0};
  for (int i = 0; i < 8; ++i) {
    clients.emplace_back([&, i] {
      httplib::Client c("127.0.0.1", port);
      const std::string body =
          R"({"triggerEvent":"BOOKING_CREATED","createdAt":"2025-01-01T00:00:0)" +
          std::to_string(i) + R"(Z","payload":{"uid":"c)" + std::to_string(i) + "\"}}";
      httplib::Headers h{{"X-Cal-Signature-256", HmacSha256Hex("s3cret", body)}};
      auto r = c.Post("/webhooks/calcom", h, body, "application/json");
      if (r && r->status == 202) ++accepted;
    });
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (publisher_.Published().size() < 8 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(publisher_.Published().size(), 8u);  // all eight waiting for an ack at the same time
  publisher_.Release(true);
  for (auto& t : clients) t.join();
  EXPECT_EQ(accepted.load(), 8);
  server.Stop(std::chrono::seconds(2));
}

TEST_F(HttpServerTest, TheWebhookPortAnswersOnlyWebhooksAndHealthz) {
  auto r = client_->Get("/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(Status(r), "ok");
  for (const char* admin_only : {"/readyz", "/metrics"}) {
    r = client_->Get(admin_only);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404) << admin_only;
    EXPECT_EQ(Status(r), "not_found");
  }
}

/// The admin port on an ephemeral loopback port.
class AdminServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    log::SetLevel(log::Level::kOff);
    metrics_.Describe("schedbridge_webhook_requests_total", "counter", "requests");
    admin_ = std::make_unique<AdminServer>(
        metrics_, [this]() -> std::string { return ready_ ? "" : "kafka_unavailable"; });
    std::string error;
    port_ = admin_->Bind("127.0.0.1", 0, error);
    ASSERT_GT(port_, 0) << error;
    admin_->Start();
    client_ = std::make_unique<httplib::Client>("127.0.0.1", port_);
  }
  Metrics metrics_;
  std::atomic<bool> ready_{true};
  std::unique_ptr<AdminServer> admin_;
  int port_ = 0;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(AdminServerTest, ServesHealthReadinessAndMetrics) {
  EXPECT_EQ(client_->Get("/healthz")->status, 200);
  EXPECT_EQ(client_->Get("/readyz")->status, 200);
  ready_ = false;
  auto r = client_->Get("/readyz");
  EXPECT_EQ(r->status, 503);
  EXPECT_NE(r->body.find("kafka_unavailable"), std::string::npos);
  ready_ = true;
  EXPECT_EQ(client_->Get("/readyz")->status, 200);
  admin_->BeginDrain();
  r = client_->Get("/readyz");
  EXPECT_EQ(r->status, 503);
  EXPECT_NE(r->body.find("draining"), std::string::npos);
  r = client_->Get("/metrics");
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->body.find("# TYPE schedbridge_webhook_requests_total counter"), std::string::npos);
  EXPECT_EQ(client_->Post("/webhooks/calcom", "{}", "application/json")->status, 404);
}

// cpp-httplib >= 0.41 stops a header line at 32 KiB (0.11 read it whole).
TEST_F(AdminServerTest, AnEndlessHeaderLineIsCutShort) {
  const auto line = testing::SendEndlessHeaderLine(port_, "GET /metrics HTTP/1.1", 64u << 20);
  EXPECT_LT(line.sent, 64u << 20) << "the admin port kept reading a header line";
  EXPECT_NE(testing::StatusOf(line.answer), 200) << line.answer;
  auto r = client_->Get("/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

/// Sends `bytes` on each of `fds` without blocking (a full socket buffer
/// just skips that client this round).
void SendToAll(const std::vector<int>& fds, const std::string& bytes) {
  for (int fd : fds) send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

TEST_F(AdminServerTest, HealthzIsAnsweredWhileAThousandSlowClientsHoldThePort) {
  RaiseOpenFileLimit();  // 1,000 clients and their 1,000 server ends
  std::vector<int> slow;
  for (int i = 0; i < 1000; ++i) {
    const int fd = testing::Connect(port_);
    ASSERT_GE(fd, 0) << "connection " << i;
    slow.push_back(fd);
  }
  SendToAll(slow, "GET /metrics HTTP/1.1\r\nHost: t\r\n");
  // Each trickles a header line every 100 ms while the probe asks.
  std::atomic<bool> stop{false};
  std::thread trickle([&] {
    for (int line = 0; !stop; ++line) {
      SendToAll(slow, "X-Slow-" + std::to_string(line) + ": a\r\n");
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  // Every slow client is connected and held before the probe comes.
  for (int i = 0; i < 100 && admin_->open_connections() < slow.size(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(admin_->open_connections(), slow.size());
  httplib::Client probe("127.0.0.1", port_);
  probe.set_connection_timeout(2, 0);
  probe.set_read_timeout(2, 0);
  for (int i = 0; i < 3; ++i) {
    auto r = probe.Get("/healthz");
    ASSERT_TRUE(r) << "try " << i << ": " << httplib::to_string(r.error());
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, R"({"status":"ok"})");
  }
  stop = true;
  trickle.join();
  for (int fd : slow) close(fd);
}

TEST(AdminLimits, ARequestTricklingInIsCutAtTheRequestDeadline) {
  log::SetLevel(log::Level::kOff);
  Metrics metrics;
  AdminLimits limits;
  limits.request_timeout = std::chrono::milliseconds(300);
  AdminServer admin(
      metrics, [] { return std::string(); }, limits);
  std::string error;
  const int port = admin.Bind("127.0.0.1", 0, error);
  ASSERT_GT(port, 0) << error;
  admin.Start();
  // A line every 50 ms: each read is quick, the whole head never comes.
  const int fd = testing::Connect(port);
  std::string head = "GET /healthz HTTP/1.1\r\nHost: t\r\n";
  send(fd, head.data(), head.size(), MSG_NOSIGNAL);
  bool closed = false;
  for (int i = 0; i < 200 && !closed; ++i) {
    const std::string line = "X-Slow-" + std::to_string(i) + ": a\r\n";
    if (send(fd, line.data(), line.size(), MSG_NOSIGNAL) <= 0) break;
    closed = testing::ClosedByPeer(fd, 50);
  }
  close(fd);
  EXPECT_TRUE(closed || admin.open_connections() == 0) << "still open after 10 s";
  EXPECT_EQ(metrics.Value("schedbridge_admin_limited_total", {{"limit", "request_timeout"}}), 1);
  // An idle connection is closed too, without counting a limit.
  const int idle = testing::Connect(port);
  EXPECT_TRUE(testing::ClosedByPeer(idle, 5000));
  close(idle);
  EXPECT_EQ(metrics.Value("schedbridge_admin_limited_total", {{"limit", "request_timeout"}}), 1);
}

/// An admin port with room for 8 connections, filled by 8 clients that each
/// sent `bytes`.
class FullAdminPort : public ::testing::Test {
 protected:
  void SetUp() override {
    log::SetLevel(log::Level::kOff);
    limits_.max_connections = 8;
    admin_ = std::make_unique<AdminServer>(
        metrics_, [] { return std::string(); }, limits_);
    std::string error;
    port_ = admin_->Bind("127.0.0.1", 0, error);
    ASSERT_GT(port_, 0) << error;
    admin_->Start();
  }
  void TearDown() override {
    for (int fd : held_) close(fd);
  }

  void Fill(const std::string& bytes) {
    for (int i = 0; i < 8; ++i) held_.push_back(testing::Connect(port_));
    SendToAll(held_, bytes);
    for (int i = 0; i < 100 && admin_->open_connections() < 8; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  httplib::Result Probe() {
    httplib::Client probe("127.0.0.1", port_);
    probe.set_read_timeout(2, 0);
    return probe.Get("/healthz");
  }
  double ConnectionsLimited() {
    return metrics_.Value("schedbridge_admin_limited_total", {{"limit", "connections"}});
  }

  Metrics metrics_;
  AdminLimits limits_;
  std::unique_ptr<AdminServer> admin_;
  int port_ = 0;
  std::vector<int> held_;
};

TEST_F(FullAdminPort, MakesRoomForAProbe) {
  Fill("GET /metrics HTTP/1.1\r\n");
  ASSERT_EQ(admin_->open_connections(), 8u);
  auto r = Probe();
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, 200);
  EXPECT_LE(admin_->open_connections(), 8u);
  EXPECT_EQ(ConnectionsLimited(), 1);
  // The oldest waiting one made room: the server closed it.
  EXPECT_TRUE(testing::ClosedByPeer(held_.front(), 2000));
}

// Connections lingering after an error answer (a 413 whose body keeps
// coming) fill the cap too: they make room for a probe as well.
TEST_F(FullAdminPort, ConnectionsLingeringAfterAnErrorMakeRoomForAProbe) {
  Fill("POST /metrics HTTP/1.1\r\nContent-Length: 100000\r\n\r\n" + std::string(2048, 'x'));
  ASSERT_EQ(admin_->open_connections(), 8u);
  auto r = Probe();
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, 200);
  EXPECT_GE(ConnectionsLimited(), 1);
}

TEST_F(AdminServerTest, BadRequestsGetTheirAnswersAndCount) {
  struct Case {
    std::string request;
    int status;
  };
  const std::vector<Case> cases = {
      {"HEAD /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", 200},
      {"GET /healthz?verbose=1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", 200},
      {"POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", 404},
      {"GET /nothing HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", 404},
      {"GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n", 413},
      {"GET /healthz HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n1;" +
           std::string(40000, 'e'),
       413},
      {"GET /healthz HTTP/1.1\r\nHost: t\r\nX-J: " + std::string(9000, 'j') + "\r\n\r\n", 431},
      {"HELLO\r\n\r\n", 400},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(testing::RawStatus(port_, c.request), c.status) << c.request.substr(0, 60);
  }
  EXPECT_EQ(metrics_.Value("schedbridge_admin_limited_total", {{"limit", "body_bytes"}}), 2);
  EXPECT_EQ(metrics_.Value("schedbridge_admin_limited_total", {{"limit", "head_bytes"}}), 1);
  // Keep-alive: two requests on one connection, answered in order.
  const int fd = testing::Connect(port_);
  const std::string two =
      "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\nGET /readyz HTTP/1.1\r\nHost: t\r\n\r\n";
  send(fd, two.data(), two.size(), MSG_NOSIGNAL);
  const std::string answers = testing::ReadAnswers(fd, 2, 3000);
  close(fd);
  EXPECT_NE(answers.find(R"({"status":"ok"})"), std::string::npos) << answers;
  EXPECT_NE(answers.find(R"({"status":"ready"})"), std::string::npos) << answers;
}

TEST_F(AdminServerTest, ReadinessFollowsTheCheckItIsGiven) {
  std::atomic<bool> seeded{false};
  admin_->SetReadinessCheck([&]() -> std::string { return seeded ? "" : "dedup_index_loading"; });
  auto r = client_->Get("/readyz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_NE(r->body.find("dedup_index_loading"), std::string::npos);
  seeded = true;
  r = client_->Get("/readyz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST(Ports, ASecondListenerOnATakenPortIsRefused) {
  log::SetLevel(log::Level::kOff);
  Config config;
  config.sources.push_back(SourceConfig{"calcom", "default", {"s3cret"}});
  FakePublisher publisher;
  SystemClock clock;
  Metrics metrics;
  Pipeline pipeline(config.pipeline, publisher, clock);
  SourceTable sources(config.sources);
  WebhookServer first(config.http, sources, pipeline, ProviderRegistry::BuiltIn(), metrics);
  std::string error;
  const int port = first.Bind("127.0.0.1", 0, error);
  ASSERT_GT(port, 0) << error;
  first.Start();
  WebhookServer second(config.http, sources, pipeline, ProviderRegistry::BuiltIn(), metrics);
  EXPECT_EQ(second.Bind("127.0.0.1", port, error), -1);
  EXPECT_NE(error.find("already in use"), std::string::npos) << error;

  AdminServer admin(metrics, [] { return std::string(); });
  const int admin_port = admin.Bind("127.0.0.1", 0, error);
  ASSERT_GT(admin_port, 0) << error;
  admin.Start();
  AdminServer admin2(metrics, [] { return std::string(); });
  error.clear();
  EXPECT_EQ(admin2.Bind("127.0.0.1", admin_port, error), -1) << "SO_REUSEPORT would share it";
  EXPECT_NE(error.find("admin port"), std::string::npos) << error;
  // And across kinds: the admin port cannot take the webhook port.
  AdminServer admin3(metrics, [] { return std::string(); });
  EXPECT_EQ(admin3.Bind("127.0.0.1", port, error), -1);
  admin.Stop();
  first.Stop(std::chrono::seconds(1));
}

/// A webhook port serving TLS with a self-signed certificate in a temporary
/// directory (cert.pem, key.pem; CN and an IP SAN for 127.0.0.1).
class HttpsIngress : public ::testing::Test {
 protected:
  void SetUp() override {
    log::SetLevel(log::Level::kOff);
    char dir_template[] = "/tmp/schedbridge-tls-XXXXXX";
    ASSERT_NE(mkdtemp(dir_template), nullptr);
    dir_ = dir_template;
    ASSERT_EQ(MakeCertificate("localhost"), 0);
    config_.http.io_threads = 1;
    config_.http.tls_cert_file = dir_ + "/cert.pem";
    config_.http.tls_key_file = dir_ + "/key.pem";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  int MakeCertificate(const std::string& cn) {
    const std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=" + cn +
                            " -addext subjectAltName=IP:127.0.0.1 -keyout " + dir_ +
                            "/key.pem -out " + dir_ + "/cert.pem 2>/dev/null";
    return std::system(cmd.c_str());
  }

  /// A server on the current config_, started on an ephemeral port.
  std::unique_ptr<WebhookServer> Serve(int& port) {
    auto server = std::make_unique<WebhookServer>(config_.http, sources_, pipeline_,
                                                  ProviderRegistry::BuiltIn(), metrics_);
    EXPECT_TRUE(server->Valid()) << server->tls_error();
    std::string error;
    port = server->Bind("127.0.0.1", 0, error);
    EXPECT_GT(port, 0) << error;
    server->Start();
    return server;
  }

  std::string dir_;
  Config config_;
  FakePublisher publisher_;
  SystemClock clock_;
  Metrics metrics_;
  Pipeline pipeline_{config_.pipeline, publisher_, clock_};
  SourceTable sources_{{SourceConfig{"calcom", "default", {"s3cret"}}}};
};

TEST_F(HttpsIngress, ServesWebhooksOverTls) {
  int port = 0;
  auto server = Serve(port);
  httplib::SSLClient client("127.0.0.1", port);
  client.set_ca_cert_path((dir_ + "/cert.pem").c_str());
  client.enable_server_certificate_verification(true);
  const std::string body = CompactFixture("calcom/BOOKING_CREATED.json");
  auto r = client.Post("/webhooks/calcom", {{"X-Cal-Signature-256", HmacSha256Hex("s3cret", body)}},
                       body, "application/json");
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, 202);
  // Plain HTTP to the TLS port is told so in plain HTTP, and counted.
  httplib::Client plain("127.0.0.1", port);
  auto wrong = plain.Get("/healthz");
  ASSERT_TRUE(wrong) << httplib::to_string(wrong.error());
  EXPECT_EQ(wrong->status, 400);
  EXPECT_NE(wrong->body.find("this port speaks TLS"), std::string::npos) << wrong->body;
  EXPECT_EQ(metrics_.Value("schedbridge_tls_handshake_failures_total", {{"reason", "plain_http"}}),
            1);
  server->Stop(std::chrono::seconds(2));

  config_.http.tls_key_file = dir_ + "/cert.pem";  // not a key
  WebhookServer broken(config_.http, sources_, pipeline_, ProviderRegistry::BuiltIn(), metrics_);
  EXPECT_FALSE(broken.Valid());
  EXPECT_NE(broken.tls_error().find("cannot load the TLS certificate"), std::string::npos);
}

/// The subject CN the server presents after a handshake limited to
/// [min, max] versions and `ciphers` (TLS 1.2 list), or "" if it fails.
std::string Handshake(int port, int min_version, int max_version, const char* ciphers = nullptr) {
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()),
                                                        SSL_CTX_free);
  SSL_CTX_set_min_proto_version(ctx.get(), min_version);
  SSL_CTX_set_max_proto_version(ctx.get(), max_version);
  SSL_CTX_set_security_level(ctx.get(), 0);  // let the client offer old suites
  if (ciphers != nullptr) SSL_CTX_set_cipher_list(ctx.get(), ciphers);
  const int fd = testing::Connect(port);
  if (fd < 0) return "";
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(ctx.get()), SSL_free);
  SSL_set_fd(ssl.get(), fd);
  std::string cn;
  if (SSL_connect(ssl.get()) == 1) {
    X509* cert = SSL_get1_peer_certificate(ssl.get());
    char buf[256] = {};
    if (cert != nullptr) {
      X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, sizeof buf);
      X509_free(cert);
    }
    cn = buf;
  }
  close(fd);
  return cn;
}

TEST_F(HttpsIngress, ForwardSecretAeadOnlyAndTheCertificateReloads) {
  ASSERT_EQ(MakeCertificate("first"), 0);
  int port = 0;
  auto server = Serve(port);
  EXPECT_EQ(Handshake(port, TLS1_2_VERSION, TLS1_3_VERSION), "first");
  EXPECT_EQ(Handshake(port, TLS1_2_VERSION, TLS1_2_VERSION), "first");
  EXPECT_EQ(Handshake(port, TLS1_VERSION, TLS1_1_VERSION), "") << "TLS 1.0/1.1 accepted";
  // Not forward secret (RSA key exchange), CBC with SHA-1: refused.
  EXPECT_EQ(Handshake(port, TLS1_2_VERSION, TLS1_2_VERSION, "AES128-GCM-SHA256"), "");
  EXPECT_EQ(Handshake(port, TLS1_2_VERSION, TLS1_2_VERSION, "ECDHE-RSA-AES128-SHA"), "");
  // A renewed certificate: new connections get it without a restart.
  ASSERT_EQ(MakeCertificate("second"), 0);
  std::string error;
  ASSERT_TRUE(server->ReloadTls(config_.http, error)) << error;
  EXPECT_EQ(Handshake(port, TLS1_2_VERSION, TLS1_3_VERSION), "second");
  // A broken one is refused and the current one stays.
  std::ofstream(dir_ + "/cert.pem") << "not a certificate";
  EXPECT_FALSE(server->ReloadTls(config_.http, error));
  EXPECT_EQ(Handshake(port, TLS1_2_VERSION, TLS1_3_VERSION), "second");
  server->Stop(std::chrono::seconds(2));

  config_.http.tls_min_version = "1.3";
  ASSERT_EQ(MakeCertificate("third"), 0);
  auto strict = Serve(port);
  EXPECT_EQ(Handshake(port, TLS1_2_VERSION, TLS1_2_VERSION), "");
  EXPECT_EQ(Handshake(port, TLS1_3_VERSION, TLS1_3_VERSION), "third");
  strict->Stop(std::chrono::seconds(2));
}

TEST_F(HttpServerTest, SpooledSourceIsAnswered202SpooledWhileKafkaIsDown) {
  char tmpl[] = "/tmp/schedbridge-http-spool-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  SpoolOptions o;
  o.dir = tmpl;
  o.keys = {"spool-key-for-tests-0123456789"};
  o.topics = {config_.pipeline.events_topic, config_.pipeline.dlq_topic};
  std::string error;
  auto spool = Spool::Open(o, publisher_, nullptr, error);
  ASSERT_TRUE(spool) << error;
  pipeline_->AttachSpool(spool.get());
  SourceConfig spooled{"calcom", "no-retries", {"s3cret"}};
  spooled.ack = AckMode::kSpool;
  sources_->Replace({SourceConfig{"calcom", "default", {"s3cret"}}, spooled});
  publisher_.mode = FakePublisher::Mode::kFail;

  const std::string body = CompactFixture("calcom/BOOKING_CREATED.json");
  auto r = Post("/webhooks/calcom/no-retries", body);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 202) << r->body;
  EXPECT_EQ(Status(r), "spooled");
  EXPECT_EQ(spool->stats().records, 1u);
  r = Post("/webhooks/calcom/no-retries", body);  // a retry while it waits in the spool
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(Status(r), "duplicate");
  // The Kafka-acked source on the same process still says 503.
  r = Post("/webhooks/calcom", CompactFixture("calcom/BOOKING_CANCELLED.json"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(metrics_.Value("schedbridge_spooled_total", {{"provider", "calcom"}}), 1);
  std::filesystem::remove_all(tmpl);
}

/// The webhook port's I/O threads: as set, else one per CPU the process
/// may use (here: a thread pinned to one CPU builds the server).
TEST(HttpServerThreads, OnePerUsableCpuUnlessSet) {
  struct NoRoutes : Handler {
    Routed Route(const RequestHead&) override { return {}; }
  } handler;
  Metrics metrics;
  HttpSettings settings;
  settings.io_threads = 3;
  EXPECT_EQ(HttpServer(settings, handler, metrics).io_threads(), 3);
  settings.io_threads = 0;
  EXPECT_EQ(HttpServer(settings, handler, metrics).io_threads(), cpus::Usable());
  int pinned = 0;
  testing::OnOneCpu([&] { pinned = HttpServer(settings, handler, metrics).io_threads(); });
  EXPECT_EQ(pinned, 1);
}

}  // namespace
}  // namespace bridge
