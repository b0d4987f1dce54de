// with_descriptor_limit SOFT HARD PROGRAM [ARGS...]: runs PROGRAM with RLIMIT_NOFILE set to SOFT
// (and HARD), as `prlimit --nofile=SOFT:HARD` would, so that tests can run the salvo command out
// of descriptors, or check that it raises its soft limit to the hard one. Every descriptor but
// stdin, stdout and stderr is closed first, so that PROGRAM starts with what a shell would give it
// whatever the test process left open.
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: with_descriptor_limit SOFT HARD PROGRAM [ARGS...]\n");
    return 2;
  }
  rlimit limit{};
  limit.rlim_cur = std::strtoull(argv[1], nullptr, 10);
  limit.rlim_max = std::strtoull(argv[2], nullptr, 10);
  if (close_range(3, ~0U, 0) != 0) {
    std::perror("with_descriptor_limit: close_range");
    return 1;
  }
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0) {
    std::perror("with_descriptor_limit: setrlimit");
    return 1;
  }
  execv(argv[3], argv + 3);
  std::perror("with_descriptor_limit: exec");
  return 127;
}
