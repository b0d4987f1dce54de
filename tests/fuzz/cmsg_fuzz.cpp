// Fuzz target: detail::parse_control, which decodes the control messages of every received
// datagram (both backends): GRO segment size, pktinfo destination and interface, TOS / traffic
// class, software and hardware timestamps. The first input byte picks a mode:
//  - raw (even): the rest is a control area as the kernel might hand it, damaged arbitrarily. It is
//    parsed from an exactly sized heap copy (ASan flags any read past it) and from a misaligned
//    copy (the parser's realigning path). The parser may stop early on damage but must not invent:
//    its answer must be what model() says for some prefix of the messages that lie wholly inside
//    the area (control_walk.hpp); both copies must give the same answer.
//  - built (odd): the rest describes messages (kind, length, data), laid out with the CMSG macros
//    as the kernel lays them out; the parser must give exactly model() of all of them.
// model() is this file's reading of the documented layouts, later messages overriding earlier ones.
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <time.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <memory>
#include <span>
#include <vector>

#include "control_walk.hpp"
#include "datapath/cmsg.hpp"
#include "fuzz_check.hpp"

namespace {

using salvo::detail::ControlInfo;
using salvo::detail::parse_control;
using salvo::fuzz::ControlMessage;

constexpr int udp_gro = 104;  // UDP_GRO, missing from older headers
// The parser cuts a misaligned area to this size (no receive asks for more than max_control_space).
constexpr std::size_t realign_limit = 2 * salvo::detail::max_control_space;

template <class T>
bool read(const ControlMessage& m, T& out) {
  if (m.data.size() < sizeof(T)) return false;
  std::memcpy(&out, m.data.data(), sizeof(T));
  return true;
}

// A time that does not fit int64_t nanoseconds is no time (the kernel never writes one); the
// parser must not overflow on it (docs/fuzzing.md, findings/cmsg-timestamp-overflow).
std::int64_t ns(const timespec& ts) {
  std::int64_t v = 0;
  if (__builtin_mul_overflow(static_cast<std::int64_t>(ts.tv_sec), std::int64_t{1'000'000'000}, &v) ||
      __builtin_add_overflow(v, static_cast<std::int64_t>(ts.tv_nsec), &v)) {
    return 0;
  }
  return v;
}

std::int16_t traffic_class(const ControlMessage& m) {
  int v = 0;
  if (read(m, v)) return static_cast<std::int16_t>(v & 0xff);
  if (!m.data.empty()) return m.data[0];
  return -1;
}

// What one more message changes.
void step(ControlInfo& info, const ControlMessage& m) {
  if (m.level == SOL_SOCKET && m.type == SO_TIMESTAMPNS) {
    timespec ts;
    if (read(m, ts)) info.software_ns = ns(ts);
  } else if (m.level == SOL_SOCKET && m.type == SO_TIMESTAMPING) {
    timespec ts[3];
    if (read(m, ts)) {
      info.software_ns = ns(ts[0]);
      info.hardware_ns = ns(ts[2]);
    }
  } else if (m.level == SOL_UDP && m.type == udp_gro) {
    int size = 0;
    if (read(m, size) && size > 0 && size <= 0xffff) info.gro_segment_size = static_cast<std::uint16_t>(size);
  } else if (m.level == IPPROTO_IP && m.type == IP_PKTINFO) {
    in_pktinfo pi;
    if (read(m, pi)) {
      info.has_destination = true;
      info.destination_v6 = false;
      info.destination = {};
      std::memcpy(&info.destination, &pi.ipi_addr, sizeof pi.ipi_addr);
      info.interface_index = static_cast<std::uint32_t>(pi.ipi_ifindex);
    }
  } else if (m.level == IPPROTO_IPV6 && m.type == IPV6_PKTINFO) {
    in6_pktinfo pi;
    if (read(m, pi)) {
      info.has_destination = true;
      info.destination_v6 = true;
      info.destination = pi.ipi6_addr;
      info.interface_index = pi.ipi6_ifindex;
    }
  } else if ((m.level == IPPROTO_IP && m.type == IP_TOS) || (m.level == IPPROTO_IPV6 && m.type == IPV6_TCLASS)) {
    info.traffic_class = traffic_class(m);
  }
}

ControlInfo model(std::span<const ControlMessage> messages) {
  ControlInfo info;
  for (const ControlMessage& m : messages) step(info, m);
  return info;
}

bool same(const ControlInfo& a, const ControlInfo& b) {
  return a.gro_segment_size == b.gro_segment_size && a.has_destination == b.has_destination &&
         a.destination_v6 == b.destination_v6 &&
         std::memcmp(&a.destination, &b.destination, sizeof a.destination) == 0 &&
         a.interface_index == b.interface_index && a.traffic_class == b.traffic_class &&
         a.software_ns == b.software_ns && a.hardware_ns == b.hardware_ns;
}

// The parser's answer is model() of the first k messages for some k.
bool explained_by_a_prefix(const ControlInfo& info, const unsigned char* area, std::size_t length) {
  ControlInfo prefix;
  if (same(info, prefix)) return true;
  for (const ControlMessage& m : salvo::fuzz::walk_control(area, length)) {
    step(prefix, m);
    if (same(info, prefix)) return true;
  }
  return false;
}

void raw(const std::uint8_t* data, std::size_t size) {
  auto exact = std::make_unique<unsigned char[]>(size == 0 ? 1 : size);  // new[]: aligned for cmsghdr
  std::memcpy(exact.get(), data, size);
  const ControlInfo aligned = parse_control(exact.get(), size);
  FUZZ_CHECK(explained_by_a_prefix(aligned, exact.get(), size));

  auto shifted = std::make_unique<unsigned char[]>(size + 1);
  std::memcpy(shifted.get() + 1, data, size);
  const ControlInfo misaligned = parse_control(shifted.get() + 1, size);
  if (size <= realign_limit) FUZZ_CHECK(same(aligned, misaligned));
  else FUZZ_CHECK(explained_by_a_prefix(misaligned, exact.get(), realign_limit));
}

// Message kinds the built mode lays out: every one parse_control reads, and some it must skip
// (SO_RXQ_OVFL among them: salvo turns it on nowhere; it keeps its index, which the corpus uses).
struct Kind {
  int level;
  int type;
};
constexpr Kind kinds[] = {
    {SOL_SOCKET, SO_RXQ_OVFL},   {SOL_SOCKET, SO_TIMESTAMPNS}, {SOL_SOCKET, SO_TIMESTAMPING},
    {SOL_UDP, udp_gro},          {IPPROTO_IP, IP_PKTINFO},     {IPPROTO_IPV6, IPV6_PKTINFO},
    {IPPROTO_IP, IP_TOS},        {IPPROTO_IPV6, IPV6_TCLASS},  {SOL_SOCKET, SCM_RIGHTS},
    {IPPROTO_IP, IP_TTL},        {IPPROTO_IPV6, IPV6_HOPLIMIT}, {IPPROTO_IP, IP_RECVERR},
};

void built(const std::uint8_t* data, std::size_t size) {
  alignas(cmsghdr) unsigned char area[salvo::detail::max_control_space] = {};
  std::vector<ControlMessage> messages;
  std::size_t used = 0;
  std::size_t at = 0;
  while (size - at >= 2) {
    const Kind kind = kinds[data[at] % std::size(kinds)];
    const std::size_t length = std::min<std::size_t>(data[at + 1] % 64, size - at - 2);
    at += 2;
    if (CMSG_SPACE(length) > sizeof area - used) break;
    auto* c = reinterpret_cast<cmsghdr*>(area + used);
    c->cmsg_len = CMSG_LEN(length);
    c->cmsg_level = kind.level;
    c->cmsg_type = kind.type;
    std::memcpy(CMSG_DATA(c), data + at, length);
    messages.push_back({kind.level, kind.type, {CMSG_DATA(c), length}});
    at += length;
    used += CMSG_SPACE(length);
  }
  FUZZ_CHECK(same(parse_control(area, used), model(messages)));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  if (data[0] % 2 == 0) raw(data + 1, size - 1);
  else built(data + 1, size - 1);
  return 0;
}
