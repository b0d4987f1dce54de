// Fuzz target: detail::parse_error_message, which reads what MSG_ERRQUEUE returns (the extended
// error of an ICMP message or a local send failure, and the address the failed datagram went to).
// Input: byte 0 is the name's length n (cut to what follows), then n name bytes, then the control
// area. The parser must report exactly the first IP_RECVERR / IPV6_RECVERR message with a whole
// sock_extended_err that lies inside the area (control_walk.hpp), nothing when there is none,
// classify it as documented, take the peer from the name alone, and not depend on alignment.
#include <netinet/in.h>
#include <time.h>  // linux/errqueue.h uses struct timespec without including it

#include <linux/errqueue.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>

#include "control_walk.hpp"
#include "datapath/error_queue.hpp"
#include "fuzz_check.hpp"

namespace {

using salvo::detail::IcmpReport;

std::optional<sock_extended_err> first_extended_error(const unsigned char* area, std::size_t length) {
  for (const auto& m : salvo::fuzz::walk_control(area, length)) {
    const bool is_error = (m.level == IPPROTO_IP && m.type == IP_RECVERR) ||
                          (m.level == IPPROTO_IPV6 && m.type == IPV6_RECVERR);
    if (is_error && m.data.size() >= sizeof(sock_extended_err)) {
      sock_extended_err ee;
      std::memcpy(&ee, m.data.data(), sizeof ee);
      return ee;
    }
  }
  return std::nullopt;
}

IcmpReport::Kind expected_kind(std::uint32_t err) {
  switch (err) {
    case ECONNREFUSED: return IcmpReport::Kind::refused;
    case EMSGSIZE: return IcmpReport::Kind::path_mtu;
    case EHOSTUNREACH: case ENETUNREACH: case EHOSTDOWN: case ENETDOWN: case EACCES: case EPROTO:
      return IcmpReport::Kind::unreachable;
    default: return IcmpReport::Kind::other;
  }
}

IcmpReport::Origin expected_origin(std::uint8_t origin) {
  if (origin == SO_EE_ORIGIN_ICMP || origin == SO_EE_ORIGIN_ICMP6) return IcmpReport::Origin::network;
  if (origin == SO_EE_ORIGIN_LOCAL) return IcmpReport::Origin::local;
  return IcmpReport::Origin::other;
}

bool same(const std::optional<IcmpReport>& a, const std::optional<IcmpReport>& b) {
  if (a.has_value() != b.has_value()) return false;
  if (!a) return true;
  const bool same_peer = a->peer.family() == b->peer.family() &&
                         (a->peer.family() == salvo::Address::Family::none || a->peer == b->peer);
  return a->kind == b->kind && a->error == b->error && a->mtu == b->mtu && a->origin == b->origin && same_peer;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t name_length = std::min<std::size_t>(data[0], size - 1);
  const std::size_t control_length = size - 1 - name_length;
  // Exactly sized heap copies (new[] aligns them for cmsghdr): ASan flags any read past either.
  auto name = std::make_unique<unsigned char[]>(name_length + 1);
  std::memcpy(name.get(), data + 1, name_length);
  auto control = std::make_unique<unsigned char[]>(control_length + 1);
  std::memcpy(control.get(), data + 1 + name_length, control_length);

  const auto report = salvo::detail::parse_error_message(name.get(), name_length, control.get(), control_length);
  const auto ee = first_extended_error(control.get(), control_length);
  FUZZ_CHECK(report.has_value() == ee.has_value());
  if (report) {
    FUZZ_CHECK(report->error == static_cast<int>(ee->ee_errno));
    FUZZ_CHECK(report->kind == expected_kind(ee->ee_errno));
    FUZZ_CHECK(report->mtu == (report->kind == IcmpReport::Kind::path_mtu ? ee->ee_info : 0));
    FUZZ_CHECK(report->origin == expected_origin(ee->ee_origin));
    const salvo::Address expected_peer = salvo::Address::from_sockaddr(name.get(), name_length);
    FUZZ_CHECK(report->peer.family() == expected_peer.family());
    if (expected_peer.family() != salvo::Address::Family::none) {
      FUZZ_CHECK(report->peer == expected_peer);
      // Whatever the kernel put in the name prints as an address that parses back to itself.
      auto reparsed = salvo::Address::parse(report->peer.to_string());
      FUZZ_CHECK(reparsed && *reparsed == report->peer);
    }
  }

  // The parser copies fields out with memcpy: a misaligned area must give the same answer.
  auto shifted = std::make_unique<unsigned char[]>(control_length + 1);
  std::memcpy(shifted.get() + 1, data + 1 + name_length, control_length);
  FUZZ_CHECK(same(report, salvo::detail::parse_error_message(name.get(), name_length, shifted.get() + 1,
                                                             control_length)));
  return 0;
}
