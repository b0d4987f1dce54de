// The example that ends each subcommand's --help (CLI11's footer), kept in one table so that a
// test can parse every one of them (tests/cli/version_test.cpp) and the man page shows them too.
#pragma once

#include <CLI/CLI.hpp>
#include <map>
#include <string>

namespace salvo::cli {

// Subcommand name -> its example command lines, one per line, each starting "salvo <name>".
const std::map<std::string, std::string>& help_examples();

// Sets "Example:\n  <lines>" as the footer of every subcommand of `app` that has an example.
void add_help_examples(CLI::App& app);

}  // namespace salvo::cli
