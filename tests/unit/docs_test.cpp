// Every JSON example in the documentation is valid against its schema; the
// README's settings, limits and metrics tables follow the code's one list of each.

#include <gtest/gtest.h>

#include <regex>

#include "bridge/config/config.h"
#include "bridge/config/settings.h"
#include "bridge/sync/reconcile.h"
#include "bridge/util/json.h"
#include "bridge/webhook/webhook_server.h"
#include "support.h"

namespace bridge {
namespace {

std::vector<std::string> JsonBlocks(const std::string& markdown) {
  std::vector<std::string> blocks;
  const std::regex fence("```json\\n([\\s\\S]*?)```");
  for (std::sregex_iterator it(markdown.begin(), markdown.end(), fence), end; it != end; ++it) {
    blocks.push_back((*it)[1].str());
  }
  return blocks;
}

TEST(Docs, EveryExampleValidates) {
  std::set<std::string> event_types;
  size_t checked = 0;
  for (const char* doc : {"README.md", "docs/consumers.md"}) {
    const std::string text = testing::ReadFile(std::string(SCHEDBRIDGE_SOURCE_DIR) + "/" + doc);
    for (const std::string& block : JsonBlocks(text)) {
      rapidjson::Document d;
      ASSERT_TRUE(json::Parse(block, d).ok) << doc << ": " << block;
      const auto schema = json::StringAt(&d, "schema");
      if (schema == "scheduling-event/v1") {
        EXPECT_VALID_AGAINST("scheduling-event.v1.json", block);
        event_types.insert(json::StringAt(&d, "event_type").value_or(""));
        ++checked;
      } else if (schema == "dead-letter/v1") {
        EXPECT_VALID_AGAINST("dead-letter.v1.json", block);
        ++checked;
      }
    }
  }
  EXPECT_GE(checked, 23u);
  EXPECT_EQ(event_types.size(), 22u) << "one example per event type in docs/consumers.md";
}

TEST(Docs, SchemasDescribeEveryField) {
  for (const char* file : {"scheduling-event.v1.json", "dead-letter.v1.json"}) {
    rapidjson::Document d;
    ASSERT_TRUE(
        json::Parse(testing::ReadFile(std::string(SCHEDBRIDGE_SOURCE_DIR) + "/schemas/" + file), d)
            .ok);
    EXPECT_TRUE(json::StringAt(&d, "$id"));
    EXPECT_TRUE(json::StringAt(&d, "title"));
    // Walk every "properties" object: each property has a description.
    std::vector<const json::Value*> stack = {&d};
    size_t properties = 0;
    while (!stack.empty()) {
      const json::Value* v = stack.back();
      stack.pop_back();
      if (v->IsObject()) {
        if (const json::Value* props = json::Get(v, "properties"); props && props->IsObject()) {
          for (const auto& p : props->GetObject()) {
            ++properties;
            EXPECT_TRUE(json::StringAt(&p.value, "description"))
                << file << ": " << p.name.GetString();
          }
        }
        for (const auto& m : v->GetObject()) stack.push_back(&m.value);
      } else if (v->IsArray()) {
        for (const auto& e : v->GetArray()) stack.push_back(&e);
      }
    }
    EXPECT_GT(properties, 10u);
  }
}

std::string Readme() {
  return testing::ReadFile(std::string(SCHEDBRIDGE_SOURCE_DIR) + "/README.md");
}

TEST(Docs, TheReadmeConfigurationTableIsTheSettingsTable) {
  // Generated from the one table of settings (`schedbridge settings`);
  // scripts/docs rewrites it after a change.
  const std::string readme = Readme();
  ASSERT_GE(Settings().size(), 35u);
  const std::string table = SettingsMarkdown();
  EXPECT_NE(readme.find(table), std::string::npos)
      << "README's configuration table differs from `schedbridge settings`: run scripts/docs";
  for (const SettingSpec& s : Settings()) {
    EXPECT_NE(table.find(std::string("`") + s.env + "`"), std::string::npos) << s.env;
    EXPECT_NE(table.find(std::string("`") + s.key + "`"), std::string::npos) << s.key;
  }
}

TEST(Docs, EveryLimitAndMetricIsInTheReadme) {
  const std::string readme = Readme();
  for (const std::string& limit : WebhookLimitNames()) {
    EXPECT_NE(readme.find("| `" + limit + "` |"), std::string::npos) << "limit " << limit;
  }
  // The metric families a serving process registers on its own.
  Config config;
  testing::FakePublisher publisher;
  SystemClock clock;
  Metrics metrics;
  Pipeline pipeline(config.pipeline, publisher, clock);
  SourceTable sources({});
  WebhookServer server(config.http, sources, pipeline, ProviderRegistry::BuiltIn(), metrics);
  const std::string text = metrics.Render();
  const std::regex type_line("# TYPE (\\S+) ");
  int families = 0;
  for (std::sregex_iterator it(text.begin(), text.end(), type_line), end; it != end; ++it) {
    ++families;
    EXPECT_NE(readme.find("`" + (*it)[1].str() + "`"), std::string::npos) << (*it)[1].str();
  }
  EXPECT_GE(families, 10);
  // And those a reconcile run pushes (a CronJob has no port to scrape).
  const std::string pushed = ReconcileMetricsText(ReconcileSummary{}, 0);
  for (std::sregex_iterator it(pushed.begin(), pushed.end(), type_line), end; it != end; ++it) {
    EXPECT_NE(readme.find("`" + (*it)[1].str() + "`"), std::string::npos) << (*it)[1].str();
  }
}

}  // namespace
}  // namespace bridge
