#include "support/in_child.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <stdexcept>

namespace salvo::test {

std::string ChildOutcome::describe() const {
  std::string out = timed_out ? "timed out; " : "";
  out += exited ? "exit code " + std::to_string(exit_code) : "killed by signal " + std::to_string(signal);
  if (!failures.empty()) out += "\nfailed checks:\n" + failures;
  if (!err.empty()) out += "\nstderr:\n" + err;
  return out;
}

ChildOutcome run_in_child(const std::function<std::string()>& body, std::chrono::milliseconds timeout) {
  int report[2];
  int err[2];
  if (::pipe2(report, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  if (::pipe2(err, O_CLOEXEC) != 0) {
    ::close(report[0]);
    ::close(report[1]);
    throw std::runtime_error("pipe2 failed");
  }
  std::fflush(nullptr);  // what this process buffered must not come out twice
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::close(report[0]);
    ::close(err[0]);
    ::dup2(err[1], STDERR_FILENO);
    ::close(err[1]);
    std::string failures;
    try {
      failures = body();
    } catch (const std::exception& e) {
      failures = std::string("exception: ") + e.what() + "\n";
    }
    for (std::size_t done = 0; done < failures.size();) {
      const ssize_t n = ::write(report[1], failures.data() + done, failures.size() - done);
      if (n <= 0) break;
      done += static_cast<std::size_t>(n);
    }
    std::fflush(nullptr);
    ::_exit(failures.empty() ? 0 : 1);
  }
  ::close(report[1]);
  ::close(err[1]);

  ChildOutcome outcome;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  pollfd fds[2] = {{report[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  std::string* into[2] = {&outcome.failures, &outcome.err};
  int open = 2;
  while (open > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      outcome.timed_out = true;
      ::kill(pid, SIGKILL);
      break;
    }
    if (::poll(fds, 2, static_cast<int>(left.count())) < 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buffer[4096];
      const ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
      if (n > 0) {
        into[i]->append(buffer, static_cast<std::size_t>(n));
      } else {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open;
      }
    }
  }
  for (const pollfd& p : fds) {
    if (p.fd >= 0) ::close(p.fd);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  outcome.exited = WIFEXITED(status);
  if (outcome.exited) outcome.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) outcome.signal = WTERMSIG(status);
  return outcome;
}

bool ChildChecks::check(bool ok, const std::string& what) {
  if (!ok) failures_ += what + "\n";
  return ok;
}

bool ChildChecks::contains(const std::string& text, const std::string& part, const std::string& what) {
  return check(text.find(part) != std::string::npos, what + ": \"" + part + "\" not in \"" + text + "\"");
}

}  // namespace salvo::test
