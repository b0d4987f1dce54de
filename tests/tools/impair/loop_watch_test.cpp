// LoopWatch in-process, on a clock the test moves: a client that sends back the datagram the proxy
// remembered delivering to it is looping for one window from then; each catch renews that (the next
// datagram delivered is remembered at once); only the remembered datagram counts, and only within
// its window; clients are independent and a reset slot starts clean.
#include <gtest/gtest.h>

#include <vector>

#include "impair/loop_watch.hpp"

namespace salvo::cli {
namespace {

using namespace std::chrono_literals;
using time_point = LoopWatch::time_point;
const time_point t0 = time_point{} + 100s;

std::vector<std::byte> payload(std::uint8_t tag, std::size_t size = 64) { return std::vector<std::byte>(size, std::byte{tag}); }

TEST(LoopWatch, AClientSendingBackWhatItWasDeliveredIsLoopingForAWindow) {
  LoopWatch w(4, 1s);
  EXPECT_FALSE(w.looping(0, t0));
  w.delivering(0, payload(1), t0);
  EXPECT_FALSE(w.received(0, payload(2), t0 + 1ms)) << "a request of its own";
  EXPECT_FALSE(w.looping(0, t0 + 1ms));
  EXPECT_TRUE(w.received(0, payload(1), t0 + 2ms));
  EXPECT_TRUE(w.looping(0, t0 + 2ms));
  EXPECT_TRUE(w.looping(0, t0 + 1s + 1ms));
  EXPECT_FALSE(w.looping(0, t0 + 1s + 2ms));
  EXPECT_FALSE(w.looping(1, t0 + 2ms)) << "clients are independent";
}

TEST(LoopWatch, EachCatchRenewsTheWindowAndTheNextDeliveryIsWatched) {
  LoopWatch w(1, 1s);
  w.delivering(0, payload(1), t0);
  ASSERT_TRUE(w.received(0, payload(1), t0 + 10ms));
  EXPECT_FALSE(w.received(0, payload(1), t0 + 11ms)) << "a catch forgets the datagram it caught";
  w.delivering(0, payload(2), t0 + 900ms);  // remembered at once
  w.delivering(0, payload(3), t0 + 901ms);  // not: 2 stands
  EXPECT_FALSE(w.received(0, payload(3), t0 + 950ms));
  EXPECT_TRUE(w.received(0, payload(2), t0 + 1500ms));
  EXPECT_TRUE(w.looping(0, t0 + 2499ms)) << "renewed from the second catch";
  EXPECT_FALSE(w.looping(0, t0 + 2500ms));
}

TEST(LoopWatch, TheRememberedDatagramIsWatchedForOneWindowOnly) {
  LoopWatch w(1, 1s);
  w.delivering(0, payload(1), t0);
  w.delivering(0, payload(2), t0 + 999ms);  // 1 still stands
  EXPECT_FALSE(w.received(0, payload(1), t0 + 1s)) << "its window is over";
  w.delivering(0, payload(2), t0 + 1s);  // remembered afresh
  EXPECT_FALSE(w.received(0, payload(2, 63), t0 + 1s)) << "the same bytes, one fewer";
  EXPECT_TRUE(w.received(0, payload(2), t0 + 1s));
}

TEST(LoopWatch, AResetSlotStartsClean) {
  LoopWatch w(2, 1s);
  w.delivering(1, payload(1), t0);
  ASSERT_TRUE(w.received(1, payload(1), t0));
  w.delivering(1, payload(2), t0);
  w.reset(1);
  EXPECT_FALSE(w.looping(1, t0));
  EXPECT_FALSE(w.received(1, payload(2), t0));
}

}  // namespace
}  // namespace salvo::cli
