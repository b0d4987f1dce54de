// The io_uring probe: can this process run the io_uring backend? It creates a ring the way a
// worker will, checks the opcodes the backend uses, and then does the real thing once on loopback
// (a multishot recvmsg into a provided buffer ring receiving one datagram), because a kernel can
// know every opcode and still lack multishot recvmsg or buffer rings. Docker's default seccomp
// profile answers io_uring_setup with EPERM; kernel.io_uring_disabled does too. Run once per
// process; the answer is cached.
#include <liburing.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include "engine/backend.hpp"
#include "datapath/buffer_pool.hpp"
#include "buffer_ring.hpp"
#include "uring_setup.hpp"

namespace salvo::detail {
namespace {

std::string disabled_sysctl() {
  std::ifstream f("/proc/sys/kernel/io_uring_disabled");
  int value = 0;
  if (f >> value && value != 0) return " (kernel.io_uring_disabled=" + std::to_string(value) + ")";
  return "";
}

// One datagram through multishot recvmsg with a provided buffer; empty on success.
std::string try_multishot_recvmsg(io_uring& ring) {
  BufferPool pool;
  if (auto r = pool.init(2, 256); !r) return r.error().message;
  BufferRing buffers;
  if (auto r = buffers.init(ring, pool, pool.buffer_size()); !r) return r.error().message;

  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return std::string("socket: ") + std::strerror(errno);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  std::string why;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    why = std::string("loopback socket: ") + std::strerror(errno);
  } else {
    msghdr msg{};
    msg.msg_namelen = sizeof(sockaddr_in6);
    io_uring_sqe* sqe = io_uring_get_sqe(&ring);
    io_uring_prep_recvmsg_multishot(sqe, fd, &msg, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = BufferRing::group_id;
    const char probe[] = "salvo-probe";
    io_uring_submit(&ring);
    if (::sendto(fd, probe, sizeof probe, 0, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
      why = std::string("loopback sendto: ") + std::strerror(errno);
    } else {
      io_uring_cqe* cqe = nullptr;
      __kernel_timespec ts{1, 0};
      int ret = io_uring_submit_and_wait_timeout(&ring, &cqe, 1, &ts, nullptr);
      if (ret < 0 && cqe == nullptr) {
        why = std::string("no completion for the probe datagram: ") + std::strerror(-ret);
      } else if (cqe->res < 0) {
        why = std::string("multishot recvmsg failed: ") + std::strerror(-cqe->res) +
              (cqe->res == -EINVAL ? " (needs Linux 6.0 or later)" : "");
      } else if (!(cqe->flags & IORING_CQE_F_BUFFER) || !(cqe->flags & IORING_CQE_F_MORE)) {
        why = "multishot recvmsg did not stay armed with a provided buffer";
      }
      if (cqe != nullptr) io_uring_cqe_seen(&ring, cqe);
    }
    io_uring_sqe* cancel = io_uring_get_sqe(&ring);
    io_uring_prep_cancel_fd(cancel, fd, IORING_ASYNC_CANCEL_ALL);
    io_uring_submit_and_wait(&ring, 1);
  }
  ::close(fd);
  return why;
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
      default: probe.why_not = std::string("io_uring_setup failed: ") + std::strerror(-ret) + disabled_sysctl();
    }
    return probe;
  }
  io_uring_probe* ops = io_uring_get_probe_ring(&ring);
  if (ops == nullptr) {
    probe.why_not = "the kernel cannot list its io_uring opcodes (Linux 5.6 or later needed)";
  } else {
    for (auto [op, name] : {std::pair{IORING_OP_RECVMSG, "RECVMSG"}, {IORING_OP_SENDMSG, "SENDMSG"},
                            {IORING_OP_READ, "READ"}, {IORING_OP_ASYNC_CANCEL, "ASYNC_CANCEL"}}) {
      if (!io_uring_opcode_supported(ops, op)) {
        probe.why_not = std::string("the kernel's io_uring lacks the ") + name + " opcode";
        break;
      }
    }
    io_uring_free_probe(ops);
  }
  if (probe.why_not.empty()) probe.why_not = try_multishot_recvmsg(ring);
  io_uring_queue_exit(&ring);
  if (probe.why_not.empty()) {
    probe.usable = true;
    probe.features = setup.describe() + ", multishot recvmsg, provided buffer rings";
  }
  return probe;
}

}  // namespace

const IoUringProbe& probe_io_uring() {
  static const IoUringProbe probe = run_probe();
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
