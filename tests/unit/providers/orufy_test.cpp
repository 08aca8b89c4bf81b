// Orufy: the undocumented authentication, made configurable (token in a
// header or query parameter, or a generic HMAC); BOOK / CANCEL / RESCHEDULE /
// no-show mapping.

#include <gtest/gtest.h>

#include "bridge/crypto/hmac.h"
#include "bridge/providers/registry.h"
#include "support.h"

namespace bridge {
namespace {

using testing::CompactFixture;
using testing::EventsOf;
using testing::FailureOf;

class OrufyTest : public ::testing::Test {
 protected:
  const Provider& orufy = *ProviderRegistry::BuiltIn().Find("orufy");
  SourceConfig source{"orufy", "default", {"tok-123"}};
  SystemClock clock;
  const std::string body = CompactFixture("orufy/BOOK.json");

  VerifyResult Verify(const Headers& h, std::map<std::string, std::string> query = {}) {
    return orufy.Verify(Delivery{body, &h, std::move(query)}, source, clock);
  }
  static Headers With(const std::string& name, const std::string& value) {
    Headers h;
    h.Add(name, value);
    return h;
  }
};

TEST_F(OrufyTest, BearerTokenByDefault) {
  EXPECT_TRUE(Verify(With("Authorization", "Bearer tok-123")).ok());
  EXPECT_TRUE(Verify(With("authorization", "bearer tok-123")).ok());
  EXPECT_EQ(Verify(With("Authorization", "Bearer tok-12")).status, VerifyStatus::kBadSignature);
  EXPECT_EQ(Verify(With("Authorization", "Bearer ")).status, VerifyStatus::kMalformedSignature);
  EXPECT_EQ(Verify(Headers()).status, VerifyStatus::kMissingSignature);
  source.secrets = {"new-tok", "tok-123"};
  EXPECT_TRUE(Verify(With("Authorization", "Bearer new-tok")).ok());
}

TEST_F(OrufyTest, TokenFromACustomHeaderOrQueryParameter) {
  source.options["token_header"] = "X-Secret-Token";
  EXPECT_TRUE(Verify(With("X-Secret-Token", "tok-123")).ok());
  EXPECT_EQ(Verify(With("Authorization", "Bearer tok-123")).status,
            VerifyStatus::kMissingSignature);
  source.options.clear();
  source.options["token_query"] = "token";
  EXPECT_TRUE(Verify(Headers(), {{"token", "tok-123"}}).ok());
  EXPECT_EQ(Verify(Headers(), {{"token", "nope"}}).status, VerifyStatus::kBadSignature);
  EXPECT_EQ(Verify(Headers(), {}).status, VerifyStatus::kMissingSignature);
}

TEST_F(OrufyTest, GenericHmac) {
  source.options = {{"auth", "hmac"}, {"hmac_header", "X-Orufy-Signature"}};
  const std::string hex = crypto::HexLower(crypto::Hmac(crypto::Digest::kSha256, "tok-123", body));
  EXPECT_TRUE(Verify(With("X-Orufy-Signature", hex)).ok());
  EXPECT_EQ(Verify(With("X-Orufy-Signature", std::string(64, '0'))).status,
            VerifyStatus::kBadSignature);
  EXPECT_EQ(Verify(With("X-Orufy-Signature", "not hex")).status, VerifyStatus::kMalformedSignature);

  source.options = {{"auth", "hmac"},
                    {"hmac_header", "X-Sig"},
                    {"hmac_algorithm", "sha512"},
                    {"hmac_encoding", "base64"},
                    {"hmac_prefix", "sha512="}};
  const std::string b64 = crypto::Base64(crypto::Hmac(crypto::Digest::kSha512, "tok-123", body));
  EXPECT_TRUE(Verify(With("X-Sig", "sha512=" + b64)).ok());
  EXPECT_EQ(Verify(With("X-Sig", b64)).status, VerifyStatus::kMalformedSignature);  // no prefix
  std::string tampered = b64;
  tampered[0] = tampered[0] == 'A' ? 'B' : 'A';
  EXPECT_EQ(Verify(With("X-Sig", "sha512=" + tampered)).status, VerifyStatus::kBadSignature);
}

TEST_F(OrufyTest, SourceOptionsAreChecked) {
  EXPECT_EQ(orufy.CheckSource(source), "");
  source.options = {{"auth", "hmac"}};
  EXPECT_NE(orufy.CheckSource(source).find("hmac_header"), std::string::npos);
  source.options = {{"auth", "magic"}};
  EXPECT_NE(orufy.CheckSource(source), "");
  source.options = {{"tokn_header", "X"}};
  EXPECT_NE(orufy.CheckSource(source).find("unknown orufy option"), std::string::npos);
  source.options = {{"auth", "hmac"}, {"hmac_header", "X"}, {"hmac_encoding", "rot13"}};
  EXPECT_NE(orufy.CheckSource(source), "");
}

TEST_F(OrufyTest, Book) {
  auto events = EventsOf("orufy", body);
  ASSERT_EQ(events.size(), 1u);
  const CanonicalEvent& e = events[0];
  EXPECT_EQ(e.event_type, "booking.created");
  EXPECT_EQ(e.Key(), "orufy:67d0a1c4e2b9f3a1c8d4e6f1");
  EXPECT_EQ(e.booking->status, "confirmed");
  EXPECT_EQ(e.booking->title, "Demo call: Elena Petrova");
  EXPECT_EQ(e.booking->start_time, "2025-03-18T10:30:00Z");
  EXPECT_EQ(e.booking->end_time, "2025-03-18T11:00:00Z");  // time + duration
  EXPECT_EQ(e.booking->organizer->email, "rohan@brightdesk.example");
  EXPECT_EQ(e.booking->attendees[0].email, "elena.petrova@example.com");
  EXPECT_EQ(e.booking->location, "https://meet.google.com/abc-defg-hij");
  EXPECT_EQ(e.booking->event_type->slug, "demo-call");
  EXPECT_EQ(e.occurred_at, e.received_at);  // Orufy sends no event time for BOOK
}

TEST_F(OrufyTest, Cancel) {
  auto events = EventsOf("orufy", CompactFixture("orufy/CANCEL.json"));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event_type, "booking.canceled");
  EXPECT_EQ(events[0].booking->status, "canceled");
  EXPECT_EQ(events[0].booking->cancellation->reason, "Budget freeze this quarter");
  EXPECT_EQ(events[0].booking->cancellation->canceled_by, "CONTACT");
  EXPECT_EQ(events[0].occurred_at, "2025-03-14T17:05:50Z");
}

TEST_F(OrufyTest, RescheduleWithANewIdIsTwoMessages) {
  auto events = EventsOf("orufy", CompactFixture("orufy/RESCHEDULE.json"));
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].event_type, "booking.rescheduled");
  EXPECT_EQ(events[0].Key(), "orufy:67d0a1c4e2b9f3a1c8d4e6f1");
  EXPECT_EQ(events[0].booking->status, "rescheduled");
  EXPECT_EQ(events[0].booking->rescheduled_to_uid, "orufy:67d1f0a2b3c4d5e6f7a8b9c0");
  EXPECT_EQ(events[1].event_type, "booking.created");
  EXPECT_EQ(events[1].Key(), "orufy:67d1f0a2b3c4d5e6f7a8b9c0");
  EXPECT_EQ(events[1].booking->previous_uid, "orufy:67d0a1c4e2b9f3a1c8d4e6f1");
  EXPECT_EQ(events[1].booking->start_time, "2025-03-20T12:00:00Z");
  EXPECT_NE(events[0].event_id, events[1].event_id);
}

TEST_F(OrufyTest, RescheduleKeepingItsIdIsOneMessage) {
  auto events = EventsOf(
      "orufy",
      R"({"eventType":"RESCHEDULE","meetData":{"_id":"m1","prevMeetId":null,"time":"2025-04-01T09:00:00Z","duration":15}})");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event_type, "booking.rescheduled");
  EXPECT_EQ(events[0].Key(), "orufy:m1");
  EXPECT_EQ(events[0].booking->end_time, "2025-04-01T09:15:00Z");
}

TEST_F(OrufyTest, NoShow) {
  std::string marked = body;
  marked.replace(marked.find("\"BOOK\""), 6, "\"NO_SHOW\"");
  marked.replace(marked.find("\"markAsNoShow\":false"), 20, "\"markAsNoShow\":true");
  auto events = EventsOf("orufy", marked);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event_type, "booking.no_show");
  EXPECT_EQ(events[0].booking->attendees[0].no_show, true);
  std::string cleared = body;
  cleared.replace(cleared.find("\"BOOK\""), 6, "\"MARK_AS_NO_SHOW\"");
  EXPECT_EQ(EventsOf("orufy", cleared)[0].event_type, "booking.no_show_cleared");
}

TEST_F(OrufyTest, ToleratesNullsAndNonAscii) {
  auto events = EventsOf(
      "orufy",
      R"({"eventType":"BOOK","extra":1,"meetData":{"_id":"m2","time":"garbage","duration":"30","agentsDetails":[null],"attendees":[{"name":"Łukasz Żółć","email":null}],"payment":null,"cancellation":[]}})");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_FALSE(events[0].booking->start_time);
  EXPECT_FALSE(events[0].booking->organizer);
  EXPECT_EQ(events[0].booking->attendees[0].name, "Łukasz Żółć");
}

TEST_F(OrufyTest, DeadLetters) {
  EXPECT_EQ(FailureOf("orufy", R"({"eventType":"BOOK","meetData":{}})").reason,
            "missing_booking_id");
  EXPECT_EQ(FailureOf("orufy", R"({"eventType":"BOOK"})").reason, "missing_booking_id");
  const NormalizeFailure unknown =
      FailureOf("orufy", R"({"eventType":"FOLLOW_UP","meetData":{"_id":"m3"}})");
  EXPECT_EQ(unknown.reason, "unknown_event_type");
  EXPECT_EQ(unknown.booking_uid, "orufy:m3");
  EXPECT_EQ(FailureOf("orufy", R"({"meetData":{"_id":"m3"}})").reason, "unknown_event_type");
}

TEST_F(OrufyTest, SameBodySameIdsDifferentBodyDifferentIds) {
  const std::string cancel = CompactFixture("orufy/CANCEL.json");
  EXPECT_EQ(EventsOf("orufy", body)[0].event_id, EventsOf("orufy", body)[0].event_id);
  EXPECT_NE(EventsOf("orufy", body)[0].event_id, EventsOf("orufy", cancel)[0].event_id);
}

}  // namespace
}  // namespace bridge
