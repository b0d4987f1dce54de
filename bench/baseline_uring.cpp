// Baseline receiver: the plain io_uring loop. One multishot recvmsg into a provided buffer ring,
// wait for one completion at a time, hand each buffer straight back, re-arm when the request ends.
#include <liburing.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vector>

#include "receivers.hpp"

namespace salvo::bench {

ReceiveResult run_uring_baseline(const PortReady& ready, const std::atomic<bool>& stop) {
  constexpr unsigned entries = 1024;
  constexpr unsigned size = 2048 + 256;  // room for the recvmsg_out header, name and control
  std::uint16_t port = 0;
  const int fd = bind_loopback_udp(port);

  io_uring ring;
  io_uring_params params{};
  params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE;
  params.cq_entries = entries * 2;
  if (io_uring_queue_init_params(64, &ring, &params) != 0) return {};

  void* mem = ::mmap(nullptr, entries * sizeof(io_uring_buf), PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  auto* br = static_cast<io_uring_buf_ring*>(mem);
  io_uring_buf_ring_init(br);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<unsigned long>(br);
  reg.ring_entries = entries;
  reg.bgid = 0;
  io_uring_register_buf_ring(&ring, &reg, 0);
  std::vector<char> buffers(std::size_t{entries} * size);
  const int mask = io_uring_buf_ring_mask(entries);
  for (unsigned i = 0; i < entries; ++i) io_uring_buf_ring_add(br, &buffers[std::size_t{i} * size], size, i, mask, static_cast<int>(i));
  io_uring_buf_ring_advance(br, entries);

  msghdr tmpl{};
  tmpl.msg_namelen = sizeof(sockaddr_in6);
  auto arm = [&] {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring);
    io_uring_prep_recvmsg_multishot(sqe, fd, &tmpl, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = 0;
  };
  arm();
  ready(port);

  ReceiveResult r;
  __kernel_timespec ts{0, 50'000'000};
  while (!stop.load(std::memory_order_relaxed)) {
    io_uring_cqe* cqe = nullptr;
    io_uring_submit_and_wait_timeout(&ring, &cqe, 1, &ts, nullptr);
    unsigned head;
    unsigned seen = 0;
    int returned = 0;
    bool rearm = false;
    io_uring_for_each_cqe(&ring, head, cqe) {
      ++seen;
      if (!(cqe->flags & IORING_CQE_F_MORE)) rearm = true;
      if (cqe->res < 0 || !(cqe->flags & IORING_CQE_F_BUFFER)) continue;
      const unsigned id = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
      char* buf = &buffers[std::size_t{id} * size];
      auto* out = io_uring_recvmsg_validate(buf, cqe->res, &tmpl);
      if (out != nullptr) {
        ++r.datagrams;
        r.bytes += io_uring_recvmsg_payload_length(out, cqe->res, &tmpl);
      }
      io_uring_buf_ring_add(br, buf, size, static_cast<unsigned short>(id), mask, returned++);
    }
    io_uring_buf_ring_advance(br, returned);
    io_uring_cq_advance(&ring, seen);
    if (rearm) arm();
  }
  io_uring_queue_exit(&ring);
  ::munmap(mem, entries * sizeof(io_uring_buf));
  ::close(fd);
  return r;
}

}  // namespace salvo::bench
