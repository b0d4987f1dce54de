// without_threads PROGRAM [ARGS...]: runs PROGRAM where no thread can be created, as under a
// pids cgroup or RLIMIT_NPROC at its limit (seccomp_filters.hpp: no_threads_filter). Processes
// (fork) still work. Tests use it to see an engine whose worker thread cannot start fail with an
// error, not an abort.
#include <cstdio>

#include "seccomp_exec.hpp"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: without_threads PROGRAM [ARGS...]\n");
    return 2;
  }
  return salvo::test::exec_under_filter("without_threads", salvo::test::no_threads_filter(), argv + 1);
}
