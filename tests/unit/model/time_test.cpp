#include "bridge/model/time.h"

#include <gtest/gtest.h>

namespace bridge {
namespace {

TEST(Time, CanonicalizesProviderSpellings) {
  EXPECT_EQ(CanonicalTimestamp("2025-03-18T14:00:00Z"), "2025-03-18T14:00:00Z");
  EXPECT_EQ(CanonicalTimestamp("2025-03-20T16:00:00.000Z"), "2025-03-20T16:00:00Z");
  EXPECT_EQ(CanonicalTimestamp("2025-03-11T09:12:44.318Z"), "2025-03-11T09:12:44.318Z");
  EXPECT_EQ(CanonicalTimestamp("2025-03-11T09:12:44.318123Z"), "2025-03-11T09:12:44.318123Z");
  EXPECT_EQ(CanonicalTimestamp("2025-03-11T09:12:44.3181239Z"), "2025-03-11T09:12:44.318123Z");
  EXPECT_EQ(CanonicalTimestamp("2025-03-18T15:00:00+01:00"), "2025-03-18T14:00:00Z");
  EXPECT_EQ(CanonicalTimestamp("2025-03-18T09:30:00-0430"), "2025-03-18T14:00:00Z");
  EXPECT_EQ(CanonicalTimestamp("2025-01-01T00:30:00+01:00"), "2024-12-31T23:30:00Z");
  EXPECT_EQ(CanonicalTimestamp("2024-02-29T12:00:00Z"), "2024-02-29T12:00:00Z");
}

TEST(Time, RejectsWhatIsNotATimestamp) {
  for (const char* bad :
       {"", "2025-03-18", "2025-03-18T14:00:00", "2025-13-01T00:00:00Z", "2025-02-29T00:00:00Z",
        "2025-03-18T24:00:00Z", "2025-03-18T14:00:00.Z", "2025-03-18T14:00:00Zjunk", "yesterday",
        "2025-03-18T14:00:00+25:00", "１２３４-03-18T14:00:00Z", "2999-01-01T00:00:00Z",
        "0001-01-01T00:00:00Z"}) {
    EXPECT_EQ(CanonicalTimestamp(bad), std::nullopt) << bad;
  }
}

TEST(Time, FormatsEpochAndPreEpoch) {
  EXPECT_EQ(FormatTimestamp(TimePoint{}), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatTimestamp(TimePoint(std::chrono::seconds(-1))), "1969-12-31T23:59:59Z");
  EXPECT_EQ(FormatTimestamp(TimePoint(std::chrono::seconds(1741684361))), "2025-03-11T09:12:41Z");
}

}  // namespace
}  // namespace bridge
