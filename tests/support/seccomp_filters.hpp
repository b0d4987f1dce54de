// The seccomp filters the tests use, and their installation in this process: without_io_uring and
// without_threads install them before exec'ing a program; in-process tests (in a forked child,
// tests/support/in_child.hpp) install them at the moment a condition must begin, e.g. after the
// io_uring probe passed or after an engine's workers started.
#pragma once

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

namespace salvo::test {

// The filters name x86-64 system call numbers; on other architectures they let everything through,
// and tests that rely on them skip.
#if defined(__x86_64__)
inline constexpr bool seccomp_filters_apply = true;
#else
inline constexpr bool seccomp_filters_apply = false;
#endif

// io_uring forbidden as Docker's default profile forbids it: io_uring_setup, io_uring_enter and
// io_uring_register fail with EPERM.
inline std::vector<sock_filter> no_io_uring_filter() {
  return {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),  // other architectures: not filtered
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 3, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_enter, 2, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_register, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
  };
}

// Only rings larger than `max_entries` submission entries are refused: io_uring_setup with more
// fails with EPERM, smaller ones and every other io_uring call work. The io_uring probe makes a
// 64-entry ring and a worker a 512-entry one, so under max_entries 64 the probe passes and every
// worker's ring is refused at start: a filter installed between the two, in one process image.
inline std::vector<sock_filter> big_rings_refused_filter(unsigned max_entries) {
  return {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),  // other architectures: not filtered
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      // io_uring_setup's first argument, the entries (the low 32 bits on x86-64).
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, args[0])),
      BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, max_entries, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
}

// No thread can be created, as under a pids cgroup or RLIMIT_NPROC at its limit: clone3 fails
// with ENOSYS (so that the C library falls back to clone), and clone with CLONE_THREAD fails with
// EAGAIN. Processes (fork) still work.
inline std::vector<sock_filter> no_threads_filter() {
  return {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),  // other architectures: not filtered
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone3, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      // clone's flags are its first argument; the low 32 bits hold CLONE_THREAD.
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, args[0])),
      BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_THREAD, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EAGAIN & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
}

// Installs `filter` on this process for good (no_new_privs first, as an unprivileged process
// must). all_threads: on every thread of the process (SECCOMP_FILTER_FLAG_TSYNC), not only the
// calling one and those it creates later. Returns an empty string, or what failed.
inline std::string install_seccomp_filter(std::vector<sock_filter> filter, bool all_threads = false) {
  sock_fprog program{static_cast<unsigned short>(filter.size()), filter.data()};
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return std::string("PR_SET_NO_NEW_PRIVS: ") + std::strerror(errno);
  const unsigned flags = all_threads ? SECCOMP_FILTER_FLAG_TSYNC : 0;
  const long ret = ::syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, flags, &program);
  if (ret < 0) return std::string("seccomp: ") + std::strerror(errno);
  if (ret > 0) return "seccomp: thread " + std::to_string(ret) + " could not take the filter";
  return {};
}

}  // namespace salvo::test
