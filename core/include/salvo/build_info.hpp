// What this build of salvo is: its version and what was compiled in. Fixed at build time, so it
// costs nothing to ask (unlike probe_capabilities(), which tries things on this machine).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "salvo/engine.hpp"

namespace salvo {

struct BuildInfo {
  std::string version;               // the project's version, "0.1.0": the same as the CMake
                                     // package's and the pkg-config file's
  std::string compiler;              // "GCC 12.2.0", "clang 14.0.6"
  std::string liburing_version;      // of the liburing built against ("2.3"), or "none"
  std::vector<BackendKind> backends; // the backends this build has: epoll always, io_uring when built
};

BuildInfo build_info();

}  // namespace salvo
