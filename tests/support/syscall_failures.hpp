// SyscallFailures: one system call of this process made to fail on purpose, the next N times, with
// a chosen errno, and let through otherwise: a seccomp filter that hands that call to a listener
// (SECCOMP_RET_USER_NOTIF) and a thread that answers each one, failing it or letting it continue.
// For conditions no resource limit can make on demand, e.g. io_uring_setup out of memory or
// io_uring_enter refusing a submission. The filter cannot be removed and, once its listener is
// gone, the call fails with ENOSYS: use it only in a forked child (tests/support/in_child.hpp),
// and keep the object alive until nothing makes the call any more. It applies to the thread that
// makes it and to threads that thread creates afterwards (an engine's workers, when made before
// Engine::start).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>

namespace salvo::test {

class SyscallFailures {
 public:
  // Installs the filter for `syscall_number` (x86-64 numbering). error() says why it could not.
  // Letting a call continue needs Linux 5.5 (SECCOMP_USER_NOTIF_FLAG_CONTINUE).
  explicit SyscallFailures(long syscall_number);
  ~SyscallFailures();
  SyscallFailures(const SyscallFailures&) = delete;
  SyscallFailures& operator=(const SyscallFailures&) = delete;

  bool ok() const noexcept { return listener_ >= 0; }
  const std::string& error() const noexcept { return error_; }

  // The next `count` calls fail with `err`; any thread may arm it, at any time.
  void fail_next(std::uint32_t count, int err) noexcept;

  std::uint64_t calls() const noexcept { return calls_.load(); }    // every call answered
  std::uint64_t failed() const noexcept { return failed_.load(); }  // of which failed on purpose
  std::uint32_t failures_left() const noexcept { return static_cast<std::uint32_t>(plan_.load()); }

 private:
  void answer_calls();

  int listener_ = -1;
  int stop_ = -1;  // an eventfd that ends answer_calls
  std::string error_;
  // The failures still to make and their errno in one word (errno << 32 | count), so that a call
  // never pairs one plan's count with another's errno.
  std::atomic<std::uint64_t> plan_{0};
  std::atomic<std::uint64_t> calls_{0};
  std::atomic<std::uint64_t> failed_{0};
  std::thread answerer_;
};

}  // namespace salvo::test
