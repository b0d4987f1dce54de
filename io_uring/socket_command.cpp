#include "socket_command.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>

namespace salvo::detail {
namespace {

constexpr std::uint32_t setsockopt_command = 3;  // SOCKET_URING_OP_SETSOCKOPT

// 0: not asked yet; 1: supported; 2: refused.
std::atomic<int> kernel_answer{0};

}  // namespace

void prep_set_socket_option(io_uring_sqe* sqe, int fd, int level, int name, const int* value) noexcept {
  std::memset(static_cast<void*>(sqe), 0, sizeof *sqe);
  sqe->opcode = IORING_OP_URING_CMD;
  sqe->fd = fd;
  sqe->cmd_op = setsockopt_command;
  // The kernel's names for these fields: level and optname are two u32 in addr's place (in that
  // order, whatever the byte order), optlen is file_index's, optval is addr3.
  const std::uint32_t level_and_name[2] = {static_cast<std::uint32_t>(level), static_cast<std::uint32_t>(name)};
  static_assert(sizeof level_and_name == sizeof sqe->addr);
  std::memcpy(&sqe->addr, level_and_name, sizeof level_and_name);
  sqe->file_index = sizeof *value;
  sqe->addr3 = reinterpret_cast<std::uintptr_t>(value);
}

bool socket_commands_supported(io_uring& ring) noexcept {
  if (const int known = kernel_answer.load(std::memory_order_acquire); known != 0) return known == 1;
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  static constexpr int one = 1;
  bool answered = false;
  bool works = false;
  if (io_uring_sqe* sqe = io_uring_get_sqe(&ring); sqe != nullptr) {
    prep_set_socket_option(sqe, fd, IPPROTO_IP, IP_RECVERR, &one);
    io_uring_sqe_set_data64(sqe, 0);
    io_uring_cqe* cqe = nullptr;
    if (io_uring_submit_and_wait(&ring, 1) >= 0 && io_uring_peek_cqe(&ring, &cqe) == 0 && cqe != nullptr) {
      answered = true;
      // Success, and the option is really on: a kernel that ignored the command would say 0 too.
      int on = 0;
      socklen_t length = sizeof on;
      works = cqe->res == 0 && ::getsockopt(fd, IPPROTO_IP, IP_RECVERR, &on, &length) == 0 && on == 1;
      io_uring_cqe_seen(&ring, cqe);
    }
  }
  ::close(fd);
  if (answered) kernel_answer.store(works ? 1 : 2, std::memory_order_release);
  return works;
}

}  // namespace salvo::detail
