// examples/peer_table.hpp, the fixed table of peers chat_relay and ticker keep: against a std::map
// model through many random joins and removals (so that probe chains collide, wrap around the index
// and are repaired by removals), every peer is found in the slot it was given, every absent peer is
// not found, and the dense list of slots in use is exactly the peers in the table.
#include <algorithm>
#include <map>
#include <random>

#include "peer_table.hpp"
#include "support/test_support.hpp"

namespace salvo::test {
namespace {

TEST(PeerTable, FindsEveryPeerItHoldsAndNoOtherThroughRandomJoinsAndRemovals) {
  constexpr std::uint32_t capacity = 64;
  examples::PeerTable table(capacity);
  std::map<std::uint16_t, std::uint32_t> model;  // port -> slot
  std::mt19937 random(7);
  for (int step = 0; step < 20000; ++step) {
    const auto port = static_cast<std::uint16_t>(1 + random() % 200);  // more ports than slots
    const Address peer = Address::ipv4_loopback(port);
    const auto known = model.find(port);
    const std::uint32_t slot = table.find(peer);
    if (known == model.end()) {
      ASSERT_EQ(slot, examples::PeerTable::npos) << "step " << step;
      const std::uint32_t added = table.add(peer);
      if (model.size() == capacity) {
        ASSERT_EQ(added, examples::PeerTable::npos);
        continue;
      }
      ASSERT_NE(added, examples::PeerTable::npos);
      ASSERT_LT(added, capacity);
      model[port] = added;
    } else {
      ASSERT_EQ(slot, known->second) << "step " << step;
      table.remove(slot);
      model.erase(known);
    }
    ASSERT_EQ(table.size(), model.size());
    ASSERT_EQ(table.full(), model.size() == capacity);
    if (step % 97 == 0) {
      std::vector<std::uint32_t> active(table.active().begin(), table.active().end());
      std::vector<std::uint32_t> expected;
      for (const auto& [p, s] : model) {
        ASSERT_EQ(table.find(Address::ipv4_loopback(p)), s);
        ASSERT_EQ(table.address(s), Address::ipv4_loopback(p));
        expected.push_back(s);
      }
      std::sort(active.begin(), active.end());
      std::sort(expected.begin(), expected.end());
      ASSERT_EQ(active, expected) << "step " << step;
    }
  }
}

}  // namespace
}  // namespace salvo::test
