#include "bridge/commands/subscriptions.h"

#include <iostream>
#include <memory>
#include <utility>

#include "bridge/commands/common.h"

namespace bridge {

// The command never ends in an uncaught exception (an abort): what the use
// case does not report itself is a runtime failure.
int SubscriptionsCommand(const Config& config, const SubscriptionsFlags& flags, std::ostream& out,
                         std::ostream& err) {
  try {
    return ExitCode(SyncSubscriptions(config, flags, out, err).outcome);
  } catch (const std::exception& e) {
    err << "schedbridge: subscriptions failed: " << e.what() << "\n";
    return kExitRuntime;
  }
}

namespace {

struct SubscriptionsArgs {
  SubscriptionsFlags flags;
  std::string config_file, public_url, deadline = "10m";
};

int RunSubscriptions(SubscriptionsArgs& a, const CLI::App& cmd) {
  if (!ParseRunDeadline(a.deadline, a.flags.retry)) return kExitUsage;
  int exit_code = 0;
  std::optional<Config> config = ApiConfig(a.config_file, a.public_url, exit_code);
  if (!config) return exit_code;
  a.flags.action = cmd.get_subcommands().front()->get_name();
  return SubscriptionsCommand(*config, a.flags, std::cout, std::cerr);
}

}  // namespace

Command AddSubscriptionsCommand(CLI::App& app) {
  auto a = std::make_shared<SubscriptionsArgs>();
  CLI::App* cmd = app.add_subcommand(
      "subscriptions",
      "The providers' webhook subscriptions for the configured sources, through their APIs "
      "(api_key_file, api_url, public_url).");
  cmd->require_subcommand(1);
  for (const auto& [name, help] :
       {std::pair{"list", "List each source's subscriptions at its provider."},
        std::pair{"diff", "Show what apply would change."},
        std::pair{"apply", "Create or fix each source's subscription (idempotent)."}}) {
    CLI::App* c = cmd->add_subcommand(name, help);
    c->add_option("--source", a->flags.source, "only this source: provider, provider/name or name");
    c->add_option("--config", a->config_file, "YAML config file (or SCHEDBRIDGE_CONFIG)");
    c->add_option("--public-url", a->public_url,
                  "where the providers reach the webhook port (SCHEDBRIDGE_PUBLIC_URL)");
    c->add_option("--deadline", a->deadline, kDeadlineHelp);
    if (std::string(name) != "list") {
      c->add_flag("--update-secret", a->flags.update_secret,
                  "also send the current secret where it cannot be compared (Calendly re-creates "
                  "its subscription), or have SavvyCal issue a new one (secret rotation)");
    }
  }
  return {cmd, [a, cmd] { return RunSubscriptions(*a, *cmd); }};
}

}  // namespace bridge
