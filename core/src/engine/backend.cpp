// Which backend runs, and why. The reason string is shown to people (salvo's summary, --json, the
// capability report), so it says what was asked for and what decided it.
#include "engine/backend.hpp"

#include <cstdlib>
#include <string>

namespace salvo {
namespace detail {

Result<BackendKind> requested_backend(BackendKind requested) {
  const char* env = std::getenv("SALVO_BACKEND");
  if (env == nullptr || *env == '\0') return requested;
  auto forced = parse_backend_kind(env);
  if (!forced) return Error::make(Errc::bad_option, "SALVO_BACKEND: " + forced.error().message);
  return *forced;
}

Result<BackendChoice> choose_backend(BackendKind requested) {
  std::string origin = "requested";
  if (const char* env = std::getenv("SALVO_BACKEND"); env != nullptr && *env != '\0') {
    auto forced = parse_backend_kind(env);
    if (!forced) return Error::make(Errc::bad_option, "SALVO_BACKEND: " + forced.error().message);
    requested = *forced;
    origin = std::string("forced by SALVO_BACKEND=") + env;
  }
  if (requested == BackendKind::epoll) return BackendChoice{BackendKind::epoll, "epoll: " + origin};

#if SALVO_HAVE_IO_URING
  const IoUringProbe probe = probe_io_uring();
  const std::string& why_not = probe.why_not;
  if (probe.usable) {
    return BackendChoice{BackendKind::io_uring,
                         (requested == BackendKind::automatic && origin == "requested"
                              ? std::string("io_uring: auto, probe passed")
                              : "io_uring: " + origin) +
                             " (" + probe.features + ")"};
  }
#else
  const std::string why_not = "this build has no io_uring backend (built with SALVO_IO_URING=OFF, or liburing was missing)";
#endif
  if (requested == BackendKind::io_uring) {
    return Error::make(Errc::backend_unavailable, "io_uring backend unavailable: " + why_not);
  }
  return BackendChoice{BackendKind::epoll, "epoll: auto, io_uring unavailable: " + why_not};
}

std::unique_ptr<Backend> make_backend(BackendKind kind) {
#if SALVO_HAVE_IO_URING
  if (kind == BackendKind::io_uring) return make_io_uring_backend();
#endif
  (void)kind;
  return make_epoll_backend();
}

}  // namespace detail
}  // namespace salvo
