#pragma once

// How main sees a command: each command file registers its CLI11
// subcommand (its flags bound to state it owns) and says what runs it once
// the command line is parsed.

#include <CLI/CLI.hpp>
#include <functional>

namespace bridge {

struct Command {
  CLI::App* cli = nullptr;
  /// Runs the parsed command; returns the process exit code.
  std::function<int()> run;
};

/// Adds one command to the application.
using AddCommandFn = Command (*)(CLI::App& app);

}  // namespace bridge
