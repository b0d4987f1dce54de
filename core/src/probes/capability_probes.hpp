// What the parts of probe_capabilities() (salvo/capabilities.hpp) share: the Feature builders, which
// capabilities.cpp defines, and the io_uring part (io_uring/uring_capabilities.cpp, only in builds
// with the io_uring backend). The socket part is socket_probes.hpp. Each part returns what it
// tried; none throws.
#pragma once

#include <string>
#include <vector>

#include "salvo/capabilities.hpp"

namespace salvo::detail {

// "EPERM (Operation not permitted)": the errno's name, which people search for, and its text.
std::string errno_text(int err);

// Builders for Feature values.
Feature feature_yes(std::string name, std::string detail = {});
Feature feature_no(std::string name, std::string reason);
// "<call>: <errno_text(err)>"
Feature feature_errno(std::string name, const std::string& call, int err);

#if SALVO_HAVE_IO_URING
// Fills everything in `out` but `built`; computed once per process, then copied.
void probe_io_uring_capabilities(Capabilities::IoUring& out);
// liburing's version as built against: "2.3".
std::string liburing_version();
#endif

}  // namespace salvo::detail
