// Against a real Apache Kafka broker: the real `schedbridge serve` binary,
// signed webhooks over HTTP, and the topics read back.

#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "bridge/kafka/rdkafka_publisher.h"
#include "bridge/util/json.h"
#include "kafka_helpers.h"
#include "support.h"

namespace bridge::testing {
namespace {

constexpr int kEventPartitions = 6;

class BrokerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    brokers_ = TestBrokers();
    events_ = RandomName("events");
    dlq_ = RandomName("dlq");
    CreateTopic(brokers_, events_, kEventPartitions);
    CreateTopic(brokers_, dlq_, 3);
  }

  std::map<std::string, std::string> Env() const {
    return {{"SCHEDBRIDGE_KAFKA_BROKERS", brokers_},
            {"SCHEDBRIDGE_TOPIC_EVENTS", events_},
            {"SCHEDBRIDGE_TOPIC_DLQ", dlq_},
            {"SCHEDBRIDGE_SECRET_CALCOM", "rotated-out-secret,test-secret-123"},
            {"SCHEDBRIDGE_ACK_TIMEOUT_MS", "15000"}};
  }

  static httplib::Result Post(int port, const std::string& body, const std::string& secret) {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(30, 0);
    httplib::Headers h{{"X-Cal-Signature-256", HmacSha256Hex(secret, body)},
                       {"X-Cal-Webhook-Version", "2021-10-20"}};
    return c.Post("/webhooks/calcom", h, body, "application/json");
  }

  static std::vector<std::string> Ids(const std::string& response) {
    rapidjson::Document doc;
    std::vector<std::string> ids;
    if (!json::Parse(response, doc).ok || !doc.IsObject() || !doc.HasMember("event_ids"))
      return ids;
    for (const auto& v : doc["event_ids"].GetArray()) ids.emplace_back(v.GetString());
    return ids;
  }

  std::string brokers_, events_, dlq_;
};

TEST_F(BrokerTest, WebhooksArriveOnTheTopicsAsPromised) {
  ServiceProcess service(Env());
  ASSERT_TRUE(service.WaitReady(std::chrono::seconds(30))) << service.Log();
  const int port = service.port();

  auto created = Post(port, CompactFixture("calcom/BOOKING_CREATED.json"), "test-secret-123");
  ASSERT_TRUE(created);
  ASSERT_EQ(created->status, 202) << created->body;
  auto rescheduled =
      Post(port, CompactFixture("calcom/BOOKING_RESCHEDULED.json"), "test-secret-123");
  ASSERT_EQ(rescheduled->status, 202) << rescheduled->body;
  auto templated = Post(port, CompactFixture("calcom/BOOKING_CREATED_with_payloadTemplate.json"),
                        "test-secret-123");
  ASSERT_EQ(templated->status, 202);
  EXPECT_NE(templated->body.find("dead_lettered"), std::string::npos);
  auto forged = Post(port, CompactFixture("calcom/BOOKING_CANCELLED.json"), "not-the-secret");
  EXPECT_EQ(forged->status, 401);
  auto duplicate = Post(port, CompactFixture("calcom/BOOKING_CREATED.json"), "test-secret-123");
  EXPECT_EQ(duplicate->status, 200);
  EXPECT_NE(duplicate->body.find("duplicate"), std::string::npos);

  std::vector<std::string> answered = Ids(created->body);
  for (const auto& id : Ids(rescheduled->body)) answered.push_back(id);
  ASSERT_EQ(answered.size(), 3u);

  const auto events = Consume(brokers_, events_, 3);
  ASSERT_EQ(events.size(), 3u);
  std::set<std::string> consumed_ids;
  std::map<std::string, std::string> type_by_key;
  for (const Consumed& m : events) {
    EXPECT_VALID_AGAINST("scheduling-event.v1.json", m.value);
    EXPECT_EQ(m.partition, Murmur2Partition(m.key, kEventPartitions)) << m.key;
    EXPECT_EQ(m.headers.at("ce_specversion"), "1.0");
    EXPECT_EQ(m.headers.at("ce_subject"), m.key);
    EXPECT_EQ(m.headers.at("content-type"), "application/json");
    EXPECT_NE(m.value.find("\"event_id\":\"" + m.headers.at("ce_id") + "\""), std::string::npos);
    consumed_ids.insert(m.headers.at("ce_id"));
    type_by_key[m.key + " " + m.headers.at("ce_type")] = m.value;
  }
  EXPECT_EQ(consumed_ids, std::set<std::string>(answered.begin(), answered.end()));
  EXPECT_TRUE(type_by_key.count("calcom:x7Kq2RmN9vTb4LpWc8ZdYe schedbridge.booking.created"));
  ASSERT_TRUE(type_by_key.count("calcom:x7Kq2RmN9vTb4LpWc8ZdYe schedbridge.booking.rescheduled"));
  ASSERT_TRUE(type_by_key.count("calcom:Nw4GhT7cQe2XbVk9Ls1PzA schedbridge.booking.created"));
  EXPECT_NE(type_by_key["calcom:x7Kq2RmN9vTb4LpWc8ZdYe schedbridge.booking.rescheduled"].find(
                "\"rescheduled_to_uid\":\"calcom:Nw4GhT7cQe2XbVk9Ls1PzA\""),
            std::string::npos);
  EXPECT_NE(type_by_key["calcom:Nw4GhT7cQe2XbVk9Ls1PzA schedbridge.booking.created"].find(
                "\"previous_uid\":\"calcom:x7Kq2RmN9vTb4LpWc8ZdYe\""),
            std::string::npos);

  const auto dead = Consume(brokers_, dlq_, 1);
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].key, "calcom:x7Kq2RmN9vTb4LpWc8ZdYe");
  EXPECT_VALID_AGAINST("dead-letter.v1.json", dead[0].value);
  EXPECT_NE(dead[0].value.find("\"reason\":\"custom_template\""), std::string::npos);
  EXPECT_EQ(dead[0].value.find("test-secret-123"), std::string::npos);

  // Exactly what was answered 2xx, nothing for the 401 or the duplicate.
  EXPECT_EQ(MessageCount(brokers_, events_), 3);
  EXPECT_EQ(MessageCount(brokers_, dlq_), 1);

  EXPECT_EQ(service.Stop(SIGTERM), 0) << service.Log();
  EXPECT_NE(service.Log().find("\"event\":\"stopped\""), std::string::npos);
}

TEST_F(BrokerTest, ProducerIsIdempotentAgainstThisBroker) {
  KafkaSettings settings;
  settings.brokers = brokers_;
  settings.properties["statistics.interval.ms"] = "100";
  std::string error;
  auto publisher = RdKafkaPublisher::Create(settings, error);
  ASSERT_TRUE(publisher) << error;
  EXPECT_EQ(publisher->EffectiveProperty("enable.idempotence"), "true");
  EXPECT_EQ(publisher->EffectiveProperty("acks"), "-1");  // librdkafka's spelling of all
  EXPECT_EQ(publisher->EffectiveProperty("partitioner"), "murmur2_random");
  auto pending = publisher->Publish(
      {{events_, "k", "v", {}}}, std::chrono::steady_clock::now() + std::chrono::seconds(15), {});
  EXPECT_EQ(pending->Wait(std::chrono::steady_clock::now() + std::chrono::seconds(15)).status,
            PublishStatus::kAcked);
  // The broker assigned a producer id: idempotence was negotiated, not just asked for
  // (librdkafka < 2.8 switches it off silently against Kafka 4.x brokers).
  std::string stats;
  for (int i = 0; i < 50; ++i) {
    stats = publisher->LastStatistics();
    if (stats.find("\"idemp_state\":\"Assigned\"") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  rapidjson::Document doc;
  ASSERT_TRUE(json::Parse(stats, doc).ok) << stats;
  EXPECT_EQ(json::StringAt(&doc, "eos.idemp_state"), "Assigned");
  ASSERT_NE(json::Path(&doc, "eos.producer_id"), nullptr);
  EXPECT_GE(doc["eos"]["producer_id"].GetInt64(), 0);
  EXPECT_EQ(publisher->Close(std::chrono::seconds(5)), 0);
}

// The size the pipeline checks a delivery's messages against is one this
// producer and this broker take; one byte more, by MessageBytes(), and the
// producer refuses it for good (kTooLarge), not as a failure to retry.
TEST_F(BrokerTest, TheLargestMessageThePipelineAllowsIsAccepted) {
  KafkaSettings settings;
  settings.brokers = brokers_;
  std::string error;
  auto publisher = RdKafkaPublisher::Create(settings, error);
  ASSERT_TRUE(publisher) << error;
  const size_t most = publisher->MaxMessageBytes();
  EXPECT_GT(most, 990000u);  // librdkafka's 1,000,000 less its framing
  EXPECT_LT(most, 1000000u);
  OutgoingMessage m{events_, "size-test", "", {{"content-type", "application/json"}}};
  m.value.assign(most - MessageBytes(m), 'x');
  ASSERT_EQ(MessageBytes(m), most);
  const auto deadline = [] { return std::chrono::steady_clock::now() + std::chrono::seconds(15); };
  EXPECT_EQ(publisher->Publish({m}, deadline(), {})->Wait(deadline()).status,
            PublishStatus::kAcked);
  // Past what librdkafka itself takes (message.max.bytes): refused at once, as too large.
  m.value.append(2000, 'y');
  const PublishOutcome refused = publisher->Publish({m}, deadline(), {})->Wait(deadline());
  EXPECT_EQ(refused.status, PublishStatus::kTooLarge) << refused.error;
  // A limit with no room for an event is a configuration error, not a 413 for everything.
  settings.properties["message.max.bytes"] = "1500";
  EXPECT_EQ(RdKafkaPublisher::Create(settings, error), nullptr);
  EXPECT_NE(error.find("kafka.message.max.bytes is 1500: too small"), std::string::npos) << error;
}

TEST_F(BrokerTest, UnreachableBrokerAnswers503AndNotReady) {
  auto env = Env();
  env["SCHEDBRIDGE_KAFKA_BROKERS"] = "127.0.0.1:" + std::to_string(UnusedPort());
  env["SCHEDBRIDGE_ACK_TIMEOUT_MS"] = "1500";
  ServiceProcess service(env);
  httplib::Client c("127.0.0.1", service.admin_port());
  EXPECT_EQ(c.Get("/healthz")->status, 200);
  EXPECT_EQ(c.Get("/readyz")->status, 503);
  httplib::Client w("127.0.0.1", service.port());
  EXPECT_EQ(w.Get("/healthz")->status, 200);  // for load balancers, on the webhook port too
  const auto started = std::chrono::steady_clock::now();
  auto r = Post(service.port(), CompactFixture("calcom/BOOKING_CREATED.json"), "test-secret-123");
  const auto waited = std::chrono::steady_clock::now() - started;
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503) << r->body;
  EXPECT_EQ(r->get_header_value("Retry-After"), "5");
  EXPECT_LT(waited, std::chrono::seconds(10));  // bounded by the ack deadline, not a hang
  EXPECT_EQ(service.Stop(SIGTERM), 0) << service.Log();
}

std::string UniqueCalcomBody() {
  static int n = 0;
  return R"({"triggerEvent":"BOOKING_CREATED","createdAt":"2026-01-01T00:00:00Z","payload":{"uid":"rot-)" +
         std::to_string(getpid()) + "-" + std::to_string(++n) + "\"}}";
}

void WriteAtomically(const std::string& path, const std::string& text) {
  std::ofstream(path + ".tmp") << text;
  std::filesystem::rename(path + ".tmp", path);  // like a Kubernetes Secret update
}

TEST_F(BrokerTest, SecretFilesAreReloadedWithoutRestart) {
  char dir_template[] = "/tmp/schedbridge-rot-XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string secret = std::string(dir_template) + "/calcom";
  WriteAtomically(secret, "old-secret-abcdef\n");
  auto env = Env();
  env.erase("SCHEDBRIDGE_SECRET_CALCOM");
  env["SCHEDBRIDGE_SECRET_CALCOM_FILE"] = secret;
  env["SCHEDBRIDGE_RELOAD_INTERVAL_MS"] = "200";
  {
    ServiceProcess service(env);
    ASSERT_TRUE(service.WaitReady(std::chrono::seconds(30))) << service.Log();
    EXPECT_EQ(Post(service.port(), UniqueCalcomBody(), "old-secret-abcdef")->status, 202);
    WriteAtomically(secret, "new-secret-abcdef\n");
    int status = 0;
    for (int i = 0; i < 150 && status != 202; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      status = Post(service.port(), UniqueCalcomBody(), "new-secret-abcdef")->status;
    }
    EXPECT_EQ(status, 202) << service.Log();
    EXPECT_EQ(Post(service.port(), UniqueCalcomBody(), "old-secret-abcdef")->status, 401);
    EXPECT_NE(service.Log().find("\"trigger\":\"file change\""), std::string::npos);
    EXPECT_EQ(service.Log().find("new-secret-abcdef"), std::string::npos);  // never logged
    EXPECT_EQ(service.Stop(SIGTERM), 0);
  }
  // Polling off: only SIGHUP reloads.
  WriteAtomically(secret, "old-secret-abcdef\n");
  env["SCHEDBRIDGE_RELOAD_INTERVAL_MS"] = "0";
  ServiceProcess service(env);
  ASSERT_TRUE(service.WaitReady(std::chrono::seconds(30))) << service.Log();
  WriteAtomically(secret, "hup-secret-abcdef\n");
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(Post(service.port(), UniqueCalcomBody(), "old-secret-abcdef")->status, 202);
  service.Signal(SIGHUP);
  int status = 0;
  for (int i = 0; i < 150 && status != 202; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    status = Post(service.port(), UniqueCalcomBody(), "hup-secret-abcdef")->status;
  }
  EXPECT_EQ(status, 202) << service.Log();
  EXPECT_NE(service.Log().find("\"trigger\":\"SIGHUP\""), std::string::npos);
  EXPECT_EQ(service.Stop(SIGTERM), 0);
  std::filesystem::remove_all(dir_template);
}

std::string FixtureFile(const std::string& name) {
  std::ifstream in(std::string(SCHEDBRIDGE_TEST_KAFKA_DIR) + "/" + name);
  std::string line;
  std::getline(in, line);
  return line;
}

TEST_F(BrokerTest, KafkaOverTlsAndSaslThroughThePassthrough) {
  const std::string ca = std::string(SCHEDBRIDGE_TEST_KAFKA_DIR) + "/ca.pem";
  auto tls = Env();
  tls["SCHEDBRIDGE_KAFKA_BROKERS"] = FixtureFile("bootstrap-ssl");
  tls["SCHEDBRIDGE_KAFKA_SECURITY_PROTOCOL"] = "SSL";
  tls["SCHEDBRIDGE_KAFKA_SSL_CA_LOCATION"] = ca;
  std::set<std::string> ids;
  {
    ServiceProcess service(tls);
    ASSERT_TRUE(service.WaitReady(std::chrono::seconds(30))) << service.Log();
    auto r = Post(service.port(), UniqueCalcomBody(), "test-secret-123");
    ASSERT_EQ(r->status, 202) << r->body;
    for (const auto& id : Ids(r->body)) ids.insert(id);
    EXPECT_EQ(service.Stop(SIGTERM), 0);
  }
  auto sasl = tls;
  sasl["SCHEDBRIDGE_KAFKA_BROKERS"] = FixtureFile("bootstrap-sasl-ssl");
  sasl["SCHEDBRIDGE_KAFKA_SECURITY_PROTOCOL"] = "SASL_SSL";
  sasl["SCHEDBRIDGE_KAFKA_SASL_MECHANISMS"] = "PLAIN";
  sasl["SCHEDBRIDGE_KAFKA_SASL_USERNAME"] = "schedbridge";
  // The password from a file (what the Kubernetes manifests do).
  sasl["SCHEDBRIDGE_KAFKA_SASL_PASSWORD_FILE"] =
      std::string(SCHEDBRIDGE_TEST_KAFKA_DIR) + "/sasl-password";
  {
    ServiceProcess service(sasl);
    ASSERT_TRUE(service.WaitReady(std::chrono::seconds(30))) << service.Log();
    auto r = Post(service.port(), UniqueCalcomBody(), "test-secret-123");
    ASSERT_EQ(r->status, 202) << r->body;
    for (const auto& id : Ids(r->body)) ids.insert(id);
    EXPECT_EQ(service.Log().find(FixtureFile("sasl-password")), std::string::npos);
    EXPECT_EQ(service.Stop(SIGTERM), 0);
  }
  // A wrong password (from the environment): never ready, webhooks 503,
  // nothing published.
  sasl.erase("SCHEDBRIDGE_KAFKA_SASL_PASSWORD_FILE");
  sasl["SCHEDBRIDGE_KAFKA_SASL_PASSWORD"] = "wrong-password";
  sasl["SCHEDBRIDGE_ACK_TIMEOUT_MS"] = "1500";
  sasl["SCHEDBRIDGE_SHUTDOWN_TIMEOUT_MS"] = "0";
  {
    ServiceProcess service(sasl);
    EXPECT_FALSE(service.WaitReady(std::chrono::seconds(3)));
    EXPECT_EQ(Post(service.port(), UniqueCalcomBody(), "test-secret-123")->status, 503);
    EXPECT_EQ(service.Stop(SIGTERM), 0);
  }
  std::set<std::string> consumed;
  for (const Consumed& m : Consume(brokers_, events_, 2)) consumed.insert(m.headers.at("ce_id"));
  EXPECT_EQ(consumed, ids);
  EXPECT_EQ(MessageCount(brokers_, events_), 2);
}

/// Signed the way each provider signs.
httplib::Headers SignedHeaders(const std::string& provider, const std::string& body,
                               const std::string& secret);

/// A temporary directory holding config.yaml with one named source,
/// `<provider>/team-x`, its secret in a file beside it; "" on failure.
std::string NamedSourceConfigDir(const std::string& provider, const std::string& secret) {
  char dir_template[] = "/tmp/schedbridge-it-XXXXXX";
  if (mkdtemp(dir_template) == nullptr) return "";
  const std::string dir = dir_template;
  std::ofstream(dir + "/team-x.secret") << secret << "\n";
  std::ofstream(dir + "/config.yaml")
      << "sources:\n  - provider: " << provider << "\n    name: team-x\n    secret_files: [" << dir
      << "/team-x.secret]\n";
  return dir;
}

// The consumer example (docs/examples/booking_report.py) over a topic filled
// through schedbridge: a reschedule chain, a no-show (and one cleared), a
// duplicate that really reaches the topic (delivered to two replicas).
TEST_F(BrokerTest, ConsumerExampleReportsExactly) {
  const std::string dir = NamedSourceConfigDir("calcom", "team-x-secret-1");
  ASSERT_FALSE(dir.empty());
  auto env = Env();
  env["SCHEDBRIDGE_SECRET_CALENDLY"] = "calendly-key";
  env["SCHEDBRIDGE_SECRET_SAVVYCAL"] = "savvycal-secret";
  env["SCHEDBRIDGE_SECRET_ORUFY"] = "orufy-token-1";
  // b does not read the topic: it stands for the race two replicas can still
  // lose (a redelivery within milliseconds), so a duplicate really lands.
  auto env_b = env;
  env_b["SCHEDBRIDGE_DEDUP_ACROSS_REPLICAS"] = "false";
  env["SCHEDBRIDGE_CONFIG"] = dir + "/config.yaml";
  ServiceProcess a(env), b(env_b);
  ASSERT_TRUE(a.WaitReady(std::chrono::seconds(30))) << a.Log();
  ASSERT_TRUE(b.WaitReady(std::chrono::seconds(30))) << b.Log();
  const std::map<std::string, std::string> secrets = {{"calcom", "test-secret-123"},
                                                      {"calendly", "calendly-key"},
                                                      {"savvycal", "savvycal-secret"},
                                                      {"orufy", "orufy-token-1"}};
  auto send = [&](const ServiceProcess& to, const std::string& provider,
                  const std::string& example) {
    httplib::Client c("127.0.0.1", to.port());
    c.set_read_timeout(30, 0);
    const std::string body = CompactFixture(provider + "/" + example + ".json");
    auto r = c.Post(("/webhooks/" + provider).c_str(),
                    SignedHeaders(provider, body, secrets.at(provider)), body, "application/json");
    return r ? r->status : -1;
  };
  for (const auto& [provider, example] : std::vector<std::pair<std::string, std::string>>{
           {"calcom", "BOOKING_CREATED"},
           {"calcom", "BOOKING_RESCHEDULED"},
           {"calcom", "BOOKING_NO_SHOW_UPDATED"},
           {"calendly", "invitee.created"},
           {"calendly", "invitee.created_rescheduled"},  // the new half first: either order works
           {"calendly", "invitee.canceled_rescheduled"},
           {"calendly", "invitee_no_show.created"},
           {"calendly", "invitee_no_show.deleted"},
           {"savvycal", "event.created"},
           {"savvycal", "event.canceled"},
           {"orufy", "CANCEL"}}) {
    ASSERT_EQ(send(a, provider, example), 202) << provider << " " << example;
  }
  ASSERT_EQ(send(a, "calcom", "BOOKING_CREATED"), 200);  // this replica knows it
  ASSERT_EQ(send(b, "calcom", "BOOKING_CREATED"), 202);  // the other one does not
  {
    // The holder of another account's secret cancels the default source's
    // booking: published (it is authenticated), set aside by the consumer.
    httplib::Client c("127.0.0.1", a.port());
    c.set_read_timeout(30, 0);
    const std::string body = CompactFixture("calcom/BOOKING_CANCELLED.json");
    auto r = c.Post("/webhooks/calcom/team-x", SignedHeaders("calcom", body, "team-x-secret-1"),
                    body, "application/json");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 202) << r->body;
  }
  ASSERT_EQ(MessageCount(brokers_, events_), 14);

  const std::string cmd = std::string(SCHEDBRIDGE_PYTHON) + " " + SCHEDBRIDGE_SOURCE_DIR +
                          "/docs/examples/booking_report.py --brokers " + brokers_ + " --topic " +
                          events_ + " --exit-at-end --json";
  FILE* pipe = popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string out;
  char buf[4096];
  size_t n = 0;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  ASSERT_EQ(pclose(pipe), 0) << out;

  rapidjson::Document report;
  ASSERT_TRUE(json::Parse(out, report).ok) << out;
  EXPECT_EQ(report["events"].GetInt(), 13);
  EXPECT_EQ(report["duplicates_dropped"].GetInt(), 1);
  EXPECT_EQ(report["source_conflicts"].GetInt(), 1);
  EXPECT_EQ(report["bookings"].GetInt(), 4);  // a reschedule chain is one booking
  EXPECT_EQ(json::Serialize(report["by_status"]), R"({"canceled":2,"confirmed":2})");
  std::vector<std::string> rows;
  for (const auto& d : report["days"].GetArray()) {
    std::string rate = d["no_show_rate"].IsNull() ? "-" : json::Serialize(d["no_show_rate"]);
    rows.push_back(std::string(d["day"].GetString()) + " " + d["provider"].GetString() + " " +
                   std::to_string(d["created"].GetInt()) + "/" +
                   std::to_string(d["canceled"].GetInt()) + "/" +
                   std::to_string(d["rescheduled"].GetInt()) + "/" +
                   std::to_string(d["no_shows"].GetInt()) + " " + rate);
  }
  // day provider created/canceled/rescheduled/no-shows no-show-rate
  EXPECT_EQ(rows, (std::vector<std::string>{
                      "2025-03-11 calcom 1/0/0/0 0.0", "2025-03-11 calendly 1/0/0/0 0.0",
                      "2025-03-11 savvycal 1/0/0/0 0.0", "2025-03-12 calcom 0/0/1/0 -",
                      "2025-03-12 calendly 0/0/1/0 -", "2025-03-14 orufy 0/1/0/0 -",
                      "2025-03-14 savvycal 0/1/0/0 -", "2025-03-20 calcom 0/0/0/1 -",
                      "2025-03-20 calendly 0/0/0/0 -"}))
      << out;
  EXPECT_EQ(a.Stop(SIGTERM), 0);
  EXPECT_EQ(b.Stop(SIGTERM), 0);
  std::filesystem::remove_all(dir);
}

httplib::Headers SignedHeaders(const std::string& provider, const std::string& body,
                               const std::string& secret) {
  if (provider == "calcom") return {{"X-Cal-Signature-256", HmacSha256Hex(secret, body)}};
  if (provider == "calendly") {
    const std::string t = std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                             std::chrono::system_clock::now().time_since_epoch())
                                             .count());
    return {
        {"Calendly-Webhook-Signature", "t=" + t + ",v1=" + HmacSha256Hex(secret, t + "." + body)}};
  }
  if (provider == "savvycal") {
    std::string sig = HmacSha256Hex(secret, body);
    for (char& c : sig) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return {{"x-savvycal-signature", "sha256=" + sig}};
  }
  return {{"Authorization", "Bearer " + secret}};  // orufy, default token auth
}

TEST_F(BrokerTest, EveryProviderEveryExampleEndToEnd) {
  const std::string dir = NamedSourceConfigDir("savvycal", "team-x-secret");
  ASSERT_FALSE(dir.empty());
  auto env = Env();
  env["SCHEDBRIDGE_SECRET_CALENDLY"] = "calendly-key";
  env["SCHEDBRIDGE_SECRET_SAVVYCAL"] = "savvycal-secret";
  env["SCHEDBRIDGE_SECRET_ORUFY"] = "orufy-token-1";
  env["SCHEDBRIDGE_CONFIG"] = dir + "/config.yaml";
  ServiceProcess service(env);
  ASSERT_TRUE(service.WaitReady(std::chrono::seconds(30))) << service.Log();

  const std::map<std::string, std::string> secrets = {{"calcom", "test-secret-123"},
                                                      {"calendly", "calendly-key"},
                                                      {"savvycal", "savvycal-secret"},
                                                      {"orufy", "orufy-token-1"}};
  std::set<std::string> answered;
  int dead_lettered = 0;
  httplib::Client c("127.0.0.1", service.port());
  c.set_read_timeout(30, 0);
  for (const auto& [provider, secret] : secrets) {
    for (const auto& f : std::filesystem::directory_iterator(FixturePath(provider))) {
      const std::string body = CompactFixture(provider + "/" + f.path().filename().string());
      auto r = c.Post(("/webhooks/" + provider).c_str(), SignedHeaders(provider, body, secret),
                      body, "application/json");
      ASSERT_TRUE(r);
      ASSERT_EQ(r->status, 202) << provider << " " << f.path() << ": " << r->body;
      if (r->body.find("dead_lettered") != std::string::npos) ++dead_lettered;
      for (const auto& id : Ids(r->body)) answered.insert(id);
      // The same delivery signed with another source's secret is refused.
      auto forged = c.Post(("/webhooks/" + provider).c_str(),
                           SignedHeaders(provider, body, "wrong-secret"), body, "application/json");
      EXPECT_EQ(forged->status, 401) << provider;
    }
  }
  // A named source from the config file, with its own secret.
  std::string team_body = CompactFixture("savvycal/event.canceled.json");
  // The same body through another source is that source's own event: one
  // source can never make another's delivery a duplicate.
  auto same =
      c.Post("/webhooks/savvycal/team-x", SignedHeaders("savvycal", team_body, "team-x-secret"),
             team_body, "application/json");
  ASSERT_EQ(same->status, 202) << same->body;
  for (const auto& id : Ids(same->body)) EXPECT_TRUE(answered.insert(id).second) << id;
  team_body.replace(team_body.find("payload_01JNZD4E5F6G7H8J9K0L1M2N3P"), 34,
                    "payload_team_x_delivery_000000001");
  auto team =
      c.Post("/webhooks/savvycal/team-x", SignedHeaders("savvycal", team_body, "team-x-secret"),
             team_body, "application/json");
  ASSERT_EQ(team->status, 202) << team->body;
  const auto team_ids = Ids(team->body);
  ASSERT_EQ(team_ids.size(), 1u);
  EXPECT_EQ(answered.count(team_ids[0]), 0u);
  answered.insert(team_ids[0]);
  EXPECT_EQ(
      c.Post("/webhooks/savvycal/team-x", SignedHeaders("savvycal", team_body, "savvycal-secret"),
             team_body, "application/json")
          ->status,
      401);

  const auto events = Consume(brokers_, events_, answered.size());
  ASSERT_EQ(events.size(), answered.size());
  std::set<std::string> consumed;
  for (const Consumed& m : events) {
    EXPECT_VALID_AGAINST("scheduling-event.v1.json", m.value);
    EXPECT_EQ(m.partition, Murmur2Partition(m.key, kEventPartitions)) << m.key;
    const std::string provider = m.key.substr(0, m.key.find(':'));
    EXPECT_TRUE(secrets.count(provider)) << m.key;
    EXPECT_EQ(m.headers.at("ce_source").rfind("/providers/" + provider + "/sources/", 0), 0u);
    consumed.insert(m.headers.at("ce_id"));
    if (m.headers.at("ce_id") == team_ids[0]) {
      EXPECT_NE(m.value.find("\"source\":\"team-x\""), std::string::npos);
      EXPECT_EQ(m.headers.at("ce_source"), "/providers/savvycal/sources/team-x");
    }
  }
  EXPECT_EQ(consumed, answered);
  EXPECT_EQ(MessageCount(brokers_, events_), static_cast<int64_t>(answered.size()));
  EXPECT_EQ(MessageCount(brokers_, dlq_), dead_lettered);
  EXPECT_EQ(service.Stop(SIGTERM), 0);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace bridge::testing
