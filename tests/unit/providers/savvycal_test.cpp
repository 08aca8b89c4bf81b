// SavvyCal: sha256=<hex> over the raw body, case-insensitive hex; one
// normalization test per event type.

#include <gtest/gtest.h>

#include <set>

#include "bridge/providers/registry.h"
#include "support.h"

namespace bridge {
namespace {

using testing::CompactFixture;
using testing::EventsOf;
using testing::FailureOf;
using testing::HmacSha256Hex;

class SavvyCalTest : public ::testing::Test {
 protected:
  const Provider& savvycal = *ProviderRegistry::BuiltIn().Find("savvycal");
  SourceConfig source{"savvycal", "default", {"test-secret-123"}};
  SystemClock clock;
  const std::string body = CompactFixture("savvycal/event.created.json");

  VerifyResult Verify(const std::string& header_value, const std::string& b) {
    Headers h;
    h.Add("x-savvycal-signature", header_value);
    return savvycal.Verify(Delivery{b, &h, {}}, source, clock);
  }

  /// A delivery of `type` built around the event.created fixture's Event.
  std::string Body(const std::string& type, const std::string& id = "payload_T1") {
    std::string b = body;
    b.replace(b.find("event.created"), 13, type);
    b.replace(b.find("payload_01JNZ3W9A1B2C3D4E5F6G7H8J9"), 34, id);
    return b;
  }
};

TEST_F(SavvyCalTest, AcceptsTheDocumentedVectorInEitherCase) {
  ASSERT_EQ(body.size(), 2709u);
  const std::string upper = "4BBB0CB1A3E356F419D594A526540F673197F7BB5AD330D9BAD5D1AF49584C25";
  EXPECT_TRUE(Verify("sha256=" + upper, body).ok());
  std::string lower = upper;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  EXPECT_TRUE(Verify("sha256=" + lower, body).ok());
  EXPECT_TRUE(Verify("SHA256=" + upper, body).ok());
}

TEST_F(SavvyCalTest, RejectsTamperedWrongSecretMalformedMissing) {
  std::string tampered = body;
  tampered[10] = 'X';
  EXPECT_EQ(Verify("sha256=" + HmacSha256Hex("test-secret-123", body), tampered).status,
            VerifyStatus::kBadSignature);
  EXPECT_EQ(Verify("sha256=" + HmacSha256Hex("nope", body), body).status,
            VerifyStatus::kBadSignature);
  for (const char* bad : {"", "sha256=", "sha256=xyz", "md5=abcd"}) {
    EXPECT_EQ(Verify(bad, body).status, VerifyStatus::kMalformedSignature) << bad;
  }
  Headers none;
  EXPECT_EQ(savvycal.Verify(Delivery{body, &none, {}}, source, clock).status,
            VerifyStatus::kMissingSignature);
  source.secrets = {"rotated", "test-secret-123"};
  EXPECT_TRUE(Verify("sha256=" + HmacSha256Hex("rotated", body), body).ok());
}

TEST_F(SavvyCalTest, EventCreated) {
  auto events = EventsOf("savvycal", body);
  ASSERT_EQ(events.size(), 1u);
  const CanonicalEvent& e = events[0];
  EXPECT_EQ(e.event_type, "booking.created");
  EXPECT_EQ(e.Key(), "savvycal:event_01JNZ3W8PZ6XG4B8N2C5Q7R9TA");
  EXPECT_EQ(e.delivery_id, "payload_01JNZ3W9A1B2C3D4E5F6G7H8J9");
  EXPECT_EQ(e.booking->status, "confirmed");
  EXPECT_EQ(e.booking->title, "Discovery call (Priya Nair / Tomas Weber)");
  EXPECT_EQ(e.booking->start_time, "2025-03-18T16:00:00Z");
  EXPECT_EQ(e.booking->organizer->email, "priya@lumen-studio.example");
  ASSERT_EQ(e.booking->attendees.size(), 1u);  // the organizer is not repeated
  EXPECT_EQ(e.booking->attendees[0].email, "tomas.weber@example.com");
  EXPECT_EQ(e.booking->event_type->slug, "discovery");
  EXPECT_EQ(e.booking->location, "https://zoom.us/j/84512345678?pwd=abc123");
  EXPECT_EQ(e.booking->metadata_json, R"({"crm_lead_id":"L-20931"})");
}

TEST_F(SavvyCalTest, RescheduleKeepsTheIdWithNewTimes) {
  auto events = EventsOf("savvycal", CompactFixture("savvycal/event.rescheduled.json"));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event_type, "booking.rescheduled");
  EXPECT_EQ(events[0].Key(), "savvycal:event_01JNZ3W8PZ6XG4B8N2C5Q7R9TA");
  EXPECT_EQ(events[0].booking->start_time, "2025-03-20T18:00:00Z");
  EXPECT_NE(events[0].extensions_json->find("\"original_start_at\":\"2025-03-18T16:00:00Z\""),
            std::string::npos);
}

TEST_F(SavvyCalTest, CanceledChangedAttendeeAdded) {
  auto canceled = EventsOf("savvycal", CompactFixture("savvycal/event.canceled.json"));
  ASSERT_EQ(canceled.size(), 1u);
  EXPECT_EQ(canceled[0].event_type, "booking.canceled");
  EXPECT_EQ(canceled[0].booking->status, "canceled");
  EXPECT_EQ(canceled[0].booking->cancellation->reason, "Project postponed");
  auto changed = EventsOf("savvycal", CompactFixture("savvycal/event.changed.json"));
  ASSERT_EQ(changed.size(), 1u);
  EXPECT_EQ(changed[0].event_type, "booking.updated");
  EXPECT_EQ(changed[0].Key(), "savvycal:event_01JNZ3W8PZ6XG4B8N2C5Q7R9TA");
  auto added = EventsOf("savvycal", CompactFixture("savvycal/event.attendee.added.json"));
  ASSERT_EQ(added.size(), 1u);
  EXPECT_EQ(added[0].event_type, "booking.attendee_added");
  EXPECT_NE(added[0].extensions_json->find("hana.sato@example.jp"), std::string::npos);
  bool listed = false;
  for (const Person& p : added[0].booking->attendees) listed |= p.email == "hana.sato@example.jp";
  EXPECT_TRUE(listed);
}

TEST_F(SavvyCalTest, EveryBookingTypeMaps) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"event.created", "booking.created"},
      {"event.requested", "booking.requested"},
      {"event.approved", "booking.confirmed"},
      {"event.declined", "booking.rejected"},
      {"event.rescheduled", "booking.rescheduled"},
      {"event.changed", "booking.updated"},
      {"event.canceled", "booking.canceled"},
      {"event.checkout.pending", "booking.payment_initiated"},
      {"event.checkout.completed", "booking.paid"},
      {"event.checkout.expired", "booking.canceled"},
      {"event.attendee.added", "booking.attendee_added"},
      {"event.attendee.canceled", "booking.attendee_canceled"},
      {"event.attendee.rescheduled", "booking.attendee_rescheduled"},
  };
  std::set<std::string> ids;
  for (const auto& [type, canonical] : cases) {
    auto events = EventsOf("savvycal", Body(type, "payload_" + type));
    ASSERT_EQ(events.size(), 1u) << type;
    EXPECT_EQ(events[0].event_type, canonical) << type;
    EXPECT_EQ(events[0].Key(), "savvycal:event_01JNZ3W8PZ6XG4B8N2C5Q7R9TA");
    EXPECT_TRUE(ids.insert(events[0].event_id).second);
  }
  EXPECT_EQ(EventsOf("savvycal", Body("event.checkout.expired"))[0].booking->status, "canceled");
}

TEST_F(SavvyCalTest, PollAndWorkflowAreSubjectEvents) {
  auto poll = EventsOf(
      "savvycal",
      R"({"type":"poll.response.created","id":"payload_P1","occurred_at":"2025-03-01T10:00:00Z","payload":{"id":"pollresp_1","poll":{"id":"poll_9"}}})");
  ASSERT_EQ(poll.size(), 1u);
  EXPECT_EQ(poll[0].event_type, "poll.response");
  EXPECT_EQ(poll[0].Key(), "savvycal:poll_response:pollresp_1");
  auto updated = EventsOf(
      "savvycal",
      R"({"type":"poll.response.updated","id":"payload_P2","occurred_at":"2025-03-01T10:00:00Z","payload":{"id":"pollresp_1"}})");
  EXPECT_EQ(updated[0].event_type, "poll.response");
  auto workflow = EventsOf(
      "savvycal",
      R"({"type":"workflow.action.triggered","id":"payload_W1","occurred_at":"2025-03-01T10:00:00Z","payload":{"action":"send"}})");
  ASSERT_EQ(workflow.size(), 1u);
  EXPECT_EQ(workflow[0].event_type, "workflow.action");
  EXPECT_EQ(workflow[0].Key(), "savvycal:workflow_action:payload_W1");
}

TEST_F(SavvyCalTest, EventIdComesFromTheDeliveryId) {
  const std::string a = Body("event.created", "payload_A");
  EXPECT_EQ(EventsOf("savvycal", a)[0].event_id, EventsOf("savvycal", a)[0].event_id);
  EXPECT_NE(EventsOf("savvycal", a)[0].event_id,
            EventsOf("savvycal", Body("event.created", "payload_B"))[0].event_id);
}

TEST_F(SavvyCalTest, ToleratesNullsAndNonAscii) {
  auto events = EventsOf(
      "savvycal",
      R"({"type":"event.created","id":null,"payload":{"id":"event_X","state":null,"summary":"Réunion – 会議","organizer":[],"attendees":[{"display_name":null,"first_name":"Søren","last_name":"Ødegård","email":"s@o.dk"},7],"metadata":null,"link":"nope"}})");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_FALSE(events[0].delivery_id);
  EXPECT_EQ(events[0].booking->title, "Réunion – 会議");
  ASSERT_EQ(events[0].booking->attendees.size(), 1u);
  EXPECT_EQ(events[0].booking->attendees[0].name, "Søren Ødegård");
}

TEST_F(SavvyCalTest, DeadLetters) {
  EXPECT_EQ(
      FailureOf("savvycal", R"({"type":"event.created","id":"p","payload":{"summary":"no id"}})")
          .reason,
      "missing_booking_id");
  const NormalizeFailure unknown =
      FailureOf("savvycal", R"({"type":"event.teleported","id":"p","payload":{"id":"event_Q"}})");
  EXPECT_EQ(unknown.reason, "unknown_event_type");
  EXPECT_EQ(unknown.booking_uid, "savvycal:event_Q");
  // The newer savvycal.app product uses another body shape: not ours.
  EXPECT_EQ(FailureOf("savvycal", R"({"id":"evt_1","data":{"type":"appointment.created"}})").reason,
            "unknown_event_type");
}

}  // namespace
}  // namespace bridge
