// Zero-copy send (EngineOptions::zerocopy_send), for every backend: large messages go out with
// io_uring's SENDMSG_ZC and their send-queue slots are released only on the kernel's notification;
// the receiver gets exactly what was queued, in order, on both backends (the epoll backend copies,
// as it always does). On loopback the kernel copies zero-copy sends when it delivers them, and the
// notifications say so (zerocopy_copied).
#include "support/test_support.hpp"

namespace salvo::test {
namespace {

class Zerocopy : public testing::TestWithParam<BackendKind> {};

struct Load {
  std::size_t count;
  std::size_t size;
};

Counters send_and_check(EngineOptions o, const std::vector<Load>& loads) {
  UdpSocket receiver(addr("127.0.0.1:0"), 16 << 20);
  std::size_t total = 0;
  for (const Load& l : loads) total += l.count;
  Recorder recorder;
  Hooks hooks;
  // Fed through on_writable, so that the queue refills as slots come back: with zero-copy, only
  // after the kernel's notifications.
  std::size_t next = 0;
  std::vector<std::size_t> sizes;
  for (const Load& l : loads) sizes.insert(sizes.end(), l.count, l.size);
  hooks.on_start = [](Transport& t) { t.request_writable(true); };
  hooks.on_writable = [&](Transport& t) {
    while (next < total && t.send_queue_room(sizes[next]) > 0) {
      EXPECT_EQ(t.send(make_payload(next, sizes[next]), receiver.local()), SendResult::queued);
      ++next;
    }
    if (next == total) t.request_writable(false);
  };
  o.send_queue_entries = 256;
  o.send_queue_bytes = 2 << 20;
  auto engine = make_engine(o);
  must_listen(*engine, addr("127.0.0.1:0"), recording_factory(recorder, hooks));
  must_start(*engine);
  for (std::size_t i = 0; i < total; ++i) {
    auto m = receiver.receive(10s);
    if (!m.has_value()) {
      ADD_FAILURE() << "datagram " << i << " of " << total << " never arrived: " << describe(engine->counters());
      break;
    }
    EXPECT_EQ(m->payload.size(), sizes[i]) << "datagram " << i;
    EXPECT_EQ(payload_seq(m->payload), i) << "out of order";
  }
  EXPECT_TRUE(wait_until([&] { return engine->counters().sent == total; }, 10s)) << describe(engine->counters());
  stop_and_wait(*engine);
  EXPECT_FALSE(receiver.receive(100ms).has_value()) << "more arrived than was sent";
  return engine->counters();
}

TEST_P(Zerocopy, LargeMessagesGoZeroCopyAndEveryDatagramArrivesOnce) {
  EngineOptions o;
  o.backend = GetParam();
  o.zerocopy_send = true;
  // GSO runs of 1200-byte datagrams (up to 54 per message: 64800 bytes) qualify; 100-byte ones
  // in runs of at most 64 (6400 bytes) do not.
  const Counters c = send_and_check(o, {{600, 1200}, {200, 100}, {300, 1200}});
  EXPECT_EQ(c.sent, 1100u) << describe(c);
  EXPECT_EQ(c.dropped_send_error, 0u);
  if (GetParam() == BackendKind::io_uring) {
    EXPECT_GT(c.zerocopy_sends, 0u) << describe(c);
    EXPECT_LE(c.zerocopy_sends, c.gso_sends) << "only large GSO messages qualify: " << describe(c);
    EXPECT_EQ(c.zerocopy_copied, c.zerocopy_sends) << "loopback copies every zero-copy send: " << describe(c);
    EXPECT_EQ(c.gso_fallbacks, 0u);
  } else {
    EXPECT_EQ(c.zerocopy_sends, 0u) << "the epoll backend always copies";
    EXPECT_EQ(c.zerocopy_copied, 0u);
  }
}

TEST_P(Zerocopy, SingleLargeDatagramsWithoutGso) {
  EngineOptions o;
  o.backend = GetParam();
  o.zerocopy_send = true;
  o.gso = false;
  const Counters c = send_and_check(o, {{100, 20000}, {50, 500}});
  EXPECT_EQ(c.sent, 150u) << describe(c);
  EXPECT_EQ(c.gso_sends, 0u);
  EXPECT_EQ(c.zerocopy_sends, GetParam() == BackendKind::io_uring ? 100u : 0u) << describe(c);
}

TEST_P(Zerocopy, OffByDefault) {
  EngineOptions o;
  o.backend = GetParam();
  const Counters c = send_and_check(o, {{100, 20000}});
  EXPECT_EQ(c.sent, 100u);
  EXPECT_EQ(c.zerocopy_sends, 0u);
}

INSTANTIATE_TEST_SUITE_P(Backends, Zerocopy, testing::ValuesIn(available_backends()), backend_test_name);

}  // namespace
}  // namespace salvo::test
