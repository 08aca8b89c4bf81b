#include "bridge/util/metrics.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>

namespace bridge {
namespace {

TEST(Metrics, CountsEachLabelSetApartAndRendersItEscaped) {
  Metrics m;
  m.Describe("t_total", "counter", "Test counter.");
  m.Inc("t_total", {{"provider", "calcom"}, {"code", std::to_string(202)}});
  m.Inc("t_total", {{"provider", "calcom"}, {"code", "202"}}, 2);
  m.Inc("t_total", {{"provider", "a\"b\\c\nd"}, {"code", "401"}});
  EXPECT_EQ(m.Value("t_total", {{"provider", "calcom"}, {"code", "202"}}), 3);
  EXPECT_EQ(m.Value("t_total", {{"provider", "calcom"}, {"code", "401"}}), 0);
  const std::string text = m.Render();
  EXPECT_NE(text.find("# TYPE t_total counter\n"), std::string::npos) << text;
  EXPECT_NE(text.find("t_total{provider=\"calcom\",code=\"202\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("t_total{provider=\"a\\\"b\\\\c\\nd\",code=\"401\"} 1\n"), std::string::npos)
      << text;
}

// The label set is built in a buffer each thread reuses: a short set after a
// long one, or no labels at all, must not keep any of the longer one's bytes.
TEST(Metrics, AShortLabelSetAfterALongOneIsItsOwnSample) {
  Metrics m;
  m.Inc("x_total",
        {{"provider", "a-rather-long-provider-name"}, {"event_type", "booking.created"}});
  m.Inc("x_total", {{"provider", "b"}});
  m.Inc("x_total", {});
  m.Observe("x_seconds", {{"provider", "a-rather-long-provider-name"}}, 0.5);
  m.Observe("x_seconds", {}, 0.5);
  const std::string text = m.Render();
  EXPECT_NE(text.find("x_total{provider=\"b\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("x_total 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("x_seconds_count 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("x_seconds_count{provider=\"a-rather-long-provider-name\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(m.Value("x_total", {{"provider", "b"}}), 1);
}

TEST(Metrics, HistogramBucketsAreCumulativeWithSumAndCount) {
  Metrics m;
  m.DescribeHistogram("d_seconds", "Test histogram.", {0.3, 0.6, 1});
  for (double v : {0.25, 0.5, 0.5, 4.0}) m.Observe("d_seconds", {{"provider", "orufy"}}, v);
  const std::string text = m.Render();
  EXPECT_NE(text.find("d_seconds_bucket{provider=\"orufy\",le=\"0.3\"} 1\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("d_seconds_bucket{provider=\"orufy\",le=\"0.6\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("d_seconds_bucket{provider=\"orufy\",le=\"1\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("d_seconds_bucket{provider=\"orufy\",le=\"+Inf\"} 4\n"), std::string::npos);
  EXPECT_NE(text.find("d_seconds_sum{provider=\"orufy\"} 5.25\n"), std::string::npos) << text;
  EXPECT_NE(text.find("d_seconds_count{provider=\"orufy\"} 4\n"), std::string::npos);
}

TEST(Metrics, ThreadsCountingAtOnceLoseNothing) {
  Metrics m;
  auto count = [&m](const char* provider) {
    for (int i = 0; i < 10000; ++i) {
      m.Inc("c_total", {{"provider", provider}, {"code", i % 2 ? "202" : "200"}});
    }
  };
  std::thread a(count, "calcom"), b(count, "calendly-with-a-longer-name");
  count("calcom");
  a.join();
  b.join();
  EXPECT_EQ(m.Value("c_total", {{"provider", "calcom"}, {"code", "202"}}), 10000);
  EXPECT_EQ(m.Value("c_total", {{"provider", "calcom"}, {"code", "200"}}), 10000);
  EXPECT_EQ(m.Value("c_total", {{"provider", "calendly-with-a-longer-name"}, {"code", "200"}}),
            5000);
}

}  // namespace
}  // namespace bridge
