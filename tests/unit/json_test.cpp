#include "bridge/util/json.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "bridge/util/log.h"

namespace bridge::json {
namespace {

TEST(Json, ParsesAndReadsTolerantly) {
  rapidjson::Document doc;
  ASSERT_TRUE(Parse(R"({"a":{"b":"x","n":42,"z":null,"e":"","t":true,"arr":[1]}})", doc).ok);
  EXPECT_EQ(StringAt(&doc, "a.b"), "x");
  EXPECT_EQ(StringAt(&doc, "a.n"), "42");  // numbers read as strings where ids are expected
  EXPECT_EQ(StringAt(&doc, "a.z"), std::nullopt);
  EXPECT_EQ(StringAt(&doc, "a.e"), std::nullopt);
  EXPECT_EQ(StringAt(&doc, "a.t"), std::nullopt);
  EXPECT_EQ(StringAt(&doc, "a.arr"), std::nullopt);
  EXPECT_EQ(StringAt(&doc, "a.b.c"), std::nullopt);
  EXPECT_EQ(StringAt(&doc, "missing"), std::nullopt);
  EXPECT_EQ(Bool(Path(&doc, "a.t")), true);
  EXPECT_EQ(Bool(Path(&doc, "a.b")), std::nullopt);
}

TEST(Json, LoneSurrogateEscapesBecomeReplacementCharacters) {
  rapidjson::Document doc;
  // A lone low surrogate in a value and a key; a valid pair stays as it is.
  ASSERT_TRUE(
      Parse(R"({"uid":"abc\udc00def","k\udfff":"x","pair":"\ud83d\ude00","two":"\udc00\udc01"})",
            doc)
          .ok);
  EXPECT_EQ(StringAt(&doc, "uid"),
            "abc\xEF\xBF\xBD"
            "def");
  EXPECT_EQ(StringAt(&doc, "k\xEF\xBF\xBD"), "x");
  EXPECT_EQ(StringAt(&doc, "pair"), "\xF0\x9F\x98\x80");
  EXPECT_EQ(StringAt(&doc, "two"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  // A lone high surrogate is refused by the parser (a dead letter upstream).
  EXPECT_FALSE(Parse(R"({"uid":"abc\ud800"})", doc).ok);
}

TEST(Json, RejectsDeepNestingWithoutRecursing) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  rapidjson::Document doc;
  const ParseResult r = Parse(deep, doc);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("nested deeper than"), std::string::npos) << r.error;
  const std::string ok = std::string(kMaxDepth, '[') + std::string(kMaxDepth, ']');
  EXPECT_TRUE(Parse(ok, doc).ok);
}

TEST(Json, RejectsInvalidUtf8AndReportsOffset) {
  rapidjson::Document doc;
  const ParseResult r = Parse("{\"a\":\"\xff\"}", doc);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("offset"), std::string::npos);
  EXPECT_FALSE(Parse("{\"a\":", doc).ok);
  EXPECT_FALSE(Parse("", doc).ok);
}

TEST(Json, KeepsHugeNumbersWithoutCrashing) {
  rapidjson::Document doc;
  EXPECT_FALSE(Parse(R"({"n":1e400})", doc).ok);  // too big for a double: an error, not inf
  ASSERT_TRUE(Parse(R"({"n":123456789012345678901234567890})", doc).ok);
  EXPECT_EQ(StringAt(&doc, "n"), std::nullopt);  // not an integer we can use as an id
}

TEST(Json, NumbersThatCrashedRapidJsonFullPrecision) {
  // Found by the provider fuzzers: RapidJSON 1.1.0 segfaulted on this with
  // kParseFullPrecisionFlag. Parsed (or refused), never a crash.
  rapidjson::Document doc;
  for (const char* n : {"0.000000000000000000000000000000660e-320", "1e-400",
                        "123456789012345678901234567890.123456789e-330"}) {
    const std::string text = std::string("{\"n\":") + n + "}";
    const ParseResult r = Parse(text, doc);
    EXPECT_TRUE(r.ok || !r.error.empty()) << n;
  }
}

TEST(Json, Utf8Validation) {
  EXPECT_TRUE(IsValidUtf8("plain"));
  EXPECT_TRUE(IsValidUtf8("Zoë 日本 🎉"));
  EXPECT_FALSE(IsValidUtf8("\xff"));
  EXPECT_FALSE(IsValidUtf8("\xc3"));          // truncated
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));      // overlong
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));  // surrogate
}

}  // namespace
}  // namespace bridge::json

namespace bridge {
namespace {

TEST(Log, ValuesKeepTheirJsonTypes) {
  log::SetTextFormat(false);
  const std::vector<std::string> ids = {"a", "b"};
  const std::string line = log::Format(log::Level::kInfo, "webhook",
                                       {{"status", 202},
                                        {"latency_ms", 1.5},
                                        {"tls", false},
                                        {"event_ids", ids},
                                        {"outcome", "ok"}});
  rapidjson::Document doc;
  ASSERT_TRUE(json::Parse(line, doc).ok) << line;
  EXPECT_TRUE(doc["status"].IsInt64());
  EXPECT_EQ(doc["status"].GetInt64(), 202);
  EXPECT_TRUE(doc["latency_ms"].IsDouble());
  EXPECT_TRUE(doc["tls"].IsBool());
  ASSERT_TRUE(doc["event_ids"].IsArray());
  EXPECT_EQ(doc["event_ids"].Size(), 2u);
  EXPECT_STREQ(doc["outcome"].GetString(), "ok");
  EXPECT_STREQ(doc["event"].GetString(), "webhook");
}

TEST(Log, TextFormatIsKeyValue) {
  log::SetTextFormat(true);
  const std::string line =
      log::Format(log::Level::kWarn, "kafka_error",
                  {{"client", "producer"}, {"error", "broker down"}, {"n", 3}});
  log::SetTextFormat(false);
  EXPECT_NE(line.find(" warn kafka_error client=producer error=\"broker down\" n=3\n"),
            std::string::npos)
      << line;
}

}  // namespace
}  // namespace bridge
