// The pure part of replay: decode a dead-letter record, filter, re-normalize.

#include <gtest/gtest.h>

#include "bridge/pipeline/pipeline.h"
#include "bridge/replay/replay.h"
#include "support.h"

namespace bridge {
namespace {

std::string Record(const std::string& provider, const std::string& body, const std::string& reason,
                   int attempt = 1) {
  Headers headers;
  headers.Add("Content-Type", "application/json");
  const Delivery d{body, &headers, {}};
  DeadLetterRecord r =
      MakeDeadLetter(*ProviderRegistry::BuiltIn().Find(provider), "team-a", d,
                     NormalizeFailure{reason, "old", {}, {}}, "2026-03-01T12:00:00Z");
  r.attempt = attempt;
  return ToJson(r);
}

TEST(DeadLetterRecord, RoundTripsIncludingBinaryBodies) {
  for (const std::string& body : {std::string("{\"a\":1}"), std::string("\x00\xff\xfe bin", 7)}) {
    std::string error;
    auto r = ParseDeadLetter(Record("calcom", body, "invalid_json", 3), error);
    ASSERT_TRUE(r) << error;
    EXPECT_EQ(r->body, body);
    EXPECT_EQ(r->attempt, 3);
    EXPECT_EQ(r->source, "team-a");
    EXPECT_EQ(r->received_at, "2026-03-01T12:00:00Z");
  }
  std::string error;
  EXPECT_FALSE(ParseDeadLetter("{\"schema\":\"scheduling-event/v1\"}", error));
  EXPECT_FALSE(ParseDeadLetter("nope", error));
  EXPECT_FALSE(ParseDeadLetter(
      R"({"schema":"dead-letter/v1","provider":"calcom","source":"d","reason":"x","received_at":"t","body_encoding":"base64","body":"!!!!"})",
      error));
}

TEST(DecideReplay, PublishesWithTheLiveIdsAndTheOriginalReceivedAt) {
  const std::string body = testing::CompactFixture("calcom/BOOKING_RESCHEDULED.json");
  ReplayOptions o;
  o.to = "events";
  const ReplayDecision d =
      DecideReplay(Record("calcom", body, "unknown_event_type"), 0, o, ProviderRegistry::BuiltIn());
  ASSERT_EQ(d.kind, ReplayDecision::Kind::kPublish);
  ASSERT_EQ(d.messages.size(), 2u);
  const auto live = testing::EventsOf("calcom", body, "team-a");
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(d.messages[i].topic, "events");
    EXPECT_EQ(d.messages[i].key, live[i].Key());
    EXPECT_NE(d.messages[i].value.find("\"event_id\":\"" + live[i].event_id + "\""),
              std::string::npos);
    EXPECT_NE(d.messages[i].value.find("\"received_at\":\"2026-03-01T12:00:00Z\""),
              std::string::npos);
    EXPECT_NE(d.messages[i].value.find("\"source\":\"team-a\""), std::string::npos);
  }
}

TEST(DecideReplay, Filters) {
  const std::string rec = Record("calcom", "{}", "custom_template");
  ReplayOptions o;
  o.provider = "calendly";
  EXPECT_EQ(DecideReplay(rec, 0, o, ProviderRegistry::BuiltIn()).kind, ReplayDecision::Kind::kSkip);
  o = {};
  o.reason = "invalid_json";
  EXPECT_EQ(DecideReplay(rec, 0, o, ProviderRegistry::BuiltIn()).kind, ReplayDecision::Kind::kSkip);
  o = {};
  o.since_ms = 1000;
  EXPECT_EQ(DecideReplay(rec, 999, o, ProviderRegistry::BuiltIn()).kind,
            ReplayDecision::Kind::kSkip);
  EXPECT_NE(DecideReplay(rec, 1000, o, ProviderRegistry::BuiltIn()).kind,
            ReplayDecision::Kind::kSkip);
  o = {};
  o.until_ms = 1000;
  EXPECT_EQ(DecideReplay(rec, 1001, o, ProviderRegistry::BuiltIn()).kind,
            ReplayDecision::Kind::kSkip);
}

TEST(DecideReplay, StillFailingIsLeftOrRequeuedWithAttemptPlusOne) {
  const std::string rec = Record("calcom", "{broken", "invalid_json", 2);
  ReplayOptions o;
  o.from = "dlq";
  ReplayDecision d = DecideReplay(rec, 0, o, ProviderRegistry::BuiltIn());
  EXPECT_EQ(d.kind, ReplayDecision::Kind::kStillFailing);
  EXPECT_EQ(d.reason, "invalid_json");
  EXPECT_TRUE(d.messages.empty());
  o.requeue_failed = true;
  d = DecideReplay(rec, 0, o, ProviderRegistry::BuiltIn());
  ASSERT_EQ(d.messages.size(), 1u);
  EXPECT_EQ(d.messages[0].topic, "dlq");
  EXPECT_NE(d.messages[0].value.find("\"attempt\":3"), std::string::npos);
  EXPECT_VALID_AGAINST("dead-letter.v1.json", d.messages[0].value);
}

TEST(DecideReplay, UnreadableRecords) {
  ReplayOptions o;
  EXPECT_EQ(DecideReplay("garbage", 0, o, ProviderRegistry::BuiltIn()).kind,
            ReplayDecision::Kind::kUnreadable);
  std::string rec = Record("calcom", "{}", "invalid_json");
  rec.replace(rec.find("\"provider\":\"calcom\""), 19, "\"provider\":\"zoomzz\"");
  EXPECT_EQ(DecideReplay(rec, 0, o, ProviderRegistry::BuiltIn()).kind,
            ReplayDecision::Kind::kUnreadable);
}

TEST(ReplaySummary, TextAndExitCode) {
  ReplaySummary s;
  s.read = 3;
  s.still_failing["invalid_json"] = 1;
  EXPECT_EQ(s.ExitCode(), 0);  // still failing is reported, not a failure to publish
  EXPECT_NE(s.Text().find("still failing 1 (invalid_json: 1)"), std::string::npos);
  s.publish_failed = true;
  EXPECT_EQ(s.ExitCode(), 1);
}

}  // namespace
}  // namespace bridge
