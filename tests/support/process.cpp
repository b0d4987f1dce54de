#include "support/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <thread>

#include "support/test_support.hpp"

extern char** environ;

namespace salvo::test {
namespace {

[[noreturn]] void fail(const std::string& what, int err) {
  throw std::runtime_error(what + ": " + std::strerror(err));
}

// environ with `env` applied: same-named variables replaced, new ones appended.
std::vector<std::string> merged_environment(const Environment& env) {
  std::vector<std::string> out;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry(*e);
    bool overridden = false;
    for (const auto& [name, value] : env) overridden = overridden || entry.rfind(name + "=", 0) == 0;
    if (!overridden) out.push_back(entry);
  }
  for (const auto& [name, value] : env) out.push_back(name + "=" + value);
  return out;
}

}  // namespace

Child::Child(const std::vector<std::string>& argv, const Environment& env) {
  int out_pipe[2];
  int err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) fail("pipe", errno);
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) fail("pipe", errno);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  // The child starts with default signal handling and an empty mask, whatever this process uses.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  sigset_t all_defaults;
  sigemptyset(&all_defaults);
  sigaddset(&all_defaults, SIGPIPE);
  sigaddset(&all_defaults, SIGTERM);
  sigaddset(&all_defaults, SIGINT);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all_defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> environment = merged_environment(env);
  std::vector<char*> envp;
  for (std::string& e : environment) envp.push_back(e.data());
  envp.push_back(nullptr);
  const int rc = ::posix_spawn(&pid_, args[0], &actions, &attr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (rc != 0) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    fail("posix_spawn " + argv[0], rc);
  }
  out_fd_ = out_pipe[0];
  err_fd_ = err_pipe[0];
}

Child::~Child() {
  if (!reaped_ && pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  if (out_fd_ >= 0) ::close(out_fd_);
  if (err_fd_ >= 0) ::close(err_fd_);
}

bool Child::pump(int timeout_ms) {
  pollfd fds[2];
  int n = 0;
  if (out_fd_ >= 0) fds[n++] = {out_fd_, POLLIN, 0};
  if (err_fd_ >= 0) fds[n++] = {err_fd_, POLLIN, 0};
  if (n == 0) return false;
  const int ready = ::poll(fds, static_cast<nfds_t>(n), timeout_ms);
  if (ready < 0 && errno != EINTR) fail("poll", errno);
  for (int i = 0; i < n; ++i) {
    if (fds[i].revents == 0) continue;
    char buffer[4096];
    const ssize_t got = ::read(fds[i].fd, buffer, sizeof buffer);
    if (got > 0) {
      (fds[i].fd == out_fd_ ? out_ : err_).append(buffer, static_cast<std::size_t>(got));
    } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
      int& fd = fds[i].fd == out_fd_ ? out_fd_ : err_fd_;
      ::close(fd);
      fd = -1;
    }
  }
  return out_fd_ >= 0 || err_fd_ >= 0;
}

bool Child::wait_for_stderr(const std::string& text, std::chrono::milliseconds timeout) {
  const Deadline deadline(timeout);
  for (;;) {
    if (err_.find(text) != std::string::npos) return true;
    if (deadline.expired()) return false;
    if (!pump(deadline.poll_ms())) return err_.find(text) != std::string::npos;
  }
}

std::optional<std::string> Child::wait_for_stdout_line(const std::string& prefix, std::chrono::milliseconds timeout) {
  const Deadline deadline(timeout);
  for (;;) {
    std::size_t start = 0;
    for (std::size_t nl; (nl = out_.find('\n', start)) != std::string::npos; start = nl + 1) {
      if (out_.compare(start, prefix.size(), prefix) == 0 && nl - start >= prefix.size()) {
        return out_.substr(start, nl - start);
      }
    }
    if (deadline.expired() || !pump(deadline.poll_ms())) return std::nullopt;
  }
}

bool Child::wait_for_stdout_lines(const std::string& line, std::size_t count, std::chrono::milliseconds timeout) {
  const Deadline deadline(timeout);
  for (;;) {
    if (count_lines(out_, line) >= count) return true;
    if (deadline.expired() || !pump(deadline.poll_ms())) return count_lines(out_, line) >= count;
  }
}

void Child::send_signal(int sig) {
  if (!reaped_ && pid_ > 0) ::kill(pid_, sig);
}

ProcessResult Child::finish(std::chrono::milliseconds timeout) {
  ProcessResult r;
  const Deadline deadline(timeout);
  while (!deadline.expired() && pump(deadline.poll_ms())) {
  }
  int status = 0;
  pid_t done = 0;
  while ((done = ::waitpid(pid_, &status, WNOHANG)) == 0 && !deadline.expired()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // polling the child's exit only
  }
  if (done == 0) {
    r.timed_out = true;
    ::kill(pid_, SIGKILL);
    done = ::waitpid(pid_, &status, 0);
    while (pump(100)) {
    }
  }
  reaped_ = true;
  if (done == pid_) {
    if (WIFEXITED(status)) {
      r.exited = true;
      r.exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
      r.signal = WTERMSIG(status);
    }
  }
  r.out = out_;
  r.err = err_;
  return r;
}

ProcessResult run_process(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  Child child(argv);
  return child.finish(timeout);
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t nl = text.find('\n', start);
    if (nl == std::string::npos) {
      lines.push_back(text.substr(start));
      break;
    }
    lines.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return lines;
}

std::size_t count_lines(const std::string& text, const std::string& line) {
  std::size_t n = 0;
  for (const std::string& l : lines_of(text)) n += l == line ? 1 : 0;
  return n;
}

}  // namespace salvo::test
