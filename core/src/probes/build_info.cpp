// build_info(): the version CMake passes in (SALVO_VERSION, from project(VERSION)), the compiler's
// own macros, and the io_uring backend's liburing version when that backend is built.
#include "salvo/build_info.hpp"

#include "capability_probes.hpp"

namespace salvo {

BuildInfo build_info() {
  BuildInfo info;
  info.version = SALVO_VERSION;
#if defined(__clang__)
  info.compiler = "clang " __clang_version__;
  if (!info.compiler.empty() && info.compiler.back() == ' ') info.compiler.pop_back();
#elif defined(__GNUC__)
  info.compiler = "GCC " __VERSION__;
#else
  info.compiler = "unknown";
#endif
  info.backends.push_back(BackendKind::epoll);
#if SALVO_HAVE_IO_URING
  info.liburing_version = detail::liburing_version();
  info.backends.push_back(BackendKind::io_uring);
#else
  info.liburing_version = "none";
#endif
  return info;
}

}  // namespace salvo
