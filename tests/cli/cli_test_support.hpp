// What the `salvo` command's tests share: describing a finished child, reading what a server
// printed, and checking a usage error (exit code 2, one "salvo: ..." line on stderr naming the
// problem, nothing on stdout).
#pragma once

#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "salvo/address.hpp"
#include "support/process.hpp"

namespace salvo::test {

// Runs the salvo command built with the tests (SALVO_CLI_PATH) with these arguments, within 20 s.
ProcessResult run_salvo(std::vector<std::string> args);

// Exit status, signal, time-out and both outputs, for failure messages.
std::string show(const ProcessResult& r);

// The address a server printed on its "listening on ADDR (" line of stderr; throws when none.
Address listening_address(const std::string& err);

// The one line of JSON a --json run printed on stdout; throws when stdout is not exactly one line.
nlohmann::json parse_json_line(const std::string& out);
inline nlohmann::json json_of(const ProcessResult& r) { return parse_json_line(r.out); }

// One bad command line and the words its error message must contain.
struct UsageCase {
  const char* name;
  std::vector<std::string> args;
  std::vector<std::string> mentions;  // each must appear in the one stderr line
};
void PrintTo(const UsageCase& c, std::ostream* os);

// Exit code 2, exactly one stderr line starting "salvo: " that mentions each of `mentions`, and
// nothing on stdout.
void expect_usage_error(const ProcessResult& r, const std::vector<std::string>& mentions);

}  // namespace salvo::test
