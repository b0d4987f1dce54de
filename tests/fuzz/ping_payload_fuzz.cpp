// Fuzz target: cli::parse_ping_header, run by `salvo ping` on every reply from the network (any
// program may answer). A header parses only from at least 32 bytes starting with "SLVP" and
// version 1; writing the parsed header back reproduces every byte the parser reads; stamping a new
// sequence and time changes only those fields.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "fuzz_check.hpp"
#include "ping/ping_payload.hpp"

using salvo::cli::ping_header_size;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> datagram(reinterpret_cast<const std::byte*>(data), size);
  const auto header = salvo::cli::parse_ping_header(datagram);
  const bool looks_right = size >= ping_header_size && std::memcmp(data, "SLVP", 4) == 0 &&
                           data[4] == salvo::cli::ping_version;
  FUZZ_CHECK(header.has_value() == looks_right);
  if (!header) return 0;

  // Bytes 5..7 are reserved: written as zero, ignored when read.
  std::vector<std::byte> written(ping_header_size);
  salvo::cli::write_ping_header(written, *header);
  FUZZ_CHECK(std::memcmp(written.data(), data, 5) == 0);
  FUZZ_CHECK(written[5] == std::byte{0} && written[6] == std::byte{0} && written[7] == std::byte{0});
  FUZZ_CHECK(std::memcmp(written.data() + 8, data + 8, ping_header_size - 8) == 0);

  // The sender's per-datagram update, with the fields swapped so that each visibly changes.
  std::vector<std::byte> stamped(datagram.begin(), datagram.end());
  salvo::cli::stamp_ping_payload(stamped, header->intended_ns, header->sequence);
  const auto restamped = salvo::cli::parse_ping_header(stamped);
  FUZZ_CHECK(restamped && restamped->token == header->token && restamped->sequence == header->intended_ns &&
             restamped->intended_ns == header->sequence);
  FUZZ_CHECK(std::memcmp(stamped.data(), data, 16) == 0);
  FUZZ_CHECK(std::memcmp(stamped.data() + ping_header_size, data + ping_header_size, size - ping_header_size) == 0);
  return 0;
}
