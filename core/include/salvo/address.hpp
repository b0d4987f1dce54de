// Address: an IPv4 or IPv6 UDP endpoint (IP and port, plus the scope id of link-local IPv6).
// A small value type (32 bytes, trivially copyable) so that Datagram can carry one without
// allocating. Parsing takes numeric addresses only, as Twisted does: resolve names beforehand.
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "salvo/error.hpp"

namespace salvo {

class Address {
 public:
  enum class Family : std::uint8_t { none, v4, v6 };

  // Longest text format() writes: "[" + 45-char IPv6 + "%" + 15-char scope + "]:" + 5 + NUL.
  static constexpr std::size_t max_text = 72;

  Address() = default;  // Family::none; never equal to a real address

  // "1.2.3.4:53", "[::1]:53", "[fe80::1%eth0]:53" or "[fe80::1%2]:53". Port 0 means "any".
  static Result<Address> parse(std::string_view host_port);
  // A numeric IP ("1.2.3.4", "::1", "fe80::1%eth0") and a port.
  static Result<Address> from_ip(std::string_view ip, std::uint16_t port);

  static Address ipv4_any(std::uint16_t port);        // 0.0.0.0
  static Address ipv6_any(std::uint16_t port);        // ::
  static Address ipv4_loopback(std::uint16_t port);   // 127.0.0.1
  static Address ipv6_loopback(std::uint16_t port);   // ::1

  // From a kernel sockaddr (sockaddr_in or sockaddr_in6). Other families give Family::none.
  static Address from_sockaddr(const void* sockaddr, std::size_t length) noexcept;

  // Inline: the send and receive paths ask several times per datagram.
  Family family() const noexcept {
    sa_family_t f;  // the sockaddr's first field, in either family
    std::memcpy(&f, storage_.data(), sizeof f);
    return f == AF_INET ? Family::v4 : f == AF_INET6 ? Family::v6 : Family::none;
  }
  bool is_v4() const noexcept { return family() == Family::v4; }
  bool is_v6() const noexcept { return family() == Family::v6; }
  bool is_v4_mapped() const noexcept;  // ::ffff:a.b.c.d
  bool is_unspecified() const noexcept;  // 0.0.0.0 or ::
  std::uint16_t port() const noexcept;
  std::uint32_t scope_id() const noexcept;  // 0 unless IPv6 link-local with a scope

  Address with_port(std::uint16_t port) const noexcept;
  Address unmapped() const noexcept;   // ::ffff:a.b.c.d -> a.b.c.d; anything else unchanged
  Address v4_mapped() const noexcept;  // a.b.c.d -> ::ffff:a.b.c.d; anything else unchanged

  // Writes "1.2.3.4:53" or "[::1]:53" plus NUL into out (at least max_text bytes); returns the length.
  // Allocation-free, for the data path and logs.
  std::size_t format(char* out, std::size_t capacity) const noexcept;
  std::string to_string() const;  // same text; "" for Family::none
  std::string ip_string() const;  // without the port or brackets

  // The raw sockaddr for system calls. size() is 0 for Family::none.
  const void* sockaddr_data() const noexcept { return storage_.data(); }
  void* sockaddr_data() noexcept { return storage_.data(); }
  std::uint32_t sockaddr_size() const noexcept {
    const Family f = family();
    return f == Family::v4 ? 16 : f == Family::v6 ? sockaddr_capacity : 0;  // sockaddr_in, sockaddr_in6
  }
  static constexpr std::size_t sockaddr_capacity = 28;  // sizeof(sockaddr_in6)

  friend bool operator==(const Address& a, const Address& b) noexcept;
  std::size_t hash() const noexcept;

 private:
  alignas(8) std::array<std::byte, sockaddr_capacity> storage_{};
};

}  // namespace salvo

template <>
struct std::hash<salvo::Address> {
  std::size_t operator()(const salvo::Address& a) const noexcept { return a.hash(); }
};
