// SendOutcome: the one place that decides what a failed send becomes, for both backends. Checked
// on a socket state without a kernel socket (its error queue reads nothing): counts, the GSO split
// and its single downgrade, resends after ICMP errors, EAGAIN, and drops reported once each.
#include "datapath/send_outcome.hpp"

#include <cerrno>
#include <vector>

#include "datapath/error_queue.hpp"
#include "support/test_support.hpp"

namespace salvo::detail {
namespace {

using test::addr;
using test::make_payload;

class Recorder final : public Protocol {
 public:
  void on_datagrams(std::span<const Datagram>, Transport&) override {}
  void on_refused(const Address& peer, Transport&) override { refused.push_back(peer); }
  void on_error(std::error_code e, Transport&) override { errors.push_back(e.value()); }
  std::vector<Address> refused;
  std::vector<int> errors;
};

struct Fixture {
  Fixture() {
    EXPECT_TRUE(pool.init(std::uint64_t{8} << 20, 0, "the test").ok());
    EXPECT_TRUE(s.queue.init(pool, 64, 64 * 1024).ok());
    auto p = std::make_unique<Recorder>();
    protocol = p.get();
    s.protocol = std::move(p);
    s.gso = true;
  }
  void queue(std::size_t n, std::size_t size = 100) {
    for (std::size_t i = 0; i < n; ++i) ASSERT_TRUE(s.queue.push(make_payload(i, size), to));
  }
  // The entry `offset` places from the front.
  const SendQueue::Entry& at(std::size_t offset) const { return *s.queue.after(s.queue.front(), offset); }
  SendPool pool;  // before s: its queue gives segments back
  SocketState s;
  Recorder* protocol = nullptr;
  SendOutcome outcome;
  Address to = addr("127.0.0.1:9");
};

TEST(SendOutcome, SentCountsDatagramsBytesAndGsoMessages) {
  Fixture f;
  f.queue(5, 100);
  f.outcome.sent(f.s, f.at(0), 5, 1, 4);
  EXPECT_EQ(f.s.counters.sent.get(), 5u);
  EXPECT_EQ(f.s.counters.sent_bytes.get(), 500u);
  EXPECT_EQ(f.s.counters.gso_sends.get(), 1u);
  EXPECT_EQ(f.s.counters.gso_segments.get(), 4u);
  EXPECT_EQ(f.s.counters.gso_fallbacks.get(), 0u);
  EXPECT_TRUE(f.s.gso);
}

TEST(SendOutcome, RefusedGsoMessageSplitsAndItsFirstDatagramSentPlainTurnsGsoOff) {
  Fixture f;
  f.queue(4);
  f.s.queue.pop(1);  // sequences are absolute: the suspect is named by its own, not its offset
  EXPECT_EQ(f.outcome.failed(f.s, f.at(0), 3, EIO, 0), SendAction::split);
  EXPECT_TRUE(f.s.gso) << "one refusal decides nothing yet";
  f.outcome.sent(f.s, f.at(0), 1);  // the first of them, plain
  EXPECT_FALSE(f.s.gso);
  EXPECT_EQ(f.s.counters.gso_fallbacks.get(), 1u);
  f.outcome.sent(f.s, f.at(1), 2);
  EXPECT_EQ(f.s.counters.gso_fallbacks.get(), 1u) << "counted once";
  EXPECT_TRUE(f.protocol->errors.empty());
}

TEST(SendOutcome, RefusalThatFailsPlainTooLeavesGsoOn) {
  Fixture f;
  f.queue(3);
  EXPECT_EQ(f.outcome.failed(f.s, f.at(0), 3, EINVAL, 0), SendAction::split);
  EXPECT_EQ(f.outcome.failed(f.s, f.at(0), 1, EINVAL, 0), SendAction::drop) << "the destination's fault, not GSO's";
  f.outcome.dropped(f.s, f.s.queue.front().to, EINVAL);
  f.s.queue.pop(1);
  f.outcome.sent(f.s, f.at(0), 2);
  EXPECT_TRUE(f.s.gso);
  EXPECT_EQ(f.s.counters.gso_fallbacks.get(), 0u);
  EXPECT_EQ(f.s.counters.dropped_send_error.get(), 1u);
  EXPECT_EQ(f.protocol->errors, std::vector<int>{EINVAL});
}

TEST(SendOutcome, OtherErrorsOfAGsoMessageSplitWithoutSuspectingGso) {
  Fixture f;
  f.queue(2);
  EXPECT_EQ(f.outcome.failed(f.s, f.at(0), 2, EPERM, 0), SendAction::split);
  f.outcome.sent(f.s, f.at(0), 2);
  EXPECT_TRUE(f.s.gso);
  EXPECT_EQ(f.s.counters.gso_fallbacks.get(), 0u);
}

TEST(SendOutcome, CancelledGsoMessageIsDroppedNotSplit) {
  Fixture f;
  f.queue(3);
  EXPECT_EQ(f.outcome.failed(f.s, f.at(0), 3, ECANCELED, 0), SendAction::drop);
}

TEST(SendOutcome, EagainBlocksAndIsCounted) {
  Fixture f;
  f.queue(1);
  EXPECT_EQ(f.outcome.failed(f.s, f.at(0), 1, EAGAIN, 0), SendAction::blocked);
  EXPECT_EQ(f.s.counters.eagain.get(), 1u);
  EXPECT_EQ(f.s.counters.dropped_send_error.get(), 0u);
}

TEST(SendOutcome, RefusedByAnEarlierDatagramsIcmpErrorIsSentAgainUpToTheStormBound) {
  Fixture f;
  f.queue(1);
  EXPECT_EQ(f.outcome.failed(f.s, f.at(0), 1, ECONNREFUSED, 0), SendAction::resend);
  EXPECT_EQ(f.outcome.failed(f.s, f.at(0), 1, ECONNREFUSED, storm_send_retries - 1), SendAction::resend);
  EXPECT_EQ(f.outcome.failed(f.s, f.at(0), 1, ECONNREFUSED, storm_send_retries), SendAction::drop);
  // Without a report in the error queue, a host unreachable may be the datagram's own: fewer tries.
  EXPECT_EQ(f.outcome.failed(f.s, f.at(0), 1, EHOSTUNREACH, quiet_send_retries - 1), SendAction::resend);
  EXPECT_EQ(f.outcome.failed(f.s, f.at(0), 1, EHOSTUNREACH, quiet_send_retries), SendAction::drop);
}

TEST(SendOutcome, EmsgsizeWithNothingFromTheNetworkIsADrop) {
  Fixture f;
  f.queue(1);
  EXPECT_EQ(f.outcome.failed(f.s, f.at(0), 1, EMSGSIZE, 0), SendAction::drop);
}

TEST(SendOutcome, DroppedRefusalReachesOnRefusedWithItsDestination) {
  Fixture f;
  f.queue(1);
  f.outcome.dropped(f.s, f.to, ECONNREFUSED);
  EXPECT_EQ(f.s.counters.dropped_send_error.get(), 1u);
  EXPECT_EQ(f.s.counters.refused.get(), 1u);
  ASSERT_EQ(f.protocol->refused.size(), 1u);
  EXPECT_EQ(f.protocol->refused[0], f.to);
  EXPECT_TRUE(f.protocol->errors.empty());
}

}  // namespace
}  // namespace salvo::detail
