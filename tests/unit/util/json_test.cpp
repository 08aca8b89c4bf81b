#include "bridge/util/json.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "bridge/kafka/rdkafka_conf.h"
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

TEST(Json, Utf8ValidationAtEveryOffsetOfTheWordAtATimeScan) {
  // The scan reads eight ASCII bytes at a time: a bad or multi-byte
  // sequence must be judged the same wherever it falls in a word.
  for (size_t at = 0; at < 24; ++at) {
    const std::string pad(at, 'a'), tail(19, 'z');
    EXPECT_TRUE(IsValidUtf8(pad + "\xc3\xab" + tail)) << at;          // ë
    EXPECT_TRUE(IsValidUtf8(pad + "\xf0\x9f\x8e\x89" + tail)) << at;  // 🎉
    EXPECT_FALSE(IsValidUtf8(pad + "\xff" + tail)) << at;
    EXPECT_FALSE(IsValidUtf8(pad + "\xed\xa0\x80" + tail)) << at;  // surrogate
    EXPECT_FALSE(IsValidUtf8(pad + "\xe6\x97" + tail)) << at;      // cut short
    EXPECT_FALSE(IsValidUtf8(pad + "\xc3")) << at;                 // truncated at the end
  }
}

TEST(Json, InvalidUtf8AnywhereIsRefusedWithItsOffset) {
  rapidjson::Document doc;
  const std::string prefix = R"({"name":"Zo)";
  ParseResult r = Parse(prefix + "\xff\"}", doc);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("offset " + std::to_string(prefix.size()) + ": invalid UTF-8"),
            std::string::npos)
      << r.error;
  // In a key, as a raw surrogate, and after a long valid string.
  EXPECT_FALSE(Parse("{\"k\xed\xa0\x80\":1}", doc).ok);
  EXPECT_FALSE(Parse("{\"a\":\"" + std::string(100, 'x') + "\xc0\xaf\"}", doc).ok);
  ScratchDocument scratch;
  EXPECT_FALSE(scratch.Parse(prefix + "\xff\"}").ok);
  EXPECT_TRUE(Parse("{\"a\":\"Zo\xc3\xab \xe6\x97\xa5\"}", doc).ok);
}

TEST(Json, RawControlBytesAreRefusedWhereverTheyFall) {
  // JSON has no raw control byte, in a string or out of one. RapidJSON
  // 1.1.0's 16-byte string scan misses 0x1A-0x1F, so this checks every one
  // at every position across two scan blocks, in a value and in a key.
  for (int b = 1; b < 0x20; ++b) {
    if (b == '\t' || b == '\n' || b == '\r') continue;
    for (size_t at = 0; at < 40; ++at) {
      const std::string pad(at, 'x'), c(1, static_cast<char>(b));
      for (const std::string& text :
           {R"({"a":")" + pad + c + R"("})", R"({")" + pad + c + R"(":1})"}) {
        rapidjson::Document doc;
        const ParseResult copy = Parse(text, doc);
        ScratchDocument scratch;
        const ParseResult in_place = scratch.Parse(text);
        EXPECT_FALSE(copy.ok) << "byte " << b << " at " << at;
        EXPECT_FALSE(in_place.ok) << "byte " << b << " at " << at;
        EXPECT_NE(copy.error.find("control character"), std::string::npos) << copy.error;
      }
    }
  }
  // Tab, LF and CR between tokens are whitespace; inside a string they are
  // refused by the parser itself.
  rapidjson::Document doc;
  EXPECT_TRUE(Parse("{\n\t\"a\" :\r\n 1}\n", doc).ok);
  EXPECT_FALSE(Parse(std::string("{\"a\":\"") + std::string(40, 'x') + "\t\"}", doc).ok);
  // Text that is not parsed as JSON (a dead letter's body) may hold them.
  EXPECT_TRUE(IsValidUtf8("a\x1f b\x01"));
}

TEST(Json, UppercaseSurrogateEscapesAreReplacedToo) {
  rapidjson::Document doc;
  ASSERT_TRUE(Parse(R"({"uid":"a\uDC00b","k\uDFFF":"x"})", doc).ok);
  EXPECT_EQ(StringAt(&doc, "uid"),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(StringAt(&doc, "k\xEF\xBF\xBD"), "x");
  ScratchDocument scratch;
  ASSERT_TRUE(scratch.Parse(R"({"uid":"a\uDC00b","pair":"\uD83D\uDE00"})").ok);
  EXPECT_EQ(StringAt(&scratch.get(), "uid"),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(StringAt(&scratch.get(), "pair"), "\xF0\x9F\x98\x80");
}

TEST(Json, InPlaceParseReadsTheSameValuesAsACopyingParse) {
  const std::string big = std::string(R"({"big":")") + std::string(70000, 'b') + R"(","n":7})";
  const std::vector<std::string> texts = {
      R"({"a":"x\"y\\z\n\u00e9","b":[1,2.5,true,null,{"c":"d"}],"e":""})",
      big,
      "{\"a\":1}\n",
      "{\"a\":\"tab\there\"}",  // a raw control byte: refused by both
      R"({"a":)",
      "",
  };
  for (const std::string& text : texts) {
    rapidjson::Document copy;
    const ParseResult a = Parse(text, copy);
    ScratchDocument scratch;
    const ParseResult b = scratch.Parse(text);
    ASSERT_EQ(a.ok, b.ok) << text.substr(0, 60);
    EXPECT_EQ(a.error, b.error);
    if (a.ok) {
      EXPECT_EQ(Serialize(copy), Serialize(scratch.get())) << text.substr(0, 60);
    }
  }
}

TEST(Json, TwoInPlaceDocumentsOnOneThreadKeepTheirOwnText) {
  // The first borrows the thread's arena and text buffer; the second, made
  // while the first is alive, must not write into them.
  ScratchDocument first;
  ASSERT_TRUE(first.Parse(R"({"who":"first","list":["one","two"]})").ok);
  {
    ScratchDocument second;
    ASSERT_TRUE(second.Parse(R"({"who":"second-and-longer","list":["three"]})").ok);
    EXPECT_EQ(StringAt(&second.get(), "who"), "second-and-longer");
  }
  EXPECT_EQ(StringAt(&first.get(), "who"), "first");
  EXPECT_EQ(Serialize(first.get()), R"({"who":"first","list":["one","two"]})");
  // Parsing again into the same document replaces its values.
  ASSERT_TRUE(first.Parse(R"({"who":"again"})").ok);
  EXPECT_EQ(StringAt(&first.get(), "who"), "again");
}

TEST(Json, ScratchWriterStartsEachDocumentEmpty) {
  const std::string big(100 << 10, 'x');  // grows the thread's buffer past what it keeps
  EXPECT_EQ(WriteString([&](Writer& w) { w.String(big); }), '"' + big + '"');
  EXPECT_EQ(WriteString([](Writer& w) { w.Bool(true); }), "true");
  EXPECT_EQ(WriteString([](Writer& w) {
              w.StartObject();
              w.Key("a");
              w.Int(1);
              w.EndObject();
            }),
            R"({"a":1})");
  EXPECT_EQ(WriteString([](Writer& w) { w.String("second"); }), R"("second")");
}

TEST(Json, ANestedScratchWriterHasItsOwnBuffer) {
  std::string inner;
  const std::string outer = WriteString([&](Writer& w) {
    w.StartArray();
    w.String("outer");
    inner = WriteString([](Writer& n) {
      n.StartObject();
      n.Key("inner");
      n.Null();
      n.EndObject();
    });
    w.String("after");
    w.EndArray();
  });
  EXPECT_EQ(outer, R"(["outer","after"])");
  EXPECT_EQ(inner, R"({"inner":null})");
}

TEST(Json, ADocumentLeftHalfWrittenByAnExceptionIsNotContinued) {
  EXPECT_THROW(WriteString([](Writer& w) {
                 w.StartObject();
                 w.Key("half");
                 throw std::runtime_error("stop");
               }),
               std::runtime_error);
  // Borrowed again from the top: no open object, no "half" key left over.
  EXPECT_EQ(WriteString([](Writer& w) { w.Int(7); }), "7");
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

TEST(Log, NumbersAreRoundedToThreeDecimals) {
  log::SetTextFormat(false);
  const std::string line = log::Format(
      log::Level::kInfo, "webhook",
      {{"latency_ms", 0.060171999999999999}, {"seconds", 12.3456789}, {"tiny", 0.0000123}});
  EXPECT_NE(line.find("\"latency_ms\":0.06,"), std::string::npos) << line;
  EXPECT_NE(line.find("\"seconds\":12.346,"), std::string::npos) << line;
  // A value that would round to zero keeps its digits.
  EXPECT_EQ(line.find("\"tiny\":0.0,"), std::string::npos) << line;
  EXPECT_EQ(line.find("\"tiny\":0,"), std::string::npos) << line;
}

/// A librdkafka event as the client hands it to the callback.
class FakeKafkaEvent final : public RdKafka::Event {
 public:
  FakeKafkaEvent(Type type, Severity severity, std::string fac, std::string str)
      : type_(type), severity_(severity), fac_(std::move(fac)), str_(std::move(str)) {}
  Type type() const override { return type_; }
  RdKafka::ErrorCode err() const override { return RdKafka::ERR__TRANSPORT; }
  Severity severity() const override { return severity_; }
  std::string fac() const override { return fac_; }
  std::string str() const override { return str_; }
  int throttle_time() const override { return 0; }
  std::string broker_name() const override { return "b-1"; }
  int broker_id() const override { return 1; }
  bool fatal() const override { return false; }

 private:
  Type type_;
  Severity severity_;
  std::string fac_, str_;
};

TEST(Log, ABrokerConnectionFailureIsOneLine) {
  log::SetTextFormat(false);
  log::SetLevel(log::Level::kInfo);
  // librdkafka reports a refused connection twice: a FAIL log line, then an
  // error event with the same text.
  const std::string text = "ssl://b-1:9093/1: Connect to ipv4#10.0.0.1:9093 failed";
  FakeKafkaEvent fail(RdKafka::Event::EVENT_LOG, RdKafka::Event::EVENT_SEVERITY_ERROR, "FAIL",
                      text);
  FakeKafkaEvent error(RdKafka::Event::EVENT_ERROR, RdKafka::Event::EVENT_SEVERITY_ERROR, "", text);
  ::testing::internal::CaptureStderr();
  rdkafka::LogKafkaEvent("producer", fail);
  rdkafka::LogKafkaEvent("producer", error);
  const std::string out = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  EXPECT_NE(out.find("\"event\":\"kafka_error\""), std::string::npos) << out;
  // Other error lines still show.
  FakeKafkaEvent other(RdKafka::Event::EVENT_LOG, RdKafka::Event::EVENT_SEVERITY_ERROR, "SSL",
                       "certificate verify failed");
  ::testing::internal::CaptureStderr();
  rdkafka::LogKafkaEvent("producer", other);
  EXPECT_NE(::testing::internal::GetCapturedStderr().find("certificate verify failed"),
            std::string::npos);
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
