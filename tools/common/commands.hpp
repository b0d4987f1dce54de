// The salvo subcommands. Each registers its flags on a CLI11 subcommand and returns the function
// that runs it; the function returns the process exit code (0 ok, 1 runtime failure, 2 bad usage
// or setup: bad flags, bad address, a host name that does not resolve, port in use, no descriptor
// left under RLIMIT_NOFILE).
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace salvo::cli {

using Command = std::function<int()>;

Command add_sink_command(CLI::App& app);
Command add_echo_command(CLI::App& app);
Command add_blast_command(CLI::App& app);
Command add_impair_command(CLI::App& app);
Command add_ping_command(CLI::App& app);
Command add_merge_command(CLI::App& app);
Command add_caps_command(CLI::App& app);

// Prints "salvo: <message>" on one line to stderr and returns 2.
int usage_error(const std::string& message);

}  // namespace salvo::cli
