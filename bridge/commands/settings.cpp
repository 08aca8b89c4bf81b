#include "bridge/commands/settings.h"

#include <iostream>

#include "bridge/config/settings.h"

namespace bridge {

Command AddSettingsCommand(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "settings",
      "Print every setting (environment, flag, file key, default) as a Markdown table.");
  return {cmd, [] {
            std::cout << SettingsMarkdown();
            return 0;
          }};
}

}  // namespace bridge
