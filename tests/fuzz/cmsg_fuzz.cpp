// Fuzz target: detail::parse_control, which decodes the control messages of every received
// datagram (both backends). The first input byte picks one of two modes:
//  - raw (even): the rest is a control area as the kernel might hand it, damaged arbitrarily. It
//    is parsed from an exactly sized heap copy (ASan flags any read past it) and from a misaligned
//    copy (the parser's realigning path); both must agree, and everything reported must be the
//    data of a message that lies wholly inside the area (control_walk.hpp).
//  - built (odd): the rest describes messages (kind, length, data), which are laid out with the
//    CMSG macros as the kernel lays them out; the parser must find exactly what was put there.
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <iterator>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>

#include "cmsg.hpp"
#include "control_walk.hpp"
#include "fuzz_check.hpp"

namespace {

using salvo::detail::ControlInfo;
using salvo::detail::parse_control;

// The parser cuts a misaligned area to this size (it never gets more than a few control_space).
constexpr std::size_t realign_limit = 4 * salvo::detail::control_space;

bool same(const ControlInfo& a, const ControlInfo& b) {
  return a.has_kernel_drops == b.has_kernel_drops && a.kernel_drops == b.kernel_drops;
}

void check_sound(const ControlInfo& info, const unsigned char* area, std::size_t length) {
  const auto messages = salvo::fuzz::walk_control(area, length);
  if (info.has_kernel_drops) {
    FUZZ_CHECK(salvo::fuzz::some_message_holds(messages, SOL_SOCKET, SO_RXQ_OVFL, info.kernel_drops));
  } else {
    FUZZ_CHECK(info.kernel_drops == 0);
  }
}

void raw(const std::uint8_t* data, std::size_t size) {
  auto exact = std::make_unique<unsigned char[]>(size == 0 ? 1 : size);  // new[]: aligned for cmsghdr
  std::memcpy(exact.get(), data, size);
  const ControlInfo aligned = parse_control(exact.get(), size);
  check_sound(aligned, exact.get(), size);

  auto shifted = std::make_unique<unsigned char[]>(size + 1);
  std::memcpy(shifted.get() + 1, data, size);
  const ControlInfo misaligned = parse_control(shifted.get() + 1, size);
  if (size <= realign_limit) FUZZ_CHECK(same(aligned, misaligned));
  else check_sound(misaligned, exact.get(), realign_limit);
}

// Message kinds the built mode can lay out: the ones parse_control reads and some it must skip.
struct Kind {
  int level;
  int type;
};
constexpr Kind kinds[] = {
    {SOL_SOCKET, SO_RXQ_OVFL}, {SOL_SOCKET, SO_TIMESTAMPNS}, {SOL_SOCKET, SCM_RIGHTS},
    {IPPROTO_IP, IP_TTL},      {IPPROTO_IP, IP_PKTINFO},     {IPPROTO_IPV6, IPV6_PKTINFO},
    {IPPROTO_UDP, 104 /* UDP_GRO */},
};

void built(const std::uint8_t* data, std::size_t size) {
  alignas(cmsghdr) unsigned char area[realign_limit] = {};
  std::size_t used = 0;
  std::optional<std::uint32_t> expected_drops;  // the last complete SO_RXQ_OVFL wins
  std::size_t at = 0;
  while (size - at >= 2) {
    const Kind kind = kinds[data[at] % std::size(kinds)];
    const std::size_t length = std::min<std::size_t>(data[at + 1] % 32, size - at - 2);
    at += 2;
    if (CMSG_SPACE(length) > sizeof area - used) break;
    auto* c = reinterpret_cast<cmsghdr*>(area + used);
    c->cmsg_len = CMSG_LEN(length);
    c->cmsg_level = kind.level;
    c->cmsg_type = kind.type;
    std::memcpy(CMSG_DATA(c), data + at, length);
    at += length;
    used += CMSG_SPACE(length);
    if (kind.level == SOL_SOCKET && kind.type == SO_RXQ_OVFL && length >= sizeof(std::uint32_t)) {
      std::uint32_t drops;
      std::memcpy(&drops, CMSG_DATA(c), sizeof drops);
      expected_drops = drops;
    }
  }
  const ControlInfo info = parse_control(area, used);
  FUZZ_CHECK(info.has_kernel_drops == expected_drops.has_value());
  if (expected_drops) FUZZ_CHECK(info.kernel_drops == *expected_drops);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  if (data[0] % 2 == 0) raw(data + 1, size - 1);
  else built(data + 1, size - 1);
  return 0;
}
