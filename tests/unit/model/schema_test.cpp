// The schema checks used throughout the tests must be able to fail.

#include <gtest/gtest.h>

#include "bridge/model/dead_letter.h"
#include "bridge/model/event.h"
#include "support.h"

namespace bridge {
namespace {

CanonicalEvent Valid() {
  CanonicalEvent e;
  e.event_id = MakeEventId("calcom", "BOOKING_CREATED", "booking.created", "calcom:u", "t");
  e.event_type = "booking.created";
  e.provider = "calcom";
  e.provider_event_type = "BOOKING_CREATED";
  e.source = "default";
  e.occurred_at = "2025-03-11T09:12:44.318Z";
  e.received_at = "2025-03-11T09:12:45Z";
  e.booking = Booking{};
  e.booking->uid = "calcom:u";
  e.booking->provider_ref = "u";
  return e;
}

TEST(Schema, AcceptsAMinimalEvent) {
  EXPECT_VALID_AGAINST("scheduling-event.v1.json", ToJson(Valid()));
}

TEST(Schema, RejectsBrokenEvents) {
  std::vector<CanonicalEvent> bad(7, Valid());
  bad[0].event_id = "not-a-uuid";
  bad[1].occurred_at = "2025-03-11 09:12:44";
  bad[2].event_type = "booking.teleported";
  bad[3].booking->uid = "zoom:u";
  bad[4].booking->status = "ACCEPTED";
  bad[5].subject =
      Subject{"calcom:s", "form", std::nullopt, std::nullopt};  // both booking and subject
  bad[6].booking.reset();                                       // neither
  for (const CanonicalEvent& e : bad) {
    EXPECT_NE(testing::SchemaErrors("scheduling-event.v1.json", ToJson(e)), "") << ToJson(e);
  }
  std::string extra = ToJson(Valid());
  extra.insert(1, "\"surprise\":1,");
  EXPECT_NE(testing::SchemaErrors("scheduling-event.v1.json", extra), "");
}

TEST(Schema, EventIdsAreUuidShapedVersion8) {
  const std::string id = MakeEventId("calcom", "X", "booking.created", "calcom:u", "d");
  ASSERT_EQ(id.size(), 36u);
  EXPECT_EQ(id[14], '8');
  EXPECT_NE(id, MakeEventId("calcom", "X", "booking.created", "calcom:u", "e"));
  EXPECT_NE(id, MakeEventId("calcom", "X", "booking.rescheduled", "calcom:u", "d"));
  // Separators: shifting a boundary gives a different id.
  EXPECT_NE(MakeEventId("a", "bc", "x", "k", "d"), MakeEventId("ab", "c", "x", "k", "d"));
  // A named source is part of the id; the default source keeps the old ids.
  EXPECT_EQ(id, MakeEventId("calcom", "X", "booking.created", "calcom:u", "d", "default"));
  EXPECT_NE(id, MakeEventId("calcom", "X", "booking.created", "calcom:u", "d", "team-a"));
  EXPECT_NE(MakeEventId("calcom", "X", "booking.created", "calcom:u", "d", "team-a"),
            MakeEventId("calcom", "X", "booking.created", "calcom:u", "d", "team-b"));
}

TEST(Schema, DeadLetterRecordValidates) {
  DeadLetterRecord r;
  r.dead_letter_id = MakeDeadLetterId("calcom", "body");
  r.reason = "invalid_json";
  r.detail = "invalid JSON at offset 0.";
  r.provider = "calcom";
  r.source = "default";
  r.received_at = "2025-03-11T09:12:45Z";
  r.body = "body";
  r.schedbridge_version = "0.1.0";
  EXPECT_VALID_AGAINST("dead-letter.v1.json", ToJson(r));
  r.reason = "made_up";
  EXPECT_NE(testing::SchemaErrors("dead-letter.v1.json", ToJson(r)), "");
}

}  // namespace
}  // namespace bridge
