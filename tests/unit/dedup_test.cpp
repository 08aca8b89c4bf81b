#include "bridge/pipeline/dedup.h"

#include <gtest/gtest.h>

namespace bridge {
namespace {

constexpr int64_t kT0 = 1767225600000;  // 2026-01-01T00:00:00Z
const std::string kA = "0190f5c2-7a3b-8c4d-9e5f-a1b2c3d4e5f6";
const std::string kB = "0190f5c2-7a3b-8c4d-9e5f-a1b2c3d4e5f7";
const std::string kC = "0190f5c2-7a3b-8c4d-9e5f-a1b2c3d4e5f8";

TEST(RecentIds, ForgetsOldestBeyondCapacity) {
  RecentIds ids(2);
  ids.Insert({"a"});
  ids.Insert({"b", "c"});
  EXPECT_FALSE(ids.ContainsAll({"a"}));
  EXPECT_TRUE(ids.ContainsAll({"b", "c"}));
  EXPECT_FALSE(ids.ContainsAll({"b", "d"}));
  EXPECT_FALSE(ids.ContainsAll({}));
  EXPECT_EQ(ids.size(), 2u);
  EXPECT_EQ(ids.evicted_early(), 1u);  // "a" went for capacity, inside the window
}

TEST(RecentIds, RemembersWhichReplicaPublishedFirst) {
  RecentIds ids(100);
  ids.Insert({kA, kB}, "schedbridge-0", kT0);
  ids.Insert({kA}, "schedbridge-1", kT0 + 5);  // read back later from another replica
  EXPECT_EQ(ids.FindAll({kA, kB}, kT0 + 10), std::optional<std::string>("schedbridge-0"));
  EXPECT_EQ(ids.FindAll({kA, kC}, kT0 + 10), std::nullopt);
  EXPECT_EQ(ids.size(), 2u);
}

TEST(RecentIds, ForgetsIdsOlderThanTheWindow) {
  RecentIds ids(100, std::chrono::minutes(10));
  ids.Insert({kA}, "r", kT0);
  EXPECT_TRUE(ids.FindAll({kA}, kT0 + 600000).has_value());
  EXPECT_FALSE(ids.FindAll({kA}, kT0 + 600001).has_value());  // looked up after the window
  // A newer insertion expires the old one for good, without a capacity eviction.
  ids.Insert({kB}, "r", kT0 + 700000);
  EXPECT_EQ(ids.size(), 1u);
  EXPECT_EQ(ids.evicted_early(), 0u);
  EXPECT_TRUE(ids.ContainsAll({kB}));
}

TEST(RecentIds, SeededOutOfOrderKeepsTheNewestTime) {
  // Seeding reads partitions one after another: times arrive out of order.
  RecentIds ids(100, std::chrono::minutes(10));
  ids.Insert({kA}, "r", kT0 + 500000);
  ids.Insert({kB}, "r", kT0);
  ids.Insert({kA}, "r", kT0 + 1000);  // an older copy does not make it older
  EXPECT_TRUE(ids.FindAll({kA}, kT0 + 1000000).has_value());
  EXPECT_FALSE(ids.FindAll({kB}, kT0 + 1000000).has_value());
}

TEST(RecentIds, UuidCaseAndNonUuidIdsAreKeyedConsistently) {
  RecentIds ids(100);
  std::string upper = kA;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  ids.Insert({kA, "not-a-uuid", std::string(36, 'z')}, "r", kT0);
  EXPECT_TRUE(ids.FindAll({upper}, kT0).has_value());  // the same 128 bits
  EXPECT_TRUE(ids.FindAll({"not-a-uuid"}, kT0).has_value());
  EXPECT_TRUE(ids.FindAll({std::string(36, 'z')}, kT0).has_value());
  EXPECT_FALSE(ids.FindAll({"not-a-uuid2"}, kT0).has_value());
  EXPECT_FALSE(ids.FindAll({kB}, kT0).has_value());
}

TEST(RecentIds, ZeroCapacityRemembersNothing) {
  RecentIds ids(0);
  ids.Insert({kA}, "r", kT0);
  EXPECT_FALSE(ids.FindAll({kA}, kT0).has_value());
  EXPECT_EQ(ids.size(), 0u);
}

}  // namespace
}  // namespace bridge
