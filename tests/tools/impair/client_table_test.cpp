// ClientTable in-process: stable slots per client, a hard bound (refusals counted, no growth),
// expiry of idle clients in activity order, reported through on_expire while the slot still names
// its client, a withdrawn admission that counts for nothing, an open-addressing index that
// stays correct through many admissions and expiries (checked against a std::map), and an index
// hash that depends on a secret key (drawn once per process) so that clients cannot aim at one
// probe chain.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "common/seeded_random.hpp"
#include "impair/client_table.hpp"

namespace salvo::cli {
namespace {

using namespace std::chrono_literals;
using time_point = ClientTable::time_point;
const time_point t0 = time_point{} + 100s;

Address client(int i) { return Address::ipv4_loopback(static_cast<std::uint16_t>(10000 + i)); }

TEST(ClientTable, AClientKeepsItsSlot) {
  ClientTable t(4, 10s);
  const auto a = t.admit(client(1), t0);
  const auto b = t.admit(client(2), t0);
  ASSERT_NE(a, ClientTable::none);
  ASSERT_NE(b, ClientTable::none);
  EXPECT_NE(a, b);
  EXPECT_EQ(t.admit(client(1), t0 + 1s), a);
  EXPECT_EQ(t.find(client(2)), b);
  EXPECT_EQ(t.find(client(3)), ClientTable::none);
  ASSERT_NE(t.client_of(a), nullptr);
  EXPECT_EQ(*t.client_of(a), client(1));
  EXPECT_EQ(t.active(), 2u);
  EXPECT_EQ(t.admitted(), 2u);
}

TEST(ClientTable, AFullTableRefusesAndDoesNotGrow) {
  ClientTable t(2, 10s);
  ASSERT_NE(t.admit(client(1), t0), ClientTable::none);
  ASSERT_NE(t.admit(client(2), t0), ClientTable::none);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(t.admit(client(3), t0 + 1s), ClientTable::none);
  EXPECT_EQ(t.refused(), 5u);
  EXPECT_EQ(t.active(), 2u);
  EXPECT_EQ(t.peak(), 2u);
  EXPECT_EQ(t.find(client(3)), ClientTable::none);
}

TEST(ClientTable, IdleClientsExpireLeastRecentlyActiveFirst) {
  ClientTable t(3, 10s);
  const auto a = t.admit(client(1), t0);
  const auto b = t.admit(client(2), t0 + 1s);
  const auto c = t.admit(client(3), t0 + 2s);
  t.touch(a, t0 + 5s);  // replies count as activity
  EXPECT_EQ(t.expire(t0 + 10s), 0u);
  EXPECT_EQ(t.expire(t0 + 11s), 1u);  // b, idle since 1 s
  EXPECT_EQ(t.client_of(b), nullptr);
  EXPECT_NE(t.client_of(a), nullptr);
  EXPECT_NE(t.client_of(c), nullptr);
  EXPECT_EQ(t.expire(t0 + 15s), 2u);  // c (2 s), then a (5 s)
  EXPECT_EQ(t.active(), 0u);
  EXPECT_EQ(t.expired(), 3u);
}

TEST(ClientTable, ANewClientTakesTheSlotOfOneIdleForTheTimeout) {
  ClientTable t(2, 10s);
  const auto a = t.admit(client(1), t0);
  t.admit(client(2), t0 + 5s);
  EXPECT_EQ(t.admit(client(3), t0 + 9s), ClientTable::none) << "nobody idle long enough yet";
  EXPECT_EQ(t.admit(client(3), t0 + 10s), a) << "client 1 idle for 10 s gives up its slot";
  EXPECT_EQ(*t.client_of(a), client(3));
  EXPECT_EQ(t.find(client(1)), ClientTable::none);
  EXPECT_EQ(t.expired(), 1u);
  EXPECT_EQ(t.active(), 2u);
}

TEST(ClientTable, EveryExpiryIsReportedWhileTheSlotStillNamesItsClient) {
  ClientTable t(2, 10s);
  std::vector<std::pair<std::uint32_t, Address>> reported;
  t.on_expire([&](std::uint32_t slot) {
    ASSERT_NE(t.client_of(slot), nullptr);
    reported.emplace_back(slot, *t.client_of(slot));
  });
  const auto a = t.admit(client(1), t0);
  const auto b = t.admit(client(2), t0 + 5s);
  EXPECT_EQ(t.admit(client(3), t0 + 10s), a) << "client 1 idle for 10 s gives up its slot";
  ASSERT_EQ(reported.size(), 1u);
  EXPECT_EQ(reported[0], std::make_pair(a, client(1)));
  EXPECT_EQ(t.expire(t0 + 15s), 1u);
  ASSERT_EQ(reported.size(), 2u);
  EXPECT_EQ(reported[1], std::make_pair(b, client(2)));
  EXPECT_EQ(t.expired(), 2u);
}

TEST(ClientTable, AWithdrawnAdmissionCountsForNothing) {
  ClientTable t(4, 10s);
  bool expired = false;
  t.on_expire([&](std::uint32_t) { expired = true; });
  const auto a = t.admit(client(1), t0);
  const auto b = t.admit(client(2), t0);
  t.withdraw(b);
  EXPECT_FALSE(expired) << "a withdrawal is not an expiry";
  EXPECT_EQ(t.find(client(2)), ClientTable::none);
  EXPECT_EQ(t.client_of(b), nullptr);
  EXPECT_EQ(t.active(), 1u);
  EXPECT_EQ(t.peak(), 1u);
  EXPECT_EQ(t.admitted(), 1u);
  EXPECT_EQ(t.expired(), 0u);
  EXPECT_EQ(t.find(client(1)), a);
  // The slot is free again, and the client may come back.
  EXPECT_NE(t.admit(client(2), t0 + 1s), ClientTable::none);
  EXPECT_EQ(t.active(), 2u);
  EXPECT_EQ(t.peak(), 2u);
  EXPECT_EQ(t.admitted(), 2u);
}

TEST(ClientTable, IndexStaysCorrectThroughChurn) {
  // Many clients competing for 64 slots with short timeouts: every lookup must agree with a
  // simple reference model, whatever the deletions did to the probe chains.
  ClientTable t(64, 50ms);
  std::map<std::string, std::uint32_t> model;  // client -> slot
  std::map<std::string, time_point> last;
  std::map<std::string, int> last_step;  // activity order (times can tie)
  SeededRandom r(3);
  time_point now = t0;
  for (int step = 0; step < 200000; ++step) {
    now += std::chrono::microseconds(r.below(200));
    const Address c = client(static_cast<int>(r.below(300)));
    const std::string key = c.to_string();
    // The model: expire everything idle for 50 ms, then admit.
    if (step % 7 == 0) {
      t.expire(now);
      for (auto it = last.begin(); it != last.end();) {
        if (now - it->second >= 50ms) {
          model.erase(it->first);
          last_step.erase(it->first);
          it = last.erase(it);
        } else {
          ++it;
        }
      }
    }
    const auto slot = t.admit(c, now);
    if (slot == ClientTable::none) {
      ASSERT_EQ(model.count(key), 0u);
      ASSERT_EQ(model.size(), 64u) << "refused with a free slot";
      continue;
    }
    if (auto it = model.find(key); it != model.end()) {
      ASSERT_EQ(it->second, slot) << "a known client moved";
    } else if (model.size() == 64) {
      // A newcomer to a full table takes the slot of the least recently active client, which must
      // have been idle for the timeout.
      auto oldest = last_step.begin();
      for (auto it2 = last_step.begin(); it2 != last_step.end(); ++it2) {
        if (it2->second < oldest->second) oldest = it2;
      }
      ASSERT_GE(now - last.at(oldest->first), 50ms);
      ASSERT_EQ(model[oldest->first], slot) << "not the least recently active slot";
      model.erase(oldest->first);
      last.erase(oldest->first);
      last_step.erase(oldest);
      model[key] = slot;
    } else {
      for (const auto& [k, s] : model) ASSERT_NE(s, slot) << "a free slot that was not free";
      model[key] = slot;
    }
    last[key] = now;
    last_step[key] = step;
    ASSERT_EQ(t.active(), model.size());
    ASSERT_LE(t.active(), 64u);
  }
  for (const auto& [key, slot] : model) ASSERT_EQ(t.find(*t.client_of(slot)), slot) << key;
}

TEST(ClientTable, TheIndexHashIsKeyed) {
  const AddressHashKey one{0x0123456789abcdefull, 0xfedcba9876543210ull};
  const AddressHashKey two{0x0123456789abcdefull, 0xfedcba9876543211ull};  // one bit apart
  int differ = 0;
  for (int i = 0; i < 1000; ++i) {
    const Address a = i % 2 == 0 ? client(i) : *Address::from_ip("2001:db8::" + std::to_string(i), 4433);
    differ += keyed_hash(a, one) != keyed_hash(a, two);
    EXPECT_EQ(keyed_hash(a, one), keyed_hash(a, one));
  }
  EXPECT_EQ(differ, 1000) << "the same address hashed alike under two keys";
  // Equal addresses hash alike (what operator== compares, nothing else).
  const Address parsed = *Address::parse("127.0.0.1:10005");
  ASSERT_EQ(parsed, client(5));
  EXPECT_EQ(keyed_hash(parsed, one), keyed_hash(client(5), one));

  // The process's key: drawn once (the same on every call), and not a constant left at zero.
  const AddressHashKey key = process_hash_key();
  EXPECT_EQ(process_hash_key().k0, key.k0);
  EXPECT_EQ(process_hash_key().k1, key.k1);
  EXPECT_FALSE(key.k0 == 0 && key.k1 == 0);
}

TEST(ClientTable, WorksTheSameUnderAnyKey) {
  // Which index entry a client lands in depends on the key; which slot it gets does not.
  for (const AddressHashKey key : {AddressHashKey{1, 2}, AddressHashKey{3, 4}, process_hash_key()}) {
    ClientTable t(8, 10s, key);
    for (int i = 0; i < 8; ++i) ASSERT_EQ(t.admit(client(i), t0), static_cast<std::uint32_t>(i));
    for (int i = 0; i < 8; ++i) EXPECT_EQ(t.find(client(i)), static_cast<std::uint32_t>(i));
    EXPECT_EQ(t.admit(client(8), t0), ClientTable::none);
  }
}

}  // namespace
}  // namespace salvo::cli
