#include "salvo/resolve.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <memory>
#include <string>
#include <variant>

namespace salvo {
namespace {

const char* family_name(Address::Family family) { return family == Address::Family::v4 ? "IPv4" : "IPv6"; }

// Letters, digits, '-', '.' and '_' (which /etc/hosts entries sometimes hold), and not a number:
// "1.2.3.999" is a mistyped address, and inet_aton, so getaddrinfo, takes "127.1" and "0x7f000001"
// as IPv4 addresses; a numeric host must mean what Address::from_ip says, not what a lenient parser
// or a DNS server makes of it.
bool is_host_name(std::string_view text) {
  if (text.empty() || text.size() > 253) return false;
  bool digits_and_dots = true;
  for (char c : text) {
    const bool digit = c >= '0' && c <= '9';
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (!digit && !letter && c != '-' && c != '.' && c != '_') return false;
    if (!digit && c != '.') digits_and_dots = false;
  }
  if (digits_and_dots) return false;
  in_addr ignored{};
  return inet_aton(std::string(text).c_str(), &ignored) == 0;
}

Error not_a_host(const char* what, std::string_view text) {
  std::string msg = what;
  msg += " '";
  msg.append(text);
  msg += "': not an IP address or a host name";
  return Error::make(Errc::bad_address, std::move(msg));
}

// A numeric address against the family asked for: a numeric host is never swapped for another.
Result<void> check_family(const Address& a, Address::Family family) {
  if (family == Address::Family::none || a.family() == family) return {};
  return Error::make(Errc::family_mismatch, "'" + a.ip_string() + "' is an " + family_name(a.family()) +
                                                " address, not " + family_name(family));
}

Error not_resolved(const std::string& name, Address::Family family, const std::string& why) {
  std::string msg = "cannot resolve '" + name + "'";
  if (family != Address::Family::none) msg += std::string(" to an ") + family_name(family) + " address";
  return Error::make(Errc::name_not_resolved, msg + ": " + why);
}

// getaddrinfo without AI_ADDRCONFIG: that flag ignores loopback when it decides which families the
// machine has, so on a machine whose only interface is lo "localhost" would resolve to nothing.
// A caller that wants one family says so with `family`.
Result<std::vector<Address>> look_up(const std::string& name, std::uint16_t port, Address::Family family) {
  addrinfo hints{};
  hints.ai_family = family == Address::Family::v4 ? AF_INET : family == Address::Family::v6 ? AF_INET6 : AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_protocol = IPPROTO_UDP;
  addrinfo* list = nullptr;
  const int rc = getaddrinfo(name.c_str(), nullptr, &hints, &list);
  const int err = errno;
  if (rc != 0) return not_resolved(name, family, rc == EAI_SYSTEM ? std::strerror(err) : gai_strerror(rc));
  const std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> owner(list, &freeaddrinfo);
  std::vector<Address> found;
  for (const addrinfo* p = list; p != nullptr; p = p->ai_next) {
    const Address a = Address::from_sockaddr(p->ai_addr, p->ai_addrlen).with_port(port);
    if (a.family() == Address::Family::none) continue;
    if (family != Address::Family::none && a.family() != family) continue;
    // /etc/hosts may list a name twice, and one address can come back once per protocol.
    if (std::find(found.begin(), found.end(), a) == found.end()) found.push_back(a);
  }
  if (found.empty()) return not_resolved(name, family, "no address of that family");
  return found;
}

struct NamedEndpoint {
  std::string_view host;
  std::uint16_t port = 0;
};

// What resolve_endpoint() makes of its text: a numeric address, a name to look up, or the error.
using Endpoint = std::variant<Address, NamedEndpoint, Error>;

Endpoint classify(std::string_view text) {
  auto numeric = Address::parse(text);
  if (numeric) return *numeric;
  // Brackets hold IPv6 addresses only, and a text without ':' has no port: parse's errors say so.
  const auto colon = text.rfind(':');
  if (text.empty() || text.front() == '[' || colon == std::string_view::npos) return numeric.error();
  const std::string_view host = text.substr(0, colon);
  const std::string_view port_text = text.substr(colon + 1);
  unsigned port = 0;
  const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  const bool port_ok = !port_text.empty() && port_text.size() <= 5 && ec == std::errc() &&
                       end == port_text.data() + port_text.size() && port <= 65535;
  // Parse checks the port before the IP: with a bad port (or an unbracketed IPv6) its error is the one.
  if (!port_ok || host.find(':') != std::string_view::npos) return numeric.error();
  if (!is_host_name(host)) return not_a_host("bad address", text);
  return NamedEndpoint{host, static_cast<std::uint16_t>(port)};
}

}  // namespace

Result<std::vector<Address>> resolve(std::string_view host, std::uint16_t port, Address::Family family) {
  auto numeric = Address::from_ip(host, port);
  if (numeric) {
    if (auto fits = check_family(*numeric, family); !fits) return fits.error();
    return std::vector<Address>{*numeric};
  }
  if (host.find(':') != std::string_view::npos) return numeric.error();  // IPv6, never a name
  if (!is_host_name(host)) return not_a_host("bad host", host);
  return look_up(std::string(host), port, family);
}

Result<Address> resolve_endpoint(std::string_view host_port, Address::Family family) {
  Endpoint endpoint = classify(host_port);
  if (auto* error = std::get_if<Error>(&endpoint)) return std::move(*error);
  if (const auto* a = std::get_if<Address>(&endpoint)) {
    if (auto fits = check_family(*a, family); !fits) return fits.error();
    return *a;
  }
  const auto& named = std::get<NamedEndpoint>(endpoint);
  auto all = look_up(std::string(named.host), named.port, family);
  if (!all) return all.error();
  return all->front();
}

Result<void> check_endpoint(std::string_view host_port) {
  Endpoint endpoint = classify(host_port);
  if (auto* error = std::get_if<Error>(&endpoint)) return std::move(*error);
  return {};
}

}  // namespace salvo
