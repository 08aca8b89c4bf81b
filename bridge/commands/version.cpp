#include "bridge/commands/version.h"

#include <iostream>

#include "bridge/version.h"

namespace bridge {

std::string VersionText() { return std::string("schedbridge ") + kVersion; }

Command AddVersionCommand(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand("version", "Print the version.");
  return {cmd, [] {
            std::cout << VersionText() << "\n";
            return 0;
          }};
}

}  // namespace bridge
