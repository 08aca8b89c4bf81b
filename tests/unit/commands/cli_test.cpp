// The schedbridge binary's subcommands that need no broker.

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <variant>

#include "bridge/config/settings.h"
#include "bridge/model/dead_letter.h"
#include "bridge/util/json.h"
#include "support.h"

namespace bridge {
namespace {

struct CommandResult {
  int exit_code = -1;
  std::string out;
};

CommandResult Shell(const std::string& command) {
  CommandResult r;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return r;
  std::array<char, 4096> buf{};
  size_t n = 0;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) r.out.append(buf.data(), n);
  const int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

const std::string kBinary = SCHEDBRIDGE_BINARY;

TEST(Cli, NormalizePrintsOneJsonLinePerEvent) {
  const CommandResult r = Shell(kBinary + " normalize --provider calcom " +
                                testing::FixturePath("calcom/BOOKING_RESCHEDULED.json") + " 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const size_t newline = r.out.find('\n');
  ASSERT_NE(newline, std::string::npos);
  const std::string first = r.out.substr(0, newline);
  const std::string second = r.out.substr(newline + 1, r.out.size() - newline - 2);
  EXPECT_VALID_AGAINST("scheduling-event.v1.json", first);
  EXPECT_VALID_AGAINST("scheduling-event.v1.json", second);
  EXPECT_NE(first.find("booking.rescheduled"), std::string::npos);
  EXPECT_NE(second.find("booking.created"), std::string::npos);
}

TEST(Cli, NormalizeReadsStdinAndReportsDeadLetters) {
  const CommandResult ok =
      Shell("echo '{\"triggerEvent\":\"BOOKING_CREATED\",\"payload\":{\"uid\":\"u\"}}' | " +
            kBinary + " normalize --provider calcom --source team-a -");
  ASSERT_EQ(ok.exit_code, 0);
  EXPECT_NE(ok.out.find("\"source\":\"team-a\""), std::string::npos);
  const CommandResult dead =
      Shell(kBinary + " normalize --provider calcom " +
            testing::FixturePath("calcom/BOOKING_CREATED_with_payloadTemplate.json") + " 2>&1");
  EXPECT_EQ(dead.exit_code, 1);
  EXPECT_EQ(dead.out.rfind("dead-letter: custom_template: ", 0), 0u) << dead.out;
  EXPECT_EQ(Shell(kBinary + " normalize --provider zoom - < /dev/null 2>&1").exit_code, 2);
}

TEST(Cli, VersionAndHelp) {
  const CommandResult v = Shell(kBinary + " version");
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_EQ(v.out.rfind("schedbridge ", 0), 0u);
  const CommandResult help = Shell(kBinary + " serve --help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--check-config"), std::string::npos);
}

TEST(Cli, CheckConfigNamesTheProblem) {
  const CommandResult bad = Shell("env -i SCHEDBRIDGE_SECRET_CALCOM_FILE=/nonexistent " + kBinary +
                                  " serve --check-config 2>&1");
  EXPECT_EQ(bad.exit_code, 78);
  EXPECT_NE(bad.out.find("cannot read secret file /nonexistent"), std::string::npos) << bad.out;
  const CommandResult kafka =
      Shell("env -i SCHEDBRIDGE_SECRET_CALCOM=cli-test-secret SCHEDBRIDGE_KAFKA_LINGER_MS=soon " +
            kBinary + " serve --check-config 2>&1");
  EXPECT_EQ(kafka.exit_code, 78);
  EXPECT_NE(kafka.out.find("invalid Kafka setting kafka.linger.ms"), std::string::npos)
      << kafka.out;
  const CommandResult unknown =
      Shell("env -i SCHEDBRIDGE_SECRET_CALCOM=cli-test-secret " + kBinary +
            " serve --check-config --kafka no.such.property=1 2>&1");
  EXPECT_EQ(unknown.exit_code, 78);
  EXPECT_NE(unknown.out.find("no.such.property"), std::string::npos) << unknown.out;
  const CommandResult password =
      Shell("env -i SCHEDBRIDGE_SECRET_CALCOM=cli-test-secret " + kBinary +
            " serve --check-config --kafka sasl.password=hunter2 2>&1");
  EXPECT_EQ(password.exit_code, 78);
  EXPECT_NE(password.out.find("--kafka sasl.password holds a secret"), std::string::npos)
      << password.out;
  EXPECT_EQ(password.out.find("hunter2"), std::string::npos) << password.out;
  const CommandResult good = Shell("env -i SCHEDBRIDGE_SECRET_CALCOM=cli-test-secret " + kBinary +
                                   " serve --check-config");
  EXPECT_EQ(good.exit_code, 0) << good.out;
  EXPECT_NE(good.out.find("configuration OK: 1 source(s) (calcom/default)"), std::string::npos);
}

TEST(Cli, ExitCodesFollowSysexits) {
  // 2: bad arguments; the unknown command is named, with a suggestion.
  const CommandResult unknown = Shell(kBinary + " frobnicate 2>&1");
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.out.find("unknown command \"frobnicate\"; the commands are serve,"),
            std::string::npos)
      << unknown.out;
  const CommandResult typo = Shell(kBinary + " serv 2>&1");
  EXPECT_NE(typo.out.find("(did you mean serve?)"), std::string::npos) << typo.out;
  EXPECT_EQ(Shell(kBinary + " serve --no-such-flag 2>&1").exit_code, 2);
  // A flag that only means something with another is refused without it.
  const CommandResult connect = Shell(kBinary + " serve --connect 2>&1");
  EXPECT_EQ(connect.exit_code, 2);
  EXPECT_NE(connect.out.find("--connect requires --check-config"), std::string::npos)
      << connect.out;
  EXPECT_EQ(Shell(kBinary + " replay --transactional 2>&1").exit_code, 2);
  // 0: --version and --help.
  const CommandResult version = Shell(kBinary + " --version");
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_EQ(version.out.rfind("schedbridge ", 0), 0u) << version.out;
  EXPECT_EQ(Shell(kBinary + " --help > /dev/null").exit_code, 0);
  // serve logs its start-up failure as JSON, like every later line.
  const CommandResult startup =
      Shell("env -i SCHEDBRIDGE_SECRET_CALENDY=cli-test-secret " + kBinary + " serve 2>&1");
  EXPECT_EQ(startup.exit_code, 78);
  rapidjson::Document line;
  ASSERT_TRUE(json::Parse(startup.out.substr(0, startup.out.find('\n')), line).ok) << startup.out;
  EXPECT_EQ(json::StringAt(&line, "event"), "startup_failed");
  EXPECT_EQ(json::StringAt(&line, "reason"), "configuration");
  EXPECT_NE(json::StringAt(&line, "error").value_or("").find("did you mean"), std::string::npos);
  // 78: configuration errors, a typo in a variable name among them.
  const CommandResult typo_env = Shell("env -i SCHEDBRIDGE_SECRET_CALENDY=cli-test-secret " +
                                       kBinary + " serve --check-config 2>&1");
  EXPECT_EQ(typo_env.exit_code, 78);
  EXPECT_NE(typo_env.out.find("did you mean SCHEDBRIDGE_SECRET_CALENDLY?"), std::string::npos)
      << typo_env.out;
  const CommandResult none = Shell("env -i " + kBinary + " serve --check-config 2>&1");
  EXPECT_EQ(none.exit_code, 78);
  EXPECT_NE(none.out.find("no sources are configured"), std::string::npos) << none.out;
}

TEST(Cli, ServeHelpListsEverySettingWithItsDefaultAndEnvironmentName) {
  const CommandResult help = Shell(kBinary + " serve --help");
  ASSERT_EQ(help.exit_code, 0);
  for (const SettingSpec& s : Settings()) {
    EXPECT_NE(help.out.find(s.flag), std::string::npos) << s.flag;
    EXPECT_NE(help.out.find(std::string("env ") + s.env), std::string::npos) << s.env;
  }
  EXPECT_NE(help.out.find("default 10000; file key ack_timeout_ms"), std::string::npos);
  // Every setting is also a flag that works.
  const CommandResult flag = Shell("env -i SCHEDBRIDGE_SECRET_CALCOM=cli-test-secret " + kBinary +
                                   " serve --check-config --dedup-window-seconds 0 2>&1");
  EXPECT_EQ(flag.exit_code, 78);
  EXPECT_NE(flag.out.find("--dedup-window-seconds must be a whole number from 1 to"),
            std::string::npos)
      << flag.out;
}

TEST(Cli, CheckConfigChecksTheTlsPairAndTheSpoolDirectory) {
  const std::string dir = testing::TempDir("cli-check");
  const auto cert = [&](const std::string& name) {
    ASSERT_EQ(std::system(("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=" + name +
                           " -keyout " + dir + "/" + name + ".key -out " + dir + "/" + name +
                           ".crt 2>/dev/null")
                              .c_str()),
              0);
  };
  cert("a");
  cert("b");
  const std::string env = "env -i SCHEDBRIDGE_SECRET_CALCOM=cli-test-secret ";
  const CommandResult matching = Shell(env + kBinary + " serve --check-config --tls-cert-file " +
                                       dir + "/a.crt --tls-key-file " + dir + "/a.key 2>&1");
  EXPECT_EQ(matching.exit_code, 0) << matching.out;
  const CommandResult swapped = Shell(env + kBinary + " serve --check-config --tls-cert-file " +
                                      dir + "/a.crt --tls-key-file " + dir + "/b.key 2>&1");
  EXPECT_EQ(swapped.exit_code, 78);
  EXPECT_NE(swapped.out.find("the key does not match the certificate"), std::string::npos)
      << swapped.out;
  // A spool directory that cannot be written (a file stands in its way).
  std::ofstream(dir + "/key") << "0123456789abcdef0123456789abcdef\n";
  std::ofstream(dir + "/file") << "x";
  const CommandResult spool =
      Shell(env + "SCHEDBRIDGE_ACK_CALCOM=spool SCHEDBRIDGE_SPOOL_KEY_FILE=" + dir + "/key " +
            kBinary + " serve --check-config --spool-dir " + dir + "/file/spool 2>&1");
  EXPECT_EQ(spool.exit_code, 78);
  EXPECT_NE(spool.out.find(dir + "/file is not a directory (spool_dir)."), std::string::npos)
      << spool.out;
  const CommandResult fresh =
      Shell(env + "SCHEDBRIDGE_ACK_CALCOM=spool SCHEDBRIDGE_SPOOL_KEY_FILE=" + dir + "/key " +
            kBinary + " serve --check-config --spool-dir " + dir + "/new/spool 2>&1");
  EXPECT_EQ(fresh.exit_code, 0) << fresh.out;
}

TEST(Cli, DlqShowAndNormalizeReadRecordsWithoutJq) {
  // A pretty-printed body and a base64 one, as the dead-letter topic holds them.
  const std::string dir = testing::TempDir("cli-dlq");
  const std::string body =
      testing::ReadFile(testing::FixturePath("calcom/BOOKING_CREATED_with_payloadTemplate.json"));
  DeadLetterRecord r;
  r.dead_letter_id = MakeDeadLetterId("calcom", body);
  r.reason = "custom_template";
  r.detail = "a payload template";
  r.provider = "calcom";
  r.source = "default";
  r.received_at = "2026-11-23T09:00:00Z";
  r.body = body;
  r.schedbridge_version = "0.1.0";
  DeadLetterRecord binary = r;
  binary.reason = "invalid_json";
  binary.body = std::string("\xff\xfe{not json", 11);
  std::ofstream(dir + "/records") << ToJson(r) << "\n" << ToJson(binary) << "\n";
  const CommandResult show = Shell(kBinary + " dlq show --input " + dir + "/records 2>&1");
  ASSERT_EQ(show.exit_code, 0) << show.out;
  EXPECT_NE(show.out.find("reason:         custom_template"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("\n  \"trigger\": \"BOOKING_CREATED\""), std::string::npos)
      << "the JSON body is pretty-printed: " << show.out;
  EXPECT_NE(show.out.find("{not json"), std::string::npos) << "the base64 body is decoded";
  EXPECT_NE(show.out.find("dlq: 2 record(s) shown"), std::string::npos);
  const CommandResult filtered =
      Shell(kBinary + " dlq show --reason invalid_json --input " + dir + "/records 2>&1");
  EXPECT_NE(filtered.out.find("dlq: 1 record(s) shown"), std::string::npos) << filtered.out;
  const CommandResult norm =
      Shell(kBinary + " dlq normalize --reason custom_template --input " + dir + "/records 2>&1");
  EXPECT_NE(norm.out.find("normalized now:\ndead-letter: custom_template:"), std::string::npos)
      << norm.out;
  // Filters name only what exists.
  const CommandResult typo =
      Shell(kBinary + " dlq show --reason custom_templat --input " + dir + "/records 2>&1");
  EXPECT_EQ(typo.exit_code, 2);
  EXPECT_NE(typo.out.find("no reason is called \"custom_templat\"; did you mean custom_template?"),
            std::string::npos)
      << typo.out;
}

// replay, dlq, reconcile and serve share one vocabulary: the same Kafka
// flags, time forms (durations included) and source names, and only serve
// needs the webhook secrets.
TEST(Cli, TheCommandsShareOneVocabulary) {
  const std::string dir = testing::TempDir("cli-vocabulary");
  DeadLetterRecord r;
  r.dead_letter_id = MakeDeadLetterId("calcom", "{}");
  r.reason = "invalid_json";
  r.provider = "calcom";
  r.source = "team-a";
  r.received_at = "2026-11-23T09:00:00Z";
  r.body = "{";
  r.schedbridge_version = "0.1.0";
  std::ofstream(dir + "/records") << ToJson(r) << "\n";
  // A named source without its secret: serve refuses it, dlq does not need it.
  std::ofstream(dir + "/config.yaml") << "sources:\n  - provider: calcom\n    name: team-a\n";
  const std::string dlq = "env -i " + kBinary + " dlq show --config " + dir +
                          "/config.yaml --input " + dir + "/records";
  const CommandResult by_name = Shell(dlq + " --since 2h --until 0m --source calcom/team-a 2>&1");
  ASSERT_EQ(by_name.exit_code, 0) << by_name.out;
  EXPECT_NE(by_name.out.find("dlq: 1 record(s) shown"), std::string::npos) << by_name.out;
  const CommandResult other = Shell(dlq + " --source calendly/team-a 2>&1");
  EXPECT_NE(other.out.find("dlq: 0 record(s) shown"), std::string::npos) << other.out;
  EXPECT_EQ(Shell(dlq + " --since yesterday 2>&1").exit_code, 2);
  const CommandResult serve =
      Shell("env -i " + kBinary + " serve --check-config --config " + dir + "/config.yaml 2>&1");
  EXPECT_EQ(serve.exit_code, 78) << serve.out;
  // reconcile takes --brokers and --kafka as dlq, replay and serve do.
  const CommandResult reconcile =
      Shell("env -i " + kBinary +
            " reconcile --brokers 127.0.0.1:1 --kafka socket.timeout.ms=1000 --source calcom "
            "--since 2h 2>&1");
  EXPECT_EQ(reconcile.out.find("not expected"), std::string::npos) << reconcile.out;
  EXPECT_EQ(reconcile.exit_code, 2) << reconcile.out;
  EXPECT_NE(reconcile.out.find("no source calcom; name one as provider/name, or by its name "
                               "(configured: none)"),
            std::string::npos)
      << reconcile.out;
}

// scripts/send-sample --list names an example for every trigger; each one's
// body (--print) normalizes to canonical events of the trigger it names, and
// --list without a provider gives every provider under a heading.
TEST(Cli, EverySampleTriggerNormalizes) {
  const std::string script = std::string(SCHEDBRIDGE_SOURCE_DIR) + "/scripts/send-sample";
  const CommandResult all = Shell(script + " --list");
  ASSERT_EQ(all.exit_code, 0) << all.out;
  for (const char* heading : {"calcom:\n", "calendly:\n", "savvycal:\n", "orufy:\n"}) {
    EXPECT_NE(all.out.find(heading), std::string::npos) << heading;
  }
  size_t checked = 0;
  for (const char* provider : {"calcom", "calendly", "savvycal", "orufy"}) {
    const CommandResult list = Shell(script + " " + provider + " --list");
    ASSERT_EQ(list.exit_code, 0) << list.out;
    std::istringstream lines(list.out);
    for (std::string line; std::getline(lines, line);) {
      const std::string trigger = line.substr(0, line.find(' '));
      const CommandResult body = Shell(script + " " + provider + " " + trigger + " --print");
      ASSERT_EQ(body.exit_code, 0) << provider << " " << trigger << ": " << body.out;
      if (trigger.find("payloadTemplate") != std::string::npos) {
        EXPECT_EQ(testing::FailureOf(provider, body.out).reason, "custom_template");
        continue;
      }
      const NormalizeResult r = testing::NormalizeWith(provider, body.out);
      const auto* events = std::get_if<std::vector<CanonicalEvent>>(&r);
      ASSERT_NE(events, nullptr) << provider << " " << trigger << " was dead-lettered";
      ASSERT_FALSE(events->empty());
      // The event names its trigger (a file's name starts with its trigger).
      const std::string& sent = events->front().provider_event_type;
      EXPECT_EQ(trigger.rfind(sent, 0), 0u) << provider << " " << trigger << " became " << sent;
      ++checked;
    }
  }
  EXPECT_GE(checked, 48u);
}
}  // namespace
}  // namespace bridge
