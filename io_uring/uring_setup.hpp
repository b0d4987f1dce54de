// Creating a ring with the best flags the kernel accepts, degrading one step at a time:
// SINGLE_ISSUER|DEFER_TASKRUN (6.1+: completions run only when the worker asks, in batches),
// then COOP_TASKRUN (5.19+), then none. Shared by the probe and the backend so both see the same.
#pragma once

#include <liburing.h>

#include <string>

namespace salvo::detail {

struct UringSetup {
  unsigned flags = 0;  // the IORING_SETUP_* flags the ring got
  std::string describe() const;
};

// Returns 0 or -errno (of the last attempt). cq_entries is rounded up by the kernel.
int create_ring(io_uring& ring, unsigned sq_entries, unsigned cq_entries, UringSetup& setup);

}  // namespace salvo::detail
