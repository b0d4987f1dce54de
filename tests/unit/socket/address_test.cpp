// Address: parsing of every accepted and rejected form, formatting and its round trip, equality
// and hashing, v4-mapped conversions, and the sockaddr view the kernel sees.
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cstring>
#include <string_view>
#include <unordered_set>

#include "support/test_support.hpp"

namespace salvo {
namespace {

using test::addr;

const sockaddr_in& v4(const Address& a) { return *static_cast<const sockaddr_in*>(a.sockaddr_data()); }
const sockaddr_in6& v6(const Address& a) { return *static_cast<const sockaddr_in6*>(a.sockaddr_data()); }

TEST(AddressParse, Ipv4) {
  auto a = Address::parse("1.2.3.4:53");
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(a->family(), Address::Family::v4);
  EXPECT_TRUE(a->is_v4());
  EXPECT_FALSE(a->is_v6());
  EXPECT_EQ(a->port(), 53);
  EXPECT_EQ(a->scope_id(), 0u);
  EXPECT_EQ(a->sockaddr_size(), sizeof(sockaddr_in));
  EXPECT_EQ(v4(*a).sin_family, AF_INET);
  EXPECT_EQ(v4(*a).sin_port, htons(53));
  EXPECT_EQ(v4(*a).sin_addr.s_addr, htonl(0x01020304));
  EXPECT_EQ(a->to_string(), "1.2.3.4:53");
  EXPECT_EQ(a->ip_string(), "1.2.3.4");
}

TEST(AddressParse, Ipv6Loopback) {
  auto a = Address::parse("[::1]:53");
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(a->family(), Address::Family::v6);
  EXPECT_EQ(a->port(), 53);
  EXPECT_EQ(a->sockaddr_size(), sizeof(sockaddr_in6));
  EXPECT_EQ(v6(*a).sin6_family, AF_INET6);
  EXPECT_EQ(v6(*a).sin6_port, htons(53));
  EXPECT_TRUE(IN6_IS_ADDR_LOOPBACK(&v6(*a).sin6_addr));
  EXPECT_EQ(a->scope_id(), 0u);
  EXPECT_EQ(a->to_string(), "[::1]:53");
  EXPECT_EQ(a->ip_string(), "::1");
  EXPECT_EQ(*a, Address::ipv6_loopback(53));
}

TEST(AddressParse, LinkLocalScopeByNameIsKept) {
  const unsigned lo = if_nametoindex("lo");
  ASSERT_NE(lo, 0u) << "no loopback interface";
  auto a = Address::parse("[fe80::1%lo]:53");
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(a->scope_id(), lo);
  EXPECT_EQ(v6(*a).sin6_scope_id, lo);
  EXPECT_EQ(a->port(), 53);
  EXPECT_EQ(a->to_string(), "[fe80::1%lo]:53");
  EXPECT_EQ(a->ip_string(), "fe80::1%lo");
}

TEST(AddressParse, LinkLocalScopeByIndex) {
  const unsigned lo = if_nametoindex("lo");
  ASSERT_NE(lo, 0u);
  auto a = Address::parse("[fe80::1%" + std::to_string(lo) + "]:9");
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(a->scope_id(), lo);
  EXPECT_EQ(*a, addr("[fe80::1%lo]:9"));
  // A scope index that names no interface is kept and printed as a number.
  auto b = Address::parse("[fe80::1%4000000000]:9");
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_EQ(b->scope_id(), 4000000000u);
  EXPECT_EQ(b->to_string(), "[fe80::1%4000000000]:9");
  EXPECT_NE(*a, *b);
}

TEST(AddressParse, UnknownScopeNameIsRejected) {
  auto a = Address::parse("[fe80::1%nosuchif0]:53");
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().code, make_error_code(Errc::bad_address));
  EXPECT_NE(a.error().message.find("[fe80::1%nosuchif0]:53"), std::string::npos) << a.error().message;
  EXPECT_FALSE(Address::parse("[fe80::1%]:53").ok());
}

TEST(AddressParse, V4MappedIsIpv6) {
  auto a = Address::parse("[::ffff:1.2.3.4]:5");
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_TRUE(a->is_v6());
  EXPECT_TRUE(a->is_v4_mapped());
  EXPECT_EQ(a->port(), 5);
  EXPECT_EQ(a->to_string(), "[::ffff:1.2.3.4]:5");
  EXPECT_NE(*a, addr("1.2.3.4:5"));  // different families are different endpoints
  EXPECT_EQ(a->unmapped(), addr("1.2.3.4:5"));
  EXPECT_EQ(addr("1.2.3.4:5").v4_mapped(), *a);
}

TEST(AddressParse, PortRange) {
  auto zero = Address::parse("127.0.0.1:0");
  ASSERT_TRUE(zero.ok());
  EXPECT_EQ(zero->port(), 0);
  auto top = Address::parse("127.0.0.1:65535");
  ASSERT_TRUE(top.ok());
  EXPECT_EQ(top->port(), 65535);
  auto top6 = Address::parse("[::1]:65535");
  ASSERT_TRUE(top6.ok());
  EXPECT_EQ(top6->port(), 65535);
  EXPECT_EQ(top6->to_string(), "[::1]:65535");
}

TEST(AddressParse, Unspecified) {
  EXPECT_TRUE(addr("0.0.0.0:1").is_unspecified());
  EXPECT_TRUE(addr("[::]:1").is_unspecified());
  EXPECT_FALSE(addr("127.0.0.1:1").is_unspecified());
  EXPECT_FALSE(addr("[::1]:1").is_unspecified());
  EXPECT_FALSE(Address{}.is_unspecified());
  EXPECT_EQ(addr("0.0.0.0:7"), Address::ipv4_any(7));
  EXPECT_EQ(addr("[::]:7"), Address::ipv6_any(7));
  EXPECT_EQ(addr("127.0.0.1:7"), Address::ipv4_loopback(7));
}

class AddressParseBad : public testing::TestWithParam<const char*> {};

TEST_P(AddressParseBad, IsRejectedNamingTheInput) {
  const std::string text = GetParam();
  auto a = Address::parse(text);
  ASSERT_FALSE(a.ok()) << "'" << text << "' parsed as " << a->to_string();
  EXPECT_EQ(a.error().code, make_error_code(Errc::bad_address));
  EXPECT_EQ(a.error().code.category().name(), std::string("salvo"));
  EXPECT_NE(a.error().message.find("'" + text + "'"), std::string::npos)
      << "message does not quote the input: " << a.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Inputs, AddressParseBad,
    testing::Values("", "1.2.3.4", "1.2.3.4:", "1.2.3.4:65536", "1.2.3.4:-1", "1.2.3.4:+53", "1.2.3.4:99999999",
                    "::1:53", "[::1]53", "[::1]", "[::1:53", "[::1]:", "[1.2.3.4]:5", "[]:5", "localhost:53",
                    "999.1.1.1:5", "1.2.3:5", "1.2.3.4.5:5", "1.2.3.4:53x", "1.2.3.4:53 ", " 1.2.3.4:53",
                    "[::1]:53x", "[::1]:53]", "[::1]]:53", "[::g]:53", ":53", "1.2.3.4:0x10", "1.2.3.4::53"),
    [](const testing::TestParamInfo<const char*>& p) { return "case" + std::to_string(p.index); });

TEST(AddressParse, MessagesSayWhatIsWrong) {
  EXPECT_NE(Address::parse("1.2.3.4:65536").error().message.find("port"), std::string::npos);
  EXPECT_NE(Address::parse("::1:53").error().message.find("brackets"), std::string::npos);
  EXPECT_NE(Address::parse("localhost:53").error().message.find("numeric"), std::string::npos);
}

// Found by the address fuzz target: the C parsers underneath read text only up to a NUL, so the
// bytes after one were ignored instead of refused.
TEST(AddressParse, NulByteIsRejected) {
  using namespace std::string_view_literals;
  for (std::string_view bad : {"1.2.3.4\0junk:5"sv, "[::1\0x]:5"sv, "[fe80::1%lo\0x]:5"sv, "1.2.3.4\0:5"sv}) {
    auto r = Address::parse(bad);
    ASSERT_FALSE(r.ok()) << r->to_string();
    EXPECT_NE(r.error().message.find("NUL"), std::string::npos) << r.error().message;
  }
  EXPECT_FALSE(Address::from_ip("10.0.0.1\0"sv, 1).ok());
}

TEST(AddressFromIp, AcceptsBareIpsOnly) {
  auto a = Address::from_ip("10.0.0.1", 80);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, addr("10.0.0.1:80"));
  auto b = Address::from_ip("::1", 80);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*b, addr("[::1]:80"));
  auto c = Address::from_ip("fe80::2%lo", 1);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(*c, addr("[fe80::2%lo]:1"));
  for (const char* bad : {"", "10.0.0.1:80", "[::1]", "example.com", "256.0.0.1"}) {
    auto r = Address::from_ip(bad, 1);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, make_error_code(Errc::bad_address)) << bad;
    EXPECT_NE(r.error().message.find(std::string("'") + bad + "'"), std::string::npos) << r.error().message;
  }
}

TEST(AddressFormat, RoundTripsThroughParse) {
  for (const char* text : {"0.0.0.0:0", "1.2.3.4:53", "255.255.255.255:65535", "[::]:0", "[::1]:53",
                           "[2001:db8::1]:443", "[::ffff:10.1.2.3]:9", "[fe80::1%lo]:5353",
                           "[2001:db8:1:2:3:4:5:6]:1"}) {
    const Address a = addr(text);
    EXPECT_EQ(a.to_string(), text);
    EXPECT_EQ(addr(a.to_string()), a) << text;
    char buffer[Address::max_text];
    const std::size_t n = a.format(buffer, sizeof buffer);
    EXPECT_EQ(std::string(buffer, n), text);
    EXPECT_EQ(buffer[n], '\0');
  }
}

TEST(AddressFormat, CanonicalisesIpv6Text) {
  EXPECT_EQ(addr("[2001:0db8:0000:0000:0000:0000:0000:0001]:1").to_string(), "[2001:db8::1]:1");
  EXPECT_EQ(addr("[0:0:0:0:0:0:0:1]:2").to_string(), "[::1]:2");
}

TEST(AddressFormat, TruncatesToCapacityWithTerminator) {
  const Address a = addr("123.45.67.89:1234");
  char buffer[8];
  std::memset(buffer, 'X', sizeof buffer);
  EXPECT_EQ(a.format(buffer, 6), 5u);
  EXPECT_STREQ(buffer, "123.4");
  EXPECT_EQ(buffer[6], 'X');  // nothing written past capacity
  EXPECT_EQ(a.format(buffer, 1), 0u);
  EXPECT_EQ(buffer[0], '\0');
  buffer[0] = 'Y';
  EXPECT_EQ(a.format(buffer, 0), 0u);
  EXPECT_EQ(buffer[0], 'Y');
}

TEST(AddressFormat, LongestTextFitsMaxText) {
  const Address a = addr("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff%4294967295]:65535");
  const std::string expected = "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff%4294967295]:65535";
  EXPECT_EQ(a.to_string(), expected);
  EXPECT_LT(expected.size(), Address::max_text);
}

TEST(AddressValue, NoneIsEmpty) {
  const Address none;
  EXPECT_EQ(none.family(), Address::Family::none);
  EXPECT_EQ(none.port(), 0);
  EXPECT_EQ(none.sockaddr_size(), 0u);
  EXPECT_EQ(none.to_string(), "");
  EXPECT_EQ(none.ip_string(), "");
  char buffer[4] = {'a', 'b', 'c', 'd'};
  EXPECT_EQ(none.format(buffer, sizeof buffer), 0u);
  EXPECT_EQ(buffer[0], '\0');
  EXPECT_NE(none, Address::ipv4_any(0));
  EXPECT_NE(Address::ipv6_any(0), none);
  EXPECT_EQ(none.with_port(5).port(), 0);
  EXPECT_EQ(none.unmapped().family(), Address::Family::none);
  EXPECT_EQ(none.v4_mapped().family(), Address::Family::none);
}

TEST(AddressValue, EqualityComparesFamilyIpPortAndScope) {
  EXPECT_EQ(addr("1.2.3.4:5"), addr("1.2.3.4:5"));
  EXPECT_NE(addr("1.2.3.4:5"), addr("1.2.3.4:6"));
  EXPECT_NE(addr("1.2.3.4:5"), addr("1.2.3.5:5"));
  EXPECT_EQ(addr("[::1]:5"), addr("[0::1]:5"));
  EXPECT_NE(addr("[::1]:5"), addr("[::2]:5"));
  EXPECT_NE(addr("[fe80::1]:5"), addr("[fe80::1%lo]:5"));
  EXPECT_EQ(addr("1.2.3.4:5").with_port(6), addr("1.2.3.4:6"));
  EXPECT_EQ(addr("[::1]:5").with_port(0), addr("[::1]:0"));
}

TEST(AddressValue, HashAgreesWithEquality) {
  const std::vector<Address> all = {addr("1.2.3.4:5"),     addr("1.2.3.4:6"),  addr("1.2.3.5:5"),
                                    addr("[::1]:5"),       addr("[::1]:6"),    addr("[::ffff:1.2.3.4]:5"),
                                    addr("[fe80::1%lo]:5"), addr("[fe80::1]:5"), addr("0.0.0.0:0")};
  std::unordered_set<Address> set(all.begin(), all.end());
  EXPECT_EQ(set.size(), all.size());
  for (const Address& a : all) {
    const Address copy = addr(a.to_string());
    EXPECT_EQ(copy.hash(), a.hash()) << a.to_string();
    EXPECT_EQ(std::hash<Address>{}(copy), a.hash());
    EXPECT_EQ(set.count(copy), 1u) << a.to_string();
  }
  // Equal addresses built different ways hash the same.
  EXPECT_EQ(addr("127.0.0.1:80").hash(), Address::ipv4_loopback(80).hash());
  EXPECT_EQ(addr("[::1]:80").hash(), Address::ipv6_loopback(80).hash());
}

TEST(AddressValue, MappedConversions) {
  const Address v4addr = addr("10.20.30.40:1000");
  const Address mapped = v4addr.v4_mapped();
  EXPECT_TRUE(mapped.is_v6());
  EXPECT_TRUE(mapped.is_v4_mapped());
  EXPECT_EQ(mapped.port(), 1000);
  EXPECT_EQ(mapped.to_string(), "[::ffff:10.20.30.40]:1000");
  EXPECT_EQ(mapped.unmapped(), v4addr);
  EXPECT_EQ(mapped.v4_mapped(), mapped);     // already IPv6: unchanged
  EXPECT_EQ(v4addr.unmapped(), v4addr);      // not mapped: unchanged
  const Address plain6 = addr("[2001:db8::1]:3");
  EXPECT_FALSE(plain6.is_v4_mapped());
  EXPECT_EQ(plain6.unmapped(), plain6);
  EXPECT_EQ(plain6.v4_mapped(), plain6);
  EXPECT_FALSE(v4addr.is_v4_mapped());
}

TEST(AddressSockaddr, FromKernelStructs) {
  sockaddr_in in;
  std::memset(&in, 0xAB, sizeof in);  // garbage in sin_zero must not leak into equality
  in.sin_family = AF_INET;
  in.sin_port = htons(4242);
  in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const Address a = Address::from_sockaddr(&in, sizeof in);
  EXPECT_EQ(a, addr("127.0.0.1:4242"));
  EXPECT_EQ(a.hash(), addr("127.0.0.1:4242").hash());

  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  in6.sin6_port = htons(7);
  in6.sin6_addr = in6addr_loopback;
  in6.sin6_flowinfo = htonl(0x12345);  // per packet, not part of the endpoint
  const Address b = Address::from_sockaddr(&in6, sizeof in6);
  EXPECT_EQ(b, addr("[::1]:7"));
  EXPECT_EQ(std::memcmp(b.sockaddr_data(), addr("[::1]:7").sockaddr_data(), sizeof(sockaddr_in6)), 0);

  // Too short, other families, null: Family::none.
  EXPECT_EQ(Address::from_sockaddr(&in, sizeof in - 1).family(), Address::Family::none);
  EXPECT_EQ(Address::from_sockaddr(&in6, sizeof(sockaddr_in)).family(), Address::Family::none);
  EXPECT_EQ(Address::from_sockaddr(nullptr, sizeof in).family(), Address::Family::none);
  EXPECT_EQ(Address::from_sockaddr(&in, 1).family(), Address::Family::none);
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  EXPECT_EQ(Address::from_sockaddr(&un, sizeof un).family(), Address::Family::none);
}

TEST(AddressSockaddr, IsSmallAndTrivial) {
  static_assert(sizeof(Address) == 32);
  static_assert(std::is_trivially_copyable_v<Address>);
  static_assert(Address::sockaddr_capacity == sizeof(sockaddr_in6));
  EXPECT_EQ(addr("1.2.3.4:5").sockaddr_size(), sizeof(sockaddr_in));
}

TEST(Errors, CategoryCodesAndMessages) {
  const std::error_code e = make_error_code(Errc::bad_address);
  EXPECT_STREQ(e.category().name(), "salvo");
  EXPECT_EQ(e.message(), "bad address");
  EXPECT_EQ(std::error_code(Errc::bad_option), make_error_code(Errc::bad_option));
  EXPECT_EQ(make_error_code(Errc::invalid_state).message(), "invalid state");
  EXPECT_EQ(make_error_code(Errc::backend_unavailable).message(), "backend unavailable");
  EXPECT_EQ(make_error_code(Errc::family_mismatch).message(), "address family mismatch");
  EXPECT_NE(make_error_code(Errc::bad_address), make_error_code(Errc::bad_option));

  const Error sys = Error::from_errno(EADDRINUSE, "bind 127.0.0.1:9");
  EXPECT_EQ(sys.code, std::errc::address_in_use);
  EXPECT_EQ(sys.message, std::string("bind 127.0.0.1:9: ") + std::strerror(EADDRINUSE));
  const Error mine = Error::make(Errc::invalid_state, "too late");
  EXPECT_EQ(mine.code, make_error_code(Errc::invalid_state));
  EXPECT_EQ(mine.message, "too late");
}

TEST(Errors, ResultHoldsValueOrError) {
  Result<int> good = 42;
  ASSERT_TRUE(good.ok());
  EXPECT_TRUE(static_cast<bool>(good));
  EXPECT_EQ(*good, 42);
  Result<int> bad = Error::make(Errc::bad_option, "nope");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message, "nope");
  Result<void> v;
  EXPECT_TRUE(v.ok());
  Result<void> verr = Error::make(Errc::invalid_state, "x");
  EXPECT_FALSE(verr.ok());
  EXPECT_EQ(verr.error().code, make_error_code(Errc::invalid_state));
}

}  // namespace
}  // namespace salvo
