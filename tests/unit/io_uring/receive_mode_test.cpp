// ReceiveMode: the io_uring backend's choice between multishot and single-shot receive requests
// (EngineOptions::io_uring_receive), driven here round by round as the backend drives it.
#include <gtest/gtest.h>

#include "receive_mode.hpp"

namespace salvo::detail {
namespace {

using namespace std::chrono_literals;

using Policy = EngineOptions::IoUringReceive;

// Feeds `rounds` multishot rounds of `datagrams` each; returns the round (1-based) at which the
// policy asked to switch, or 0.
unsigned rounds_until_switch(ReceiveMode& m, unsigned rounds, std::uint32_t datagrams) {
  for (unsigned r = 1; r <= rounds; ++r) {
    if (m.multishot_round(datagrams)) return r;
  }
  return 0;
}

// The backend's sequence for a switch: cancel sent, then the multishot request's -ECANCELED end.
void switch_over(ReceiveMode& m) {
  m.cancel_sent();
  ASSERT_TRUE(m.switching());
  m.receive_ended(false, 1us);
  ASSERT_FALSE(m.switching());
}

TEST(ReceiveMode, AdaptiveStartsMultishotAndSwitchesAfterFourLightRounds) {
  ReceiveMode m(Policy::adaptive);
  EXPECT_FALSE(m.single_shot_next());
  EXPECT_EQ(rounds_until_switch(m, 10, 1), ReceiveMode::light_rounds_to_switch);
  switch_over(m);
  EXPECT_TRUE(m.single_shot_next());
}

TEST(ReceiveMode, ABurstRoundRestartsTheCount) {
  ReceiveMode m(Policy::adaptive);
  EXPECT_EQ(rounds_until_switch(m, 3, 1), 0u);
  EXPECT_FALSE(m.multishot_round(2));  // a burst: back to zero
  EXPECT_EQ(rounds_until_switch(m, 3, 1), 0u);
  EXPECT_FALSE(m.multishot_round(0));  // an error completion brought no datagram: not light either
  EXPECT_EQ(rounds_until_switch(m, 10, 1), 4u);
}

TEST(ReceiveMode, BurstsStayMultishot) {
  ReceiveMode m(Policy::adaptive);
  EXPECT_EQ(rounds_until_switch(m, 10000, 32), 0u);
  EXPECT_FALSE(m.single_shot_next());
}

TEST(ReceiveMode, NoSecondSwitchWhileTheCancelIsOnItsWay) {
  ReceiveMode m(Policy::adaptive);
  ASSERT_EQ(rounds_until_switch(m, 4, 1), 4u);
  m.cancel_sent();
  // The multishot request may still deliver before its end arrives.
  EXPECT_EQ(rounds_until_switch(m, 10, 1), 0u);
  EXPECT_TRUE(m.switching());
}

TEST(ReceiveMode, ProbesWithMultishotAfterEverySingleShotRun) {
  ReceiveMode m(Policy::adaptive);
  ASSERT_EQ(rounds_until_switch(m, 4, 1), 4u);
  switch_over(m);
  for (std::uint32_t i = 1; i < ReceiveMode::single_shots_per_probe; ++i) {
    ASSERT_TRUE(m.single_shot_next()) << "single-shot receive " << i;
    m.receive_ended(true, 1us);
  }
  ASSERT_TRUE(m.single_shot_next());
  m.receive_ended(true, 1us);  // the 1024th
  EXPECT_FALSE(m.single_shot_next()) << "no multishot probe after " << ReceiveMode::single_shots_per_probe;
  // Still light: single-shot again after four rounds, for another full run.
  EXPECT_EQ(rounds_until_switch(m, 10, 1), 4u);
  switch_over(m);
  for (std::uint32_t i = 0; i < ReceiveMode::single_shots_per_probe - 1; ++i) m.receive_ended(true, 1us);
  EXPECT_TRUE(m.single_shot_next());
}

// A single-shot receive that brings a coalesced GRO payload ends the single-shot run at once; one
// datagram (or none: an error) does not.
TEST(ReceiveMode, ACoalescedSingleShotReceiveGoesBackToMultishot) {
  ReceiveMode m(Policy::adaptive);
  ASSERT_EQ(rounds_until_switch(m, 4, 1), 4u);
  switch_over(m);
  m.receive_ended(true, 1us);
  m.single_shot_brought(1);
  m.single_shot_brought(0);
  EXPECT_TRUE(m.single_shot_next());
  m.receive_ended(true, 1us);
  m.single_shot_brought(54);
  EXPECT_FALSE(m.single_shot_next());
  EXPECT_FALSE(m.switching());
  // Bursts of coalesced payloads then stay multishot: a round with one of them is not light.
  EXPECT_EQ(rounds_until_switch(m, 1000, 54), 0u);
}

TEST(ReceiveMode, ABusyWorkerProbesSooner) {
  // A slow protocol under a flood: each single-shot round works 20 ms, so the budget of 100 ms is
  // spent after five of them, long before 1024.
  ReceiveMode m(Policy::adaptive);
  ASSERT_EQ(rounds_until_switch(m, 4, 1), 4u);
  switch_over(m);
  for (int i = 1; i < 5; ++i) {
    m.receive_ended(true, 20ms);
    ASSERT_TRUE(m.single_shot_next()) << "after " << i << " rounds of 20 ms";
  }
  m.receive_ended(true, 20ms);
  EXPECT_FALSE(m.single_shot_next());
  // The next single-shot run starts with a fresh budget.
  ASSERT_EQ(rounds_until_switch(m, 4, 1), 4u);
  switch_over(m);
  m.receive_ended(true, 99ms);
  EXPECT_TRUE(m.single_shot_next());
  m.receive_ended(true, 1ms);
  EXPECT_FALSE(m.single_shot_next());
}

TEST(ReceiveMode, AMultishotEndOtherThanTheCancelStillSwitches) {
  // The multishot request ran out of buffers before the cancel reached it: the cancel finds
  // nothing, the -ENOBUFS end is the one that arrives, and the re-arm is single-shot.
  ReceiveMode m(Policy::adaptive);
  ASSERT_EQ(rounds_until_switch(m, 4, 1), 4u);
  m.cancel_sent();
  m.receive_ended(false, 1us);
  EXPECT_TRUE(m.single_shot_next());
  EXPECT_FALSE(m.switching());
}

TEST(ReceiveMode, FixedPoliciesNeverSwitch) {
  ReceiveMode multishot(Policy::multishot);
  EXPECT_FALSE(multishot.single_shot_next());
  EXPECT_EQ(rounds_until_switch(multishot, 10000, 1), 0u);
  EXPECT_FALSE(multishot.single_shot_next());

  ReceiveMode single(Policy::single_shot);
  EXPECT_TRUE(single.single_shot_next());
  for (std::uint32_t i = 0; i < 3 * ReceiveMode::single_shots_per_probe; ++i) single.receive_ended(true, 1us);
  EXPECT_TRUE(single.single_shot_next()) << "single_shot never probes";
  single.single_shot_brought(54);
  EXPECT_TRUE(single.single_shot_next()) << "nor leaves for a coalesced payload";
}

}  // namespace
}  // namespace salvo::detail
