// with_rlimit RESOURCE SOFT HARD PROGRAM [ARGS...]: runs PROGRAM with one resource limit set, as
// `prlimit --RESOURCE=SOFT:HARD` would (without util-linux). RESOURCE is memlock (RLIMIT_MEMLOCK,
// bytes), as (RLIMIT_AS, bytes) or nproc (RLIMIT_NPROC). Unlike with_descriptor_limit, it leaves
// the descriptors as they are.
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: with_rlimit memlock|as|nproc SOFT HARD PROGRAM [ARGS...]\n");
    return 2;
  }
  int resource = -1;
  if (std::strcmp(argv[1], "memlock") == 0) resource = RLIMIT_MEMLOCK;
  if (std::strcmp(argv[1], "as") == 0) resource = RLIMIT_AS;
  if (std::strcmp(argv[1], "nproc") == 0) resource = RLIMIT_NPROC;
  if (resource < 0) {
    std::fprintf(stderr, "with_rlimit: unknown resource %s\n", argv[1]);
    return 2;
  }
  rlimit limit{};
  limit.rlim_cur = std::strtoull(argv[2], nullptr, 10);
  limit.rlim_max = std::strtoull(argv[3], nullptr, 10);
  if (setrlimit(resource, &limit) != 0) {
    std::perror("with_rlimit: setrlimit");
    return 1;
  }
  execv(argv[4], argv + 4);
  std::perror("with_rlimit: exec");
  return 127;
}
