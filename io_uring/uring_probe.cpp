// The io_uring probe: can this process run the io_uring backend? It creates a ring the way a
// worker will, checks the opcodes the backend uses, and then does the real thing once on loopback
// (a multishot recvmsg into a provided buffer ring receiving one datagram), because a kernel can
// know every opcode and still lack multishot recvmsg or buffer rings. Docker's default seccomp
// profile answers io_uring_setup with EPERM; kernel.io_uring_disabled does too.
//
// Only lasting answers are kept for the life of the process: success, and refusals that cannot
// change while it runs (no io_uring, forbidden, a missing opcode or feature). A failure caused by a
// passing shortage (no descriptor, no memory, an interrupted call) is answered as it is, and the
// next call probes again, so that one moment out of descriptors does not decide the backend of
// every engine the process makes afterwards.
#include <liburing.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "engine/backend.hpp"
#include "datapath/buffer_pool.hpp"
#include "buffer_ring.hpp"
#include "uring_setup.hpp"

namespace salvo::detail {

bool io_uring_errno_lasts(int err) noexcept {
  switch (err) {
    case ENOSYS:      // no io_uring in this kernel
    case EPERM:       // seccomp, kernel.io_uring_disabled
    case EACCES:      // an LSM's refusal
    case EINVAL:      // an opcode, flag or feature this kernel does not know
    case EOPNOTSUPP:  // the same, for some operations
      return true;
    default:
      return false;  // EMFILE, ENFILE, ENOMEM, EAGAIN, EINTR, ENOBUFS, a timeout...: may pass
  }
}

namespace {

// Why a step failed, and whether that answer lasts (see io_uring_errno_lasts).
struct Refusal {
  std::string why;
  bool lasts = true;
};

// "what: strerror(err)", with the limit reached for EMFILE and ENFILE (Error::from_errno).
Refusal refusal_for_errno(std::string what, int err) {
  return Refusal{Error::from_errno(err, std::move(what)).message, io_uring_errno_lasts(err)};
}

Refusal refusal_for_error(const Error& e) {
  const bool has_errno = e.code.category() == std::system_category();
  return Refusal{e.message, has_errno ? io_uring_errno_lasts(e.code.value()) : true};
}

std::string disabled_sysctl() {
  std::ifstream f("/proc/sys/kernel/io_uring_disabled");
  int value = 0;
  if (f >> value && value != 0) return " (kernel.io_uring_disabled=" + std::to_string(value) + ")";
  return "";
}

// An SQE from a ring that should have room; when it has none (the kernel would not take what is
// queued), submits once and asks again. Null when there is still none.
io_uring_sqe* sqe_from(io_uring& ring) {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring);
  if (sqe != nullptr) return sqe;
  io_uring_submit(&ring);
  return io_uring_get_sqe(&ring);
}

// One datagram through multishot recvmsg with a provided buffer; nullopt on success.
std::optional<Refusal> try_multishot_recvmsg(io_uring& ring) {
  BufferPool pool;
  if (auto r = pool.init(2, 256); !r) return refusal_for_error(r.error());
  BufferRing buffers;
  if (auto r = buffers.init(ring, pool, pool.buffer_size()); !r) return refusal_for_error(r.error());

  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return Refusal{Error::from_errno(errno, "the probe's loopback socket").message, false};
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  std::optional<Refusal> refused;
  bool armed = false;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    // No loopback (a fresh network namespace has it down) is not io_uring's answer: ask again later.
    refused = Refusal{std::string("loopback socket: ") + std::strerror(errno), false};
  } else if (io_uring_sqe* sqe = sqe_from(ring); sqe == nullptr) {
    refused = Refusal{"the probe's ring had no submission queue entry free", false};
  } else {
    msghdr msg{};
    msg.msg_namelen = sizeof(sockaddr_in6);
    io_uring_prep_recvmsg_multishot(sqe, fd, &msg, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = BufferRing::group_id;
    armed = true;
    const char probe[] = "salvo-probe";
    io_uring_submit(&ring);
    if (::sendto(fd, probe, sizeof probe, 0, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
      refused = Refusal{std::string("loopback sendto: ") + std::strerror(errno), false};
    } else {
      io_uring_cqe* cqe = nullptr;
      __kernel_timespec ts{1, 0};
      int ret = io_uring_submit_and_wait_timeout(&ring, &cqe, 1, &ts, nullptr);
      if (ret < 0 && cqe == nullptr) {
        refused = Refusal{std::string("no completion for the probe datagram: ") + std::strerror(-ret), false};
      } else if (cqe->res < 0) {
        refused = refusal_for_errno("multishot recvmsg failed", -cqe->res);
        if (cqe->res == -EINVAL) refused->why += " (needs Linux 6.0 or later)";
      } else if (!(cqe->flags & IORING_CQE_F_BUFFER) || !(cqe->flags & IORING_CQE_F_MORE)) {
        refused = Refusal{"multishot recvmsg did not stay armed with a provided buffer", true};
      }
      if (cqe != nullptr) io_uring_cqe_seen(&ring, cqe);
    }
  }
  if (armed) {
    // The request must end before the socket and the buffers go. Without an SQE for the cancel,
    // closing the ring (the caller's next step) ends it as well.
    if (io_uring_sqe* cancel = sqe_from(ring); cancel != nullptr) {
      io_uring_prep_cancel_fd(cancel, fd, IORING_ASYNC_CANCEL_ALL);
      io_uring_submit_and_wait(&ring, 1);
    }
  }
  ::close(fd);
  return refused;
}

// The opcodes the backend uses, from the kernel's list; nullopt when all are there.
std::optional<Refusal> check_opcodes(io_uring& ring) {
  constexpr unsigned slots = 256;
  const std::size_t bytes = sizeof(io_uring_probe) + slots * sizeof(io_uring_probe_op);
  std::unique_ptr<io_uring_probe, decltype(&std::free)> ops(static_cast<io_uring_probe*>(std::calloc(1, bytes)), &std::free);
  if (ops == nullptr) return Refusal{"no memory for the list of io_uring opcodes", false};
  if (const int ret = io_uring_register_probe(&ring, ops.get(), slots); ret < 0) {
    Refusal refused = refusal_for_errno("the kernel cannot list its io_uring opcodes", -ret);
    if (ret == -EINVAL) refused.why += " (Linux 5.6 or later needed)";
    return refused;
  }
  for (auto [op, name] : {std::pair{IORING_OP_RECVMSG, "RECVMSG"}, {IORING_OP_SENDMSG, "SENDMSG"},
                          {IORING_OP_READ, "READ"}, {IORING_OP_ASYNC_CANCEL, "ASYNC_CANCEL"}}) {
    if (!io_uring_opcode_supported(ops.get(), op)) {
      return Refusal{std::string("the kernel's io_uring lacks the ") + name + " opcode", true};
    }
  }
  return std::nullopt;
}

IoUringProbe run_probe() {
  IoUringProbe probe;
  UringSetup setup;
  io_uring ring{};
  const int ret = create_ring(ring, 64, 128, setup);
  if (ret < 0) {
    switch (-ret) {
      case ENOSYS: probe.why_not = "the kernel has no io_uring (io_uring_setup: ENOSYS)"; break;
      case EPERM:
        probe.why_not = "io_uring is forbidden here (io_uring_setup: EPERM: a seccomp profile or "
                        "kernel.io_uring_disabled)" + disabled_sysctl();
        break;
      default: probe.why_not = refusal_for_errno("io_uring_setup failed", -ret).why + disabled_sysctl();
    }
    probe.settled = io_uring_errno_lasts(-ret);
  } else {
    std::optional<Refusal> refused = check_opcodes(ring);
    if (!refused) refused = try_multishot_recvmsg(ring);
    io_uring_queue_exit(&ring);
    if (refused) {
      probe.why_not = std::move(refused->why);
      probe.settled = refused->lasts;
    } else {
      probe.usable = true;
      probe.settled = true;
      probe.features = setup.describe() + ", multishot recvmsg, provided buffer rings";
    }
  }
  if (!probe.settled) probe.why_not += " (a passing condition: the next engine probes again)";
  return probe;
}

}  // namespace

IoUringProbe probe_io_uring() {
  // Engines are made on the control path, never per datagram: a lock is fine here, and it keeps
  // two threads creating engines at once from probing twice.
  static std::mutex mutex;
  static std::optional<IoUringProbe> settled;
  std::lock_guard lock(mutex);
  if (settled) return *settled;
  IoUringProbe probe = run_probe();
  if (probe.settled) settled = probe;
  return probe;
}

}  // namespace salvo::detail

namespace salvo::detail {

std::string UringSetup::describe() const {
  std::string out;
  auto add = [&](unsigned flag, const char* name) {
    if (flags & flag) out += out.empty() ? name : std::string(", ") + name;
  };
  add(IORING_SETUP_SINGLE_ISSUER, "SINGLE_ISSUER");
  add(IORING_SETUP_DEFER_TASKRUN, "DEFER_TASKRUN");
  add(IORING_SETUP_COOP_TASKRUN, "COOP_TASKRUN");
  return out.empty() ? "plain ring" : out;
}

int create_ring(io_uring& ring, unsigned sq_entries, unsigned cq_entries, UringSetup& setup) {
  // CLAMP: a CQ size beyond the kernel's maximum is cut to it rather than refused; a CQ that then
  // overflows is not lost (IORING_FEAT_NODROP) and ends multishot receives, which re-arm.
  constexpr unsigned base = IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP | IORING_SETUP_SUBMIT_ALL;
  const unsigned attempts[] = {
      base | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
      base | IORING_SETUP_COOP_TASKRUN,
      base,
  };
  int ret = -EINVAL;
  for (unsigned flags : attempts) {
    io_uring_params params{};
    params.flags = flags;
    params.cq_entries = cq_entries;
    ret = io_uring_queue_init_params(sq_entries, &ring, &params);
    if (ret == 0) {
      setup.flags = flags;
      return 0;
    }
    if (ret != -EINVAL) return ret;  // ENOSYS, EPERM, ENOMEM: fewer flags will not help
  }
  return ret;
}

}  // namespace salvo::detail
