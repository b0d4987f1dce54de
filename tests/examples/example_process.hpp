// An example program (or a Python peer) run as a child process for the example tests: extra
// environment variables (SALVO_BACKEND), and waiting on its stdout as well as its stderr, since the
// examples print what the seeds print on stdout. Every wait is bounded; a child still running at its
// deadline, or when this object dies, is killed by its own pid.
//
// (support/process.hpp's Child waits on stderr only and cannot set the environment; this is the
// same mechanism with those two additions.)
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "support/process.hpp"

namespace salvo::test {

using Environment = std::vector<std::pair<std::string, std::string>>;

class ExampleProcess {
 public:
  // Starts argv[0] (a path) with this process's environment plus `env` (which overrides); stdin is
  // /dev/null, default signal handling. Throws std::runtime_error when it cannot start.
  ExampleProcess(const std::vector<std::string>& argv, const Environment& env = {});
  ~ExampleProcess();
  ExampleProcess(const ExampleProcess&) = delete;
  ExampleProcess& operator=(const ExampleProcess&) = delete;

  pid_t pid() const noexcept { return pid_; }

  // Waits until stdout has a complete line starting with `prefix`; returns that line (without the
  // newline), or nothing when the time is up or the child closed its output first.
  std::optional<std::string> wait_for_stdout_line(const std::string& prefix, std::chrono::milliseconds timeout);
  // Waits until stdout holds `count` complete lines equal to `line`.
  bool wait_for_stdout_lines(const std::string& line, std::size_t count, std::chrono::milliseconds timeout);

  const std::string& out_so_far() const noexcept { return out_; }
  const std::string& err_so_far() const noexcept { return err_; }

  void send_signal(int sig);
  // Collects the rest of the output and the exit status; kills the child at the deadline.
  ProcessResult finish(std::chrono::milliseconds timeout);

 private:
  bool pump(int timeout_ms);  // one poll round; false when both pipes are closed

  pid_t pid_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  std::string out_;
  std::string err_;
  bool reaped_ = false;
};

// How a finished child ended and what it printed, for failure messages.
std::string describe(const ProcessResult& r);

// The number of lines of `text` equal to `line`.
std::size_t count_lines(const std::string& text, const std::string& line);

}  // namespace salvo::test
