// What the seccomp wrappers (without_io_uring, without_threads) share: install a filter on this
// process, which no exec can remove, then run the program named in argv.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "seccomp_filters.hpp"

namespace salvo::test {

// Installs `filter` and execs argv[0] with argv; returns only on failure (1: seccomp refused,
// 127: exec failed), after saying so on stderr prefixed with `wrapper`.
inline int exec_under_filter(const char* wrapper, std::vector<sock_filter> filter, char** argv) {
  if (std::string why = install_seccomp_filter(std::move(filter)); !why.empty()) {
    std::fprintf(stderr, "%s: %s\n", wrapper, why.c_str());
    return 1;
  }
  execv(argv[0], argv);
  std::perror((std::string(wrapper) + ": exec").c_str());
  return 127;
}

}  // namespace salvo::test
