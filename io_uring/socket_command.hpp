// Socket options set through the ring (IORING_OP_URING_CMD, SOCKET_URING_OP_SETSOCKOPT: Linux
// 6.7): the option goes to the kernel with the round's other requests instead of in a system call
// of its own. liburing 2.3 (Debian 12) has no helper for it and its header does not name the
// SQE's option fields, so the SQE is filled here by the kernel's layout.
#pragma once

#include <liburing.h>

namespace salvo::detail {

// Prepares `sqe` to set the int option `level`/`name` of `fd` to *value. The kernel reads *value
// when the SQE is submitted: it must stay valid until then.
void prep_set_socket_option(io_uring_sqe* sqe, int fd, int level, int name, const int* value) noexcept;

// Whether this kernel sets socket options through the ring: tried on a throwaway socket with
// `ring`, which must have nothing else in flight that completes (its first completion is taken
// for the answer).
// The kernel's answer is kept for the life of the process; a throwaway socket that could not be
// had (no descriptor) answers false this once. Any thread; control path only.
bool socket_commands_supported(io_uring& ring) noexcept;

}  // namespace salvo::detail
