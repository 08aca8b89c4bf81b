// Cal.com: signature vectors and one normalization test per trigger, every
// event validated against schemas/scheduling-event.v1.json.

#include <gtest/gtest.h>

#include <set>

#include "bridge/providers/registry.h"
#include "bridge/util/json.h"
#include "fake_clock.h"
#include "support.h"

namespace bridge {
namespace {

using testing::CompactFixture;
using testing::HmacSha256Hex;

constexpr const char* kSecret = "test-secret-123";
constexpr const char* kReceivedAt = "2026-01-02T03:04:05Z";

class CalcomTest : public ::testing::Test {
 protected:
  const Provider& calcom = *ProviderRegistry::BuiltIn().Find("calcom");
  SourceConfig source{"calcom", "default", {kSecret}};
  FixedClock clock = FixedClock::AtUnixSeconds(1741684361);

  VerifyResult VerifyWith(const std::string& body, const Headers& headers) {
    return calcom.Verify(Delivery{body, &headers, {}}, source, clock);
  }

  static Headers Signed(const std::string& body, const std::string& secret = kSecret) {
    Headers h;
    h.Add("Content-Type", "application/json");
    h.Add("X-Cal-Signature-256", HmacSha256Hex(secret, body));
    return h;
  }

  NormalizeResult Normalize(const std::string& body,
                            const std::string& content_type = "application/json") {
    Headers h;
    h.Add("Content-Type", content_type);
    return calcom.Normalize(Delivery{body, &h, {}}, NormalizeContext{"default", kReceivedAt});
  }

  /// Normalizes and asserts success + schema validity of every event.
  std::vector<CanonicalEvent> Events(const std::string& body) {
    NormalizeResult r = Normalize(body);
    if (auto* f = std::get_if<NormalizeFailure>(&r)) {
      ADD_FAILURE() << "dead-lettered: " << f->reason << ": " << f->detail;
      return {};
    }
    auto events = std::get<std::vector<CanonicalEvent>>(r);
    for (const auto& e : events) EXPECT_VALID_AGAINST("scheduling-event.v1.json", ToJson(e));
    return events;
  }

  NormalizeFailure Failure(const std::string& body,
                           const std::string& content_type = "application/json") {
    NormalizeResult r = Normalize(body, content_type);
    if (auto* f = std::get_if<NormalizeFailure>(&r)) return *f;
    ADD_FAILURE() << "expected a dead letter for: " << body.substr(0, 200);
    return {};
  }
};

// --- Signatures -------------------------------------------------------------

TEST_F(CalcomTest, AcceptsTheDocumentedVector) {
  const std::string body = CompactFixture("calcom/BOOKING_CREATED.json");
  Headers h;
  h.Add("x-cal-signature-256", "3bfd03c914bb635c1847d6bab5b45759dc9780561885ba9048dd533559ca7023");
  EXPECT_TRUE(VerifyWith(body, h).ok());
}

TEST_F(CalcomTest, RejectsTamperedBody) {
  const std::string body = CompactFixture("calcom/BOOKING_CREATED.json");
  Headers h = Signed(body);
  std::string tampered = body;
  tampered[tampered.size() / 2] ^= 1;
  const VerifyResult r = VerifyWith(tampered, h);
  EXPECT_EQ(r.status, VerifyStatus::kBadSignature);
  EXPECT_EQ(r.message.find(kSecret), std::string::npos);
}

TEST_F(CalcomTest, RejectsWrongSecret) {
  const std::string body = CompactFixture("calcom/BOOKING_CREATED.json");
  EXPECT_EQ(VerifyWith(body, Signed(body, "another-secret")).status, VerifyStatus::kBadSignature);
}

TEST_F(CalcomTest, AnyRotatedSecretVerifies) {
  const std::string body = CompactFixture("calcom/BOOKING_CREATED.json");
  source.secrets = {"new-secret", kSecret};
  EXPECT_TRUE(VerifyWith(body, Signed(body, kSecret)).ok());
  EXPECT_TRUE(VerifyWith(body, Signed(body, "new-secret")).ok());
  EXPECT_FALSE(VerifyWith(body, Signed(body, "retired-secret")).ok());
}

TEST_F(CalcomTest, UnsignedDeliveriesOnlyWhenAllowed) {
  const std::string body = CompactFixture("calcom/BOOKING_CREATED.json");
  Headers unsigned_marker;
  unsigned_marker.Add("X-Cal-Signature-256", "no-secret-provided");
  Headers none;
  EXPECT_EQ(VerifyWith(body, unsigned_marker).status, VerifyStatus::kUnsignedRejected);
  EXPECT_EQ(VerifyWith(body, none).status, VerifyStatus::kMissingSignature);
  source.allow_unsigned = true;
  EXPECT_TRUE(VerifyWith(body, unsigned_marker).ok());
  EXPECT_TRUE(VerifyWith(body, none).ok());
  // A signature that is present is still checked.
  EXPECT_EQ(VerifyWith(body, Signed(body, "wrong")).status, VerifyStatus::kBadSignature);
}

TEST_F(CalcomTest, MalformedAndDuplicatedHeaders) {
  const std::string body = CompactFixture("calcom/BOOKING_CREATED.json");
  for (const char* bad :
       {"", "abc", "zz3bfd03c914bb635c1847d6bab5b45759dc9780561885ba9048dd533559ca70",
        "3bfd03c914bb635c1847d6bab5b45759dc9780561885ba9048dd533559ca7023ff"}) {
    Headers h;
    h.Add("X-Cal-Signature-256", bad);
    EXPECT_FALSE(VerifyWith(body, h).ok()) << bad;
  }
  Headers twice = Signed(body);
  twice.Add("X-Cal-Signature-256", HmacSha256Hex(kSecret, body));
  EXPECT_EQ(VerifyWith(body, twice).status, VerifyStatus::kMalformedSignature);
}

TEST_F(CalcomTest, AcceptsUppercaseHexAndSha256Prefix) {
  const std::string body = CompactFixture("calcom/BOOKING_CREATED.json");
  std::string sig = HmacSha256Hex(kSecret, body);
  for (char& c : sig) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  Headers h;
  h.Add("X-Cal-Signature-256", "sha256=" + sig);
  EXPECT_TRUE(VerifyWith(body, h).ok());
}

// --- Normalization, one test per trigger -------------------------------------

TEST_F(CalcomTest, BookingCreated) {
  auto events = Events(CompactFixture("calcom/BOOKING_CREATED.json"));
  ASSERT_EQ(events.size(), 1u);
  const CanonicalEvent& e = events[0];
  EXPECT_EQ(e.event_type, "booking.created");
  EXPECT_EQ(e.provider, "calcom");
  EXPECT_EQ(e.provider_event_type, "BOOKING_CREATED");
  EXPECT_EQ(e.source, "default");
  EXPECT_EQ(e.occurred_at, "2025-03-11T09:12:44.318Z");
  EXPECT_EQ(e.received_at, kReceivedAt);
  ASSERT_TRUE(e.booking);
  EXPECT_EQ(e.Key(), "calcom:x7Kq2RmN9vTb4LpWc8ZdYe");
  EXPECT_EQ(e.booking->provider_ref, "x7Kq2RmN9vTb4LpWc8ZdYe");
  EXPECT_EQ(e.booking->status, "confirmed");
  EXPECT_EQ(e.booking->title, "Intake Call between Maya Okafor and Liam Chen");
  EXPECT_EQ(e.booking->start_time, "2025-03-18T14:00:00Z");
  EXPECT_EQ(e.booking->end_time, "2025-03-18T14:30:00Z");
  ASSERT_TRUE(e.booking->event_type);
  EXPECT_EQ(e.booking->event_type->id, "98231");
  EXPECT_EQ(e.booking->event_type->slug, "intake-call");
  EXPECT_EQ(e.booking->location, "integrations:daily");
  ASSERT_TRUE(e.booking->organizer);
  EXPECT_EQ(e.booking->organizer->email, "maya@northwind-clinic.example");
  ASSERT_EQ(e.booking->attendees.size(), 2u);
  EXPECT_EQ(e.booking->attendees[0].name, "Liam Chen");
  EXPECT_EQ(e.booking->attendees[0].timezone, "America/New_York");
  EXPECT_NE(ToJson(e).find("\"booking_id\":551207"), std::string::npos);
}

TEST_F(CalcomTest, BookingRequested) {
  auto events = Events(CompactFixture("calcom/BOOKING_REQUESTED.json"));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event_type, "booking.requested");
  EXPECT_EQ(events[0].booking->status, "pending");
}

TEST_F(CalcomTest, BookingRejected) {
  auto events = Events(CompactFixture("calcom/BOOKING_REJECTED.json"));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event_type, "booking.rejected");
  EXPECT_EQ(events[0].booking->status, "rejected");
  EXPECT_NE(events[0].extensions_json.value_or("").find("rejection_reason"), std::string::npos);
}

TEST_F(CalcomTest, BookingCancelled) {
  auto events = Events(CompactFixture("calcom/BOOKING_CANCELLED.json"));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event_type, "booking.canceled");
  EXPECT_EQ(events[0].booking->status, "canceled");
  ASSERT_TRUE(events[0].booking->cancellation);
  EXPECT_TRUE(events[0].booking->cancellation->reason);
}

TEST_F(CalcomTest, BookingCancelledWithRescheduleRequest) {
  auto events = Events(CompactFixture("calcom/BOOKING_CANCELLED_request_reschedule.json"));
  ASSERT_EQ(events.size(), 1u);
  const auto& c = events[0].booking->cancellation;
  ASSERT_TRUE(c);
  EXPECT_EQ(c->reschedule_requested, true);
  EXPECT_EQ(c->reason, "Please reschedule. I am out sick that day.");
  EXPECT_EQ(c->canceled_by, "maya@northwind-clinic.example");
}

TEST_F(CalcomTest, TriggersFromTheApiDocsOutsideTheWebhookEnum) {
  // Never a dead letter: each is the canonical event it means.
  auto confirmed = Events(CompactFixture("calcom/BOOKING_CONFIRMED.json"));
  ASSERT_EQ(confirmed.size(), 1u);
  EXPECT_EQ(confirmed[0].event_type, "booking.confirmed");
  EXPECT_EQ(confirmed[0].booking->status, "confirmed");
  auto completed = Events(CompactFixture("calcom/BOOKING_COMPLETED.json"));
  ASSERT_EQ(completed.size(), 1u);
  EXPECT_EQ(completed[0].event_type, "booking.updated");
  EXPECT_EQ(completed[0].booking->status, "completed");
  auto no_show = Events(CompactFixture("calcom/BOOKING_NO_SHOW.json"));
  ASSERT_EQ(no_show.size(), 1u);
  EXPECT_EQ(no_show[0].event_type, "booking.no_show");
  EXPECT_EQ(no_show[0].Key(), "calcom:x7Kq2RmN9vTb4LpWc8ZdYe");
  EXPECT_EQ(no_show[0].booking->attendees[0].no_show, true);
  auto reopened = Events(CompactFixture("calcom/BOOKING_REOPENED.json"));
  ASSERT_EQ(reopened.size(), 1u);
  EXPECT_EQ(reopened[0].event_type, "booking.updated");
  EXPECT_NE(reopened[0].extensions_json.value_or("").find(R"("action":"reopened")"),
            std::string::npos)
      << reopened[0].extensions_json.value_or("");
}

TEST_F(CalcomTest, ARequestedRescheduleNamesTheBookingItWouldReplaceAndItsChain) {
  auto events = Events(CompactFixture("calcom/BOOKING_REQUESTED_reschedule.json"));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event_type, "booking.requested");
  EXPECT_EQ(events[0].Key(), "calcom:r8Np3WqK6yHc2VbXs9TfLm");
  EXPECT_EQ(events[0].booking->status, "pending");
  EXPECT_EQ(events[0].booking->previous_uid, "calcom:x7Kq2RmN9vTb4LpWc8ZdYe");
  // rootBookingUid: the first booking of the chain, for grouping.
  EXPECT_EQ(events[0].booking->root_uid, "calcom:a1Bc2De3Fg4Hi5Jk6Lm7No");
  EXPECT_NE(ToJson(events[0]).find(R"("root_uid":"calcom:a1Bc2De3Fg4Hi5Jk6Lm7No")"),
            std::string::npos);
}

TEST_F(CalcomTest, ACancellationAskingToRebookKeepsTheRescheduleUid) {
  auto events = Events(CompactFixture("calcom/BOOKING_CANCELLED_request_reschedule_uid.json"));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event_type, "booking.canceled");
  ASSERT_TRUE(events[0].booking->cancellation);
  EXPECT_EQ(events[0].booking->cancellation->reschedule_requested, true);
  EXPECT_NE(
      events[0].extensions_json.value_or("").find(R"("reschedule_uid":"x7Kq2RmN9vTb4LpWc8ZdYe")"),
      std::string::npos);
}

TEST_F(CalcomTest, ASeatedRescheduleWithoutUidIsOneRescheduleOfTheSeatLeft) {
  auto events = Events(CompactFixture("calcom/BOOKING_RESCHEDULED_seated.json"));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event_type, "booking.rescheduled");
  EXPECT_EQ(events[0].Key(), "calcom:x7Kq2RmN9vTb4LpWc8ZdYe");
  EXPECT_EQ(events[0].booking->start_time, "2025-03-20T14:00:00Z");
  EXPECT_NE(events[0].extensions_json.value_or("").find(R"("seat_reschedule":true)"),
            std::string::npos);
}

TEST_F(CalcomTest, BookingRescheduledYieldsTwoLinkedMessages) {
  auto events = Events(CompactFixture("calcom/BOOKING_RESCHEDULED.json"));
  ASSERT_EQ(events.size(), 2u);
  const CanonicalEvent& old_booking = events[0];
  const CanonicalEvent& new_booking = events[1];
  EXPECT_EQ(old_booking.event_type, "booking.rescheduled");
  EXPECT_EQ(old_booking.Key(), "calcom:x7Kq2RmN9vTb4LpWc8ZdYe");
  EXPECT_EQ(old_booking.booking->status, "rescheduled");
  EXPECT_EQ(old_booking.booking->rescheduled_to_uid, "calcom:Nw4GhT7cQe2XbVk9Ls1PzA");
  EXPECT_EQ(old_booking.booking->start_time, "2025-03-18T14:00:00Z");  // the old slot
  EXPECT_EQ(new_booking.event_type, "booking.created");
  EXPECT_EQ(new_booking.Key(), "calcom:Nw4GhT7cQe2XbVk9Ls1PzA");
  EXPECT_EQ(new_booking.booking->previous_uid, "calcom:x7Kq2RmN9vTb4LpWc8ZdYe");
  EXPECT_EQ(new_booking.booking->start_time, "2025-03-20T16:00:00Z");
  EXPECT_NE(old_booking.event_id, new_booking.event_id);
}

TEST_F(CalcomTest, NoShowUpdated) {
  auto events = Events(CompactFixture("calcom/BOOKING_NO_SHOW_UPDATED.json"));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event_type, "booking.no_show");
  EXPECT_EQ(events[0].Key(), "calcom:Nw4GhT7cQe2XbVk9Ls1PzA");
  ASSERT_EQ(events[0].booking->attendees.size(), 1u);
  EXPECT_EQ(events[0].booking->attendees[0].no_show, true);

  auto cleared = Events(
      R"({"triggerEvent":"BOOKING_NO_SHOW_UPDATED","createdAt":"2025-03-21T10:00:00Z","payload":{"bookingUid":"Nw4","attendees":[{"email":"a@b.c","noShow":false}]}})");
  ASSERT_EQ(cleared.size(), 1u);
  EXPECT_EQ(cleared[0].event_type, "booking.no_show_cleared");
}

TEST_F(CalcomTest, MeetingEndedHasNoEnvelope) {
  auto events = Events(CompactFixture("calcom/MEETING_ENDED.json"));
  ASSERT_EQ(events.size(), 1u);
  const CanonicalEvent& e = events[0];
  EXPECT_EQ(e.event_type, "meeting.ended");
  EXPECT_EQ(e.Key(), "calcom:Nw4GhT7cQe2XbVk9Ls1PzA");
  EXPECT_EQ(e.occurred_at,
            "2025-03-20T16:30:00Z");  // the meeting's end, not the booking's createdAt
  EXPECT_EQ(e.delivery_id, "9d1f4b7e-2a6c-4f83-b0e5-7c3d2a1f8e64");
  EXPECT_EQ(e.booking->previous_uid, "calcom:x7Kq2RmN9vTb4LpWc8ZdYe");
  EXPECT_EQ(e.booking->status, "confirmed");
}

TEST_F(CalcomTest, MeetingStarted) {
  std::string body = CompactFixture("calcom/MEETING_ENDED.json");
  body.replace(body.find("MEETING_ENDED"), 13, "MEETING_STARTED");
  auto events = Events(body);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event_type, "meeting.started");
  EXPECT_EQ(events[0].occurred_at, "2025-03-20T16:00:00Z");
}

TEST_F(CalcomTest, PaymentTriggers) {
  for (const auto& [trigger, type] : std::vector<std::pair<std::string, std::string>>{
           {"BOOKING_PAID", "booking.paid"},
           {"BOOKING_PAYMENT_INITIATED", "booking.payment_initiated"}}) {
    auto events = Events(
        R"({"triggerEvent":")" + trigger +
        R"(","createdAt":"2025-03-11T09:12:44Z","payload":{"uid":"pay1","price":5000,"currency":"usd","paymentId":77,"paymentData":{"stripe":"pi_1"},"status":"ACCEPTED"}})");
    ASSERT_EQ(events.size(), 1u) << trigger;
    EXPECT_EQ(events[0].event_type, type);
    EXPECT_EQ(events[0].booking->payment_json,
              R"({"id":77,"amount":5000,"currency":"usd","data":{"stripe":"pi_1"}})");
  }
}

TEST_F(CalcomTest, VideoNoShowTriggers) {
  auto events = Events(
      R"({"triggerEvent":"AFTER_GUESTS_CAL_VIDEO_NO_SHOW","createdAt":"2025-03-20T16:20:00Z","payload":{"bookingUid":"Nw4","title":"t"}})");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event_type, "booking.no_show");
  EXPECT_EQ(events[0].extensions_json, R"({"no_show_party":"guests"})");
}

TEST_F(CalcomTest, NonBookingTriggersBecomeSubjectEvents) {
  struct Case {
    std::string body, type, uid;
  };
  const std::vector<Case> cases = {
      {R"({"triggerEvent":"FORM_SUBMITTED","createdAt":"2025-03-01T10:00:00Z","name":"x","payload":{"formId":"f1","responseId":42,"responses":{"email":{"value":"a@b.c"}}}})",
       "form.submitted", "calcom:form_response:42"},
      {R"({"triggerEvent":"FORM_SUBMITTED_NO_EVENT","createdAt":"2025-03-01T10:00:00Z","payload":{"formId":"f1"}})",
       "form.submitted", "calcom:form:f1"},
      {R"({"triggerEvent":"OOO_CREATED","createdAt":"2025-03-01T10:00:00Z","payload":{"oooEntry":{"id":5,"uuid":"u-5","start":"2025-04-01T00:00:00Z"}}})",
       "out_of_office.created", "calcom:out_of_office:u-5"},
      {R"({"triggerEvent":"RECORDING_READY","createdAt":"2025-03-01T10:00:00Z","payload":{"uid":"bk1","downloadLink":"https://x"}})",
       "recording.ready", "calcom:bk1"},
      {R"({"triggerEvent":"RECORDING_TRANSCRIPTION_GENERATED","createdAt":"2025-03-01T10:00:00Z","payload":{"uid":"bk1"}})",
       "recording.ready", "calcom:bk1"},
      {R"({"triggerEvent":"WRONG_ASSIGNMENT_REPORT","createdAt":"2025-03-01T10:00:00Z","payload":{"booking":{"uid":"bk2"}}})",
       "workflow.action", "calcom:bk2"},
      {R"({"triggerEvent":"DELEGATION_CREDENTIAL_ERROR","createdAt":"2025-03-01T10:00:00Z","payload":{"error":"x"}})",
       "workflow.action", "calcom:workflow:delegation_credential_error"},
  };
  for (const Case& c : cases) {
    auto events = Events(c.body);
    ASSERT_EQ(events.size(), 1u) << c.body;
    EXPECT_EQ(events[0].event_type, c.type);
    ASSERT_TRUE(events[0].subject);
    EXPECT_FALSE(events[0].booking);
    EXPECT_EQ(events[0].Key(), c.uid);
  }
}

TEST_F(CalcomTest, InstantMeetingIsABookingCreated) {
  auto events = Events(
      R"({"triggerEvent":"INSTANT_MEETING","createdAt":"2025-03-01T10:00:00Z","payload":{"uid":"inst1","title":"now"}})");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event_type, "booking.created");
}

// --- Tolerance: extra, missing, null, wrong-typed fields ---------------------

TEST_F(CalcomTest, ToleratesNullsMissingAndWrongTypes) {
  auto events = Events(
      R"({"triggerEvent":"BOOKING_CREATED","createdAt":null,"extra":{"x":1},"payload":{"uid":"u1","title":null,"startTime":"not a time","endTime":12,"organizer":"nobody","attendees":[null,1,{"name":null,"email":"a@b.c"}],"metadata":[],"status":"SOMETHING_NEW","eventTypeId":null,"location":{"type":"zoom"}}})");
  ASSERT_EQ(events.size(), 1u);
  const CanonicalEvent& e = events[0];
  EXPECT_EQ(e.occurred_at, kReceivedAt);  // no provider time: received_at
  EXPECT_FALSE(e.booking->title);
  EXPECT_FALSE(e.booking->start_time);
  EXPECT_FALSE(e.booking->end_time);
  EXPECT_FALSE(e.booking->organizer);
  EXPECT_FALSE(e.booking->status);
  EXPECT_FALSE(e.booking->metadata_json);
  EXPECT_FALSE(e.booking->location);
  ASSERT_EQ(e.booking->attendees.size(), 1u);
  EXPECT_EQ(e.booking->attendees[0].email, "a@b.c");
}

// A signed body of about 1 MiB can hold 300,000 empty attendees, each a
// Person of 128 bytes in the event: they are kept, and held at the list's own
// length (grown by doubling, the last step held 1.5 times the final size in
// two blocks at once: a 0.94 MB body took the process to 96 MB).
TEST_F(CalcomTest, ALongListOfEmptyAttendeesIsHeldAtItsOwnLength) {
  constexpr size_t kPeople = 100000;
  std::string people;
  for (size_t i = 0; i < kPeople; ++i) people += i == 0 ? "{}" : ",{},1";
  // Moved out, not copied: a copy of a vector is allocated at its size.
  auto booking = [&](const std::string& body) {
    NormalizeResult r = Normalize(body);
    auto* events = std::get_if<std::vector<CanonicalEvent>>(&r);
    EXPECT_TRUE(events != nullptr && events->size() == 1u);
    return events == nullptr || events->empty() ? Booking{} : std::move(*events->front().booking);
  };
  Booking created =
      booking(R"({"triggerEvent":"BOOKING_CREATED","payload":{"uid":"many","attendees":[)" +
              people + "]}}");
  EXPECT_EQ(created.attendees.size(), kPeople);
  EXPECT_EQ(created.attendees.capacity(), kPeople);

  Booking no_show = booking(
      R"({"triggerEvent":"BOOKING_NO_SHOW_UPDATED","payload":{"bookingUid":"many","attendees":[)" +
      people + R"(,{"email":"a@b.c","noShow":true}]}})");
  EXPECT_EQ(no_show.attendees.size(), kPeople + 1);
  EXPECT_EQ(no_show.attendees.capacity(), kPeople + 1);
  EXPECT_EQ(no_show.attendees.back().no_show, true);
}

TEST_F(CalcomTest, MinimalBodyAndNonAsciiNames) {
  auto events = Events(
      R"({"triggerEvent":"BOOKING_CREATED","payload":{"uid":"ü-1","title":"Café ☕ mit Zoë","attendees":[{"name":"李雷","email":"li@example.cn"}]}})");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].Key(), "calcom:ü-1");
  EXPECT_EQ(events[0].booking->attendees[0].name, "李雷");
  EXPECT_NE(ToJson(events[0]).find("Café ☕ mit Zoë"), std::string::npos);
}

// --- Event ids ---------------------------------------------------------------

TEST_F(CalcomTest, EventIdsAreDeterministicAndDistinct) {
  std::set<std::string> ids;
  for (const char* f : {"BOOKING_CREATED", "BOOKING_REQUESTED", "BOOKING_REJECTED",
                        "BOOKING_CANCELLED", "BOOKING_CANCELLED_request_reschedule",
                        "BOOKING_RESCHEDULED", "BOOKING_NO_SHOW_UPDATED", "MEETING_ENDED"}) {
    const std::string body = CompactFixture(std::string("calcom/") + f + ".json");
    const auto first = Events(body);
    const auto again = Events(body);
    ASSERT_EQ(first.size(), again.size());
    for (size_t i = 0; i < first.size(); ++i) {
      EXPECT_EQ(first[i].event_id, again[i].event_id) << f;
      EXPECT_TRUE(ids.insert(first[i].event_id).second) << "id reused by " << f;
    }
  }
  // A different delivery time is a different delivery.
  std::string body = CompactFixture("calcom/BOOKING_CREATED.json");
  const std::string id = Events(body)[0].event_id;
  body.replace(body.find("2025-03-11T09:12:44.318Z"), 24, "2025-03-11T09:12:45.318Z");
  EXPECT_NE(Events(body)[0].event_id, id);
}

TEST_F(CalcomTest, EventIdDependsOnTheNamedSourceNotOnReceivedAt) {
  const std::string body = CompactFixture("calcom/BOOKING_CREATED.json");
  Headers h;
  auto id = [&](const std::string& name, const std::string& received_at) {
    return std::get<0>(calcom.Normalize(Delivery{body, &h, {}}, {name, received_at}))[0].event_id;
  };
  EXPECT_EQ(id("team-a", "2026-01-01T00:00:00Z"), id("team-a", "2026-05-05T00:00:00Z"));
  EXPECT_NE(id("team-a", "2026-01-01T00:00:00Z"), id("team-b", "2026-01-01T00:00:00Z"));
  EXPECT_NE(id("team-a", "2026-01-01T00:00:00Z"), id("default", "2026-01-01T00:00:00Z"));
}

TEST_F(CalcomTest, BodiesWithoutTimeGetIdsFromTheirBytes) {
  const std::string a = R"({"triggerEvent":"BOOKING_CREATED","payload":{"uid":"u1","title":"a"}})";
  const std::string b = R"({"triggerEvent":"BOOKING_CREATED","payload":{"uid":"u1","title":"b"}})";
  EXPECT_EQ(Events(a)[0].event_id, Events(a)[0].event_id);
  EXPECT_NE(Events(a)[0].event_id, Events(b)[0].event_id);
}

// --- Dead letters ------------------------------------------------------------

TEST_F(CalcomTest, CustomTemplateIsDeadLettered) {
  const NormalizeFailure f =
      Failure(CompactFixture("calcom/BOOKING_CREATED_with_payloadTemplate.json"));
  EXPECT_EQ(f.reason, "custom_template");
  EXPECT_EQ(f.booking_uid, "calcom:x7Kq2RmN9vTb4LpWc8ZdYe");
  EXPECT_EQ(Failure("name=Liam&uid=x7", "application/x-www-form-urlencoded").reason,
            "custom_template");
  EXPECT_EQ(Failure("false").reason,
            "not_an_object");  // an invalid JSON template renders as `false`
}

TEST_F(CalcomTest, UnknownTriggerIsDeadLettered) {
  const NormalizeFailure f = Failure(
      R"({"triggerEvent":"BOOKING_TELEPORTED","createdAt":"2025-03-01T10:00:00Z","payload":{"uid":"u9"}})");
  EXPECT_EQ(f.reason, "unknown_event_type");
  EXPECT_EQ(f.provider_event_type, "BOOKING_TELEPORTED");
  EXPECT_EQ(f.booking_uid, "calcom:u9");
}

TEST_F(CalcomTest, InvalidJsonIsDeadLettered) {
  const NormalizeFailure f = Failure(R"({"triggerEvent":"BOOKING_CREATED",)");
  EXPECT_EQ(f.reason, "invalid_json");
  EXPECT_NE(f.detail.find("offset"), std::string::npos);
  EXPECT_EQ(Failure("\xff\xfe").reason, "invalid_json");
  EXPECT_EQ(Failure(std::string(5000, '[')).reason, "invalid_json");
}

TEST_F(CalcomTest, MissingBookingIdIsDeadLettered) {
  EXPECT_EQ(Failure(R"({"triggerEvent":"BOOKING_CREATED","payload":{"title":"no uid"}})").reason,
            "missing_booking_id");
  EXPECT_EQ(Failure(R"({"triggerEvent":"BOOKING_CREATED","payload":{"uid":""}})").reason,
            "missing_booking_id");
  EXPECT_EQ(Failure(R"({"triggerEvent":"BOOKING_RESCHEDULED","payload":{"uid":"new"}})").reason,
            "missing_booking_id");
  EXPECT_EQ(Failure(R"({"triggerEvent":"BOOKING_NO_SHOW_UPDATED","payload":{}})").reason,
            "missing_booking_id");
  EXPECT_EQ(Failure(R"({"triggerEvent":"MEETING_ENDED"})").reason, "missing_booking_id");
}

TEST_F(CalcomTest, WrongTypesForEveryReadFieldNeverCrash) {
  // Every field the normalizer reads, set to each JSON type in turn.
  const std::vector<std::string> fields = {"uid",
                                           "bookingUid",
                                           "rescheduleUid",
                                           "title",
                                           "startTime",
                                           "endTime",
                                           "status",
                                           "eventTypeId",
                                           "type",
                                           "eventTitle",
                                           "location",
                                           "organizer",
                                           "user",
                                           "attendees",
                                           "metadata",
                                           "paymentId",
                                           "paymentData",
                                           "price",
                                           "currency",
                                           "fromReschedule",
                                           "cancellationReason",
                                           "cancelledBy",
                                           "requestReschedule",
                                           "rescheduleStartTime",
                                           "rescheduleEndTime",
                                           "formId",
                                           "responseId",
                                           "oooEntry",
                                           "booking"};
  const std::vector<std::string> values = {"null",  "true", "0",  "-1.5", "\"\"",
                                           "\"x\"", "[]",   "{}", "[{}]", "{\"a\":[null]}"};
  for (const char* trigger :
       {"BOOKING_CREATED", "BOOKING_RESCHEDULED", "BOOKING_CANCELLED", "BOOKING_NO_SHOW_UPDATED",
        "MEETING_ENDED", "FORM_SUBMITTED", "OOO_CREATED", "BOOKING_PAID"}) {
    for (const std::string& field : fields) {
      for (const std::string& value : values) {
        const std::string body =
            std::string(R"({"triggerEvent":")") + trigger +
            R"(","createdAt":"2025-03-01T10:00:00Z","uid":"r","payload":{"uid":"u","bookingUid":"u","rescheduleUid":"o",")" +
            field + "\":" + value + "}}";
        NormalizeResult r = Normalize(body);
        if (auto* events = std::get_if<std::vector<CanonicalEvent>>(&r)) {
          for (const auto& e : *events) {
            EXPECT_VALID_AGAINST("scheduling-event.v1.json", ToJson(e));
          }
        } else {
          EXPECT_FALSE(std::get<NormalizeFailure>(r).reason.empty());
        }
      }
    }
  }
}

}  // namespace
}  // namespace bridge
