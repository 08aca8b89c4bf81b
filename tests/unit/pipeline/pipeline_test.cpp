#include "bridge/pipeline/pipeline.h"

#include <gtest/gtest.h>

#include "bridge/model/time.h"
#include "bridge/providers/registry.h"
#include "bridge/util/json.h"
#include "fake_clock.h"
#include "support.h"

namespace bridge {
namespace {

using testing::CompactFixture;
using testing::FakePublisher;
using testing::HmacSha256Hex;

class PipelineTest : public ::testing::Test {
 protected:
  PipelineTest() : pipeline_(Options(), publisher_, clock_) {}

  static PipelineOptions Options() {
    PipelineOptions o;
    o.events_topic = "events";
    o.dlq_topic = "dlq";
    o.ack_timeout = std::chrono::milliseconds(200);
    o.replica_id = "test-0";
    return o;
  }

  IngestResult Send(const std::string& body, bool sign = true) {
    headers_ = Headers();
    headers_.Add("Content-Type", "application/json");
    headers_.Add("User-Agent", "Cal.com webhooks");
    headers_.Add("X-Cal-Webhook-Version", "2021-10-20");
    if (sign) headers_.Add("X-Cal-Signature-256", HmacSha256Hex("s3cret", body));
    return pipeline_.Ingest(calcom_, source_, Delivery{body, &headers_, {}});
  }

  const Provider& calcom_ = *ProviderRegistry::BuiltIn().Find("calcom");
  SourceConfig source_{"calcom", "default", {"s3cret"}};
  FixedClock clock_ = FixedClock::AtUnixSeconds(1767225600);  // 2026-01-01T00:00:00Z
  FakePublisher publisher_;
  Pipeline pipeline_;
  Headers headers_;
};

TEST_F(PipelineTest, PublishesEventWithKeyAndCloudEventsHeaders) {
  const IngestResult r = Send(CompactFixture("calcom/BOOKING_CREATED.json"));
  ASSERT_EQ(r.verdict, Verdict::kAccepted);
  ASSERT_EQ(r.event_ids.size(), 1u);
  const auto published = publisher_.Published();
  ASSERT_EQ(published.size(), 1u);
  const OutgoingMessage& m = published[0];
  EXPECT_EQ(m.topic, "events");
  EXPECT_EQ(m.key, "calcom:x7Kq2RmN9vTb4LpWc8ZdYe");
  EXPECT_VALID_AGAINST("scheduling-event.v1.json", m.value);
  std::map<std::string, std::string> h(m.headers.begin(), m.headers.end());
  EXPECT_EQ(h["ce_specversion"], "1.0");
  EXPECT_EQ(h["ce_id"], r.event_ids[0]);
  EXPECT_EQ(h["ce_type"], "schedbridge.booking.created");
  EXPECT_EQ(h["ce_source"], "/providers/calcom/sources/default");
  EXPECT_EQ(h["ce_time"], "2025-03-11T09:12:44.318Z");
  EXPECT_EQ(h["ce_subject"], "calcom:x7Kq2RmN9vTb4LpWc8ZdYe");
  EXPECT_EQ(h["content-type"], "application/json");
  EXPECT_NE(m.value.find("\"received_at\":\"2026-01-01T00:00:00Z\""), std::string::npos);
}

TEST_F(PipelineTest, RescheduleIsTwoMessagesAndWaitsForBoth) {
  publisher_.mode = FakePublisher::Mode::kHold;
  std::thread release([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    publisher_.Release(true);
  });
  const IngestResult r = Send(CompactFixture("calcom/BOOKING_RESCHEDULED.json"));
  release.join();
  ASSERT_EQ(r.verdict, Verdict::kAccepted);
  const auto published = publisher_.Published();
  ASSERT_EQ(published.size(), 2u);
  EXPECT_EQ(published[0].key, "calcom:x7Kq2RmN9vTb4LpWc8ZdYe");
  EXPECT_EQ(published[1].key, "calcom:Nw4GhT7cQe2XbVk9Ls1PzA");
}

TEST_F(PipelineTest, DuplicateOnlyAfterAck) {
  const std::string body = CompactFixture("calcom/BOOKING_CREATED.json");
  publisher_.mode = FakePublisher::Mode::kFail;
  EXPECT_EQ(Send(body).verdict, Verdict::kUnavailable);
  publisher_.mode = FakePublisher::Mode::kAck;
  EXPECT_EQ(Send(body).verdict, Verdict::kAccepted);  // the failure was not remembered
  const IngestResult dup = Send(body);
  EXPECT_EQ(dup.verdict, Verdict::kDuplicate);
  EXPECT_EQ(publisher_.Published().size(), 1u);
  EXPECT_EQ(pipeline_.recent_ids().size(), 1u);
}

TEST_F(PipelineTest, LateAckIsRememberedSoTheRetryIsADuplicate) {
  const std::string body = CompactFixture("calcom/BOOKING_CREATED.json");
  publisher_.mode = FakePublisher::Mode::kHold;
  const IngestResult timed_out = Send(body);
  EXPECT_EQ(timed_out.verdict, Verdict::kUnavailable);
  EXPECT_NE(timed_out.error.find("deadline"), std::string::npos);
  EXPECT_EQ(pipeline_.recent_ids().size(), 0u);
  publisher_.Release(true);  // the broker acknowledges after the 503
  publisher_.mode = FakePublisher::Mode::kAck;
  EXPECT_EQ(Send(body).verdict, Verdict::kDuplicate);
  EXPECT_EQ(publisher_.Published().size(), 1u);
}

TEST_F(PipelineTest, UnauthenticatedIsNeverPublished) {
  const IngestResult r = Send(CompactFixture("calcom/BOOKING_CREATED.json"), /*sign=*/false);
  EXPECT_EQ(r.verdict, Verdict::kUnauthorized);
  EXPECT_EQ(r.verify_status, VerifyStatus::kMissingSignature);
  EXPECT_TRUE(publisher_.Published().empty());
  // Also not for a body that would dead-letter.
  headers_ = Headers();
  headers_.Add("X-Cal-Signature-256", std::string(64, 'a'));
  EXPECT_EQ(pipeline_.Ingest(calcom_, source_, Delivery{"not json", &headers_, {}}).verdict,
            Verdict::kUnauthorized);
  EXPECT_TRUE(publisher_.Published().empty());
}

TEST_F(PipelineTest, UnnormalizableBodyIsDeadLetteredRaw) {
  const std::string body = CompactFixture("calcom/BOOKING_CREATED_with_payloadTemplate.json");
  const IngestResult r = Send(body);
  ASSERT_EQ(r.verdict, Verdict::kDeadLettered);
  EXPECT_EQ(r.dead_letter_reason, "custom_template");
  const auto published = publisher_.Published();
  ASSERT_EQ(published.size(), 1u);
  const OutgoingMessage& m = published[0];
  EXPECT_EQ(m.topic, "dlq");
  EXPECT_EQ(m.key, "calcom:x7Kq2RmN9vTb4LpWc8ZdYe");
  EXPECT_VALID_AGAINST("dead-letter.v1.json", m.value);
  rapidjson::Document doc;
  ASSERT_TRUE(json::Parse(m.value, doc).ok);
  EXPECT_EQ(json::StringAt(&doc, "body"), body);
  EXPECT_EQ(json::StringAt(&doc, "body_encoding"), "utf8");
  EXPECT_EQ(json::StringAt(&doc, "headers.X-Cal-Webhook-Version"), "2021-10-20");
  EXPECT_EQ(json::Path(&doc, "headers.X-Cal-Signature-256"), nullptr);  // never signatures
  EXPECT_EQ(m.value.find(HmacSha256Hex("s3cret", body)), std::string::npos);
  EXPECT_EQ(m.value.find("s3cret"), std::string::npos);
}

TEST_F(PipelineTest, BinaryBodyIsDeadLetteredAsBase64) {
  const std::string body("\x00\xff{", 3);
  const IngestResult r = Send(body);
  ASSERT_EQ(r.verdict, Verdict::kDeadLettered);
  const auto published = publisher_.Published();
  ASSERT_EQ(published.size(), 1u);
  EXPECT_VALID_AGAINST("dead-letter.v1.json", published[0].value);
  EXPECT_NE(published[0].value.find("\"body_encoding\":\"base64\""), std::string::npos);
  EXPECT_NE(published[0].value.find("\"body\":\"AP97\""), std::string::npos);
  EXPECT_EQ(published[0].key.rfind("calcom:dl-", 0), 0u);
}

TEST_F(PipelineTest, DeadLetterThatKafkaDoesNotAcceptIs503) {
  publisher_.mode = FakePublisher::Mode::kFail;
  EXPECT_EQ(Send("not json").verdict, Verdict::kUnavailable);
}

// The client gets a fixed sentence; librdkafka's own words go to the log.
TEST_F(PipelineTest, KafkaErrorsAreNotShownToTheClient) {
  publisher_.mode = FakePublisher::Mode::kFail;
  const IngestResult r = Send(CompactFixture("calcom/BOOKING_CREATED.json"));
  EXPECT_EQ(r.verdict, Verdict::kUnavailable);
  EXPECT_EQ(r.error, "Kafka did not accept the event; retry later.");
  EXPECT_EQ(r.error.find("broker said no"), std::string::npos);
  EXPECT_EQ(r.detail, "broker said no");
}

// An event Kafka would refuse for its size (here the new booking's uid makes
// it so) is not a reason to answer 503 forever, nor to publish the other
// event of the pair on every retry: nothing goes to the events topic, and the
// delivery is kept raw on the dead-letter topic, keyed by its own id.
TEST_F(PipelineTest, AnEventLargerThanKafkaTakesDeadLettersTheWholeDelivery) {
  publisher_.max_message_bytes = 12000;
  rapidjson::Document doc;
  ASSERT_TRUE(json::Parse(CompactFixture("calcom/BOOKING_RESCHEDULED.json"), doc).ok);
  const std::string uid(3000, 'n');
  doc["payload"]["uid"].SetString(uid.data(), static_cast<rapidjson::SizeType>(uid.size()),
                                  doc.GetAllocator());
  const std::string body = json::Serialize(doc);
  ASSERT_LT(body.size(), 12000u);
  const IngestResult r = Send(body);
  ASSERT_EQ(r.verdict, Verdict::kDeadLettered) << r.error;
  EXPECT_EQ(r.dead_letter_reason, "event_too_large");
  EXPECT_NE(r.error.find("Kafka takes at most 12000"), std::string::npos) << r.error;
  const auto published = publisher_.Published();
  ASSERT_EQ(published.size(), 1u);  // the dead letter only: no half of the pair
  EXPECT_EQ(published[0].topic, "dlq");
  EXPECT_EQ(published[0].key.rfind("calcom:dl-", 0), 0u);
  EXPECT_LE(MessageBytes(published[0]), 12000u);
  EXPECT_VALID_AGAINST("dead-letter.v1.json", published[0].value);
  rapidjson::Document record;
  ASSERT_TRUE(json::Parse(published[0].value, record).ok);
  EXPECT_EQ(json::StringAt(&record, "body"), body);
  EXPECT_EQ(json::StringAt(&record, "reason"), "event_too_large");
  // The same delivery within the limit is published as events.
  publisher_.max_message_bytes = 1 << 20;
  EXPECT_EQ(Send(body).verdict, Verdict::kAccepted);
  EXPECT_EQ(publisher_.Published().size(), 3u);
}

// When even the raw record is over the limit there is nothing to keep: 413
// (never 503: the provider's retry could not succeed), nothing published.
TEST_F(PipelineTest, ADeadLetterLargerThanKafkaTakesIsTooLarge) {
  publisher_.max_message_bytes = 1000;
  const IngestResult r = Send("not json " + std::string(2000, 'x'));
  EXPECT_EQ(r.verdict, Verdict::kTooLarge);
  EXPECT_NE(r.error.find("too large to keep in Kafka, even as a dead letter"), std::string::npos)
      << r.error;
  EXPECT_TRUE(publisher_.Published().empty());
}

// librdkafka's own size check, should it count more than the pipeline's:
// also 413, not a 503 to retry forever.
TEST_F(PipelineTest, AMessageTheProducerRefusesForItsSizeIsTooLarge) {
  publisher_.mode = FakePublisher::Mode::kTooLarge;
  const IngestResult r = Send(CompactFixture("calcom/BOOKING_CREATED.json"));
  EXPECT_EQ(r.verdict, Verdict::kTooLarge);
  EXPECT_EQ(r.error, "Kafka refused the message as too large; a retry cannot succeed.");
  EXPECT_EQ(r.detail, "Broker: Message size too large");
}

// A signed body can name any event type; the record, the answer and the log
// echo it in part, so that the record stays a record and not a second body.
TEST_F(PipelineTest, AnUnknownEventTypeIsEchoedOnlyInPart) {
  // A two-byte character across the cut (bytes 124 and 125 of 128).
  const std::string type = std::string(124, 'T') + "\u00e9" + std::string(100000, 'T');
  const IngestResult r = Send(R"({"triggerEvent":")" + type + R"(","payload":{"uid":"u"}})");
  ASSERT_EQ(r.verdict, Verdict::kDeadLettered);
  EXPECT_EQ(r.dead_letter_reason, "unknown_event_type");
  EXPECT_LE(r.error.size(), 512u);
  const auto published = publisher_.Published();
  ASSERT_EQ(published.size(), 1u);
  EXPECT_VALID_AGAINST("dead-letter.v1.json", published[0].value);
  rapidjson::Document record;
  ASSERT_TRUE(json::Parse(published[0].value, record).ok);
  const auto detail = json::StringAt(&record, "detail");
  const auto event_type = json::StringAt(&record, "provider_event_type");
  ASSERT_TRUE(detail && event_type);
  EXPECT_LE(detail->size(), 512u);
  EXPECT_EQ(*event_type, std::string(124, 'T') + "…");  // 127 bytes: the é is not split
}

/// A DurableSpool in memory: what the pipeline hands over, and a switch for "full".
class MemorySpool final : public DurableSpool {
 public:
  void AppendAsync(SpoolRecord record, AppendCallback done) override {
    if (full) return done({Status::kFull, "the durable spool is full; retry later."});
    records.push_back(std::move(record));
    done({});
  }
  bool Holds(const std::vector<std::string>& ids) const override {
    for (const auto& r : records) {
      if (!ids.empty() && r.event_ids == ids) return true;
    }
    return false;
  }
  bool full = false;
  std::vector<SpoolRecord> records;
};

TEST_F(PipelineTest, EventsNameTheReplicaThatPublishedThem) {
  ASSERT_EQ(Send(CompactFixture("calcom/BOOKING_CREATED.json")).verdict, Verdict::kAccepted);
  const auto published = publisher_.Published();
  ASSERT_EQ(published.size(), 1u);
  std::map<std::string, std::string> h(published[0].headers.begin(), published[0].headers.end());
  EXPECT_EQ(h["schedbridge_replica"], "test-0");
}

TEST_F(PipelineTest, AnIdAnotherReplicaPublishedIsADuplicateNamingThatReplica) {
  const std::string body = CompactFixture("calcom/BOOKING_CREATED.json");
  const IngestResult first = Send(body);
  ASSERT_EQ(first.verdict, Verdict::kAccepted);
  // Another process with another replica id, fed by the topic follower.
  FakePublisher other_publisher;
  PipelineOptions o = Options();
  o.replica_id = "test-1";
  Pipeline other(o, other_publisher, clock_);
  other.shared_recent_ids()->Insert(first.event_ids, "test-0", 1767225600000);
  const IngestResult again = other.Ingest(calcom_, source_, Delivery{body, &headers_, {}});
  EXPECT_EQ(again.verdict, Verdict::kDuplicate);
  EXPECT_EQ(again.duplicate_of, "test-0");
  EXPECT_TRUE(other_publisher.Published().empty());
}

TEST_F(PipelineTest, AnIdOutsideTheWindowIsPublishedAgain) {
  const std::string body = CompactFixture("calcom/BOOKING_CREATED.json");
  const IngestResult first = Send(body);
  ASSERT_EQ(first.verdict, Verdict::kAccepted);
  clock_.Set(clock_.Now() + std::chrono::hours(25));
  EXPECT_EQ(Send(body).verdict, Verdict::kAccepted);
  EXPECT_EQ(publisher_.Published().size(), 2u);
}

// Cal.com signs no time: with max_delivery_age set, a captured delivery
// replayed after duplicate detection forgot it is refused, not published.
TEST_F(PipelineTest, AStaleDeliveryIsRefusedWhenTheSignatureCoversNoTime) {
  PipelineOptions o = Options();
  o.max_delivery_age = std::chrono::hours(24);
  Pipeline bounded(o, publisher_, clock_);
  const std::string body = CompactFixture("calcom/BOOKING_CREATED.json");  // createdAt 2025-03-11
  clock_.Set(*ParseTimestamp("2025-03-12T09:12:44.318Z"));  // one day later: still inside
  headers_ = Headers();
  headers_.Add("X-Cal-Signature-256", HmacSha256Hex("s3cret", body));
  ASSERT_EQ(bounded.Ingest(calcom_, source_, Delivery{body, &headers_, {}}).verdict,
            Verdict::kAccepted);
  EXPECT_EQ(bounded.Ingest(calcom_, source_, Delivery{body, &headers_, {}}).verdict,
            Verdict::kDuplicate);
  // After the window: refused, whatever the duplicate detection remembers.
  Pipeline later(o, publisher_, clock_);
  clock_.Set(*ParseTimestamp("2025-03-12T09:12:44.319Z"));
  const IngestResult r = later.Ingest(calcom_, source_, Delivery{body, &headers_, {}});
  EXPECT_EQ(r.verdict, Verdict::kUnauthorized);
  EXPECT_EQ(VerifyStatusCode(r.verify_status), "stale_delivery");
  EXPECT_NE(r.error.find("older than 86400 s (max_delivery_age)"), std::string::npos) << r.error;
  EXPECT_EQ(publisher_.Published().size(), 1u);
  // Refused too when its event is over Kafka's size: not kept as a dead
  // letter that an operator would then replay.
  publisher_.max_message_bytes = 500;
  EXPECT_EQ(later.Ingest(calcom_, source_, Delivery{body, &headers_, {}}).verdict,
            Verdict::kUnauthorized);
  EXPECT_EQ(publisher_.Published().size(), 1u);
  publisher_.max_message_bytes = std::numeric_limits<size_t>::max();
  // A dead letter replayed by an operator was authenticated when it arrived.
  EXPECT_EQ(later.Process(calcom_, "default", Delivery{body, &headers_, {}}, "2025-03-11T09:12:45Z")
                .verdict,
            Verdict::kAccepted);
}

TEST_F(PipelineTest, WithoutABoundOldDeliveriesArePublished) {
  // The default (0): the providers' published example bodies are from 2025.
  EXPECT_EQ(Send(CompactFixture("calcom/BOOKING_CREATED.json")).verdict, Verdict::kAccepted);
}

// One source's secret holder sends a body with another source's booking uid
// and time first: the other source's real delivery is still published.
TEST_F(PipelineTest, OneSourceCannotSuppressAnothersDelivery) {
  const SourceConfig team_a{"calcom", "team-a", {"team-a-secret"}};
  const SourceConfig team_b{"calcom", "team-b", {"team-b-secret"}};
  const std::string body = CompactFixture("calcom/BOOKING_CREATED.json");
  auto send = [&](const SourceConfig& source) {
    headers_ = Headers();
    headers_.Add("X-Cal-Signature-256", HmacSha256Hex(source.secrets[0], body));
    return pipeline_.Ingest(calcom_, source, Delivery{body, &headers_, {}});
  };
  const IngestResult forged = send(team_a);
  ASSERT_EQ(forged.verdict, Verdict::kAccepted);
  const IngestResult real = send(team_b);
  ASSERT_EQ(real.verdict, Verdict::kAccepted) << "team-a suppressed team-b's delivery";
  EXPECT_NE(forged.event_ids, real.event_ids);
  EXPECT_EQ(send(team_b).verdict, Verdict::kDuplicate);  // its own retry still is one
  const auto published = publisher_.Published();
  ASSERT_EQ(published.size(), 2u);
  // Same key (the booking), told apart by the source the consumer checks.
  EXPECT_EQ(published[0].key, published[1].key);
  std::map<std::string, std::string> a(published[0].headers.begin(), published[0].headers.end());
  std::map<std::string, std::string> b(published[1].headers.begin(), published[1].headers.end());
  EXPECT_EQ(a["ce_source"], "/providers/calcom/sources/team-a");
  EXPECT_EQ(b["ce_source"], "/providers/calcom/sources/team-b");
  // The default source's ids are what they were before sources were in them.
  EXPECT_EQ(Send(body).event_ids[0],
            MakeEventId("calcom", "BOOKING_CREATED", "booking.created",
                        "calcom:x7Kq2RmN9vTb4LpWc8ZdYe", "time:2025-03-11T09:12:44.318Z"));
}

TEST_F(PipelineTest, SpooledSourceIsStoredAndAnsweredBeforeKafka) {
  MemorySpool spool;
  pipeline_.AttachSpool(&spool);
  source_.ack = AckMode::kSpool;
  publisher_.mode = FakePublisher::Mode::kFail;  // Kafka is down: does not matter
  const IngestResult r = Send(CompactFixture("calcom/BOOKING_RESCHEDULED.json"));
  ASSERT_EQ(r.verdict, Verdict::kSpooled);
  ASSERT_EQ(spool.records.size(), 1u);
  const SpoolRecord& rec = spool.records[0];
  EXPECT_EQ(rec.provider, "calcom");
  EXPECT_EQ(rec.source, "default");
  EXPECT_EQ(rec.spooled_at_ms, 1767225600000);
  EXPECT_EQ(rec.event_ids, r.event_ids);
  ASSERT_EQ(rec.messages.size(), 2u);  // both halves of the reschedule, together
  EXPECT_VALID_AGAINST("scheduling-event.v1.json", rec.messages[0].value);
  EXPECT_TRUE(publisher_.Published().empty());
  // The provider retries before the spool drained: a duplicate, not a second record.
  const IngestResult again = Send(CompactFixture("calcom/BOOKING_RESCHEDULED.json"));
  EXPECT_EQ(again.verdict, Verdict::kDuplicate);
  EXPECT_EQ(spool.records.size(), 1u);
}

TEST_F(PipelineTest, SpooledSourceDeadLettersGoToTheSpoolToo) {
  MemorySpool spool;
  pipeline_.AttachSpool(&spool);
  source_.ack = AckMode::kSpool;
  const IngestResult r = Send("not json");
  ASSERT_EQ(r.verdict, Verdict::kSpooled);
  EXPECT_EQ(r.dead_letter_reason, "invalid_json");
  ASSERT_EQ(spool.records.size(), 1u);
  EXPECT_TRUE(spool.records[0].event_ids.empty());
  EXPECT_EQ(spool.records[0].messages[0].topic, "dlq");
}

TEST_F(PipelineTest, AFullSpoolIs503) {
  MemorySpool spool;
  spool.full = true;
  pipeline_.AttachSpool(&spool);
  source_.ack = AckMode::kSpool;
  const IngestResult r = Send(CompactFixture("calcom/BOOKING_CREATED.json"));
  EXPECT_EQ(r.verdict, Verdict::kUnavailable);
  EXPECT_EQ(r.error, "the durable spool is full; retry later.");
}

TEST_F(PipelineTest, KafkaSourcesIgnoreTheSpool) {
  MemorySpool spool;
  pipeline_.AttachSpool(&spool);
  EXPECT_EQ(Send(CompactFixture("calcom/BOOKING_CREATED.json")).verdict, Verdict::kAccepted);
  EXPECT_TRUE(spool.records.empty());
}

}  // namespace
}  // namespace bridge
