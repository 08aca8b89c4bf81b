// schedbridge: the command table. Each command lives in bridge/commands/.

#include <CLI/CLI.hpp>
#include <algorithm>
#include <csignal>
#include <iostream>
#include <string>
#include <vector>

#include "bridge/commands/common.h"
#include "bridge/commands/dlq.h"
#include "bridge/commands/normalize.h"
#include "bridge/commands/reconcile.h"
#include "bridge/commands/replay.h"
#include "bridge/commands/serve.h"
#include "bridge/commands/settings.h"
#include "bridge/commands/subscriptions.h"
#include "bridge/commands/version.h"
#include "bridge/config/settings.h"

namespace {

using namespace bridge;

/// The commands, in the order --help lists them.
const std::vector<std::pair<std::string, AddCommandFn>> kCommands = {
    {"serve", AddServeCommand},
    {"normalize", AddNormalizeCommand},
    {"replay", AddReplayCommand},
    {"dlq", AddDlqCommand},
    {"subscriptions", AddSubscriptionsCommand},
    {"reconcile", AddReconcileCommand},
    {"settings", AddSettingsCommand},
    {"version", AddVersionCommand}};

/// The commands as an unknown command's message names them.
const std::vector<std::string> kNamed = {"serve",    "replay",  "dlq",       "normalize",
                                         "settings", "version", "reconcile", "subscriptions"};

int UnknownCommand(const std::string& name) {
  std::string list;
  for (const std::string& c : kNamed) list += (list.empty() ? "" : ", ") + c;
  std::cerr << "schedbridge: unknown command \"" << name << "\"";
  if (std::string near = DidYouMean(name, kNamed); !near.empty()) {
    std::cerr << " (did you mean " << near << "?)";
  }
  std::cerr << "; the commands are " << list << " (schedbridge --help).\n";
  return kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  // A peer that closes while we write (an HTTP client, a broker) is an error
  // on that socket, never the end of the process.
  std::signal(SIGPIPE, SIG_IGN);
  if (argc > 1 && argv[1][0] != '-' &&
      std::find(kNamed.begin(), kNamed.end(), argv[1]) == kNamed.end()) {
    return UnknownCommand(argv[1]);
  }
  CLI::App app{
      "schedbridge: scheduling webhooks (Cal.com, Calendly, SavvyCal, Orufy) into Kafka, "
      "verified and normalized.\nExit codes: 0 done, 1 runtime failure, 2 bad arguments, 78 "
      "configuration error."};
  app.require_subcommand(1);
  app.set_version_flag("--version", VersionText());
  std::vector<Command> commands;
  for (const auto& [name, add] : kCommands) commands.push_back(add(app));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : kExitUsage;
  }
  for (const Command& c : commands) {
    if (*c.cli) return c.run();
  }
  return kExitUsage;
}
