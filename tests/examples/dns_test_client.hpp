// A DNS client for the tests of examples/dns, written apart from the server's codec so that the
// tests do not check the server with its own code: it builds queries and decodes responses into
// text, one line per record, in the form kdig prints ("www.example.com. 3600 IN A 192.0.2.80").
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "support/test_support.hpp"

namespace salvo::test {

struct DnsQuestion {
  std::string name;  // "www.example.com." (case kept)
  std::uint16_t type = 1;
  std::uint16_t qclass = 1;
  std::uint16_t id = 0x1234;
  bool recursion_desired = false;
  std::optional<std::uint16_t> edns_udp_size;  // an OPT record with this size
  bool dnssec_ok = false;
  std::uint8_t opcode = 0;
};

// A question with the defaults above apart from these.
DnsQuestion dns_question(std::string name, std::uint16_t type, std::uint16_t id, std::uint16_t qclass = 1);

std::vector<std::byte> build_query(const DnsQuestion& q);

struct DnsResponse {
  std::string error;  // non-empty when the bytes did not decode
  std::uint16_t id = 0;
  bool qr = false, aa = false, tc = false, rd = false, ra = false;
  std::uint8_t opcode = 0;
  unsigned rcode = 0;  // with the OPT's extended bits
  std::vector<std::string> question;  // "www.example.com. IN A"
  std::vector<std::string> answer, authority, additional;  // OPT left out of additional
  bool has_opt = false;
  std::uint16_t opt_udp_size = 0;
  bool opt_dnssec_ok = false;
  std::size_t size = 0;
};

DnsResponse decode_response(std::span<const std::byte> message);

// "NOERROR", "NXDOMAIN", ... for messages.
std::string rcode_name(unsigned rcode);
std::uint16_t type_code(const std::string& name);  // "A" -> 1 ... (the types the server knows)

// Sends `q` to `server` from `socket` and waits for the response with q's id (others are skipped).
std::optional<DnsResponse> ask(UdpSocket& socket, const Address& server, const DnsQuestion& q,
                               std::chrono::milliseconds timeout = std::chrono::seconds(5));

// The whole response as text, for comparing servers and for failure messages: header line, then
// each section's records.
std::string to_text(const DnsResponse& r);

}  // namespace salvo::test
