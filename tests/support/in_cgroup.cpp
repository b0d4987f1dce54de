// in_cgroup DIR PROGRAM [ARGS...]: moves itself into the cgroup directory DIR (a cgroup v2 one, or
// one of v1's memory hierarchy; writes its pid to DIR/cgroup.procs), then runs PROGRAM there, so
// that every allocation PROGRAM makes is charged to DIR's memory limit from its first instruction.
#include <unistd.h>

#include <cstdio>
#include <string>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: in_cgroup DIR PROGRAM [ARGS...]\n");
    return 2;
  }
  const std::string procs = std::string(argv[1]) + "/cgroup.procs";
  FILE* f = std::fopen(procs.c_str(), "w");
  if (f == nullptr || std::fprintf(f, "%d\n", static_cast<int>(getpid())) < 0 || std::fclose(f) != 0) {
    std::perror(("in_cgroup: " + procs).c_str());
    return 1;
  }
  execv(argv[2], argv + 2);
  std::perror("in_cgroup: exec");
  return 127;
}
