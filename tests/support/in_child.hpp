// Runs a piece of a test in a forked child process, for what must not touch the test process: a
// cache that must start fresh (the io_uring probe), a seccomp filter (which no process can drop),
// a resource limit, an abort. The child reports in text, since gtest's assertions in a child are
// lost: `body` returns an empty string when every check passed, otherwise what failed.
#pragma once

#include <chrono>
#include <functional>
#include <string>

namespace salvo::test {

// What a body's answer starts with when the child could not test what it was for (a missing
// kernel feature, a build without io_uring): the rest of the answer is the reason.
inline constexpr const char* child_skip = "SKIP: ";

struct ChildOutcome {
  bool exited = false;  // exited normally (exit_code is valid), rather than by a signal
  int exit_code = -1;
  int signal = 0;       // the signal that ended it, when !exited
  bool timed_out = false;
  std::string failures;  // what body returned (empty: all checks passed)
  std::string err;       // the child's stderr

  // Exited with 0 and reported no failure.
  bool passed() const { return exited && exit_code == 0 && failures.empty() && !timed_out; }
  // The body answered child_skip + why: the test should skip with `failures` as the reason.
  bool skipped() const { return failures.rfind(child_skip, 0) == 0; }
  // For a failed assertion's message.
  std::string describe() const;
};

// Forks; the child runs `body`, writes its answer to a pipe and exits (0 when the answer is
// empty, 1 otherwise) without running this process's exit handlers. The parent waits at most
// `timeout` (the child is then killed by its pid) and collects the child's stderr.
ChildOutcome run_in_child(const std::function<std::string()>& body, std::chrono::milliseconds timeout);

// Checks for bodies: collects what failed, one line each.
class ChildChecks {
 public:
  // Records `what` when `ok` is false; returns ok.
  bool check(bool ok, const std::string& what);
  // Records unless `text` contains `part`.
  bool contains(const std::string& text, const std::string& part, const std::string& what);
  const std::string& failures() const noexcept { return failures_; }

 private:
  std::string failures_;
};

}  // namespace salvo::test
