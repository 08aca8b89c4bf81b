// Fault injection with librdkafka's mock cluster: the real publisher and
// pipeline, with brokers that go down or answer with errors. Never 2xx
// without an ack; a retry carries the same event id.

#include <gtest/gtest.h>
#include <httplib.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <thread>

#include "bridge/http/admin_server.h"
#include "bridge/kafka/rdkafka_publisher.h"
#include "bridge/pipeline/pipeline.h"
#include "bridge/providers/registry.h"
#include "bridge/util/log.h"
#include "support.h"

namespace bridge::testing {
namespace {

constexpr int16_t kProduceApiKey = 0;

class MockClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    bridge::log::SetLevel(bridge::log::Level::kOff);
    KafkaSettings settings;
    settings.brokers = "unused:9092";  // replaced by the mock cluster
    settings.properties["test.mock.num.brokers"] = "1";
    settings.properties["retry.backoff.ms"] = "20";
    std::string error;
    publisher_ = RdKafkaPublisher::Create(settings, error);
    ASSERT_TRUE(publisher_) << error;
    mock_ = rd_kafka_handle_mock_cluster(publisher_->c_handle());
    ASSERT_NE(mock_, nullptr);
    ASSERT_EQ(rd_kafka_mock_topic_create(mock_, "events", 4, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    ASSERT_EQ(rd_kafka_mock_topic_create(mock_, "dlq", 1, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    PipelineOptions options;
    options.events_topic = "events";
    options.dlq_topic = "dlq";
    options.ack_timeout = std::chrono::milliseconds(1500);
    pipeline_ = std::make_unique<Pipeline>(options, *publisher_, clock_);
  }

  IngestResult Send(const std::string& body) {
    headers_ = Headers();
    headers_.Add("X-Cal-Signature-256", HmacSha256Hex("s", body));
    return pipeline_->Ingest(calcom_, source_, Delivery{body, &headers_, {}});
  }

  const Provider& calcom_ = *ProviderRegistry::BuiltIn().Find("calcom");
  SourceConfig source_{"calcom", "default", {"s"}};
  SystemClock clock_;
  std::unique_ptr<RdKafkaPublisher> publisher_;
  rd_kafka_mock_cluster_t* mock_ = nullptr;
  std::unique_ptr<Pipeline> pipeline_;
  Headers headers_;
};

TEST_F(MockClusterTest, AFatalProducerErrorFailsLivenessSoThePodIsRestarted) {
  // librdkafka #4438: an idempotent producer can hit a fatal error after a
  // "possibly persisted" failure, and never publish again.
  Metrics metrics;
  AdminServer admin(metrics, [] { return std::string(); });
  admin.SetLivenessCheck([this] { return publisher_->LivenessProblem(); });
  std::string error;
  const int port = admin.Bind("127.0.0.1", 0, error);
  ASSERT_GT(port, 0) << error;
  admin.Start();
  httplib::Client client("127.0.0.1", port);
  auto before = client.Get("/healthz");
  ASSERT_TRUE(before);
  EXPECT_EQ(before->status, 200);
  ASSERT_EQ(rd_kafka_test_fatal_error(publisher_->c_handle(),
                                      RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                                      "injected by the test"),
            RD_KAFKA_RESP_ERR_NO_ERROR);
  for (int i = 0; i < 100 && !publisher_->Fatal(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(publisher_->Fatal());
  EXPECT_FALSE(publisher_->Ready());
  EXPECT_EQ(Send(CompactFixture("calcom/BOOKING_CREATED.json")).verdict, Verdict::kUnavailable);
  auto after = client.Get("/healthz");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 503);
  EXPECT_EQ(after->body, R"({"status":"kafka_fatal_error"})");
  admin.Stop();
}

TEST_F(MockClusterTest, HealthyClusterAcknowledges) {
  const IngestResult r = Send(CompactFixture("calcom/BOOKING_RESCHEDULED.json"));
  EXPECT_EQ(r.verdict, Verdict::kAccepted) << r.error;
  EXPECT_EQ(r.event_ids.size(), 2u);
}

TEST_F(MockClusterTest, BrokerDownIs503ThenTheRetryCarriesTheSameId) {
  ASSERT_EQ(Send(R"({"triggerEvent":"BOOKING_CREATED","payload":{"uid":"warm"}})").verdict,
            Verdict::kAccepted);
  rd_kafka_mock_broker_set_down(mock_, 1);
  const std::string body = CompactFixture("calcom/BOOKING_CREATED.json");
  const IngestResult down = Send(body);
  EXPECT_EQ(down.verdict, Verdict::kUnavailable);
  rd_kafka_mock_broker_set_up(mock_, 1);
  // The queued message may be delivered late; then the retry is a duplicate.
  IngestResult retry;
  for (int i = 0; i < 20; ++i) {
    retry = Send(body);
    if (retry.verdict != Verdict::kUnavailable) break;
  }
  EXPECT_TRUE(retry.verdict == Verdict::kAccepted || retry.verdict == Verdict::kDuplicate);
  EXPECT_EQ(retry.event_ids, down.event_ids);
}

TEST_F(MockClusterTest, RetriableProduceErrorsAreRetriedInternally) {
  rd_kafka_mock_push_request_errors(mock_, kProduceApiKey, 3, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
                                    RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                                    RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION);
  const IngestResult r = Send(CompactFixture("calcom/BOOKING_CREATED.json"));
  EXPECT_EQ(r.verdict, Verdict::kAccepted) << r.error;
}

TEST_F(MockClusterTest, PermanentProduceErrorIs503NotAccepted) {
  rd_kafka_mock_push_request_errors(mock_, kProduceApiKey, 1,
                                    RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
  const IngestResult r = Send(CompactFixture("calcom/BOOKING_CREATED.json"));
  EXPECT_EQ(r.verdict, Verdict::kUnavailable);
  EXPECT_EQ(pipeline_->recent_ids().size(), 0u);
}

TEST_F(MockClusterTest, CloseFailsWhatCannotBeDelivered) {
  rd_kafka_mock_broker_set_down(mock_, 1);
  std::atomic<int> completions{0};
  std::atomic<bool> acked{false};
  auto pending = publisher_->Publish({{"events", "k", "v", {}}},
                                     std::chrono::steady_clock::now() + std::chrono::seconds(1),
                                     [&](const PublishOutcome& o) {
                                       ++completions;
                                       acked = o.status == PublishStatus::kAcked;
                                     });
  EXPECT_EQ(publisher_->Close(std::chrono::milliseconds(300)), 1);
  EXPECT_EQ(completions.load(), 1);
  EXPECT_FALSE(acked.load());
}

}  // namespace
}  // namespace bridge::testing
