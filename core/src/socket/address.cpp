#include "salvo/address.hpp"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>

#include <charconv>
#include <cstring>

namespace salvo {
namespace {

static_assert(sizeof(sockaddr_in6) == Address::sockaddr_capacity);
static_assert(sizeof(Address) == 32);

const sockaddr_in* as_v4(const void* p) { return static_cast<const sockaddr_in*>(p); }
const sockaddr_in6* as_v6(const void* p) { return static_cast<const sockaddr_in6*>(p); }

Error bad(std::string_view text, const char* why) {
  std::string msg = "bad address '";
  msg.append(text);
  msg += "': ";
  msg += why;
  return Error::make(Errc::bad_address, std::move(msg));
}

bool parse_port(std::string_view text, std::uint16_t& port) {
  if (text.empty() || text.size() > 5) return false;
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value > 65535) return false;
  port = static_cast<std::uint16_t>(value);
  return true;
}

// Scope of a link-local IPv6 address: an interface name or a decimal index.
bool parse_scope(std::string_view text, std::uint32_t& scope) {
  if (text.empty() || text.size() >= IF_NAMESIZE) return false;
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec == std::errc() && end == text.data() + text.size()) {
    scope = value;
    return true;
  }
  char name[IF_NAMESIZE] = {};
  std::memcpy(name, text.data(), text.size());
  scope = if_nametoindex(name);
  return scope != 0;
}

// Fills `out` from a numeric IP; returns nullptr, or why the text is not an IP address.
const char* parse_ip(std::string_view ip, std::uint16_t port, Address& out) {
  if (ip.empty()) return "empty IP address";
  // inet_pton and if_nametoindex stop at a NUL: without this, "1.2.3.4\0junk" would parse.
  if (ip.find('\0') != std::string_view::npos) return "NUL byte in the IP address";
  char text[INET6_ADDRSTRLEN + 1] = {};
  if (ip.find(':') == std::string_view::npos) {
    if (ip.size() > INET_ADDRSTRLEN) return "not a numeric IPv4 address";
    std::memcpy(text, ip.data(), ip.size());
    auto* sin = static_cast<sockaddr_in*>(out.sockaddr_data());
    if (inet_pton(AF_INET, text, &sin->sin_addr) != 1) {
      return "not a numeric IP address (names are not resolved; use e.g. 127.0.0.1)";
    }
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    return nullptr;
  }
  std::string_view host = ip;
  std::uint32_t scope = 0;
  if (auto pct = ip.find('%'); pct != std::string_view::npos) {
    host = ip.substr(0, pct);
    if (!parse_scope(ip.substr(pct + 1), scope)) return "unknown IPv6 scope (no such interface)";
  }
  if (host.size() > INET6_ADDRSTRLEN) return "not a numeric IPv6 address";
  std::memcpy(text, host.data(), host.size());
  auto* sin6 = static_cast<sockaddr_in6*>(out.sockaddr_data());
  if (inet_pton(AF_INET6, text, &sin6->sin6_addr) != 1) return "not a numeric IPv6 address";
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons(port);
  sin6->sin6_scope_id = scope;
  return nullptr;
}

}  // namespace

Result<Address> Address::from_ip(std::string_view ip, std::uint16_t port) {
  Address a;
  if (const char* why = parse_ip(ip, port, a)) return bad(ip, why);
  return a;
}

Result<Address> Address::parse(std::string_view text) {
  std::string_view host;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos) return bad(text, "missing ']' after IPv6 address");
    if (close + 1 >= text.size() || text[close + 1] != ':') {
      return bad(text, "expected ':PORT' after ']'");
    }
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
    if (host.find(':') == std::string_view::npos) return bad(text, "brackets are for IPv6 only");
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return bad(text, "expected HOST:PORT");
    host = text.substr(0, colon);
    if (host.find(':') != std::string_view::npos) {
      return bad(text, "write IPv6 addresses in brackets, e.g. [::1]:9000");
    }
    port_text = text.substr(colon + 1);
  }
  std::uint16_t port = 0;
  if (!parse_port(port_text, port)) return bad(text, "port must be a number from 0 to 65535");
  Address a;
  if (const char* why = parse_ip(host, port, a)) return bad(text, why);
  return a;
}

Address Address::ipv4_any(std::uint16_t port) {
  Address a;
  auto* sin = static_cast<sockaddr_in*>(a.sockaddr_data());
  sin->sin_family = AF_INET;
  sin->sin_port = htons(port);
  sin->sin_addr.s_addr = htonl(INADDR_ANY);
  return a;
}

Address Address::ipv4_loopback(std::uint16_t port) {
  Address a = ipv4_any(port);
  static_cast<sockaddr_in*>(a.sockaddr_data())->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

Address Address::ipv6_any(std::uint16_t port) {
  Address a;
  auto* sin6 = static_cast<sockaddr_in6*>(a.sockaddr_data());
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons(port);
  sin6->sin6_addr = in6addr_any;
  return a;
}

Address Address::ipv6_loopback(std::uint16_t port) {
  Address a = ipv6_any(port);
  static_cast<sockaddr_in6*>(a.sockaddr_data())->sin6_addr = in6addr_loopback;
  return a;
}

Address Address::from_sockaddr(const void* sa, std::size_t length) noexcept {
  Address a;
  if (sa == nullptr || length < sizeof(sa_family_t)) return a;
  sa_family_t family;
  std::memcpy(&family, sa, sizeof family);
  if (family == AF_INET && length >= sizeof(sockaddr_in)) {
    // Copy field by field so that sin_zero and padding stay zero: operator== compares bytes.
    sockaddr_in in;
    std::memcpy(&in, sa, sizeof in);
    auto* out = static_cast<sockaddr_in*>(a.sockaddr_data());
    out->sin_family = AF_INET;
    out->sin_port = in.sin_port;
    out->sin_addr = in.sin_addr;
  } else if (family == AF_INET6 && length >= sizeof(sockaddr_in6)) {
    sockaddr_in6 in6;
    std::memcpy(&in6, sa, sizeof in6);
    auto* out = static_cast<sockaddr_in6*>(a.sockaddr_data());
    out->sin6_family = AF_INET6;
    out->sin6_port = in6.sin6_port;
    out->sin6_addr = in6.sin6_addr;
    out->sin6_scope_id = in6.sin6_scope_id;  // flowinfo is per packet, not part of the endpoint
  }
  return a;
}


bool Address::is_v4_mapped() const noexcept {
  return is_v6() && IN6_IS_ADDR_V4MAPPED(&as_v6(sockaddr_data())->sin6_addr);
}

bool Address::is_unspecified() const noexcept {
  if (is_v4()) return as_v4(sockaddr_data())->sin_addr.s_addr == htonl(INADDR_ANY);
  if (is_v6()) return IN6_IS_ADDR_UNSPECIFIED(&as_v6(sockaddr_data())->sin6_addr);
  return false;
}

std::uint16_t Address::port() const noexcept {
  // sin_port and sin6_port sit at the same offset.
  return family() == Family::none ? 0 : ntohs(as_v4(sockaddr_data())->sin_port);
}

std::uint32_t Address::scope_id() const noexcept {
  return is_v6() ? as_v6(sockaddr_data())->sin6_scope_id : 0;
}

Address Address::with_port(std::uint16_t port) const noexcept {
  Address a = *this;
  if (family() != Family::none) static_cast<sockaddr_in*>(a.sockaddr_data())->sin_port = htons(port);
  return a;
}

Address Address::unmapped() const noexcept {
  if (!is_v4_mapped()) return *this;
  Address a = ipv4_any(port());
  std::memcpy(&static_cast<sockaddr_in*>(a.sockaddr_data())->sin_addr,
              as_v6(sockaddr_data())->sin6_addr.s6_addr + 12, 4);
  return a;
}

Address Address::v4_mapped() const noexcept {
  if (!is_v4()) return *this;
  Address a = ipv6_any(port());
  auto* sin6 = static_cast<sockaddr_in6*>(a.sockaddr_data());
  sin6->sin6_addr.s6_addr[10] = 0xff;
  sin6->sin6_addr.s6_addr[11] = 0xff;
  std::memcpy(sin6->sin6_addr.s6_addr + 12, &as_v4(sockaddr_data())->sin_addr, 4);
  return a;
}

static_assert(sizeof(sockaddr_in) == 16 && sizeof(sockaddr_in6) == Address::sockaddr_capacity,
              "Address::sockaddr_size assumes the kernel's sockaddr sizes");

std::size_t Address::format(char* out, std::size_t capacity) const noexcept {
  if (capacity == 0) return 0;
  char ip[INET6_ADDRSTRLEN] = {};
  char scope[IF_NAMESIZE + 12] = {};
  const char* open = "";
  const char* close = "";
  if (is_v4()) {
    inet_ntop(AF_INET, &as_v4(sockaddr_data())->sin_addr, ip, sizeof ip);
  } else if (is_v6()) {
    inet_ntop(AF_INET6, &as_v6(sockaddr_data())->sin6_addr, ip, sizeof ip);
    open = "[";
    close = "]";
    if (std::uint32_t id = scope_id(); id != 0) {
      char name[IF_NAMESIZE] = {};
      scope[0] = '%';
      if (if_indextoname(id, name) != nullptr) {
        std::memcpy(scope + 1, name, std::strlen(name));
      } else {
        std::to_chars(scope + 1, scope + sizeof scope - 1, id);
      }
    }
  } else {
    out[0] = '\0';
    return 0;
  }
  char port_text[8] = {};
  std::to_chars(port_text, port_text + sizeof port_text - 1, port());
  std::size_t n = 0;
  for (const char* part : {open, static_cast<const char*>(ip), static_cast<const char*>(scope), close,
                           ":", static_cast<const char*>(port_text)}) {
    for (; *part != '\0' && n + 1 < capacity; ++part) out[n++] = *part;
  }
  out[n] = '\0';
  return n;
}

std::string Address::to_string() const {
  char text[max_text];
  std::size_t n = format(text, sizeof text);
  return std::string(text, n);
}

std::string Address::ip_string() const {
  std::string text = to_string();
  if (text.empty()) return text;
  text.erase(text.rfind(':'));
  if (text.front() == '[') text = text.substr(1, text.size() - 2);
  return text;
}

bool operator==(const Address& a, const Address& b) noexcept {
  if (a.family() != b.family() || a.family() == Address::Family::none) return false;
  return std::memcmp(a.storage_.data(), b.storage_.data(), a.sockaddr_size()) == 0;
}

std::size_t Address::hash() const noexcept {
  // FNV-1a over the meaningful bytes: cheap and good enough for per-peer tables.
  std::size_t h = 1469598103934665603ull;
  const auto* p = reinterpret_cast<const unsigned char*>(storage_.data());
  for (std::uint32_t i = 0, n = sockaddr_size(); i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

}  // namespace salvo
