// The schedbridge binary's subcommands that need no broker.

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <memory>

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
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.out.find("cannot read secret file /nonexistent"), std::string::npos) << bad.out;
  const CommandResult kafka =
      Shell("env -i SCHEDBRIDGE_SECRET_CALCOM=cli-test-secret SCHEDBRIDGE_KAFKA_LINGER_MS=soon " +
            kBinary + " serve --check-config 2>&1");
  EXPECT_EQ(kafka.exit_code, 2);
  EXPECT_NE(kafka.out.find("invalid Kafka setting kafka.linger.ms"), std::string::npos)
      << kafka.out;
  const CommandResult unknown =
      Shell("env -i SCHEDBRIDGE_SECRET_CALCOM=cli-test-secret " + kBinary +
            " serve --check-config --kafka no.such.property=1 2>&1");
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.out.find("no.such.property"), std::string::npos) << unknown.out;
  const CommandResult password =
      Shell("env -i SCHEDBRIDGE_SECRET_CALCOM=cli-test-secret " + kBinary +
            " serve --check-config --kafka sasl.password=hunter2 2>&1");
  EXPECT_EQ(password.exit_code, 2);
  EXPECT_NE(password.out.find("--kafka sasl.password holds a secret"), std::string::npos)
      << password.out;
  EXPECT_EQ(password.out.find("hunter2"), std::string::npos) << password.out;
  const CommandResult good = Shell("env -i SCHEDBRIDGE_SECRET_CALCOM=cli-test-secret " + kBinary +
                                   " serve --check-config");
  EXPECT_EQ(good.exit_code, 0) << good.out;
  EXPECT_NE(good.out.find("configuration OK: 1 source(s)"), std::string::npos);
}

}  // namespace
}  // namespace bridge
