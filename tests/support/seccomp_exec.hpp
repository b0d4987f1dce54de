// What the seccomp wrappers (without_io_uring, without_threads) share: install a filter on this
// process, which no exec can remove, then run the program named in argv.
#pragma once

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdio>
#include <string>

namespace salvo::test {

// Installs `filter` and execs argv[0] with argv; returns only on failure (1: seccomp refused,
// 127: exec failed), after saying so on stderr prefixed with `wrapper`.
template <std::size_t N>
int exec_under_filter(const char* wrapper, sock_filter (&filter)[N], char** argv) {
  sock_fprog program{static_cast<unsigned short>(N), filter};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) != 0) {
    std::perror((std::string(wrapper) + ": seccomp").c_str());
    return 1;
  }
  execv(argv[0], argv);
  std::perror((std::string(wrapper) + ": exec").c_str());
  return 127;
}

}  // namespace salvo::test
