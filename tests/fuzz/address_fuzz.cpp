// Fuzz target: salvo::Address::parse, the parser of every HOST:PORT a person or a config gives.
// Beyond not crashing, an address that parses must survive its own text: parse(to_string(a)) == a,
// from_ip(ip_string(), port()) == a, from_sockaddr of its own sockaddr == a, and format() into a
// short buffer writes a NUL-terminated prefix of the full text. Text that does not parse must say why.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "salvo/address.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = salvo::Address::parse(text);
  if (!parsed) {
    FUZZ_CHECK(!parsed.error().message.empty());
    return 0;
  }
  const salvo::Address a = *parsed;
  FUZZ_CHECK(a.is_v4() || a.is_v6());
  // A NUL cannot be part of an address: C APIs would read the text only up to it.
  FUZZ_CHECK(text.find('\0') == std::string_view::npos);

  const std::string shown = a.to_string();
  FUZZ_CHECK(!shown.empty() && shown.size() < salvo::Address::max_text);
  auto again = salvo::Address::parse(shown);
  FUZZ_CHECK(again && *again == a && again->hash() == a.hash());
  FUZZ_CHECK(again->to_string() == shown);  // the text is canonical: printing is a fixed point

  auto from_ip = salvo::Address::from_ip(a.ip_string(), a.port());
  FUZZ_CHECK(from_ip && *from_ip == a);
  FUZZ_CHECK(salvo::Address::from_sockaddr(a.sockaddr_data(), a.sockaddr_size()) == a);
  FUZZ_CHECK(a.with_port(a.port()) == a);
  if (a.is_v4()) FUZZ_CHECK(a.v4_mapped().unmapped() == a);

  // format() truncates to the capacity and always terminates.
  for (std::size_t capacity = 1; capacity <= shown.size() + 1; ++capacity) {
    char out[salvo::Address::max_text];
    std::memset(out, 'x', sizeof out);
    const std::size_t n = a.format(out, capacity);
    FUZZ_CHECK(n == capacity - 1 && out[n] == '\0');
    FUZZ_CHECK(std::string_view(out, n) == std::string_view(shown).substr(0, n));
  }
  return 0;
}
