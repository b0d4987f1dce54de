// Fuzz target: the DNS example's query parser (examples/dns/dns_query.hpp), which reads whatever
// the internet sends to port 53, and the response writer behind it. Properties:
//   - parse_query reads nothing outside the datagram (an exactly sized heap copy, for ASan);
//   - the result is a question (qname at most 255 bytes, qname_lower its lowercase, question_wire
//     inside the datagram at offset 12: the name's bytes, then type and class) or a named error;
//     a question read before a later error satisfies the same; dropped errors are exactly the
//     short datagrams and responses;
//   - every answered input gets an error response, and a parsed one a response from write_response
//     (empty, and with records made from its name, truncated at the client's size), that fits
//     response_size_limit, carries the id and QR, and whose records all read back (every pointer
//     the writer made is valid); an empty response with QR cleared parses as the same question.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <vector>

#include "dns_query.hpp"
#include "dns_response.hpp"
#include "fuzz_check.hpp"

namespace {

using dns::Name;
using dns::ParsedQuery;
using dns::Query;
using dns::QueryError;
using dns::Record;

std::uint16_t get16(std::span<const std::uint8_t> b, std::size_t at) {
  return static_cast<std::uint16_t>((b[at] << 8) | b[at + 1]);
}

void check_question(std::span<const std::uint8_t> datagram, const Query& q) {
  FUZZ_CHECK(q.qname.wire_size() <= Name::max_wire_size);
  FUZZ_CHECK(q.qname_lower == q.qname.lowercased());
  const std::span<const std::uint8_t> wire = q.question_wire;
  FUZZ_CHECK(wire.data() == datagram.data() + 12);
  FUZZ_CHECK(wire.size() <= datagram.size() - 12);
  FUZZ_CHECK(wire.size() == q.qname.wire_size() + 4);
  FUZZ_CHECK(std::memcmp(wire.data(), q.qname.wire().data(), q.qname.wire_size()) == 0);
  FUZZ_CHECK(get16(wire, wire.size() - 4) == q.qtype && get16(wire, wire.size() - 2) == q.qclass);
}

// Walks a written response: header, question, every counted record with its names read back and
// its rdata inside the message, ending exactly at its end. Returns the records walked.
unsigned walk_response(std::span<const std::uint8_t> m, const Query& q) {
  FUZZ_CHECK(m.size() >= 12);
  FUZZ_CHECK(get16(m, 0) == q.id);
  FUZZ_CHECK((m[2] & 0x80) != 0);
  std::size_t at = 12;
  Name name;
  std::size_t end = 0;
  if (get16(m, 4) == 1) {
    FUZZ_CHECK(dns::read_name(m, at, name, end) == QueryError::none);
    FUZZ_CHECK(name == q.qname);
    at = end + 4;
  } else {
    FUZZ_CHECK(get16(m, 4) == 0);
  }
  const unsigned records = unsigned{get16(m, 6)} + get16(m, 8) + get16(m, 10);
  for (unsigned i = 0; i < records; ++i) {
    FUZZ_CHECK(dns::read_name(m, at, name, end) == QueryError::none);
    FUZZ_CHECK(m.size() - end >= 10);
    const std::uint16_t rtype = get16(m, end);
    const std::size_t rdata = end + 10;
    const std::size_t rdata_end = rdata + get16(m, end + 8);
    FUZZ_CHECK(rdata_end <= m.size());
    // The names the writer compresses must read back inside their rdata.
    std::size_t name_at = rdata + (rtype == dns::type::MX ? 2 : 0);
    const int names = rtype == dns::type::SOA ? 2 : (rtype == dns::type::NS || rtype == dns::type::MX) ? 1 : 0;
    for (int n = 0; n < names; ++n) {
      FUZZ_CHECK(dns::read_name(m, name_at, name, end) == QueryError::none);
      name_at = end;
    }
    FUZZ_CHECK(name_at <= rdata_end);
    at = rdata_end;
  }
  FUZZ_CHECK(at == m.size());
  return records;
}

// Records made from the question's name, `copies` times over, so that the writer compresses
// against the question and itself and runs out of room for larger counts. Without answer records
// (`negative`), the authority section is the one that truncates.
struct MadeAnswer {
  std::vector<Record> records;
  dns::Answer answer;

  MadeAnswer(const Query& q, unsigned copies, bool negative) {
    const Name parent = q.qname.parent();
    const std::span<const std::uint8_t> name = q.qname.wire();
    const std::span<const std::uint8_t> up = parent.wire();
    auto add = [&](const Name& owner, std::uint16_t rtype, std::initializer_list<std::span<const std::uint8_t>> parts) {
      Record r;
      r.owner = owner;
      r.type = rtype;
      r.ttl = 300;
      for (auto part : parts) r.rdata.insert(r.rdata.end(), part.begin(), part.end());
      records.push_back(std::move(r));
    };
    static constexpr std::uint8_t address[4] = {192, 0, 2, 1};
    static constexpr std::uint8_t preference[2] = {0, 10};
    static constexpr std::uint8_t soa_numbers[20] = {};
    static constexpr std::uint8_t srv_fixed[6] = {0, 1, 0, 1, 0, 53};
    records.reserve(6 * copies);
    for (unsigned i = 0; i < copies; ++i) {
      add(q.qname_lower, dns::type::A, {address});
      add(parent, dns::type::NS, {name});
      add(q.qname, dns::type::MX, {preference, up});
      add(Name(), dns::type::SOA, {name, up, soa_numbers});
      add(q.qname, dns::type::SRV, {srv_fixed, name});
      add(parent, dns::type::A, {address});
    }
    for (std::size_t i = 0; i < records.size(); ++i) {
      if (negative && i % 6 < 3) continue;
      (i % 6 < 3 ? answer.answer : i % 6 == 3 ? answer.authority : answer.additional).push_back(&records[i]);
    }
    answer.authoritative = !negative;
  }
};

void check_writes(const ParsedQuery& parsed) {
  const Query& q = parsed.query;
  const dns::ResponseLimits limits;
  const std::size_t limit = dns::response_size_limit(q, limits);
  FUZZ_CHECK(limit >= 512 && limit <= 65535);
  static std::uint8_t out[65536];
  const std::span<std::uint8_t> buffer(out, sizeof out);

  const dns::Rcode rcode = parsed.error == QueryError::none ? dns::Rcode::servfail : dns::query_error_rcode(parsed.error);
  const std::size_t error_size = dns::write_error_response(parsed, rcode, limits, buffer);
  FUZZ_CHECK(error_size == 12 + q.question_wire.size() + (q.edns.present ? 11 : 0));
  FUZZ_CHECK(error_size <= limit);
  FUZZ_CHECK(walk_response({out, error_size}, q) == (q.edns.present ? 1u : 0u));
  FUZZ_CHECK((out[3] & 0xf) == (static_cast<unsigned>(rcode) & 0xf));

  if (q.question_wire.empty()) return;
  const dns::Answer empty;
  const dns::WrittenResponse plain = dns::write_response(q, empty, limits, buffer);
  FUZZ_CHECK(plain.size == error_size && !plain.truncated);
  walk_response({out, plain.size}, q);
  // With QR cleared, the response is a query again: the same question and EDNS.
  if (parsed.error == QueryError::none) {
    out[2] &= 0x7f;
    const ParsedQuery again = dns::parse_query({out, plain.size});
    FUZZ_CHECK(again.error == QueryError::none);
    FUZZ_CHECK(again.query.qname == q.qname && again.query.qtype == q.qtype && again.query.qclass == q.qclass);
    FUZZ_CHECK(again.query.edns.present == q.edns.present && again.query.edns.dnssec_ok == q.edns.dnssec_ok);
  }

  const MadeAnswer made(q, 1 + q.qtype % 24, (q.qtype & 0x100) != 0);
  const dns::WrittenResponse full = dns::write_response(q, made.answer, limits, buffer);
  FUZZ_CHECK(full.size <= limit);
  walk_response({out, full.size}, q);
  FUZZ_CHECK(((out[2] & 0x02) != 0) == full.truncated);
  FUZZ_CHECK(((out[2] & 0x04) != 0) == made.answer.authoritative);
  // Truncation leaves out the additional section (but the OPT), and the authority section too
  // when it happened in the answer section.
  if (full.truncated) {
    FUZZ_CHECK(get16({out, full.size}, 10) == (q.edns.present ? 1 : 0));
    if (!made.answer.answer.empty()) FUZZ_CHECK(get16({out, full.size}, 8) == 0);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // An exactly sized heap copy: ASan reports a read one byte past the datagram.
  auto copy = std::make_unique<std::uint8_t[]>(size);
  if (size != 0) std::memcpy(copy.get(), data, size);
  const std::span<const std::uint8_t> datagram(copy.get(), size);

  const ParsedQuery parsed = dns::parse_query(datagram);
  const QueryError e = parsed.error;
  if (e != QueryError::none) {
    FUZZ_CHECK(!dns::query_error_name(e).empty() && dns::query_error_name(e) != "none" &&
               dns::query_error_name(e) != "unknown");
  }
  if (dns::query_error_is_dropped(e)) {
    FUZZ_CHECK(size < 12 || (datagram[2] & 0x80) != 0);
    FUZZ_CHECK(e == QueryError::shorter_than_header ? size < 12 : size >= 12);
    return 0;
  }
  FUZZ_CHECK(size >= 12 && (datagram[2] & 0x80) == 0);
  FUZZ_CHECK(parsed.query.id == get16(datagram, 0));
  if (e == QueryError::none) FUZZ_CHECK(!parsed.query.question_wire.empty());
  if (!parsed.query.question_wire.empty()) check_question(datagram, parsed.query);
  if (parsed.query.edns.present) FUZZ_CHECK(e != QueryError::bad_opt);
  const bool new_version = parsed.query.edns.present && parsed.query.edns.version > 0;
  if (e == QueryError::none) FUZZ_CHECK(!new_version);
  if (e == QueryError::bad_edns_version) FUZZ_CHECK(new_version);
  check_writes(parsed);
  return 0;
}
