// The salvo command line as one CLI::App: every subcommand registered, none run. main() parses
// argv with it and runs the chosen command; the CLI fuzz target parses untrusted words with the
// very same app without running anything (no sockets, no files).
#pragma once

#include <CLI/CLI.hpp>
#include <map>
#include <string>

#include "common/commands.hpp"

namespace salvo::cli {

// Registers every subcommand on `app` (and requires exactly one); returns them by name, to be run
// after a successful parse.
std::map<std::string, Command> add_all_commands(CLI::App& app);

// app.parse(argc, argv), with every failure as a CLI::ParseError: CLI11 converts some flag values
// with std::stoll, whose std::out_of_range / std::invalid_argument would otherwise escape it and
// abort the program (`--no-gso=-99999999999999999999`).
void parse_command_line(CLI::App& app, int argc, char** argv);

}  // namespace salvo::cli
