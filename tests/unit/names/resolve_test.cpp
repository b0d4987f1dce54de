// salvo::resolve, resolve_endpoint and check_endpoint: loopback names, the family filter, numeric
// hosts passed through unchanged, names that do not exist and bad syntax. Only "localhost" and
// names under ".invalid" (RFC 6761: never resolve) are looked up, so no test needs outside DNS.
#include <gtest/gtest.h>

#include <string>

#include "salvo/resolve.hpp"
#include "support/test_support.hpp"

namespace salvo {
namespace {

using test::addr;

bool is_loopback(const Address& a) {
  return a == Address::ipv4_loopback(a.port()) || a == Address::ipv6_loopback(a.port());
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(Resolve, LocalhostIsLoopbackWithThePort) {
  auto all = resolve("localhost", 9000);
  ASSERT_TRUE(all.ok()) << all.error().message;
  ASSERT_FALSE(all->empty());
  for (const Address& a : *all) {
    EXPECT_TRUE(is_loopback(a)) << a.to_string();
    EXPECT_EQ(a.port(), 9000);
  }
  for (std::size_t i = 0; i < all->size(); ++i) {
    for (std::size_t j = i + 1; j < all->size(); ++j) EXPECT_NE((*all)[i], (*all)[j]) << "duplicates";
  }
}

TEST(Resolve, FamilyFilter) {
  auto v4 = resolve("localhost", 53, Address::Family::v4);
  ASSERT_TRUE(v4.ok()) << v4.error().message;
  EXPECT_EQ(*v4, std::vector<Address>{Address::ipv4_loopback(53)});
  // Whether localhost has an IPv6 address depends on /etc/hosts; either way nothing IPv4 comes back.
  auto v6 = resolve("localhost", 53, Address::Family::v6);
  if (v6.ok()) {
    ASSERT_FALSE(v6->empty());
    for (const Address& a : *v6) EXPECT_TRUE(a.is_v6()) << a.to_string();
  } else {
    EXPECT_EQ(v6.error().code, make_error_code(Errc::name_not_resolved));
    EXPECT_TRUE(contains(v6.error().message, "'localhost'")) << v6.error().message;
    EXPECT_TRUE(contains(v6.error().message, "IPv6")) << v6.error().message;
  }
}

TEST(Resolve, NumericHostsPassThrough) {
  auto v4 = resolve("192.0.2.7", 80);
  ASSERT_TRUE(v4.ok()) << v4.error().message;
  EXPECT_EQ(*v4, std::vector<Address>{addr("192.0.2.7:80")});
  auto v6 = resolve("2001:db8::1", 80, Address::Family::v6);
  ASSERT_TRUE(v6.ok()) << v6.error().message;
  EXPECT_EQ(*v6, std::vector<Address>{addr("[2001:db8::1]:80")});
  // A numeric host is never exchanged for one of the family asked for.
  auto mismatch = resolve("::1", 80, Address::Family::v4);
  ASSERT_FALSE(mismatch.ok());
  EXPECT_EQ(mismatch.error().code, make_error_code(Errc::family_mismatch));
}

TEST(Resolve, UnknownNameNamesTheHost) {
  auto all = resolve("no-such-host.invalid", 9);
  ASSERT_FALSE(all.ok());
  EXPECT_EQ(all.error().code, make_error_code(Errc::name_not_resolved));
  EXPECT_EQ(all.error().message.rfind("cannot resolve 'no-such-host.invalid': ", 0), 0u) << all.error().message;
  EXPECT_FALSE(contains(all.error().message, "\n")) << all.error().message;
}

TEST(Resolve, TextThatIsNeitherIpNorNameIsBadAddress) {
  // Forms inet_aton would take as IPv4 ("127.1", hex) are not names either: no lenient numbers.
  for (const char* host : {"", "a b", "1.2.3.999", "127.1", "0x7f000001", "::zz", "host/x", "x:y"}) {
    auto all = resolve(host, 1);
    ASSERT_FALSE(all.ok()) << host;
    EXPECT_EQ(all.error().code, make_error_code(Errc::bad_address)) << host << ": " << all.error().message;
  }
}

TEST(ResolveEndpoint, NameAndPort) {
  auto a = resolve_endpoint("localhost:9000");
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_TRUE(is_loopback(*a)) << a->to_string();
  EXPECT_EQ(a->port(), 9000);
  auto first = resolve("localhost", 9000);
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(*a, first->front()) << "the resolver's first answer";
  auto v4 = resolve_endpoint("localhost:1", Address::Family::v4);
  ASSERT_TRUE(v4.ok()) << v4.error().message;
  EXPECT_EQ(*v4, Address::ipv4_loopback(1));
}

TEST(ResolveEndpoint, NumericAsAddressParseGivesIt) {
  for (const char* text : {"127.0.0.1:9000", "[::1]:9000", "0.0.0.0:0", "[::ffff:1.2.3.4]:5"}) {
    auto a = resolve_endpoint(text);
    ASSERT_TRUE(a.ok()) << text << ": " << a.error().message;
    EXPECT_EQ(*a, addr(text));
    EXPECT_TRUE(check_endpoint(text).ok()) << text;
  }
  auto mismatch = resolve_endpoint("[::1]:9", Address::Family::v4);
  ASSERT_FALSE(mismatch.ok());
  EXPECT_EQ(mismatch.error().code, make_error_code(Errc::family_mismatch));
}

TEST(ResolveEndpoint, UnknownNameNamesTheHost) {
  auto a = resolve_endpoint("no-such-host.invalid:9");
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().code, make_error_code(Errc::name_not_resolved));
  EXPECT_TRUE(contains(a.error().message, "'no-such-host.invalid'")) << a.error().message;
  // Syntax alone is fine: the check does not look the name up.
  EXPECT_TRUE(check_endpoint("no-such-host.invalid:9").ok());
}

TEST(ResolveEndpoint, BadSyntaxIsAddressParsesError) {
  for (const char* text : {"localhost", "localhost:", "localhost:70000", "localhost:http", "::1:9000", "[localhost]:9",
                           "127.0.0.1", "[::1]", "127.0.0.1:99999"}) {
    auto a = resolve_endpoint(text);
    ASSERT_FALSE(a.ok()) << text;
    EXPECT_EQ(a.error().code, make_error_code(Errc::bad_address)) << text;
    EXPECT_EQ(a.error().message, Address::parse(text).error().message) << text;
    auto checked = check_endpoint(text);
    ASSERT_FALSE(checked.ok()) << text;
    EXPECT_EQ(checked.error().message, a.error().message);
  }
  // A host that is neither an IP address nor a name: the same kind of error, naming the text.
  for (const char* text : {"a b:9", ":9", "1.2.3.999:9", "127.1:9", "no_such?host:9"}) {
    auto a = resolve_endpoint(text);
    ASSERT_FALSE(a.ok()) << text;
    EXPECT_EQ(a.error().code, make_error_code(Errc::bad_address)) << text;
    EXPECT_EQ(a.error().message, std::string("bad address '") + text + "': not an IP address or a host name");
  }
}

TEST(ResolveErrors, CodesPrintAsTheOthers) {
  EXPECT_EQ(make_error_code(Errc::name_not_resolved).message(), "host name not resolved");
  EXPECT_EQ(make_error_code(Errc::cancelled).message(), "cancelled");
  EXPECT_STREQ(make_error_code(Errc::cancelled).category().name(), "salvo");
}

}  // namespace
}  // namespace salvo
