// Fuzz target: cli::parse_sockperf_header, run by `salvo echo --sockperf` on every datagram from
// the network. A header parses only from a datagram of at least 14 bytes whose length field is its
// size; writing the parsed header back reproduces the first 14 bytes exactly (every bit is a field);
// the reply differs from the message in the client flag only, and parses as the same header without it.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "fuzz_check.hpp"
#include "servers/sockperf_header.hpp"

using salvo::cli::SockperfHeader;
using salvo::cli::sockperf_header_size;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> datagram(reinterpret_cast<const std::byte*>(data), size);
  const auto header = salvo::cli::parse_sockperf_header(datagram);
  if (size < sockperf_header_size) FUZZ_CHECK(!header);
  if (!header) return 0;
  FUZZ_CHECK(header->length == size);

  std::byte written[sockperf_header_size];
  FUZZ_CHECK(salvo::cli::write_sockperf_header(written, *header));
  FUZZ_CHECK(std::memcmp(written, data, sockperf_header_size) == 0);
  std::byte too_short[sockperf_header_size - 1] = {};
  FUZZ_CHECK(!salvo::cli::write_sockperf_header(too_short, *header));

  std::vector<std::byte> reply(datagram.begin(), datagram.end());
  salvo::cli::make_sockperf_reply(reply);
  const auto answered = salvo::cli::parse_sockperf_header(reply);
  FUZZ_CHECK(answered);
  SockperfHeader expected = *header;
  expected.flags = static_cast<std::uint16_t>(expected.flags & ~SockperfHeader::client);
  FUZZ_CHECK(*answered == expected && !answered->is_client());
  FUZZ_CHECK(answered->wants_pong() == header->wants_pong() && answered->is_warmup() == header->is_warmup());
  FUZZ_CHECK(std::memcmp(reply.data() + sockperf_header_size, data + sockperf_header_size,
                         size - sockperf_header_size) == 0);
  return 0;
}
