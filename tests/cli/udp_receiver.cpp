#include "cli/udp_receiver.hpp"

#include <linux/sock_diag.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <set>

namespace salvo::test {

UdpReceiver::UdpReceiver(const Address& bind, std::size_t expected) : socket_(bind, 4 << 20) {
  records_.reserve(expected);
  thread_ = std::thread([this] { run(); });
}

UdpReceiver::~UdpReceiver() { stop(); }

void UdpReceiver::stop() {
  stopping_.store(true, std::memory_order_release);
  if (thread_.joinable()) thread_.join();
}

void UdpReceiver::run() {
  // recvmmsg in batches: the test's receiver must cost little CPU, or on a loaded machine it
  // starves the sender it is measuring.
  constexpr unsigned batch = 64;
  constexpr std::size_t capacity = 65536;
  std::vector<std::byte> buffers(batch * capacity);
  std::vector<mmsghdr> messages(batch);
  std::vector<iovec> iovecs(batch);
  std::vector<sockaddr_storage> names(batch);
  while (!stopping_.load(std::memory_order_acquire)) {
    if (!socket_.wait_readable(milliseconds(20))) continue;
    for (;;) {
      for (unsigned i = 0; i < batch; ++i) {
        iovecs[i] = {buffers.data() + i * capacity, capacity};
        messages[i] = {};
        messages[i].msg_hdr.msg_iov = &iovecs[i];
        messages[i].msg_hdr.msg_iovlen = 1;
        messages[i].msg_hdr.msg_name = &names[i];
        messages[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
      }
      const int n = ::recvmmsg(socket_.fd(), messages.data(), batch, MSG_DONTWAIT, nullptr);
      if (n <= 0) break;
      const auto now = Clock::now();
      for (int i = 0; i < n; ++i) {
        Record r;
        r.at = now;
        r.from_port = Address::from_sockaddr(&names[i], messages[i].msg_hdr.msg_namelen).port();
        r.size = messages[i].msg_len;
        r.seq = payload_seq(std::span<const std::byte>(buffers.data() + i * capacity, messages[i].msg_len));
        records_.push_back(r);
      }
      last_arrival_ns_.store(now.time_since_epoch().count(), std::memory_order_release);
      count_.fetch_add(static_cast<std::uint64_t>(n), std::memory_order_acq_rel);
    }
  }
}

std::uint64_t UdpReceiver::kernel_drops() const {
  std::uint32_t info[SK_MEMINFO_VARS] = {};
  socklen_t length = sizeof info;
  if (::getsockopt(socket_.fd(), SOL_SOCKET, SO_MEMINFO, info, &length) != 0) return 0;
  return info[SK_MEMINFO_DROPS];
}

bool UdpReceiver::wait_for_count(std::uint64_t n, milliseconds timeout) const {
  return wait_until([&] { return count() >= n; }, timeout);
}

bool UdpReceiver::wait_quiet(milliseconds quiet, milliseconds timeout) const {
  const auto started = Clock::now();
  return wait_until(
      [&] {
        const std::int64_t last = last_arrival_ns_.load(std::memory_order_acquire);
        const auto since = last == 0 ? started : Clock::time_point(Clock::duration(last));
        return Clock::now() - std::max(since, started) >= quiet;
      },
      timeout);
}

ArrivalOrder arrival_order(const std::vector<UdpReceiver::Record>& records) {
  ArrivalOrder o;
  std::set<std::uint64_t> seen;
  std::uint64_t highest = 0;
  bool any = false;
  for (const auto& r : records) {
    ++o.arrivals;
    if (!seen.insert(r.seq).second) {
      ++o.duplicates;
      continue;
    }
    if (any && r.seq < highest) ++o.out_of_order;
    if (!any || r.seq > highest) highest = r.seq;
    any = true;
  }
  o.distinct = seen.size();
  return o;
}

}  // namespace salvo::test
