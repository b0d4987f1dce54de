// without_io_uring PROGRAM [ARGS...]: runs PROGRAM with io_uring forbidden the way Docker's
// default seccomp profile forbids it: io_uring_setup, io_uring_enter and io_uring_register fail
// with EPERM. Tests use it to see salvo's backend selection fall back to epoll.
// without_io_uring --rings-above N PROGRAM [ARGS...]: only rings of more than N submission entries
// are refused (seccomp_filters.hpp: big_rings_refused_filter), so that the probe's small ring is
// made and the workers' rings are refused at start.
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "seccomp_exec.hpp"

int main(int argc, char** argv) {
  if (argc >= 4 && std::strcmp(argv[1], "--rings-above") == 0) {
    const auto entries = static_cast<unsigned>(std::strtoul(argv[2], nullptr, 10));
    return salvo::test::exec_under_filter("without_io_uring", salvo::test::big_rings_refused_filter(entries), argv + 3);
  }
  if (argc < 2) {
    std::fprintf(stderr, "usage: without_io_uring [--rings-above N] PROGRAM [ARGS...]\n");
    return 2;
  }
  return salvo::test::exec_under_filter("without_io_uring", salvo::test::no_io_uring_filter(), argv + 1);
}
