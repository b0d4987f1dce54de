// The io_uring half of the capability report: which setup flags the kernel accepts (a ring is
// created with each, one at a time, through the raw io_uring_setup system call, so that flags
// liburing would handle differently still get a plain yes or no), the IORING_FEAT_* bits a plain
// ring reports, the opcodes the kernel lists (IORING_REGISTER_PROBE), whether a provided buffer
// ring registers, and the backend's own probe (backend.hpp: multishot recvmsg on loopback).
// Computed once per process when every answer is lasting (each ring costs a few hundred
// microseconds to set up and tear down); a report that met a passing shortage (EMFILE, ENOMEM) is
// not kept, so the next one asks again, as the backend's probe does.
#include <liburing.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>

#include "engine/backend.hpp"
#include "datapath/buffer_pool.hpp"
#include "buffer_ring.hpp"
#include "probes/capability_probes.hpp"
#include "uring_setup.hpp"

// Feature bits newer than liburing 2.3's copy of the kernel header (values are kernel ABI).
#ifndef IORING_FEAT_REG_REG_RING
#define IORING_FEAT_REG_REG_RING (1U << 13)
#endif
#ifndef IORING_FEAT_RECVSEND_BUNDLE
#define IORING_FEAT_RECVSEND_BUNDLE (1U << 14)
#endif
#ifndef IORING_FEAT_MIN_TIMEOUT
#define IORING_FEAT_MIN_TIMEOUT (1U << 15)
#endif

namespace salvo::detail {
namespace {

struct RawRing {
  int fd = -1;
  io_uring_params params{};
  RawRing() = default;
  ~RawRing() {
    if (fd >= 0) ::close(fd);
  }
  RawRing(const RawRing&) = delete;
  RawRing& operator=(const RawRing&) = delete;

  // 0 or the errno of io_uring_setup.
  int setup(unsigned flags) {
    params = {};
    params.flags = flags;
    if (flags & IORING_SETUP_CQSIZE) params.cq_entries = 64;
    if (flags & IORING_SETUP_SQPOLL) params.sq_thread_idle = 10;  // ms; the thread ends with the ring
    const long ret = ::syscall(__NR_io_uring_setup, 8u, &params);
    if (ret < 0) return errno;
    fd = static_cast<int>(ret);
    return 0;
  }
};

std::string setup_reason(int err) {
  std::string reason = "io_uring_setup: " + errno_text(err);
  if (err == EINVAL) reason += ": this kernel does not know the flag";
  return reason;
}

void probe_setup_flags(Capabilities::IoUring& out, bool& lasting) {
  struct Flag {
    const char* name;
    unsigned flags;  // with what the kernel requires alongside
    const char* with;
  };
  const Flag flags[] = {
      {"SINGLE_ISSUER", IORING_SETUP_SINGLE_ISSUER, ""},
      {"DEFER_TASKRUN", IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, "with SINGLE_ISSUER"},
      {"COOP_TASKRUN", IORING_SETUP_COOP_TASKRUN, ""},
      {"TASKRUN_FLAG", IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG, "with COOP_TASKRUN"},
      {"SUBMIT_ALL", IORING_SETUP_SUBMIT_ALL, ""},
      {"CQSIZE", IORING_SETUP_CQSIZE, ""},
      {"CLAMP", IORING_SETUP_CLAMP, ""},
      {"SQPOLL", IORING_SETUP_SQPOLL, ""},
  };
  for (const Flag& f : flags) {
    RawRing ring;
    const int err = ring.setup(f.flags);
    if (err != 0 && !io_uring_errno_lasts(err)) lasting = false;
    out.setup_flags.push_back(err == 0 ? feature_yes(f.name, std::string("a ring was created ") +
                                                                (*f.with ? f.with : "with it alone"))
                                       : feature_no(f.name, setup_reason(err)));
  }
}

void probe_kernel_features_and_opcodes(Capabilities::IoUring& out, bool& lasting) {
  RawRing ring;
  const int err = ring.setup(0);
  if (err != 0 && !io_uring_errno_lasts(err)) lasting = false;
  const struct {
    const char* name;
    unsigned bit;
  } features[] = {
      {"SINGLE_MMAP", IORING_FEAT_SINGLE_MMAP},   {"NODROP", IORING_FEAT_NODROP},
      {"SUBMIT_STABLE", IORING_FEAT_SUBMIT_STABLE}, {"RW_CUR_POS", IORING_FEAT_RW_CUR_POS},
      {"CUR_PERSONALITY", IORING_FEAT_CUR_PERSONALITY}, {"FAST_POLL", IORING_FEAT_FAST_POLL},
      {"POLL_32BITS", IORING_FEAT_POLL_32BITS},   {"SQPOLL_NONFIXED", IORING_FEAT_SQPOLL_NONFIXED},
      {"EXT_ARG", IORING_FEAT_EXT_ARG},           {"NATIVE_WORKERS", IORING_FEAT_NATIVE_WORKERS},
      {"RSRC_TAGS", IORING_FEAT_RSRC_TAGS},       {"CQE_SKIP", IORING_FEAT_CQE_SKIP},
      {"LINKED_FILE", IORING_FEAT_LINKED_FILE},   {"REG_REG_RING", IORING_FEAT_REG_REG_RING},
      {"RECVSEND_BUNDLE", IORING_FEAT_RECVSEND_BUNDLE}, {"MIN_TIMEOUT", IORING_FEAT_MIN_TIMEOUT},
  };
  for (const auto& f : features) {
    if (err != 0) out.kernel_features.push_back(feature_no(f.name, setup_reason(err)));
    else if (ring.params.features & f.bit) out.kernel_features.push_back(feature_yes(f.name));
    else out.kernel_features.push_back(feature_no(f.name, "not among the features io_uring_setup reported"));
  }

  const struct {
    const char* name;
    unsigned op;
  } opcodes[] = {
      {"RECVMSG", IORING_OP_RECVMSG},     {"SENDMSG", IORING_OP_SENDMSG},
      {"RECV", IORING_OP_RECV},           {"SEND", IORING_OP_SEND},
      {"SEND_ZC", IORING_OP_SEND_ZC},     {"SENDMSG_ZC", IORING_OP_SENDMSG_ZC},
      {"MSG_RING", IORING_OP_MSG_RING},   {"POLL_ADD", IORING_OP_POLL_ADD},
      {"POLL_REMOVE", IORING_OP_POLL_REMOVE}, {"ASYNC_CANCEL", IORING_OP_ASYNC_CANCEL},
      {"TIMEOUT", IORING_OP_TIMEOUT},     {"LINK_TIMEOUT", IORING_OP_LINK_TIMEOUT},
      {"READ", IORING_OP_READ},           {"PROVIDE_BUFFERS", IORING_OP_PROVIDE_BUFFERS},
  };
  std::string listing_error;
  constexpr unsigned slots = 256;
  const std::size_t bytes = sizeof(io_uring_probe) + slots * sizeof(io_uring_probe_op);
  std::unique_ptr<io_uring_probe, decltype(&std::free)> probe(static_cast<io_uring_probe*>(std::calloc(1, bytes)),
                                                               &std::free);
  if (err != 0) {
    listing_error = setup_reason(err);
  } else if (probe == nullptr) {
    listing_error = "out of memory";
    lasting = false;
  } else if (::syscall(__NR_io_uring_register, ring.fd, IORING_REGISTER_PROBE, probe.get(), slots) < 0) {
    if (!io_uring_errno_lasts(errno)) lasting = false;
    listing_error = "io_uring_register PROBE: " + errno_text(errno) + " (Linux 5.6 or later lists opcodes)";
  }
  for (const auto& o : opcodes) {
    if (!listing_error.empty()) {
      out.opcodes.push_back(feature_no(o.name, listing_error));
    } else if (o.op <= probe->last_op && (probe->ops[o.op].flags & IO_URING_OP_SUPPORTED)) {
      out.opcodes.push_back(feature_yes(o.name));
    } else {
      out.opcodes.push_back(feature_no(o.name, "this kernel does not list the opcode (IORING_REGISTER_PROBE)"));
    }
  }
}

Feature probe_buffer_ring(bool& lasting) {
  io_uring ring{};
  UringSetup setup;
  if (const int ret = create_ring(ring, 8, 16, setup); ret < 0) {
    if (!io_uring_errno_lasts(-ret)) lasting = false;
    return feature_no("provided_buffer_ring", setup_reason(-ret));
  }
  BufferPool pool;
  Feature result;
  if (auto r = pool.init(8, 256); !r) {
    lasting = false;
    result = feature_no("provided_buffer_ring", "buffer pool: " + r.error().message);
  } else {
    BufferRing buffers;
    auto r2 = buffers.init(ring, pool, pool.buffer_size());
    if (!r2 && r2.error().code.category() == std::system_category() && !io_uring_errno_lasts(r2.error().code.value())) {
      lasting = false;
    }
    result = r2 ? feature_yes("provided_buffer_ring", "IORING_REGISTER_PBUF_RING accepted an 8-buffer ring")
                : feature_no("provided_buffer_ring", r2.error().message);
  }  // the BufferRing unregisters before the ring goes
  io_uring_queue_exit(&ring);
  return result;
}

Capabilities::IoUring compute(bool& lasting) {
  Capabilities::IoUring out;
  const IoUringProbe backend_probe = probe_io_uring();
  lasting = backend_probe.settled;
  out.usable = backend_probe.usable ? feature_yes("io_uring", backend_probe.features)
                                    : feature_no("io_uring", backend_probe.why_not);
  // The backend's probe receives one datagram through a multishot recvmsg into a provided
  // buffer ring: when it passed, that worked; when not, its reason names the step that failed.
  out.multishot_recvmsg =
      backend_probe.usable
          ? feature_yes("multishot_recvmsg", "received a datagram on loopback with one multishot RECVMSG")
          : feature_no("multishot_recvmsg", backend_probe.why_not);
  out.provided_buffer_ring = probe_buffer_ring(lasting);
  probe_setup_flags(out, lasting);
  probe_kernel_features_and_opcodes(out, lasting);
  return out;
}

}  // namespace

void probe_io_uring_capabilities(Capabilities::IoUring& out) {
  // The capability report is made on the control path (salvo caps, a program's start-up).
  static std::mutex mutex;
  static std::optional<Capabilities::IoUring> cached;
  const bool built = out.built;
  {
    std::lock_guard lock(mutex);
    if (cached) {
      out = *cached;
    } else {
      bool lasting = true;
      out = compute(lasting);
      if (lasting) cached = out;
    }
  }
  out.built = built;
}

std::string liburing_version() {
#if defined(IO_URING_VERSION_MAJOR) && defined(IO_URING_VERSION_MINOR)
  return std::to_string(IO_URING_VERSION_MAJOR) + "." + std::to_string(IO_URING_VERSION_MINOR);
#elif defined(SALVO_LIBURING_PKG_VERSION)
  return SALVO_LIBURING_PKG_VERSION;  // liburing.h has version macros only from 2.4 on
#else
  return "unknown (liburing.h before 2.4 has no version macros)";
#endif
}

}  // namespace salvo::detail
