#include "support/syscall_failures.hpp"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <stddef.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

namespace salvo::test {

SyscallFailures::SyscallFailures(long syscall_number) {
#if defined(__x86_64__)
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<std::uint32_t>(syscall_number), 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog program{static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
  stop_ = ::eventfd(0, EFD_CLOEXEC);
  if (stop_ < 0) {
    error_ = std::string("eventfd: ") + std::strerror(errno);
    return;
  }
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    error_ = std::string("PR_SET_NO_NEW_PRIVS: ") + std::strerror(errno);
    return;
  }
  const long fd = ::syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &program);
  if (fd < 0) {
    error_ = std::string("seccomp with a listener: ") + std::strerror(errno);
    return;
  }
  listener_ = static_cast<int>(fd);
  answerer_ = std::thread([this] { answer_calls(); });
#else
  (void)syscall_number;
  error_ = "the filter names x86-64 system call numbers";
#endif
}

SyscallFailures::~SyscallFailures() {
  if (answerer_.joinable()) {
    const std::uint64_t one = 1;
    (void)!::write(stop_, &one, sizeof one);
    answerer_.join();
  }
  if (listener_ >= 0) ::close(listener_);
  if (stop_ >= 0) ::close(stop_);
}

void SyscallFailures::fail_next(std::uint32_t count, int err) noexcept {
  plan_.store(err == 0 ? 0 : std::uint64_t{static_cast<std::uint32_t>(err)} << 32 | count);
}

void SyscallFailures::answer_calls() {
  for (;;) {
    pollfd fds[2] = {{listener_, POLLIN, 0}, {stop_, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents != 0) return;
    seccomp_notif request;
    std::memset(&request, 0, sizeof request);
    if (::ioctl(listener_, SECCOMP_IOCTL_NOTIF_RECV, &request) != 0) continue;  // the caller went away
    seccomp_notif_resp response;
    std::memset(&response, 0, sizeof response);
    response.id = request.id;
    // Take one failure off the plan, if it has one.
    std::uint64_t plan = plan_.load();
    while (static_cast<std::uint32_t>(plan) != 0 && !plan_.compare_exchange_weak(plan, plan - 1)) {
    }
    const bool fail = static_cast<std::uint32_t>(plan) != 0;
    if (fail) {
      response.error = -static_cast<int>(plan >> 32);
    } else {
      response.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
    }
    if (::ioctl(listener_, SECCOMP_IOCTL_NOTIF_SEND, &response) != 0) {
      // The call was interrupted and will be made again: the failure is still owed, unless the
      // plan changed meanwhile.
      std::uint64_t now = plan - 1;
      if (fail) plan_.compare_exchange_strong(now, plan);
      continue;
    }
    calls_.fetch_add(1);
    if (fail) failed_.fetch_add(1);
  }
}

}  // namespace salvo::test
