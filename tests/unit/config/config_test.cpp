#include "bridge/config/config.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "bridge/config/settings.h"

namespace bridge {
namespace {

constexpr const char* kSecret = "calcom-secret-1";

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/schedbridge-config-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  Config Load(std::map<std::string, std::string> env, std::optional<std::string> file = {},
              std::map<std::string, std::string> flags = {}) {
    ConfigInputs in;
    in.env = std::move(env);
    in.file = std::move(file);
    in.flags = std::move(flags);
    in.known_providers = {"calcom", "calendly", "savvycal", "orufy"};
    return LoadConfig(in);
  }

  std::string ErrorOf(std::map<std::string, std::string> env, std::optional<std::string> file = {},
                      std::vector<std::string> kafka_flags = {}) {
    try {
      ConfigInputs in;
      in.env = std::move(env);
      in.file = std::move(file);
      in.kafka_flags = std::move(kafka_flags);
      in.known_providers = {"calcom", "calendly", "savvycal", "orufy"};
      LoadConfig(in);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "";
  }

  std::string dir_;
};

TEST_F(ConfigTest, DefaultsAndDesignEnvironmentNames) {
  Config c = Load({{"SCHEDBRIDGE_SECRET_CALCOM", "first-secret-a, second-secret-b"}});
  EXPECT_EQ(c.kafka.brokers, "localhost:9092");
  EXPECT_EQ(c.http.host, "0.0.0.0");
  EXPECT_EQ(c.http.port, 8080);
  EXPECT_EQ(c.pipeline.events_topic, "scheduling.events.v1");
  EXPECT_EQ(c.pipeline.dlq_topic, "scheduling.dlq.v1");
  EXPECT_EQ(c.http.max_body_bytes, 1u << 20);
  const SourceConfig* s = c.FindSource("calcom", "default");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->secrets, (std::vector<std::string>{"first-secret-a", "second-secret-b"}));

  c = Load({{"SCHEDBRIDGE_KAFKA_BROKERS", "k1:9092,k2:9092"},
            {"SCHEDBRIDGE_LISTEN", "127.0.0.1:9000"},
            {"SCHEDBRIDGE_TOPIC_EVENTS", "ev"},
            {"SCHEDBRIDGE_TOPIC_DLQ", "dl"},
            {"SCHEDBRIDGE_SECRET_CALCOM_FILE",
             Write("calcom.secret", "first, with a comma\n\n  second-secret \n")},
            {"SCHEDBRIDGE_KAFKA_SECURITY_PROTOCOL", "SASL_SSL"}});
  EXPECT_EQ(c.kafka.brokers, "k1:9092,k2:9092");
  EXPECT_EQ(c.http.host, "127.0.0.1");
  EXPECT_EQ(c.http.port, 9000);
  EXPECT_EQ(c.pipeline.events_topic, "ev");
  EXPECT_EQ(c.pipeline.dlq_topic, "dl");
  EXPECT_EQ(c.FindSource("calcom", "default")->secrets,
            (std::vector<std::string>{"first, with a comma", "second-secret"}));
  EXPECT_EQ(c.kafka.properties.at("security.protocol"), "SASL_SSL");
  EXPECT_EQ(c.FindSource("calendly", "default"), nullptr);
}

TEST_F(ConfigTest, FileDescribesNamedSourcesAndEnvironmentOverridesIt) {
  const std::string secret = Write("team-a", "team-a-secret-1\n");
  const std::string file = Write("config.yaml", R"(
listen: 127.0.0.1:7000
ack_timeout_ms: 2500
topics:
  events: file-events
kafka:
  brokers: file-broker:9092
  compression.type: zstd
sources:
  - provider: calcom
    name: team-a
    secret_files: [)" + secret + R"(]
  - provider: calcom
    name: legacy
    allow_unsigned: true
)");
  Config c = Load({{"SCHEDBRIDGE_TOPIC_EVENTS", "env-events"}}, file,
                  {{"SCHEDBRIDGE_LISTEN", "127.0.0.1:7001"}});
  EXPECT_EQ(c.http.port, 7001);                      // flag > env > file
  EXPECT_EQ(c.pipeline.events_topic, "env-events");  // env > file
  EXPECT_EQ(c.kafka.brokers, "file-broker:9092");    // file > default
  EXPECT_EQ(c.pipeline.ack_timeout, std::chrono::milliseconds(2500));
  EXPECT_EQ(c.kafka.properties.at("compression.type"), "zstd");
  ASSERT_NE(c.FindSource("calcom", "team-a"), nullptr);
  EXPECT_EQ(c.FindSource("calcom", "team-a")->secrets, std::vector<std::string>{"team-a-secret-1"});
  EXPECT_TRUE(c.FindSource("calcom", "legacy")->allow_unsigned);
  EXPECT_EQ(c.FindSource("calcom", "default"), nullptr);
}

TEST_F(ConfigTest, DedupAndSpoolSettings) {
  Config c = Load({{"SCHEDBRIDGE_SECRET_CALCOM", kSecret}});
  EXPECT_TRUE(c.dedup.across_replicas);
  EXPECT_EQ(c.dedup.fetch_wait, std::chrono::milliseconds(100));
  EXPECT_EQ(c.pipeline.dedup_window, std::chrono::hours(24));
  EXPECT_EQ(c.pipeline.dedup_capacity, 1000000u);
  EXPECT_FALSE(c.pipeline.replica_id.empty());  // the host name: the pod name in Kubernetes
  EXPECT_FALSE(c.AnySpooledSource());
  EXPECT_EQ(c.spool.dir, "/var/lib/schedbridge/spool");
  EXPECT_EQ(c.spool.max_bytes, uint64_t{1} << 30);

  const std::string key = Write("spool.key", "spool-key-0123456789abcdef\n");
  const std::string file = Write("spool.yaml", R"(
spool_key_file: )" + key + R"(
dedup_window_seconds: 3600
dedup_fetch_wait_ms: 10
replica_id: schedbridge-2
spool_dir: /data/spool
spool_max_bytes: 2097152
sources:
  - provider: calcom
    name: no-retries
    allow_unsigned: true
    ack: spool
)");
  c = Load({{"SCHEDBRIDGE_SECRET_CALENDLY", "calendly-secret-1"},
            {"SCHEDBRIDGE_ACK_CALENDLY", "spool"},
            {"SCHEDBRIDGE_DEDUP_ACROSS_REPLICAS", "false"}},
           file);
  EXPECT_FALSE(c.dedup.across_replicas);
  EXPECT_EQ(c.pipeline.dedup_window, std::chrono::hours(1));
  EXPECT_EQ(c.dedup.fetch_wait, std::chrono::milliseconds(10));
  EXPECT_EQ(c.pipeline.replica_id, "schedbridge-2");
  EXPECT_EQ(c.spool.dir, "/data/spool");
  EXPECT_EQ(c.spool.max_bytes, 2097152u);
  EXPECT_TRUE(c.AnySpooledSource());
  EXPECT_EQ(c.FindSource("calcom", "no-retries")->ack, AckMode::kSpool);
  EXPECT_EQ(c.FindSource("calendly", "default")->ack, AckMode::kSpool);
  EXPECT_EQ(c.spool.keys, std::vector<std::string>{"spool-key-0123456789abcdef"});
  EXPECT_EQ(c.spool.topics,
            (std::vector<std::string>{"scheduling.events.v1", "scheduling.dlq.v1"}));
  // A spooled source without a key, or with a short one, is refused.
  EXPECT_NE(ErrorOf({{"SCHEDBRIDGE_SECRET_CALCOM", kSecret}, {"SCHEDBRIDGE_ACK_CALCOM", "spool"}})
                .find("needs SCHEDBRIDGE_SPOOL_KEY_FILE"),
            std::string::npos);
  EXPECT_NE(ErrorOf({{"SCHEDBRIDGE_SECRET_CALCOM", kSecret},
                     {"SCHEDBRIDGE_ACK_CALCOM", "spool"},
                     {"SCHEDBRIDGE_SPOOL_KEY_FILE", Write("short.key", "short\n")}})
                .find("shorter than 16 bytes"),
            std::string::npos);

  EXPECT_NE(ErrorOf({{"SCHEDBRIDGE_SECRET_CALCOM", kSecret}, {"SCHEDBRIDGE_ACK_CALCOM", "disk"}})
                .find("SCHEDBRIDGE_ACK_CALCOM must be kafka or spool."),
            std::string::npos);
  EXPECT_NE(ErrorOf({}, Write("f.yaml",
                              "sources:\n  - provider: calcom\n    allow_unsigned: true\n    "
                              "ack: later\n"))
                .find("sources[0].ack must be kafka or spool"),
            std::string::npos);
  EXPECT_NE(ErrorOf({{"SCHEDBRIDGE_SECRET_CALCOM", kSecret}, {"SCHEDBRIDGE_REPLICA_ID", "a b"}})
                .find("SCHEDBRIDGE_REPLICA_ID must be 1-64 characters"),
            std::string::npos);
  EXPECT_NE(ErrorOf({{"SCHEDBRIDGE_SECRET_CALCOM", kSecret}, {"SCHEDBRIDGE_SPOOL_MAX_BYTES", "10"}})
                .find("SCHEDBRIDGE_SPOOL_MAX_BYTES"),
            std::string::npos);
}

TEST_F(ConfigTest, ClearErrors) {
  EXPECT_NE(ErrorOf({{"SCHEDBRIDGE_SECRET_CALCOM_FILE", dir_ + "/missing"}})
                .find("cannot read secret file"),
            std::string::npos);
  EXPECT_NE(ErrorOf({}, Write("a.yaml", "bogus: 1\n")).find("a.yaml:1: bogus: unknown key"),
            std::string::npos);
  EXPECT_NE(ErrorOf({}, Write("b.yaml", "sources:\n  - provider: calcom\n    secret: plain\n"))
                .find("secrets are not written in the config file"),
            std::string::npos);
  EXPECT_NE(ErrorOf({}, Write("c.yaml", "sources:\n  - provider: zoom\n    allow_unsigned: true\n"))
                .find("unknown provider \"zoom\""),
            std::string::npos);
  EXPECT_NE(ErrorOf({}, Write("d.yaml", "sources:\n  - provider: calcom\n")).find("has no secret"),
            std::string::npos);
  EXPECT_NE(ErrorOf({{"SCHEDBRIDGE_SECRET_CALCOM", kSecret}, {"SCHEDBRIDGE_KAFKA_ACKS", "1"}})
                .find("would weaken the delivery guarantee"),
            std::string::npos);
  EXPECT_NE(
      ErrorOf({{"SCHEDBRIDGE_SECRET_CALCOM", kSecret}, {"SCHEDBRIDGE_ACK_TIMEOUT_MS", "soon"}})
          .find("SCHEDBRIDGE_ACK_TIMEOUT_MS must be a whole number"),
      std::string::npos);
  EXPECT_NE(ErrorOf({{"SCHEDBRIDGE_SECRET_CALCOM", kSecret}, {"SCHEDBRIDGE_LISTEN", "nowhere"}})
                .find("host:port"),
            std::string::npos);
  EXPECT_NE(ErrorOf({}, Write("e.yaml", "listen: [1\n")).find("not valid YAML"), std::string::npos);
}

TEST_F(ConfigTest, ProviderApiSettingsPerSourceAndThePublicUrl) {
  const std::string file = Write("api.yaml",
                                 "public_url: https://hooks.example.com/\n"
                                 "sources:\n"
                                 "  - provider: calendly\n"
                                 "    name: sales\n"
                                 "    allow_unsigned: true\n"
                                 "    api_url: http://127.0.0.1:9999/calendly\n"
                                 "    api_key_file: /var/run/secrets/calendly-api\n"
                                 "    api_allow_http: true\n");
  Config c = Load({{"SCHEDBRIDGE_SECRET_CALCOM", kSecret},
                   {"SCHEDBRIDGE_API_KEY_FILE_CALCOM", "/keys/calcom"},
                   {"SCHEDBRIDGE_API_URL_CALCOM", "https://cal.internal"}},
                  file);
  EXPECT_EQ(c.public_url, "https://hooks.example.com");  // no trailing slash
  const SourceConfig* sales = c.FindSource("calendly", "sales");
  ASSERT_NE(sales, nullptr);
  EXPECT_EQ(sales->api_url, "http://127.0.0.1:9999/calendly");
  EXPECT_EQ(sales->api_key_file, "/var/run/secrets/calendly-api");
  const SourceConfig* calcom = c.FindSource("calcom", "default");
  ASSERT_NE(calcom, nullptr);
  EXPECT_EQ(calcom->api_key_file, "/keys/calcom");
  EXPECT_EQ(calcom->api_url, "https://cal.internal");
  EXPECT_TRUE(sales->api_allow_http);
  EXPECT_FALSE(calcom->api_allow_http);
  EXPECT_TRUE(
      Load({{"SCHEDBRIDGE_SECRET_CALCOM", kSecret}, {"SCHEDBRIDGE_API_ALLOW_HTTP_CALCOM", "true"}})
          .FindSource("calcom", "default")
          ->api_allow_http);

  EXPECT_NE(ErrorOf({{"SCHEDBRIDGE_SECRET_CALCOM", kSecret},
                     {"SCHEDBRIDGE_PUBLIC_URL", "hooks.example.com"}})
                .find("SCHEDBRIDGE_PUBLIC_URL must start with https://"),
            std::string::npos);
  EXPECT_NE(
      ErrorOf({{"SCHEDBRIDGE_SECRET_CALCOM", kSecret}, {"SCHEDBRIDGE_API_URL_CALCOM", "ftp://x"}})
          .find("api_url must start with https://"),
      std::string::npos);
  EXPECT_NE(ErrorOf({{"SCHEDBRIDGE_SECRET_CALCOM", kSecret}, {"SCHEDBRIDGE_API_KEY_CALCOM", "k"}})
                .find("set SCHEDBRIDGE_API_KEY_FILE_CALCOM to its path"),
            std::string::npos);
}

TEST_F(ConfigTest, UnexpectedYamlShapesAreConfigErrors) {
  // Found by fuzzing: a sequence as a mapping key threw past the loader.
  for (const char* text : {"? - provider: calcom\n: x\n", "sources:\n  - ? [a]\n    : b\n",
                           "topics: {? [x] : y}\n", "kafka:\n  ? {a: 1}\n  : v\n"}) {
    ConfigInputs in;
    in.file_contents = text;
    in.known_providers = {"calcom"};
    EXPECT_THROW(LoadConfig(in), ConfigError) << text;
  }
}

TEST_F(ConfigTest, ErrorsNeverContainSecretValues) {
  const std::string e =
      ErrorOf({{"SCHEDBRIDGE_SECRET_CALCOM", "hunter2-hunter2"}, {"SCHEDBRIDGE_KAFKA_ACKS", "0"}});
  EXPECT_FALSE(e.empty());
  EXPECT_EQ(e.find("hunter2"), std::string::npos);
}

// A comma is part of a secret read from a file: the secret "Xk9#q2,Lm" must
// not also accept a body signed with just "Lm".
TEST_F(ConfigTest, SecretFilesHoldOneSecretPerLine) {
  const std::string file = Write("comma.secret", "Xk9#q2,Lm-long-enough\n");
  Config c = Load({{"SCHEDBRIDGE_SECRET_CALCOM_FILE", file}});
  EXPECT_EQ(c.FindSource("calcom", "default")->secrets,
            std::vector<std::string>{"Xk9#q2,Lm-long-enough"});
  EXPECT_EQ(ReadSecretFile(Write("crlf.secret", "one-secret-abc\r\ntwo-secret-def\r\n")),
            (std::vector<std::string>{"one-secret-abc", "two-secret-def"}));
}

TEST_F(ConfigTest, ShortSecretsAreAConfigurationError) {
  const std::string e = ErrorOf({{"SCHEDBRIDGE_SECRET_CALCOM", "long-enough-secret,Lm"}});
  EXPECT_NE(e.find("source calcom/default: a secret is shorter than 12 bytes"), std::string::npos)
      << e;
  EXPECT_EQ(e.find("Lm"), std::string::npos) << e;
  EXPECT_NE(ErrorOf({{"SCHEDBRIDGE_SECRET_ORUFY_FILE", Write("short", "Lm\n")}})
                .find("shorter than 12 bytes"),
            std::string::npos);
  // The providers' published test vectors use a 15-byte secret.
  EXPECT_EQ(ErrorOf({{"SCHEDBRIDGE_SECRET_CALCOM", "test-secret-123"}}), "");
  EXPECT_EQ(ErrorOf({{"SCHEDBRIDGE_SECRET_CALCOM", "sixteen-bytes-ok"},
                     {"SCHEDBRIDGE_MIN_SECRET_BYTES", "17"}})
                    .find("shorter than 17 bytes") != std::string::npos,
            true);
}

TEST_F(ConfigTest, KafkaSecretsComeFromTheEnvironmentOrFilesOnly) {
  const std::map<std::string, std::string> env = {{"SCHEDBRIDGE_SECRET_CALCOM", kSecret}};
  // A flag and the config file are refused, without repeating the value.
  std::string e = ErrorOf(env, {}, {"sasl.password=hunter2-typo"});
  EXPECT_NE(e.find("--kafka sasl.password holds a secret"), std::string::npos) << e;
  EXPECT_NE(e.find("SCHEDBRIDGE_KAFKA_SASL_PASSWORD_FILE"), std::string::npos) << e;
  EXPECT_EQ(e.find("hunter2"), std::string::npos) << e;
  for (const char* prop : {"sasl.password", "ssl.key.password", "ssl.keystore.password",
                           "sasl.oauthbearer.client.secret", "ssl.key.pem", "ssl_key"}) {
    e = ErrorOf(env, Write("k.yaml", std::string("kafka:\n  ") + prop + ": hunter2-typo\n"));
    EXPECT_NE(e.find(std::string("kafka.") + prop + " holds a secret"), std::string::npos) << e;
    EXPECT_EQ(e.find("hunter2"), std::string::npos) << e;
  }
  // Paths are not secrets.
  EXPECT_EQ(ErrorOf(env, Write("p.yaml", "kafka:\n  ssl.key.location: /etc/tls/key.pem\n")), "");
  // NAME_file in the file or a flag; SCHEDBRIDGE_KAFKA_<NAME>[_FILE] in the environment.
  const std::string password = Write("kafka.password", "from-a-file\n");
  Config c = Load(env, Write("f.yaml", "kafka:\n  sasl.password_file: " + password + "\n"));
  EXPECT_EQ(c.kafka.properties.at("sasl.password"), "from-a-file");
  auto with_env = env;
  with_env["SCHEDBRIDGE_KAFKA_SASL_PASSWORD_FILE"] = password;
  with_env["SCHEDBRIDGE_KAFKA_SSL_KEY_PASSWORD"] = "from-the-environment";
  c = Load(with_env);
  EXPECT_EQ(c.kafka.properties.at("sasl.password"), "from-a-file");
  EXPECT_EQ(c.kafka.properties.at("ssl.key.password"), "from-the-environment");
  EXPECT_EQ(c.kafka.properties.count("sasl.password.file"), 0u);
  ConfigInputs in;
  in.env = env;
  in.kafka_flags = {"sasl.password_file=" + password};
  in.known_providers = {"calcom"};
  EXPECT_EQ(LoadConfig(in).kafka.properties.at("sasl.password"), "from-a-file");
}

TEST_F(ConfigTest, ErrorsNeverRepeatAValue) {
  struct Case {
    std::string name, value, named;
  };
  for (const Case& c : std::vector<Case>{
           {"SCHEDBRIDGE_ACK_TIMEOUT_MS", "sasl.password:hunter2-typo", "ACK_TIMEOUT_MS"},
           {"SCHEDBRIDGE_DEDUP_ACROSS_REPLICAS", "hunter2-typo", "DEDUP_ACROSS_REPLICAS"},
           {"SCHEDBRIDGE_LOG_LEVEL", "hunter2-typo", "LOG_LEVEL"},
           {"SCHEDBRIDGE_LISTEN", "hunter2-typo", "SCHEDBRIDGE_LISTEN must be host:port"},
           {"SCHEDBRIDGE_REPLICA_ID", "hunter2 typo", "REPLICA_ID"},
           {"SCHEDBRIDGE_ACK_CALCOM", "hunter2-typo", "ACK_CALCOM"},
           {"SCHEDBRIDGE_KAFKA_ACKS", "hunter2-typo", "kafka.acks"}}) {
    const std::string& name = c.name;
    const std::string e = ErrorOf({{"SCHEDBRIDGE_SECRET_CALCOM", kSecret}, {name, c.value}});
    EXPECT_NE(e.find(c.named), std::string::npos) << name << ": " << e;
    EXPECT_EQ(e.find("hunter2"), std::string::npos) << name << ": " << e;
  }
  EXPECT_EQ(ErrorOf({{"SCHEDBRIDGE_SECRET_CALCOM", kSecret}}, {}, {"hunter2-typo"}).find("hunter2"),
            std::string::npos);
}

TEST(SourceTable, SwapsWhileRequestsReadIt) {
  SourceTable table({SourceConfig{"calcom", "default", {"a"}}});
  std::atomic<bool> stop{false};
  std::atomic<int> seen{0};
  std::vector<std::thread> readers;
  for (int i = 0; i < 4; ++i) {
    readers.emplace_back([&] {
      while (!stop) {
        auto s = table.Find("calcom", "default");
        if (s && !s->secrets.empty() && (s->secrets[0] == "a" || s->secrets[0] == "b")) ++seen;
      }
    });
  }
  // Swap until the readers have seen plenty of tables (bounded).
  for (int i = 0; seen.load() < 2000 && i < 10000000; ++i) {
    table.Replace({SourceConfig{"calcom", "default", {i % 2 ? "a" : "b"}}});
  }
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_GT(seen.load(), 0);
  EXPECT_EQ(table.size(), 1u);
}

TEST_F(ConfigTest, FileErrorsNameTheFileAndLine) {
  const std::string path = Write("lines.yaml", "listen: 0.0.0.0:8080\nack_timeout_ms: ten\n");
  EXPECT_EQ(ErrorOf({{"SCHEDBRIDGE_SECRET_CALCOM", kSecret}}, path),
            path + ":2: ack_timeout_ms must be a whole number from 1 to 600000 (ms).");
  // The same setting from the environment or a flag names itself so.
  EXPECT_EQ(
      ErrorOf({{"SCHEDBRIDGE_SECRET_CALCOM", kSecret}, {"SCHEDBRIDGE_ACK_TIMEOUT_MS", "ten"}}),
      "SCHEDBRIDGE_ACK_TIMEOUT_MS must be a whole number from 1 to 600000 (ms).");
  try {
    Load({{"SCHEDBRIDGE_SECRET_CALCOM", kSecret}}, {}, {{"SCHEDBRIDGE_ACK_TIMEOUT_MS", "0"}});
    ADD_FAILURE() << "a flag out of range was accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              "--ack-timeout-ms must be a whole number from 1 to 600000 (ms).");
  }
  const std::string typo = Write("typo.yaml", "listen: 0.0.0.0:8080\nack_timeout: 5\n");
  EXPECT_EQ(ErrorOf({{"SCHEDBRIDGE_SECRET_CALCOM", kSecret}}, typo),
            typo + ":2: ack_timeout: unknown key; did you mean ack_timeout_ms?");
}

TEST_F(ConfigTest, SourceErrorsNameTheFileLineAndASuggestion) {
  const std::string typo = Write("sources.yaml",
                                 "listen: 0.0.0.0:8080\n"
                                 "sources:\n"
                                 "  - provider: calcom\n"
                                 "    secret_file: /run/secrets/calcom\n");
  EXPECT_EQ(ErrorOf({}, typo),
            typo + ":4: sources[0].secret_file: unknown key; did you mean secret_files?");
  const std::string allow = Write("allow.yaml",
                                  "sources:\n"
                                  "  - provider: calcom\n"
                                  "    alow_unsigned: true\n");
  EXPECT_EQ(ErrorOf({}, allow),
            allow + ":3: sources[0].alow_unsigned: unknown key; did you mean allow_unsigned?");
  const std::string provider = Write("provider.yaml",
                                     "sources:\n"
                                     "  - provider: calcom\n"
                                     "    allow_unsigned: true\n"
                                     "  - provider: calendy\n"
                                     "    allow_unsigned: true\n");
  EXPECT_EQ(ErrorOf({}, provider),
            provider +
                ":4: sources[1].provider: unknown provider \"calendy\" (expected one of: calcom, "
                "calendly, savvycal, orufy); did you mean calendly?");
  const std::string ack = Write("ack.yaml",
                                "sources:\n"
                                "  - provider: calcom\n"
                                "    allow_unsigned: true\n"
                                "    ack: later\n");
  EXPECT_EQ(ErrorOf({}, ack), ack + ":4: sources[0].ack must be kafka or spool.");
}

TEST_F(ConfigTest, CrossChecksNameTheSettingAsItWasGiven) {
  // Given as a flag: the flag is named, not the variable.
  try {
    Load({{"SCHEDBRIDGE_SECRET_CALCOM", kSecret}}, {},
         {{"SCHEDBRIDGE_MAX_DELIVERY_AGE_SECONDS", "90000"}});
    ADD_FAILURE() << "a bound above the dedup window was accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("--max-delivery-age-seconds (90000) must not exceed "
                                          "SCHEDBRIDGE_DEDUP_WINDOW_SECONDS (86400)",
                                          0),
              0u)
        << e.what();
  }
  // Given in a file: the file and line.
  const std::string file =
      Write("age.yaml", "dedup_window_seconds: 3600\nmax_delivery_age_seconds: 7200\n");
  EXPECT_EQ(ErrorOf({{"SCHEDBRIDGE_SECRET_CALCOM", kSecret}}, file)
                .rfind(file + ":2: max_delivery_age_seconds (7200) must not exceed " + file +
                           ":1: dedup_window_seconds (3600)",
                       0),
            0u);
}

TEST_F(ConfigTest, UnknownEnvironmentVariablesAreErrorsWithASuggestion) {
  EXPECT_EQ(ErrorOf({{"SCHEDBRIDGE_SECRET_CALCOM", kSecret}, {"SCHEDBRIDGE_LISTN", ":8080"}}),
            "unknown environment variable SCHEDBRIDGE_LISTN; did you mean SCHEDBRIDGE_LISTEN?");
  // A provider's name misspelt: the variable names no provider.
  EXPECT_EQ(ErrorOf({{"SCHEDBRIDGE_SECRET_CALENDY", kSecret}}),
            "unknown environment variable SCHEDBRIDGE_SECRET_CALENDY; did you mean "
            "SCHEDBRIDGE_SECRET_CALENDLY?");
  EXPECT_NE(ErrorOf({{"SCHEDBRIDGE_SECRET_CALCOM", kSecret}, {"SCHEDBRIDGE_WHATEVER_THIS_IS", "1"}})
                .find("unknown environment variable SCHEDBRIDGE_WHATEVER_THIS_IS (`schedbridge "
                      "settings` lists every variable)"),
            std::string::npos);
  // librdkafka passthrough, the scripts' own variables and Kubernetes'
  // service links are not settings of the service and pass.
  const Config c = Load({{"SCHEDBRIDGE_SECRET_CALCOM", kSecret},
                         {"SCHEDBRIDGE_KAFKA_LINGER_MS", "5"},
                         {"SCHEDBRIDGE_SKIP_FUZZ", "1"},
                         {"SCHEDBRIDGE_SERVICE_HOST", "10.0.0.1"},
                         {"SCHEDBRIDGE_PORT_80_TCP_ADDR", "10.0.0.1"}});
  EXPECT_EQ(c.kafka.properties.at("linger.ms"), "5");
}

TEST_F(ConfigTest, ServeNeedsASource) {
  ConfigInputs in;
  in.known_providers = {"calcom", "calendly"};
  in.require_sources = true;
  try {
    LoadConfig(in);
    ADD_FAILURE() << "no sources was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("no sources are configured, so every webhook would be "
                                         "answered 404"),
              std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("providers: calcom, calendly"), std::string::npos);
  }
  in.require_sources = false;  // replay reads only Kafka settings
  EXPECT_NO_THROW(LoadConfig(in));
}

TEST(SettingsTable, EverySettingIsReachableFromFileEnvironmentAndFlag) {
  std::set<std::string> keys, envs, flags;
  for (const SettingSpec& s : Settings()) {
    EXPECT_TRUE(keys.insert(s.key).second) << "file key twice: " << s.key;
    EXPECT_TRUE(envs.insert(s.env).second) << "environment name twice: " << s.env;
    EXPECT_TRUE(flags.insert(s.flag).second) << "flag twice: " << s.flag;
    EXPECT_EQ(std::string(s.env).rfind("SCHEDBRIDGE_", 0), 0u) << s.env;
    EXPECT_EQ(std::string(s.flag).rfind("--", 0), 0u) << s.flag;
    EXPECT_NE(std::string(s.help), "") << s.key;
    // Its own default is accepted, from every place a value comes from.
    const std::string def = s.get(Config{});
    if (def.empty()) continue;
    Config c;
    EXPECT_NO_THROW(ApplySetting(c, s, def, s.env)) << s.env << "=" << def;
    EXPECT_EQ(s.get(c), def) << s.env;
  }
}

TEST(SettingsTable, DidYouMeanOnlyForLikelyTypos) {
  EXPECT_EQ(DidYouMean("SCHEDBRIDGE_LISTN", {"SCHEDBRIDGE_LISTEN", "SCHEDBRIDGE_ADMIN_LISTEN"}),
            "SCHEDBRIDGE_LISTEN");
  EXPECT_EQ(DidYouMean("serv", {"serve", "replay"}), "serve");
  EXPECT_EQ(DidYouMean("frobnicate", {"serve", "replay", "normalize"}), "");
}

TEST(ProducerProperties, EnforcesTheGuarantees) {
  KafkaSettings s;
  s.properties["linger.ms"] = "10";
  const auto p = ProducerProperties(s);
  EXPECT_EQ(p.at("enable.idempotence"), "true");
  EXPECT_EQ(p.at("acks"), "all");
  EXPECT_EQ(p.at("partitioner"), "murmur2_random");
  EXPECT_EQ(p.at("linger.ms"), "10");
  // One produce request in flight by default (batches coalesce behind it);
  // an operator may raise it, up to what idempotence allows.
  EXPECT_EQ(p.at("max.in.flight.requests.per.connection"), "1");
  s.properties["max.in.flight.requests.per.connection"] = "5";
  EXPECT_EQ(ProducerProperties(s).at("max.in.flight.requests.per.connection"), "5");
  // Through librdkafka's alias too (SCHEDBRIDGE_KAFKA_MAX_IN_FLIGHT): our
  // default of the full name must not be applied after it.
  s.properties.erase("max.in.flight.requests.per.connection");
  s.properties["max.in.flight"] = "3";
  const auto aliased = ProducerProperties(s);
  EXPECT_EQ(aliased.at("max.in.flight"), "3");
  EXPECT_EQ(aliased.count("max.in.flight.requests.per.connection"), 0u);
  s.properties.erase("max.in.flight");
  s.properties["partitioner"] = "consistent_random";
  EXPECT_THROW(ProducerProperties(s), std::invalid_argument);
}

}  // namespace
}  // namespace bridge
