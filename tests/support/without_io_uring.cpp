// without_io_uring PROGRAM [ARGS...]: runs PROGRAM with io_uring forbidden the way Docker's
// default seccomp profile forbids it: io_uring_setup, io_uring_enter and io_uring_register fail
// with EPERM. Tests use it to see salvo's backend selection fall back to epoll.
#include <cstdio>

#include "seccomp_exec.hpp"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: without_io_uring PROGRAM [ARGS...]\n");
    return 2;
  }
  return salvo::test::exec_under_filter("without_io_uring", salvo::test::no_io_uring_filter(), argv + 1);
}
