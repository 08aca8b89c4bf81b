#include "bridge/pipeline/dedup.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <deque>
#include <map>
#include <random>
#include <set>

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

TEST(RecentIds, OneIdAtATimeFromTheTopicIsTheSameAsAList) {
  RecentIds ids(2, std::chrono::minutes(10));
  ids.InsertOne(kA, "schedbridge-1", kT0);
  ids.InsertOne(kA, "schedbridge-2", kT0 + 5);  // read again: the first publisher stays
  EXPECT_EQ(ids.FindAll({kA}, kT0 + 10), std::optional<std::string>("schedbridge-1"));
  ids.InsertOne(kB, "schedbridge-2", kT0 + 6);
  ids.InsertOne(kC, "schedbridge-2", kT0 + 7);  // over capacity: the oldest goes
  EXPECT_FALSE(ids.FindAll({kA}, kT0 + 10).has_value());
  EXPECT_EQ(ids.FindAll({kB, kC}, kT0 + 10), std::optional<std::string>("schedbridge-2"));
  EXPECT_EQ(ids.evicted_early(), 1u);
  ids.InsertOne(kA, "schedbridge-3", kT0 + 600008);  // expires B and C
  EXPECT_EQ(ids.size(), 1u);
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

TEST(RecentIds, AgreesWithASimpleModelUnderChurn) {
  // Capacity, window expiry, repeats and lookups in random order against a
  // deque + map model: exercises the ring's growth and the index's deletions.
  // A 5 s window expires ids before the capacity does; a 50 s one does not.
  for (const int64_t window_ms : {5000, 50000}) {
    constexpr size_t kCapacity = 3000;
    RecentIds ids(kCapacity, std::chrono::milliseconds(window_ms));
    std::deque<std::string> order;
    std::map<std::string, int64_t> time_of;
    std::mt19937_64 rng(42);
    auto id_of = [](uint64_t n) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%08llx-0000-8000-8000-%012llx",
                    static_cast<unsigned long long>(n % 7 * 2654435761u % 0xffffffffu),
                    static_cast<unsigned long long>(n & 0xffffffffffffu));
      return std::string(buf);
    };
    int64_t now = kT0;
    size_t expired = 0, evicted = 0;
    for (int step = 0; step < 40000; ++step) {
      now += static_cast<int64_t>(rng() % 5);  // ms
      const std::string id = id_of(rng() % 12000);
      if (rng() % 3 != 0) {
        ids.Insert({id}, "r", now);
        while (!order.empty() && time_of[order.front()] < now - window_ms) {
          time_of.erase(order.front());
          order.pop_front();
          ++expired;
        }
        if (auto it = time_of.find(id); it != time_of.end()) {
          it->second = now;
        } else {
          if (order.size() == kCapacity) {
            time_of.erase(order.front());
            order.pop_front();
            ++evicted;
          }
          order.push_back(id);
          time_of[id] = now;
        }
      }
      const auto it = time_of.find(id);
      const bool expected = it != time_of.end() && it->second >= now - window_ms;
      ASSERT_EQ(ids.FindAll({id}, now).has_value(), expected) << "step " << step;
    }
    EXPECT_EQ(ids.size(), time_of.size());
    EXPECT_EQ(ids.evicted_early(), evicted);
    EXPECT_GT(window_ms == 5000 ? expired : evicted, 1000u) << window_ms;
  }
}

TEST(RecentIds, ZeroCapacityRemembersNothing) {
  RecentIds ids(0);
  ids.Insert({kA}, "r", kT0);
  EXPECT_FALSE(ids.FindAll({kA}, kT0).has_value());
  EXPECT_EQ(ids.size(), 0u);
}

}  // namespace
}  // namespace bridge
