// Calendly: the signature scheme (t + "." + body, tolerance, several v1) and
// one normalization test per event type.

#include <gtest/gtest.h>

#include "bridge/providers/calendly/webhook.h"
#include "bridge/providers/registry.h"
#include "fake_clock.h"
#include "support.h"

namespace bridge {
namespace {

using testing::CompactFixture;
using testing::EventsOf;
using testing::FailureOf;
using testing::HmacSha256Hex;

constexpr int64_t kVectorTime = 1741684361;
constexpr const char* kVectorSignature =
    "2b7a7fb713600b0c8fba1f1ce32436b572549d218f645f17740ef36d3d6ba3c1";

class CalendlyTest : public ::testing::Test {
 protected:
  const Provider& calendly = *ProviderRegistry::BuiltIn().Find("calendly");
  SourceConfig source{"calendly", "default", {"test-secret-123"}};
  FixedClock clock = FixedClock::AtUnixSeconds(kVectorTime + 30);
  const std::string body = CompactFixture("calendly/invitee.created.json");

  VerifyResult Verify(const std::string& header_value, const std::string& b) {
    Headers h;
    h.Add("Calendly-Webhook-Signature", header_value);
    return calendly.Verify(Delivery{b, &h, {}}, source, clock);
  }
  static std::string Sign(int64_t t, const std::string& b,
                          const std::string& key = "test-secret-123") {
    return "t=" + std::to_string(t) + ",v1=" + HmacSha256Hex(key, std::to_string(t) + "." + b);
  }
};

TEST_F(CalendlyTest, AcceptsTheDocumentedVector) {
  ASSERT_EQ(body.size(), 2041u);
  EXPECT_TRUE(Verify("t=1741684361,v1=" + std::string(kVectorSignature), body).ok());
}

TEST_F(CalendlyTest, RejectsStaleAndFutureTimestamps) {
  clock.Set(std::chrono::system_clock::time_point(std::chrono::seconds(kVectorTime + 181)));
  EXPECT_EQ(Verify("t=1741684361,v1=" + std::string(kVectorSignature), body).status,
            VerifyStatus::kTimestampOutOfTolerance);
  clock.Set(std::chrono::system_clock::time_point(std::chrono::seconds(kVectorTime - 181)));
  EXPECT_EQ(Verify("t=1741684361,v1=" + std::string(kVectorSignature), body).status,
            VerifyStatus::kTimestampOutOfTolerance);
  clock.Set(std::chrono::system_clock::time_point(std::chrono::seconds(kVectorTime + 180)));
  EXPECT_TRUE(Verify("t=1741684361,v1=" + std::string(kVectorSignature), body).ok());
  source.tolerance = std::chrono::seconds(60);
  EXPECT_EQ(Verify("t=1741684361,v1=" + std::string(kVectorSignature), body).status,
            VerifyStatus::kTimestampOutOfTolerance);
}

TEST_F(CalendlyTest, RejectsTamperingWrongKeyAndMovedTimestamp) {
  std::string tampered = body;
  tampered.back() = ' ';
  EXPECT_EQ(Verify(Sign(kVectorTime, body), tampered).status, VerifyStatus::kBadSignature);
  EXPECT_EQ(Verify(Sign(kVectorTime, body, "other"), body).status, VerifyStatus::kBadSignature);
  // The timestamp is signed: changing it breaks the signature.
  EXPECT_EQ(Verify("t=1741684362,v1=" + std::string(kVectorSignature), body).status,
            VerifyStatus::kBadSignature);
}

TEST_F(CalendlyTest, AnyOfSeveralV1AndAnyRotatedKeyVerifies) {
  const std::string both = "t=" + std::to_string(kVectorTime) + ",v1=" + std::string(64, 'a') +
                           ",v1=" + kVectorSignature;
  EXPECT_TRUE(Verify(both, body).ok());
  source.secrets = {"new-key", "test-secret-123"};
  EXPECT_TRUE(Verify(Sign(kVectorTime, body, "new-key"), body).ok());
  EXPECT_TRUE(Verify(Sign(kVectorTime, body), body).ok());
}

TEST_F(CalendlyTest, AHeaderFullOfV1ValuesIsRefusedBeforeAnyMac) {
  const std::string good = Sign(kVectorTime, body);
  const std::string value = good.substr(good.find(",v1=") + 4);
  // Four values, the valid one last: still verifies.
  std::string four = "t=" + std::to_string(kVectorTime);
  for (int i = 0; i < 3; ++i) four += ",v1=" + std::string(64, 'a');
  EXPECT_TRUE(Verify(four + ",v1=" + value, body).ok());
  // 118 values (the review's reproduction): 401 malformed, whatever they hold.
  std::string many = "t=" + std::to_string(kVectorTime);
  for (int i = 0; i < 117; ++i) many += ",v1=" + std::string(64, 'a');
  const VerifyResult r = Verify(many + ",v1=" + value, body);
  EXPECT_EQ(r.status, VerifyStatus::kMalformedSignature);
  EXPECT_NE(r.message.find("more than 4 v1 signatures"), std::string::npos) << r.message;
}

TEST_F(CalendlyTest, MalformedOrMissingHeader) {
  for (const char* bad :
       {"", "garbage", "t=abc,v1=00",
        "v1="
        "2b7a7fb713600b0c8fba1f1ce32436b572549d218f645f17740ef36d3d6ba3c1",
        "t=1741684361", "t=1741684361,v1=short",
        "t=-5,v1=2b7a7fb713600b0c8fba1f1ce32436b572549d218f645f17740ef36d3d6ba3c1",
        "t=1741684361,t=1741684361,v1="
        "2b7a7fb713600b0c8fba1f1ce32436b572549d218f645f17740ef36d3d6ba3c1",
        "t=99999999999999999999,v1="
        "2b7a7fb713600b0c8fba1f1ce32436b572549d218f645f17740ef36d3d6ba3c1"}) {
    EXPECT_EQ(Verify(bad, body).status, VerifyStatus::kMalformedSignature) << bad;
  }
  Headers none;
  EXPECT_EQ(calendly.Verify(Delivery{body, &none, {}}, source, clock).status,
            VerifyStatus::kMissingSignature);
  Headers twice;
  twice.Add("Calendly-Webhook-Signature", Sign(kVectorTime, body));
  twice.Add("calendly-webhook-signature", Sign(kVectorTime, body));
  EXPECT_EQ(calendly.Verify(Delivery{body, &twice, {}}, source, clock).status,
            VerifyStatus::kMalformedSignature);
}

TEST(CalendlySignatureHeader, Parses) {
  auto sig = ParseCalendlySignature(" t=1741684361 , v1=" + std::string(64, 'b') + ",v0=ignored");
  ASSERT_TRUE(sig);
  EXPECT_EQ(sig->timestamp, 1741684361);
  EXPECT_EQ(sig->v1, std::vector<std::string>{std::string(64, 'b')});
  EXPECT_FALSE(ParseCalendlySignature("t=1,v1=" + std::string(63, 'b')));
}

TEST_F(CalendlyTest, InviteeCreated) {
  auto events = EventsOf("calendly", body);
  ASSERT_EQ(events.size(), 1u);
  const CanonicalEvent& e = events[0];
  EXPECT_EQ(e.event_type, "booking.created");
  EXPECT_EQ(e.Key(), "calendly:7a9e2c41-3b6d-4f0e-8c25-91d4e6b7a0f3");
  EXPECT_EQ(e.booking->provider_ref,
            "https://api.calendly.com/scheduled_events/0c3b6e6a-5f2d-4b8e-9a41-2d7c1e9f3a10/"
            "invitees/7a9e2c41-3b6d-4f0e-8c25-91d4e6b7a0f3");
  EXPECT_EQ(e.booking->status, "confirmed");
  EXPECT_EQ(e.booking->title, "30 Minute Consultation");
  EXPECT_EQ(e.booking->start_time, "2025-03-18T15:00:00Z");
  EXPECT_EQ(e.booking->end_time, "2025-03-18T15:30:00Z");
  EXPECT_EQ(e.booking->location, "https://us02web.zoom.us/j/81234567890");
  EXPECT_EQ(e.booking->organizer->email, "ana.ruiz@acme.example");
  ASSERT_EQ(e.booking->attendees.size(), 1u);
  EXPECT_EQ(e.booking->attendees[0].email, "jordan.blake@example.net");
  EXPECT_EQ(e.booking->event_type->id, "4f6a1b2c-9d3e-4a57-b8c0-e1f2a3b4c5d6");
  EXPECT_EQ(e.occurred_at, "2025-03-11T09:12:41Z");
  EXPECT_NE(
      e.extensions_json->find("\"scheduled_event_uri\":\"https://api.calendly.com/scheduled_events/"
                              "0c3b6e6a-5f2d-4b8e-9a41-2d7c1e9f3a10\""),
      std::string::npos);
  EXPECT_FALSE(e.booking->previous_uid);
}

TEST_F(CalendlyTest, PlainCancel) {
  auto events = EventsOf("calendly", CompactFixture("calendly/invitee.canceled.json"));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event_type, "booking.canceled");
  EXPECT_EQ(events[0].booking->status, "canceled");
  EXPECT_EQ(events[0].booking->cancellation->reason, "Found the answer in the docs");
  EXPECT_EQ(events[0].booking->cancellation->canceled_by, "Jordan Blake");
  EXPECT_NE(events[0].extensions_json->find("\"canceler_type\":\"invitee\""), std::string::npos);
}

TEST_F(CalendlyTest, RescheduleEachDeliveryStandsOnItsOwn) {
  // Either order: each message is complete under its own key.
  auto created = EventsOf("calendly", CompactFixture("calendly/invitee.created_rescheduled.json"));
  auto canceled =
      EventsOf("calendly", CompactFixture("calendly/invitee.canceled_rescheduled.json"));
  ASSERT_EQ(created.size(), 1u);
  ASSERT_EQ(canceled.size(), 1u);
  EXPECT_EQ(canceled[0].event_type, "booking.rescheduled");
  EXPECT_EQ(canceled[0].booking->status, "rescheduled");
  EXPECT_EQ(canceled[0].Key(), "calendly:7a9e2c41-3b6d-4f0e-8c25-91d4e6b7a0f3");
  EXPECT_EQ(canceled[0].booking->rescheduled_to_uid,
            "calendly:e2d5a8c1-6f47-4b90-8d13-a7c2f9e4b6d0");
  EXPECT_EQ(created[0].event_type, "booking.created");
  EXPECT_EQ(created[0].Key(), "calendly:e2d5a8c1-6f47-4b90-8d13-a7c2f9e4b6d0");
  EXPECT_EQ(created[0].booking->previous_uid, "calendly:7a9e2c41-3b6d-4f0e-8c25-91d4e6b7a0f3");
  EXPECT_NE(created[0].event_id, canceled[0].event_id);
}

TEST_F(CalendlyTest, NoShowCreatedAndDeleted) {
  auto marked = EventsOf("calendly", CompactFixture("calendly/invitee_no_show.created.json"));
  ASSERT_EQ(marked.size(), 1u);
  EXPECT_EQ(marked[0].event_type, "booking.no_show");
  EXPECT_EQ(marked[0].booking->attendees[0].no_show, true);
  auto cleared = EventsOf("calendly", CompactFixture("calendly/invitee_no_show.deleted.json"));
  ASSERT_EQ(cleared.size(), 1u);
  EXPECT_EQ(cleared[0].event_type, "booking.no_show_cleared");
  EXPECT_EQ(cleared[0].booking->attendees[0].no_show, false);
  EXPECT_EQ(marked[0].Key(), cleared[0].Key());
  EXPECT_NE(marked[0].event_id, cleared[0].event_id);
}

TEST_F(CalendlyTest, RoutingFormSubmission) {
  auto events =
      EventsOf("calendly", CompactFixture("calendly/routing_form_submission.created.json"));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event_type, "form.submitted");
  EXPECT_EQ(events[0].Key(), "calendly:form_response:3d8b2f6e-1a47-4c95-b0e3-6f2a9d7c4e81");
  EXPECT_NE(events[0].subject->data_json->find("Company size"), std::string::npos);
}

TEST_F(CalendlyTest, EventTypeEvents) {
  for (const char* action : {"created", "updated", "deleted"}) {
    auto events = EventsOf(
        "calendly",
        std::string(R"({"event":"event_type.)") + action +
            R"(","created_at":"2026-10-23T10:00:00.000000Z","payload":{"uri":"https://api.calendly.com/event_types/ET1","name":"Intro"}})");
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].event_type, "event_type.updated");
    EXPECT_EQ(events[0].Key(), "calendly:event_type:ET1");
    EXPECT_EQ(events[0].extensions_json, std::string(R"({"action":")") + action + "\"}");
  }
}

TEST_F(CalendlyTest, UserUpdatedIsAUserSubjectEvent) {
  auto events = EventsOf("calendly", CompactFixture("calendly/user.updated.json"));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event_type, "user.updated");
  ASSERT_TRUE(events[0].subject);
  EXPECT_EQ(events[0].subject->type, "user");
  EXPECT_EQ(events[0].Key(), "calendly:user:EDFA4C2B8E1F4A3B");
}

TEST_F(CalendlyTest, ToleratesMissingNullAndNonAscii) {
  auto events = EventsOf(
      "calendly",
      R"({"event":"invitee.created","created_at":null,"payload":{"uri":"https://api.calendly.com/scheduled_events/E/invitees/I-1/","name":"Zoë Ångström 王","email":null,"scheduled_event":null,"cancellation":"no","old_invitee":42,"extra":{"a":1}}})");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].Key(), "calendly:I-1");
  EXPECT_EQ(events[0].occurred_at, "2026-01-02T03:04:05Z");
  EXPECT_EQ(events[0].booking->attendees[0].name, "Zoë Ångström 王");
  EXPECT_FALSE(events[0].booking->title);
  EXPECT_EQ(events[0].booking->previous_uid, "calendly:42");
}

TEST_F(CalendlyTest, DeadLetters) {
  EXPECT_EQ(
      FailureOf("calendly", R"({"event":"invitee.created","payload":{"email":"x@y"}})").reason,
      "missing_booking_id");
  EXPECT_EQ(FailureOf("calendly", R"({"event":"invitee.created"})").reason, "missing_booking_id");
  const NormalizeFailure unknown = FailureOf(
      "calendly",
      R"({"event":"meeting_recap.created","payload":{"uri":"https://api.calendly.com/scheduled_events/E/invitees/I9"}})");
  EXPECT_EQ(unknown.reason, "unknown_event_type");
  EXPECT_EQ(unknown.booking_uid, "calendly:I9");
  EXPECT_EQ(FailureOf("calendly", R"({"time":"v1 body","payload":{}})").reason,
            "unknown_event_type");
  EXPECT_EQ(FailureOf("calendly", "[1,2]").reason, "not_an_object");
  EXPECT_EQ(FailureOf("calendly", "{").reason, "invalid_json");
}

TEST_F(CalendlyTest, EventIdsAreStablePerDelivery) {
  EXPECT_EQ(EventsOf("calendly", body)[0].event_id, EventsOf("calendly", body)[0].event_id);
}

}  // namespace
}  // namespace bridge
