// Child processes for CLI and example tests: run a program with its stdout and stderr captured,
// optionally with extra environment variables (SALVO_BACKEND), bounded in time. Every wait has a
// deadline; a child still running at its deadline, or when its Child dies, is killed by its own
// pid, never by name.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace salvo::test {

struct ProcessResult {
  bool exited = false;   // exited normally (then exit_code is valid)
  int exit_code = -1;
  int signal = 0;        // the signal that ended it, when !exited
  bool timed_out = false;
  std::string out;
  std::string err;
};

// Variables added to (or overriding) this process's environment for a child.
using Environment = std::vector<std::pair<std::string, std::string>>;

class Child {
 public:
  // Starts argv[0] (a path) with argv and this process's environment plus `env` (which overrides);
  // stdin is /dev/null, default signal handling. Throws std::runtime_error on failure.
  explicit Child(const std::vector<std::string>& argv, const Environment& env = {});
  ~Child();  // kills and reaps a child that is still running
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const noexcept { return pid_; }
  // Reads stderr until it contains `text` (true) or the time is up / stderr closed (false).
  bool wait_for_stderr(const std::string& text, std::chrono::milliseconds timeout);
  const std::string& err_so_far() const noexcept { return err_; }
  // Waits until stdout has a complete line starting with `prefix`; returns that line (without the
  // newline), or nothing when the time is up or the child closed its output first.
  std::optional<std::string> wait_for_stdout_line(const std::string& prefix, std::chrono::milliseconds timeout);
  // Waits until stdout holds `count` complete lines equal to `line`.
  bool wait_for_stdout_lines(const std::string& line, std::size_t count, std::chrono::milliseconds timeout);
  const std::string& out_so_far() const noexcept { return out_; }
  void send_signal(int sig);
  // Collects the rest of the output and the exit status; kills the child at the deadline.
  ProcessResult finish(std::chrono::milliseconds timeout);

 private:
  // One poll round over the open pipes; false when both are closed.
  bool pump(int timeout_ms);

  pid_t pid_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  std::string out_;
  std::string err_;
  bool reaped_ = false;
};

ProcessResult run_process(const std::vector<std::string>& argv, std::chrono::milliseconds timeout);

// The lines of `text` (split on '\n'; a final line without '\n' counts too).
std::vector<std::string> lines_of(const std::string& text);

// The number of lines of `text` equal to `line`.
std::size_t count_lines(const std::string& text, const std::string& line);

}  // namespace salvo::test
