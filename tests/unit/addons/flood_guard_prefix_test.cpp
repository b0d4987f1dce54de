// FloodGuard's sources as address prefixes (FloodGuardOptions::ipv4_prefix, ipv6_prefix), with
// FakeTransport and an injected clock so that every count is exact: a host rotating its source
// ports gets one burst, not one per port; the addresses of one IPv4 /24 (and of one IPv6 /56) share
// a limit and a reply budget while the next prefix has its own, right at the prefix's last bit;
// prefixes that do not end on a byte; /32 and /128 bring back one source per address; IPv4-mapped
// peers count as IPv4; verification stays with the one peer that proved itself (its neighbours
// stay budgeted, and it is no longer limited by them); forget does not reset a shared prefix; and
// the option checks.
#include <gtest/gtest.h>

#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "salvo/salvo.hpp"

namespace salvo {
namespace {

using namespace std::chrono_literals;

std::chrono::steady_clock::time_point g_now{};
std::chrono::steady_clock::time_point fake_now() { return g_now; }

Address ip(const std::string& text, std::uint16_t port = 5000) {
  auto a = Address::from_ip(text, port);
  if (!a) throw std::runtime_error(text + ": " + a.error().message);
  return *a;
}

std::vector<std::byte> bytes(std::size_t n) { return std::vector<std::byte>(n, std::byte{0x5a}); }

// The defaults (rate 1000/s, burst 100, /24 and /56, no port), with the test's clock.
FloodGuardOptions defaults() {
  FloodGuardOptions o;
  o.clock = &fake_now;
  return o;
}

// Counts what the wrapped protocol was handed, per peer; marks peers verified on request.
struct Inner final : Protocol {
  void on_datagrams(std::span<const Datagram> batch, Transport&) override {
    for (const Datagram& d : batch) seen.push_back(d.peer);
  }
  std::size_t from(const Address& a) const {
    std::size_t n = 0;
    for (const Address& p : seen) n += p == a;
    return n;
  }
  std::vector<Address> seen;
};

struct Rig {
  explicit Rig(FloodGuardOptions o = defaults()) : guard(o, nullptr) {
    auto p = std::make_unique<Inner>();
    inner = p.get();
    guard.set_inner(std::move(p));
    fake.start(guard);
  }
  // `count` datagrams of `size` bytes from `from`, at the current instant; how many got through.
  std::size_t send(const Address& from, int count, std::size_t size = 100) {
    const std::size_t before = inner->seen.size();
    std::vector<FakeDatagram> ds;
    for (int i = 0; i < count; ++i) ds.emplace_back(bytes(size), from);
    fake.deliver(guard, ds);
    return inner->seen.size() - before;
  }
  FakeTransport fake;
  FloodGuard guard;
  Inner* inner = nullptr;
};

class FloodGuardPrefix : public testing::Test {
 protected:
  void SetUp() override { g_now = std::chrono::steady_clock::time_point{} + 1000s; }
};

TEST_F(FloodGuardPrefix, AHostRotatingSourcePortsGetsOneBurst) {
  Rig rig;
  std::size_t through = 0;
  for (std::uint16_t port = 1; port <= 1000; ++port) through += rig.send(ip("198.51.100.7", port), 1);
  EXPECT_EQ(through, 100u) << "one burst (100) for the host, not one per port";
  const FloodGuardStats s = rig.guard.stats();
  EXPECT_EQ(s.datagrams, 1000u);
  EXPECT_EQ(s.admitted, 100u);
  EXPECT_EQ(s.rate_limited, 900u);
  EXPECT_EQ(s.new_sources, 1u);
  EXPECT_EQ(s.tracked, 1u);
  // The same over IPv6, from 1000 ports and 1000 addresses of one /64.
  Rig v6;
  through = 0;
  for (int i = 1; i <= 1000; ++i) {
    through += v6.send(ip("2001:db8:1:2:0:0:" + std::to_string(i / 100) + ":" + std::to_string(i % 100), static_cast<std::uint16_t>(i)), 1);
  }
  EXPECT_EQ(through, 100u);
  EXPECT_EQ(v6.guard.stats().tracked, 1u);
}

TEST_F(FloodGuardPrefix, OneSlash24SharesALimitAndABudgetTheNextHasItsOwn) {
  Rig rig;
  EXPECT_EQ(rig.send(ip("192.0.2.1"), 60), 60u);
  EXPECT_EQ(rig.send(ip("192.0.2.254", 6000), 60), 40u) << "the rest of the /24's burst of 100";
  EXPECT_EQ(rig.send(ip("192.0.2.77"), 1), 0u);
  EXPECT_EQ(rig.send(ip("192.0.3.1"), 60), 60u) << "the next /24 is another source";
  g_now += 1ms;  // one interval of the /24's rate: one datagram, for whichever host sends first
  EXPECT_EQ(rig.send(ip("192.0.2.9"), 5), 1u);
  EXPECT_EQ(rig.send(ip("192.0.2.1"), 5), 0u);

  // One budget for the /24: what any of its hosts sent (101 x 100 bytes), to any of them.
  EXPECT_EQ(rig.guard.reply_budget(ip("192.0.2.200", 1)), 10'100u);
  EXPECT_EQ(rig.guard.reply_budget(ip("192.0.3.1")), 6'000u);
  EXPECT_EQ(rig.guard.reply_budget(ip("192.0.4.1")), 0u);
  EXPECT_EQ(rig.guard.send(bytes(10'000), ip("192.0.2.3"), rig.fake.transport()), GuardedSend::queued);
  EXPECT_EQ(rig.guard.reply_budget(ip("192.0.2.1")), 100u) << "used up for every host of the /24";
  EXPECT_EQ(rig.guard.send(bytes(101), ip("192.0.2.1"), rig.fake.transport()), GuardedSend::over_budget);
  EXPECT_EQ(rig.guard.stats().tracked, 2u);
}

TEST_F(FloodGuardPrefix, IPv6AddressesShareBelowTheSlash56AndNotAbove) {
  Rig rig;
  // 2001:db8:0:ab00::/56: bits 56.. may differ (the last byte of the fourth group and everything after).
  EXPECT_EQ(rig.send(ip("2001:db8:0:ab00::1"), 50), 50u);
  EXPECT_EQ(rig.send(ip("2001:db8:0:ab80::1"), 30), 30u) << "bit 56, the first one past the prefix";
  EXPECT_EQ(rig.send(ip("2001:db8:0:abff:ffff:ffff:ffff:ffff", 1), 30), 20u) << "the /56's burst is spent";
  EXPECT_EQ(rig.send(ip("2001:db8:0:aa00::1"), 30), 30u) << "bit 55, the prefix's last one: another /56";
  EXPECT_EQ(rig.send(ip("2001:db8:1:ab00::1"), 30), 30u);
  EXPECT_EQ(rig.guard.reply_budget(ip("2001:db8:0:ab42::7")), 10'000u);
  EXPECT_EQ(rig.guard.stats().tracked, 3u);
}

TEST_F(FloodGuardPrefix, PrefixesNeedNotEndOnAByte) {
  FloodGuardOptions o = defaults();
  o.ipv4_prefix = 20;  // 10.1.0.0 - 10.1.15.255
  o.ipv6_prefix = 3;   // 2000::/3 (all global unicast) vs the rest
  o.burst = 10;
  Rig rig(o);
  EXPECT_EQ(rig.send(ip("10.1.0.1"), 6), 6u);
  EXPECT_EQ(rig.send(ip("10.1.15.255"), 6), 4u);
  EXPECT_EQ(rig.send(ip("10.1.16.0"), 6), 6u);
  EXPECT_EQ(rig.send(ip("10.0.15.255"), 6), 6u);
  EXPECT_EQ(rig.send(ip("2001:db8::1"), 6), 6u);
  EXPECT_EQ(rig.send(ip("3fff:ffff::1"), 6), 4u);
  EXPECT_EQ(rig.send(ip("4000::1"), 6), 6u);
  EXPECT_EQ(rig.guard.stats().tracked, 5u);

  // 0 bits: every address of a family is one source; the two families are still two.
  o.ipv4_prefix = 0;
  o.ipv6_prefix = 0;
  Rig all(o);
  EXPECT_EQ(all.send(ip("1.2.3.4"), 6), 6u);
  EXPECT_EQ(all.send(ip("255.255.255.255"), 6), 4u);
  EXPECT_EQ(all.send(ip("::1"), 6), 6u);
  EXPECT_EQ(all.send(ip("fe80::1"), 6), 4u);
  EXPECT_EQ(all.guard.stats().tracked, 2u);
}

TEST_F(FloodGuardPrefix, Slash32AndSlash128AreOneSourcePerAddress) {
  FloodGuardOptions o = defaults();
  o.ipv4_prefix = 32;
  o.ipv6_prefix = 128;
  o.burst = 10;
  Rig rig(o);
  EXPECT_EQ(rig.send(ip("192.0.2.1"), 20), 10u);
  EXPECT_EQ(rig.send(ip("192.0.2.2"), 20), 10u) << "a neighbour is a source of its own";
  EXPECT_EQ(rig.send(ip("192.0.2.1", 5001), 20), 0u) << "but another port of the same host is not";
  EXPECT_EQ(rig.send(ip("2001:db8::1"), 20), 10u);
  EXPECT_EQ(rig.send(ip("2001:db8::2"), 20), 10u);
  EXPECT_EQ(rig.guard.stats().tracked, 4u);

  // With the port too (key_by_port), as every guard was before prefixes.
  o.key_by_port = true;
  Rig by_port(o);
  EXPECT_EQ(by_port.send(ip("192.0.2.1"), 20), 10u);
  EXPECT_EQ(by_port.send(ip("192.0.2.1", 5001), 20), 10u);
  EXPECT_EQ(by_port.guard.stats().tracked, 2u);
}

TEST_F(FloodGuardPrefix, V4MappedPeersCountAsIPv4) {
  FloodGuardOptions o = defaults();
  o.ipv6_prefix = 0;  // if a mapped peer counted as IPv6, it would share with every IPv6 address
  o.burst = 10;
  Rig rig(o);
  EXPECT_EQ(rig.send(ip("::ffff:192.0.2.1"), 6), 6u);
  EXPECT_EQ(rig.send(ip("192.0.2.99"), 6), 4u) << "the mapped peer's /24";
  EXPECT_EQ(rig.send(ip("::ffff:192.0.3.1"), 6), 6u) << "another /24, even through a dual-stack socket";
  EXPECT_EQ(rig.send(ip("2001:db8::1"), 6), 6u);
  EXPECT_EQ(rig.guard.stats().tracked, 3u);
}

TEST_F(FloodGuardPrefix, VerificationIsOfOnePeerNotItsPrefix) {
  Rig rig;
  const Address client = ip("192.0.2.10", 4000);
  ASSERT_EQ(rig.send(client, 1, 100), 1u);
  rig.guard.mark_verified(client);
  EXPECT_TRUE(rig.guard.is_verified(client));
  EXPECT_TRUE(rig.guard.is_verified(client.v4_mapped()));
  EXPECT_FALSE(rig.guard.is_verified(ip("192.0.2.10", 4001))) << "another port was not proven";
  EXPECT_FALSE(rig.guard.is_verified(ip("192.0.2.11", 4000)));
  EXPECT_EQ(rig.guard.reply_budget(client), std::numeric_limits<std::uint64_t>::max());
  // A spoofed neighbour gets what the /24 sent, not a verified peer's unlimited replies.
  EXPECT_EQ(rig.guard.reply_budget(ip("192.0.2.11", 4000)), 100u);
  EXPECT_EQ(rig.guard.send(bytes(101), ip("192.0.2.11", 4000), rig.fake.transport()), GuardedSend::over_budget);
  EXPECT_EQ(rig.guard.send(bytes(1000), client, rig.fake.transport()), GuardedSend::queued);

  // A flooder in the /24 spends the prefix's burst; the verified client is not limited by it
  // (verified_rate 0: unlimited), and its datagrams neither spend nor earn the prefix's budget.
  EXPECT_EQ(rig.send(ip("192.0.2.66"), 500, 10), 99u);
  EXPECT_EQ(rig.send(ip("192.0.2.67"), 10, 10), 0u);
  EXPECT_EQ(rig.send(client, 300, 10), 300u);
  EXPECT_EQ(rig.guard.reply_budget(ip("192.0.2.67")), 100u + 99u * 10u);
  const FloodGuardStats s = rig.guard.stats();
  EXPECT_EQ(s.verified, 1u);
  EXPECT_EQ(s.tracked, 2u) << "the /24, and the verified peer";
  EXPECT_EQ(s.admitted, 1u + 99u + 300u);
  EXPECT_EQ(s.rate_limited, 401u + 10u);
}

TEST_F(FloodGuardPrefix, ForgetRevokesAVerificationButKeepsASharedPrefix) {
  Rig rig;
  const Address client = ip("192.0.2.10", 4000);
  EXPECT_EQ(rig.send(client, 150), 100u);
  rig.guard.mark_verified(client);
  rig.guard.forget(client);
  EXPECT_FALSE(rig.guard.is_verified(client));
  EXPECT_EQ(rig.guard.stats().tracked, 1u);
  EXPECT_EQ(rig.send(client, 10), 0u) << "a goodbye does not earn the /24 a fresh burst";
  EXPECT_EQ(rig.guard.reply_budget(ip("192.0.2.1")), 10'000u);
}

TEST_F(FloodGuardPrefix, OptionsAreChecked) {
  struct Case {
    void (*change)(FloodGuardOptions&);
    std::vector<std::string> needles;
  };
  const Case bad[] = {
      {[](FloodGuardOptions& o) { o.ipv4_prefix = 33; }, {"ipv4_prefix", "0..32", "33"}},
      {[](FloodGuardOptions& o) { o.ipv4_prefix = ~0u; }, {"ipv4_prefix", "0..32"}},
      {[](FloodGuardOptions& o) { o.ipv6_prefix = 129; }, {"ipv6_prefix", "0..128", "129"}},
      {[](FloodGuardOptions& o) { o.key_by_port = true; }, {"key_by_port", "ipv4_prefix 32", "ipv6_prefix 128"}},
      {[](FloodGuardOptions& o) { o.key_by_port = true; o.ipv4_prefix = 32; }, {"key_by_port", "32 and 56"}},
      {[](FloodGuardOptions& o) { o.key_by_port = true; o.ipv6_prefix = 128; }, {"key_by_port", "24 and 128"}},
  };
  for (const Case& c : bad) {
    FloodGuardOptions o;
    c.change(o);
    const auto r = check_flood_guard_options(o);
    ASSERT_FALSE(r.ok()) << c.needles[0];
    EXPECT_EQ(r.error().code, make_error_code(Errc::bad_option));
    for (const std::string& needle : c.needles) EXPECT_NE(r.error().message.find(needle), std::string::npos) << r.error().message;
    EXPECT_FALSE(flood_guarded(o, [](unsigned, FloodGuard&) { return std::make_unique<Inner>(); }).ok());
  }
  const Case good[] = {
      {[](FloodGuardOptions&) {}, {}},
      {[](FloodGuardOptions& o) { o.ipv4_prefix = 0; o.ipv6_prefix = 0; }, {}},
      {[](FloodGuardOptions& o) { o.ipv4_prefix = 32; o.ipv6_prefix = 128; }, {}},
      {[](FloodGuardOptions& o) { o.ipv4_prefix = 32; o.ipv6_prefix = 128; o.key_by_port = true; }, {}},
  };
  for (const Case& c : good) {
    FloodGuardOptions o;
    c.change(o);
    const auto r = check_flood_guard_options(o);
    EXPECT_TRUE(r.ok()) << r.error().message;
  }
  const FloodGuardOptions d;
  EXPECT_EQ(d.ipv4_prefix, 24u);
  EXPECT_EQ(d.ipv6_prefix, 56u);
  EXPECT_FALSE(d.key_by_port);
}

}  // namespace
}  // namespace salvo
