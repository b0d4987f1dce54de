#include "examples/dns_test_client.hpp"

#include <arpa/inet.h>

#include <map>
#include <stdexcept>

namespace salvo::test {

namespace {

const std::map<std::uint16_t, std::string> type_names = {
    {1, "A"},   {2, "NS"},   {5, "CNAME"}, {6, "SOA"},  {12, "PTR"}, {15, "MX"},
    {16, "TXT"}, {28, "AAAA"}, {33, "SRV"}, {41, "OPT"}, {43, "DS"}, {255, "ANY"}};

std::string type_text(std::uint16_t t) {
  auto it = type_names.find(t);
  return it != type_names.end() ? it->second : "TYPE" + std::to_string(t);
}

void put16(std::vector<std::byte>& out, unsigned v) {
  out.push_back(static_cast<std::byte>(v >> 8));
  out.push_back(static_cast<std::byte>(v));
}

class Reader {
 public:
  explicit Reader(std::span<const std::byte> m) : m_(m) {}
  std::size_t at = 0;
  std::uint8_t u8(std::size_t i) const {
    if (i >= m_.size()) throw std::runtime_error("read past the end at " + std::to_string(i));
    return static_cast<std::uint8_t>(m_[i]);
  }
  unsigned u16() {
    const unsigned v = u8(at) << 8 | u8(at + 1);
    at += 2;
    return v;
  }
  std::uint32_t u32() {
    const std::uint32_t v = static_cast<std::uint32_t>(u16()) << 16;
    return v | u16();
  }
  // A name at `from` (following pointers, at most 64 of them); sets `end` past its first part.
  std::string name_at(std::size_t from, std::size_t& end) const {
    std::string text;
    std::size_t i = from;
    bool jumped = false;
    for (int hops = 0;; ) {
      const std::uint8_t len = u8(i);
      if (len == 0) {
        if (!jumped) end = i + 1;
        break;
      }
      if ((len & 0xc0) == 0xc0) {
        if (++hops > 64) throw std::runtime_error("pointer loop");
        if (!jumped) end = i + 2;
        jumped = true;
        i = static_cast<std::size_t>((len & 0x3f) << 8 | u8(i + 1));
        continue;
      }
      if (len > 63) throw std::runtime_error("bad label length");
      for (std::size_t k = 1; k <= len; ++k) {
        const char c = static_cast<char>(u8(i + k));
        if (c == '.' || c == '\\') text += '\\';
        text += c;
      }
      text += '.';
      i += 1 + len;
    }
    return text.empty() ? "." : text;
  }
  std::string name() {
    std::size_t end = 0;
    std::string n = name_at(at, end);
    at = end;
    return n;
  }
  std::span<const std::byte> m_;
};

std::string rdata_text(Reader& r, std::uint16_t type, std::size_t rdlength) {
  const std::size_t end = r.at + rdlength;
  std::string text;
  switch (type) {
    case 1:
    case 28: {
      if (rdlength != (type == 1 ? 4u : 16u)) throw std::runtime_error("bad address length");
      unsigned char raw[16];
      for (std::size_t k = 0; k < rdlength; ++k) raw[k] = r.u8(r.at + k);
      char buf[INET6_ADDRSTRLEN];
      inet_ntop(type == 1 ? AF_INET : AF_INET6, raw, buf, sizeof(buf));
      text = buf;
      r.at = end;
      break;
    }
    case 2:
    case 5:
    case 12: text = r.name(); break;
    case 15: {
      const unsigned pref = r.u16();
      text = std::to_string(pref) + " " + r.name();
      break;
    }
    case 6: {
      text = r.name();  // two statements: the order of a + b's operands is unspecified
      text += " " + r.name();
      for (int k = 0; k < 5; ++k) text += " " + std::to_string(r.u32());
      break;
    }
    case 33: {
      const unsigned prio = r.u16(), weight = r.u16(), port = r.u16();
      text = std::to_string(prio) + " " + std::to_string(weight) + " " + std::to_string(port) + " " + r.name();
      break;
    }
    case 16: {
      while (r.at < end) {
        const std::uint8_t len = r.u8(r.at++);
        text += text.empty() ? "\"" : " \"";
        for (std::size_t k = 0; k < len; ++k) {
          const std::uint8_t c = r.u8(r.at++);
          if (c == '"' || c == '\\') {
            text += '\\';
            text += static_cast<char>(c);
          } else if (c < 0x20 || c >= 0x7f) {
            char esc[5];
            std::snprintf(esc, sizeof(esc), "\\%03u", c);
            text += esc;
          } else {
            text += static_cast<char>(c);
          }
        }
        text += '"';
      }
      break;
    }
    default:
      text = "\\# " + std::to_string(rdlength);
      r.at = end;
  }
  if (r.at != end) throw std::runtime_error("rdata length " + std::to_string(rdlength) + " does not match its content");
  return text;
}

}  // namespace

DnsQuestion dns_question(std::string name, std::uint16_t type, std::uint16_t id, std::uint16_t qclass) {
  DnsQuestion q;
  q.name = std::move(name);
  q.type = type;
  q.id = id;
  q.qclass = qclass;
  return q;
}

std::vector<std::byte> build_query(const DnsQuestion& q) {
  std::vector<std::byte> out;
  put16(out, q.id);
  put16(out, static_cast<unsigned>(q.opcode) << 11 | (q.recursion_desired ? 0x0100 : 0));
  put16(out, 1);
  put16(out, 0);
  put16(out, 0);
  put16(out, q.edns_udp_size ? 1 : 0);
  std::string label;
  auto flush = [&] {
    out.push_back(static_cast<std::byte>(label.size()));
    for (char c : label) out.push_back(static_cast<std::byte>(c));
    label.clear();
  };
  for (char c : q.name) {
    if (c == '.') {
      if (!label.empty()) flush();
    } else {
      label += c;
    }
  }
  if (!label.empty()) flush();
  out.push_back(std::byte{0});
  put16(out, q.type);
  put16(out, q.qclass);
  if (q.edns_udp_size) {
    out.push_back(std::byte{0});
    put16(out, 41);
    put16(out, *q.edns_udp_size);
    put16(out, 0);
    put16(out, q.dnssec_ok ? 0x8000 : 0);
    put16(out, 0);
  }
  return out;
}

DnsResponse decode_response(std::span<const std::byte> message) {
  DnsResponse d;
  d.size = message.size();
  try {
    Reader r(message);
    d.id = static_cast<std::uint16_t>(r.u16());
    const unsigned flags = r.u16();
    d.qr = flags & 0x8000;
    d.opcode = static_cast<std::uint8_t>(flags >> 11 & 0xf);
    d.aa = flags & 0x0400;
    d.tc = flags & 0x0200;
    d.rd = flags & 0x0100;
    d.ra = flags & 0x0080;
    d.rcode = flags & 0xf;
    const unsigned qd = r.u16(), an = r.u16(), ns = r.u16(), ar = r.u16();
    for (unsigned k = 0; k < qd; ++k) {
      std::string name = r.name();
      const std::uint16_t type = static_cast<std::uint16_t>(r.u16());
      const unsigned qclass = r.u16();
      d.question.push_back(name + (qclass == 1 ? " IN " : " CLASS" + std::to_string(qclass) + " ") + type_text(type));
    }
    auto section = [&](unsigned count, std::vector<std::string>& into, bool additional) {
      for (unsigned k = 0; k < count; ++k) {
        std::string owner = r.name();
        const std::uint16_t type = static_cast<std::uint16_t>(r.u16());
        const unsigned rclass = r.u16();
        const std::uint32_t ttl = r.u32();
        const unsigned rdlength = r.u16();
        if (additional && type == 41) {
          d.has_opt = true;
          d.opt_udp_size = static_cast<std::uint16_t>(rclass);
          d.rcode |= (ttl >> 24) << 4;
          d.opt_dnssec_ok = ttl & 0x8000;
          r.at += rdlength;
          continue;
        }
        into.push_back(owner + " " + std::to_string(ttl) + (rclass == 1 ? " IN " : " CLASS" + std::to_string(rclass) + " ") +
                       type_text(type) + " " + rdata_text(r, type, rdlength));
      }
    };
    section(an, d.answer, false);
    section(ns, d.authority, false);
    section(ar, d.additional, true);
    if (r.at != message.size()) d.error = std::to_string(message.size() - r.at) + " bytes after the last record";
  } catch (const std::exception& e) {
    d.error = e.what();
  }
  return d;
}

std::string rcode_name(unsigned rcode) {
  static const char* names[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"};
  if (rcode < 6) return names[rcode];
  if (rcode == 16) return "BADVERS";
  return "RCODE" + std::to_string(rcode);
}

std::uint16_t type_code(const std::string& name) {
  for (const auto& [code, text] : type_names) {
    if (text == name) return code;
  }
  throw std::runtime_error("unknown type " + name);
}

std::optional<DnsResponse> ask(UdpSocket& socket, const Address& server, const DnsQuestion& q,
                               std::chrono::milliseconds timeout) {
  const auto query = build_query(q);
  if (!socket.send_to(query, server)) return std::nullopt;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    auto message = socket.receive(left);
    if (!message) return std::nullopt;
    if (message->payload.size() >= 2 &&
        (static_cast<unsigned>(message->payload[0]) << 8 | static_cast<unsigned>(message->payload[1])) == q.id) {
      return decode_response(message->payload);
    }
  }
}

std::string to_text(const DnsResponse& r) {
  std::string text = rcode_name(r.rcode) + (r.aa ? " aa" : "") + (r.tc ? " tc" : "") + (r.rd ? " rd" : "") +
                     (r.ra ? " ra" : "") + (r.has_opt ? " edns=" + std::to_string(r.opt_udp_size) : "") + "\n";
  if (!r.error.empty()) text += "error: " + r.error + "\n";
  for (const auto& q : r.question) text += "Q " + q + "\n";
  for (const auto& a : r.answer) text += "AN " + a + "\n";
  for (const auto& a : r.authority) text += "NS " + a + "\n";
  for (const auto& a : r.additional) text += "AR " + a + "\n";
  return text;
}

}  // namespace salvo::test
