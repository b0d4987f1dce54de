// The salvo command line as one CLI::App: every subcommand registered, none run. main() parses
// argv with it and runs the chosen command; the CLI fuzz target parses untrusted words with the
// very same app without running anything (no sockets, no files).
#pragma once

#include <CLI/CLI.hpp>
#include <map>
#include <string>

#include "commands.hpp"

namespace salvo::cli {

// Registers every subcommand on `app` (and requires exactly one); returns them by name, to be run
// after a successful parse.
std::map<std::string, Command> add_all_commands(CLI::App& app);

}  // namespace salvo::cli
