// Every member of every provider fixture, replaced in turn by a value of each
// JSON type (and removed): normalization never crashes, and yields either
// schema-valid events or a dead letter with a reason.

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <filesystem>

#include "support.h"

namespace bridge {
namespace {

std::string Write(const rapidjson::Value& v) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  v.Accept(w);
  return std::string(buf.GetString(), buf.GetSize());
}

/// Collects a pointer to every object member and array element.
void Walk(rapidjson::Value& v, std::vector<rapidjson::Value*>& out) {
  if (v.IsObject()) {
    for (auto& m : v.GetObject()) {
      out.push_back(&m.value);
      Walk(m.value, out);
    }
  } else if (v.IsArray()) {
    for (auto& e : v.GetArray()) {
      out.push_back(&e);
      Walk(e, out);
    }
  }
}

class Mutations : public ::testing::TestWithParam<std::string> {};

TEST_P(Mutations, NeverCrashAndStayValid) {
  const std::string relative = GetParam();
  const std::string provider = relative.substr(0, relative.find('/'));
  const std::string original = testing::CompactFixture(relative);
  rapidjson::Document probe;
  probe.Parse(original.c_str());
  std::vector<rapidjson::Value*> nodes;
  Walk(probe, nodes);
  const std::vector<std::string> replacements = {
      "null",  "true", "-1", "1e300",  "\"\"",
      "\"x\"", "[]",   "{}", "[null]", "\"2025-13-45T99:00:00Z\""};
  size_t events = 0, dead_letters = 0;
  for (size_t i = 0; i < nodes.size(); ++i) {
    for (const std::string& replacement : replacements) {
      rapidjson::Document doc;
      doc.Parse(original.c_str());
      std::vector<rapidjson::Value*> targets;
      Walk(doc, targets);
      rapidjson::Document r(&doc.GetAllocator());
      r.Parse(replacement.c_str());
      targets[i]->CopyFrom(r, doc.GetAllocator());
      const std::string body = Write(doc);
      NormalizeResult result = testing::NormalizeWith(provider, body);
      if (auto* list = std::get_if<std::vector<CanonicalEvent>>(&result)) {
        ++events;
        for (const CanonicalEvent& e : *list) {
          const std::string errors = testing::SchemaErrors("scheduling-event.v1.json", ToJson(e));
          ASSERT_EQ(errors, "") << relative << " node " << i << " = " << replacement << ": "
                                << ToJson(e);
        }
      } else {
        ++dead_letters;
        ASSERT_FALSE(std::get<NormalizeFailure>(result).reason.empty());
      }
    }
  }
  if (std::holds_alternative<NormalizeFailure>(testing::NormalizeWith(provider, original))) {
    EXPECT_EQ(events, 0u) << relative;  // damage does not make a dead letter normalizable
  } else {
    // Most single-field damage must still normalize: the mappers are tolerant.
    EXPECT_GT(events, dead_letters) << relative;
  }
}

std::vector<std::string> Fixtures() {
  std::vector<std::string> out;
  for (const char* provider : {"calcom", "calendly", "savvycal", "orufy"}) {
    for (const auto& f : std::filesystem::directory_iterator(testing::FixturePath(provider))) {
      if (f.path().extension() == ".json")
        out.push_back(std::string(provider) + "/" + f.path().filename().string());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

INSTANTIATE_TEST_SUITE_P(AllFixtures, Mutations, ::testing::ValuesIn(Fixtures()),
                         [](const ::testing::TestParamInfo<std::string>& param) {
                           std::string name = param.param;
                           for (char& c : name) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace bridge
