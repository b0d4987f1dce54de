// salvo --version and salvo version [--json]: salvo's version (the project's, and `git describe`
// when built from a checkout), the compiler, liburing's version and the backends this build has,
// all from salvo::build_info() but the git string.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "common/commands.hpp"

namespace salvo::cli {

// "salvo 0.1.0\ngit: v0.1.0-3-gabcdef0\ncompiler: GCC 12.2.0\nliburing: 2.3\nbackends: epoll io_uring"
// (no git line outside a checkout); no trailing newline. The first line is what help2man reads.
std::string version_text();

// --version on the top-level app: CLI11 throws CLI::CallForVersion with version_text(), which
// main() prints (exit 0), even though a subcommand is otherwise required.
void add_version_flag(CLI::App& app);

Command add_version_command(CLI::App& app);

}  // namespace salvo::cli
