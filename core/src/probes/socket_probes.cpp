// The socket half of the capability report. Each feature is tried on real UDP sockets bound to
// loopback, and where a socket option only matters through what the kernel then does, that is
// checked too: a datagram is sent and its control messages read back.
//
//   ipv6_loopback             bind [::1]:0 and exchange one datagram
//   udp_gso                   UDP_SEGMENT accepted, and a 3 x 100-byte GSO send arrives as three
//                             100-byte datagrams
//   udp_gro                   UDP_GRO accepted (detail: whether loopback then delivered a GSO send
//                             as one coalesced read with its segment size)
//   ecn_ipv4 / ecn_ipv6       IP_RECVTOS / IPV6_RECVTCLASS accepted, and ECT(0) set by the sender
//                             (IP_TOS / IPV6_TCLASS) comes back in the control message
//   pktinfo_ipv4 / _ipv6      IP_PKTINFO / IPV6_RECVPKTINFO: the destination address comes back
//   timestamp_ns              SO_TIMESTAMPNS: a receive time comes back
//   timestamping_rx_software  SO_TIMESTAMPING with software receive stamps: one comes back
//   reuseport                 two sockets bind one port with SO_REUSEPORT
//   reuseport_cbpf            SO_ATTACH_REUSEPORT_CBPF accepted, and a program returning 1, then 0,
//                             steers a datagram to the second, then the first socket of the group
//   recverr_ipv4 / _ipv6      IP_RECVERR / IPV6_RECVERR accepted (detail: whether a send to a closed
//                             loopback port put ECONNREFUSED on the error queue)
//   busy_poll                 SO_BUSY_POLL (50 us) accepted (raising it above net.core.busy_read
//                             needs CAP_NET_ADMIN)
//   prefer_busy_poll          SO_PREFER_BUSY_POLL accepted (Linux 5.11+)
//   meminfo                   SO_MEMINFO readable (salvo's kernel_drops come from it)
//
// Every wait is a poll() bounded by one second; on loopback the answer is immediate.
#include "probes/socket_probes.hpp"

#include <arpa/inet.h>
#include <linux/errqueue.h>
#include <linux/filter.h>
#include <linux/net_tstamp.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "probes/capability_probes.hpp"

namespace salvo::detail {
namespace {

constexpr int wait_ms = 1000;

class Socket {
 public:
  Socket() = default;
  ~Socket() { close(); }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  // Opens a non-blocking UDP socket of `family` bound to loopback at `port`. On failure returns
  // false with `error` naming the call.
  bool open(int family, std::string& error, std::uint16_t port = 0, bool reuse_port = false) {
    fd_ = ::socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
      error = "socket: " + errno_text(errno);
      return false;
    }
    if (reuse_port && !set(SOL_SOCKET, SO_REUSEPORT, 1)) {
      error = "setsockopt SO_REUSEPORT: " + errno_text(errno);
      return false;
    }
    sockaddr_storage addr{};
    const socklen_t len = loopback(family, port, addr);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
      error = std::string("bind ") + (family == AF_INET6 ? "[::1]:" : "127.0.0.1:") + std::to_string(port) + ": " +
              errno_text(errno);
      return false;
    }
    local_len_ = sizeof local_;
    if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&local_), &local_len_) != 0) {
      error = "getsockname: " + errno_text(errno);
      return false;
    }
    return true;
  }
  void close() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  // The loopback address of `family` with `port`; returns its length.
  static socklen_t loopback(int family, std::uint16_t port, sockaddr_storage& addr) noexcept {
    addr = {};
    if (family == AF_INET6) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&addr);
      a->sin6_family = AF_INET6;
      a->sin6_addr = in6addr_loopback;
      a->sin6_port = htons(port);
      return sizeof(sockaddr_in6);
    }
    auto* a = reinterpret_cast<sockaddr_in*>(&addr);
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a->sin_port = htons(port);
    return sizeof(sockaddr_in);
  }

  int fd() const noexcept { return fd_; }
  const sockaddr* local() const noexcept { return reinterpret_cast<const sockaddr*>(&local_); }
  socklen_t local_len() const noexcept { return local_len_; }
  std::uint16_t port() const noexcept {
    return ntohs(local_.ss_family == AF_INET6 ? reinterpret_cast<const sockaddr_in6*>(&local_)->sin6_port
                                             : reinterpret_cast<const sockaddr_in*>(&local_)->sin_port);
  }

  bool set(int level, int name, int value) noexcept {
    return ::setsockopt(fd_, level, name, &value, sizeof value) == 0;
  }
  // Sends `size` bytes to `to`; 0 or the errno.
  int send_to(const Socket& to, std::size_t size) const noexcept {
    std::vector<char> payload(size, 's');
    return ::sendto(fd_, payload.data(), size, 0, to.local(), to.local_len()) == static_cast<ssize_t>(size) ? 0
                                                                                                           : errno;
  }

 private:
  int fd_ = -1;
  sockaddr_storage local_{};
  socklen_t local_len_ = 0;
};

struct ControlMessage {
  int level = 0;
  int type = 0;
  std::vector<unsigned char> data;
};

struct Message {
  std::size_t size = 0;
  std::vector<ControlMessage> control;

  const ControlMessage* find(int level, int type) const {
    for (const ControlMessage& c : control) {
      if (c.level == level && c.type == type) return &c;
    }
    return nullptr;
  }
  template <class T>
  std::optional<T> value(int level, int type) const {
    const ControlMessage* c = find(level, type);
    if (c == nullptr || c->data.size() < sizeof(T)) return std::nullopt;
    T v;
    std::memcpy(&v, c->data.data(), sizeof v);
    return v;
  }
};

// Waits up to `timeout_ms` for one datagram (or, with MSG_ERRQUEUE, one queued error) and reads it
// with its control messages. nullopt when nothing came.
std::optional<Message> receive(const Socket& s, int timeout_ms, int flags = 0) {
  pollfd p{s.fd(), static_cast<short>(flags & MSG_ERRQUEUE ? 0 : POLLIN), 0};
  if (::poll(&p, 1, timeout_ms) <= 0) return std::nullopt;
  alignas(cmsghdr) unsigned char control[1024];
  char data[2048];
  iovec iov{data, sizeof data};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  const ssize_t n = ::recvmsg(s.fd(), &msg, flags | MSG_DONTWAIT);
  if (n < 0) return std::nullopt;
  Message m;
  m.size = static_cast<std::size_t>(n);
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    const auto* begin = CMSG_DATA(c);
    const std::size_t length = c->cmsg_len - CMSG_LEN(0);
    m.control.push_back({c->cmsg_level, c->cmsg_type, std::vector<unsigned char>(begin, begin + length)});
  }
  return m;
}

// The per-family exchange: one receiver with the receive-side options, one datagram from a sender
// that marks it ECT(0). Appends the features it decides to `out`.
void probe_family(int family, std::vector<Feature>& out) {
  const bool v6 = family == AF_INET6;
  const std::string ecn = v6 ? "ecn_ipv6" : "ecn_ipv4";
  const std::string pktinfo = v6 ? "pktinfo_ipv6" : "pktinfo_ipv4";
  std::vector<std::string> names = {ecn, pktinfo};
  if (!v6) names.insert(names.end(), {"timestamp_ns", "timestamping_rx_software"});

  Socket receiver;
  Socket sender;
  std::string error;
  if (!receiver.open(family, error) || !sender.open(family, error)) {
    if (v6) out.push_back(feature_no("ipv6_loopback", error));
    for (const std::string& n : names) out.push_back(feature_no(n, (v6 ? "no IPv6 loopback: " : "") + error));
    return;
  }
  // Options first, each remembered: a refused option decides its feature on its own.
  const int ecn_level = v6 ? IPPROTO_IPV6 : IPPROTO_IP;
  const int recv_ecn = v6 ? IPV6_RECVTCLASS : IP_RECVTOS;
  const int send_ecn = v6 ? IPV6_TCLASS : IP_TOS;
  const int recv_pktinfo = v6 ? IPV6_RECVPKTINFO : IP_PKTINFO;
  const char* recv_ecn_name = v6 ? "setsockopt IPV6_RECVTCLASS" : "setsockopt IP_RECVTOS";
  const char* send_ecn_name = v6 ? "setsockopt IPV6_TCLASS" : "setsockopt IP_TOS";
  const char* pktinfo_name = v6 ? "setsockopt IPV6_RECVPKTINFO" : "setsockopt IP_PKTINFO";
  constexpr int ect0 = 0x02;
  std::string ecn_error;
  if (!receiver.set(ecn_level, recv_ecn, 1)) ecn_error = std::string(recv_ecn_name) + ": " + errno_text(errno);
  else if (!sender.set(ecn_level, send_ecn, ect0)) ecn_error = std::string(send_ecn_name) + ": " + errno_text(errno);
  std::string pktinfo_error;
  if (!receiver.set(ecn_level, recv_pktinfo, 1)) pktinfo_error = std::string(pktinfo_name) + ": " + errno_text(errno);
  std::string tsns_error;
  std::string tsing_error;
  if (!v6) {
    if (!receiver.set(SOL_SOCKET, SO_TIMESTAMPNS, 1)) tsns_error = "setsockopt SO_TIMESTAMPNS: " + errno_text(errno);
    if (!receiver.set(SOL_SOCKET, SO_TIMESTAMPING, SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE)) {
      tsing_error = "setsockopt SO_TIMESTAMPING: " + errno_text(errno);
    }
  }

  std::optional<Message> m;
  std::string exchange_error;
  if (const int err = sender.send_to(receiver, 32); err != 0) {
    exchange_error = "sendto on loopback: " + errno_text(err);
  } else if (!(m = receive(receiver, wait_ms))) {
    exchange_error = "no datagram came back on loopback within 1 s";
  }
  if (v6) {
    out.push_back(exchange_error.empty()
                      ? feature_yes("ipv6_loopback", "bound [::1]:" + std::to_string(receiver.port()) +
                                                         " and exchanged a datagram")
                      : feature_no("ipv6_loopback", exchange_error));
  }
  auto decide = [&](const std::string& name, const std::string& option_error, auto&& check) {
    if (!option_error.empty()) out.push_back(feature_no(name, option_error));
    else if (!exchange_error.empty()) out.push_back(feature_no(name, exchange_error));
    else out.push_back(check(*m));
  };

  decide(ecn, ecn_error, [&](const Message& msg) {
    // IPv4 carries the TOS byte, IPv6 the traffic class as an int.
    std::optional<int> tos;
    if (v6) tos = msg.value<int>(IPPROTO_IPV6, IPV6_TCLASS);
    else if (auto b = msg.value<std::uint8_t>(IPPROTO_IP, IP_TOS)) tos = *b;
    if (!tos) return feature_no(ecn, std::string("no ") + (v6 ? "IPV6_TCLASS" : "IP_TOS") + " control message on receive");
    if ((*tos & 0x3) != ect0) {
      return feature_no(ecn, "sent ECT(0), the control message says ECN bits " + std::to_string(*tos & 0x3));
    }
    return feature_yes(ecn, "ECT(0) set by the sender came back in the control message");
  });
  decide(pktinfo, pktinfo_error, [&](const Message& msg) {
    char text[INET6_ADDRSTRLEN] = {};
    unsigned ifindex = 0;
    bool loopback = false;
    if (v6) {
      auto info = msg.value<in6_pktinfo>(IPPROTO_IPV6, IPV6_PKTINFO);
      if (!info) return feature_no(pktinfo, "no IPV6_PKTINFO control message on receive");
      loopback = IN6_IS_ADDR_LOOPBACK(&info->ipi6_addr);
      ::inet_ntop(AF_INET6, &info->ipi6_addr, text, sizeof text);
      ifindex = info->ipi6_ifindex;
    } else {
      auto info = msg.value<in_pktinfo>(IPPROTO_IP, IP_PKTINFO);
      if (!info) return feature_no(pktinfo, "no IP_PKTINFO control message on receive");
      loopback = info->ipi_addr.s_addr == htonl(INADDR_LOOPBACK);
      ::inet_ntop(AF_INET, &info->ipi_addr, text, sizeof text);
      ifindex = static_cast<unsigned>(info->ipi_ifindex);
    }
    if (!loopback) return feature_no(pktinfo, std::string("the control message names destination ") + text);
    return feature_yes(pktinfo, std::string("destination ") + text + ", interface " + std::to_string(ifindex));
  });
  if (v6) return;
  decide("timestamp_ns", tsns_error, [&](const Message& msg) {
    auto ts = msg.value<timespec>(SOL_SOCKET, SCM_TIMESTAMPNS);
    if (!ts) return feature_no("timestamp_ns", "no SCM_TIMESTAMPNS control message on receive");
    if (ts->tv_sec == 0 && ts->tv_nsec == 0) return feature_no("timestamp_ns", "SCM_TIMESTAMPNS carried a zero time");
    return feature_yes("timestamp_ns", "SCM_TIMESTAMPNS receive time on every datagram");
  });
  decide("timestamping_rx_software", tsing_error, [&](const Message& msg) {
    auto ts = msg.value<scm_timestamping>(SOL_SOCKET, SCM_TIMESTAMPING);
    if (!ts) return feature_no("timestamping_rx_software", "no SCM_TIMESTAMPING control message on receive");
    if (ts->ts[0].tv_sec == 0 && ts->ts[0].tv_nsec == 0) {
      return feature_no("timestamping_rx_software", "SCM_TIMESTAMPING carried no software time");
    }
    return feature_yes("timestamping_rx_software", "software receive time in SCM_TIMESTAMPING");
  });
}

// UDP_SEGMENT on the sender; one plain and one UDP_GRO receiver.
void probe_gso_gro(std::vector<Feature>& out) {
  constexpr int segment = 100;
  constexpr int segments = 3;
  Socket sender;
  Socket plain;
  Socket gro;
  std::string error;
  if (!sender.open(AF_INET, error) || !plain.open(AF_INET, error) || !gro.open(AF_INET, error)) {
    out.push_back(feature_no("udp_gso", error));
    out.push_back(feature_no("udp_gro", error));
    return;
  }
  const bool gro_set = gro.set(IPPROTO_UDP, UDP_GRO, 1);
  const int gro_errno = errno;
  if (!sender.set(IPPROTO_UDP, UDP_SEGMENT, segment)) {
    out.push_back(feature_errno("udp_gso", "setsockopt UDP_SEGMENT", errno));
    out.push_back(gro_set ? feature_yes("udp_gro", "setsockopt UDP_GRO accepted (no GSO sender to test it with)")
                          : feature_errno("udp_gro", "setsockopt UDP_GRO", gro_errno));
    return;
  }
  // GSO: the kernel must cut one send into `segments` datagrams for a receiver without GRO.
  if (const int err = sender.send_to(plain, segment * segments); err != 0) {
    out.push_back(feature_errno("udp_gso", "sendto with UDP_SEGMENT on loopback", err));
  } else {
    std::vector<std::size_t> sizes;
    while (sizes.size() < segments + 1u) {
      // The first may take a moment; the rest follow at once, and after the expected count a
      // look without waiting shows whether the kernel made more.
      auto m = receive(plain, sizes.empty() ? wait_ms : sizes.size() < segments ? 50 : 0);
      if (!m) break;
      sizes.push_back(m->size);
    }
    const bool split = sizes == std::vector<std::size_t>(segments, segment);
    std::string seen;
    for (std::size_t s : sizes) seen += (seen.empty() ? "" : ", ") + std::to_string(s);
    out.push_back(split ? feature_yes("udp_gso", "one 300-byte send with UDP_SEGMENT 100 arrived as 3 datagrams of 100 bytes")
                        : feature_no("udp_gso", "one 300-byte send with UDP_SEGMENT 100 arrived as datagrams of [" +
                                                    seen + "] bytes"));
  }
  if (!gro_set) {
    out.push_back(feature_errno("udp_gro", "setsockopt UDP_GRO", gro_errno));
    return;
  }
  // GRO: a GRO socket may take the GSO send whole, with its segment size in a UDP_GRO message.
  std::string detail = "setsockopt UDP_GRO accepted";
  if (sender.send_to(gro, segment * segments) == 0) {
    if (auto m = receive(gro, wait_ms)) {
      auto size = m->value<int>(IPPROTO_UDP, UDP_GRO);
      if (m->size == segment * segments && size && *size == segment) {
        detail += "; a 3 x 100-byte GSO send was read as one 300-byte datagram with segment size 100";
      } else {
        detail += "; loopback delivered the GSO send as separate datagrams";
      }
    }
  }
  out.push_back(feature_yes("udp_gro", detail));
}

void probe_reuseport(std::vector<Feature>& out) {
  Socket first;
  Socket second;
  Socket sender;
  std::string error;
  if (!first.open(AF_INET, error, 0, true) || !second.open(AF_INET, error, first.port(), true)) {
    out.push_back(feature_no("reuseport", error));
    out.push_back(feature_no("reuseport_cbpf", "needs reuseport: " + error));
    return;
  }
  out.push_back(feature_yes("reuseport", "two sockets bound 127.0.0.1:" + std::to_string(first.port())));
  if (!sender.open(AF_INET, error)) {
    out.push_back(feature_no("reuseport_cbpf", error));
    return;
  }
  // A program that always answers `index` steers every datagram to the group's socket of that
  // index (sockets are numbered in the order they joined). One sender, so the kernel's own hash
  // would pick the same socket both times: arriving at each in turn shows the program decided.
  const Socket* group[] = {&first, &second};
  for (std::uint32_t index : {1u, 0u}) {
    sock_filter code[] = {BPF_STMT(BPF_RET | BPF_K, index)};
    sock_fprog program{1, code};
    if (::setsockopt(first.fd(), SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &program, sizeof program) != 0) {
      out.push_back(feature_errno("reuseport_cbpf", "setsockopt SO_ATTACH_REUSEPORT_CBPF", errno));
      return;
    }
    if (const int err = sender.send_to(first, 16); err != 0) {
      out.push_back(feature_errno("reuseport_cbpf", "sendto on loopback", err));
      return;
    }
    if (!receive(*group[index], wait_ms)) {
      const bool elsewhere = receive(*group[1 - index], 0).has_value();
      out.push_back(feature_no("reuseport_cbpf", "a program returning " + std::to_string(index) +
                                                     (elsewhere ? " did not steer: the datagram reached the other socket"
                                                                : " was accepted but no datagram arrived within 1 s")));
      return;
    }
  }
  out.push_back(feature_yes("reuseport_cbpf", "a classic BPF program steered datagrams to each socket of a group of two"));
}

void probe_recverr(int family, bool ipv6_loopback, std::vector<Feature>& out) {
  const bool v6 = family == AF_INET6;
  const std::string name = v6 ? "recverr_ipv6" : "recverr_ipv4";
  Socket sender;
  std::string error;
  if (v6 && !ipv6_loopback) {
    out.push_back(feature_no(name, "no IPv6 loopback"));
    return;
  }
  if (!sender.open(family, error)) {
    out.push_back(feature_no(name, error));
    return;
  }
  if (!sender.set(v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_RECVERR : IP_RECVERR, 1)) {
    out.push_back(feature_errno(name, v6 ? "setsockopt IPV6_RECVERR" : "setsockopt IP_RECVERR", errno));
    return;
  }
  std::string detail = v6 ? "setsockopt IPV6_RECVERR accepted" : "setsockopt IP_RECVERR accepted";
  // A port that was free a moment ago: bound, then closed, so that nothing listens there.
  std::uint16_t port = 0;
  {
    Socket probe;
    if (probe.open(family, error)) port = probe.port();
  }
  sockaddr_storage to{};
  const socklen_t to_len = Socket::loopback(family, port, to);
  const char byte = 0;
  if (port != 0 && ::sendto(sender.fd(), &byte, 1, 0, reinterpret_cast<sockaddr*>(&to), to_len) == 1) {
    auto m = receive(sender, wait_ms, MSG_ERRQUEUE);
    const int level = v6 ? IPPROTO_IPV6 : IPPROTO_IP;
    const int type = v6 ? IPV6_RECVERR : IP_RECVERR;
    auto err = m ? m->value<sock_extended_err>(level, type) : std::nullopt;
    if (err && err->ee_errno == ECONNREFUSED) {
      detail += "; a send to a closed loopback port queued ECONNREFUSED (ICMP port unreachable)";
    } else {
      detail += "; no port-unreachable error was queued within 1 s for a send to a closed loopback port";
    }
  }
  out.push_back(feature_yes(name, detail));
}

std::string sysctl(const char* path) {
  std::ifstream in(path);
  std::string value;
  if (!(in >> value)) return "?";
  return value;
}

void probe_single_options(std::vector<Feature>& out) {
  Socket s;
  std::string error;
  if (!s.open(AF_INET, error)) {
    for (const char* n : {"busy_poll", "prefer_busy_poll", "meminfo"}) out.push_back(feature_no(n, error));
    return;
  }
  const std::string busy = "net.core.busy_read=" + sysctl("/proc/sys/net/core/busy_read") +
                           ", net.core.busy_poll=" + sysctl("/proc/sys/net/core/busy_poll");
  if (s.set(SOL_SOCKET, SO_BUSY_POLL, 50)) {
    out.push_back(feature_yes("busy_poll", "SO_BUSY_POLL 50 us accepted (" + busy + ")"));
  } else {
    const int err = errno;
    out.push_back(feature_no("busy_poll", "setsockopt SO_BUSY_POLL 50: " + errno_text(err) +
                                              (err == EPERM ? " (raising it above net.core.busy_read needs "
                                                              "CAP_NET_ADMIN; " + busy + ")"
                                                            : std::string())));
  }
#ifdef SO_PREFER_BUSY_POLL
  if (s.set(SOL_SOCKET, SO_PREFER_BUSY_POLL, 1)) out.push_back(feature_yes("prefer_busy_poll"));
  else out.push_back(feature_errno("prefer_busy_poll", "setsockopt SO_PREFER_BUSY_POLL", errno));
#else
  out.push_back(feature_no("prefer_busy_poll", "not in this build's kernel headers (SO_PREFER_BUSY_POLL)"));
#endif
  std::uint32_t meminfo[SK_MEMINFO_VARS] = {};
  socklen_t len = sizeof meminfo;
  if (::getsockopt(s.fd(), SOL_SOCKET, SO_MEMINFO, meminfo, &len) == 0 && len >= sizeof(std::uint32_t) * (SK_MEMINFO_DROPS + 1)) {
    out.push_back(feature_yes("meminfo", "the socket's drop counter is readable"));
  } else {
    out.push_back(feature_errno("meminfo", "getsockopt SO_MEMINFO", errno != 0 ? errno : EINVAL));
  }
}

}  // namespace

std::vector<Feature> probe_socket_features() {
  std::vector<Feature> out;
  probe_family(AF_INET, out);
  probe_family(AF_INET6, out);  // ipv6_loopback first, then the IPv6 receive options
  bool ipv6 = false;
  for (const Feature& f : out) {
    if (f.name == "ipv6_loopback") ipv6 = f.available;
  }
  probe_gso_gro(out);
  probe_reuseport(out);
  probe_recverr(AF_INET, true, out);
  probe_recverr(AF_INET6, ipv6, out);
  probe_single_options(out);
  return out;
}

}  // namespace salvo::detail
