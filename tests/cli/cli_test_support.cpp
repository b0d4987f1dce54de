#include "cli/cli_test_support.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>

#include "support/test_support.hpp"

namespace salvo::test {

std::string show(const ProcessResult& r) {
  return "exit=" + std::to_string(r.exit_code) + " signal=" + std::to_string(r.signal) +
         (r.timed_out ? " TIMED OUT" : "") + "\nstderr: " + r.err + "\nstdout: " + r.out;
}

Address listening_address(const std::string& err) {
  const std::string marker = "listening on ";
  const auto at = err.find(marker);
  if (at == std::string::npos) throw std::runtime_error("no 'listening on' line in: " + err);
  const auto start = at + marker.size();
  return addr(err.substr(start, err.find(' ', start) - start));
}

nlohmann::json parse_json_line(const std::string& out) {
  const auto lines = lines_of(out);
  if (lines.size() != 1) throw std::runtime_error("expected one line of JSON on stdout, got: " + out);
  return nlohmann::json::parse(lines[0]);
}

void PrintTo(const UsageCase& c, std::ostream* os) {
  *os << "salvo";
  for (const auto& a : c.args) *os << " " << a;
}

void expect_usage_error(const ProcessResult& r, const std::vector<std::string>& mentions) {
  ASSERT_TRUE(r.exited) << show(r);
  EXPECT_EQ(r.exit_code, 2) << show(r);
  const auto lines = lines_of(r.err);
  ASSERT_EQ(lines.size(), 1u) << "stderr must be exactly one line:\n" << r.err;
  EXPECT_EQ(lines[0].rfind("salvo: ", 0), 0u) << lines[0];
  for (const std::string& m : mentions) {
    EXPECT_NE(lines[0].find(m), std::string::npos) << "stderr does not mention '" << m << "': " << lines[0];
  }
  EXPECT_TRUE(r.out.empty()) << r.out;
}

ProcessResult run_salvo(std::vector<std::string> args) {
  args.insert(args.begin(), SALVO_CLI_PATH);
  return run_process(args, std::chrono::seconds(20));
}

}  // namespace salvo::test
