// Child processes for CLI tests: run a program with its stdout and stderr captured, bounded in time.
// A child still running at its deadline is killed (by its own pid, never by name).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
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

class Child {
 public:
  // Starts argv[0] (a path) with argv; stdin is /dev/null. Throws std::runtime_error on failure.
  explicit Child(const std::vector<std::string>& argv);
  ~Child();  // kills and reaps a child that is still running
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const noexcept { return pid_; }
  // Reads stderr until it contains `text` (true) or the time is up / stderr closed (false).
  bool wait_for_stderr(const std::string& text, std::chrono::milliseconds timeout);
  const std::string& err_so_far() const noexcept { return err_; }
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

}  // namespace salvo::test
