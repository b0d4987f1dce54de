// Cross-thread sends, for every backend: four producer threads that are not workers send through
// one socket's SendChannel, retrying when it is full, and every datagram arrives, in each
// producer's order, with its bytes intact; a channel of a closed socket says closed.
#include <sys/socket.h>

#include <future>
#include <thread>

#include "support/test_support.hpp"

namespace salvo::test {
namespace {

using SendChannels = SmallPoolPerBackend;

TEST_P(SendChannels, FourProducersArriveComplete) {
  auto engine = make_engine(options());
  UdpSocket receiver(addr("127.0.0.1:0"));
  // Root may raise the buffer past rmem_max: the test then does not depend on reading fast.
  const int big = 64 << 20;
  (void)::setsockopt(receiver.fd(), SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
  std::promise<SendChannel> opened;
  auto channel_future = opened.get_future();
  Recorder recorder;
  Hooks hooks;
  hooks.on_start = [&](Transport& t) {
    auto c = t.open_send_channel(256, 128);
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(c->slots(), 256u);
    opened.set_value(*c);
  };
  must_listen(*engine, addr("127.0.0.1:0"), recording_factory(recorder, hooks));
  must_start(*engine);
  ASSERT_EQ(channel_future.wait_for(10s), std::future_status::ready);
  const SendChannel channel = channel_future.get();

  constexpr int producers = 4;
  constexpr std::uint64_t each = 2000;
  std::vector<std::thread> threads;
  std::atomic<std::uint64_t> retries{0};
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      for (std::uint64_t i = 0; i < each; ++i) {
        const auto payload = make_payload((static_cast<std::uint64_t>(p) << 32) | i, 64);
        Deadline give_up(30s);
        while (channel.send(payload, receiver.local()) == SendResult::queue_full && !give_up.expired()) {
          retries.fetch_add(1, std::memory_order_relaxed);
          std::this_thread::yield();
        }
      }
    });
  }
  std::vector<std::uint64_t> next(producers, 0);
  std::uint64_t received = 0;
  while (received < producers * each) {
    auto m = receiver.receive(10s, 256);
    ASSERT_TRUE(m) << received << " received";
    ASSERT_EQ(m->payload.size(), 64u);
    const std::uint64_t seq = payload_seq(m->payload);
    EXPECT_EQ(m->payload, make_payload(seq, 64)) << "bytes changed";
    const auto p = static_cast<std::size_t>(seq >> 32);
    ASSERT_LT(p, next.size());
    EXPECT_EQ(seq & 0xffffffff, next[p]) << "producer " << p << " out of order";
    next[p] = (seq & 0xffffffff) + 1;
    ++received;
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(channel.refused(), retries.load());
  // The kernel's answers to the sends may reach the books just after the datagrams arrived.
  EXPECT_TRUE(wait_until([&] { return engine->counters().sent == producers * each; }, 10s)) << describe(engine->counters());
  stop_and_wait(*engine);
  EXPECT_TRUE(channel.closed());
  EXPECT_EQ(channel.send(make_payload(1, 8), receiver.local()), SendResult::closed);
}

TEST_P(SendChannels, BadSizesAreErrors) {
  auto engine = make_engine(options());
  Recorder recorder;
  std::promise<std::string> result;
  auto f = result.get_future();
  Hooks hooks;
  hooks.on_start = [&](Transport& t) {
    auto a = t.open_send_channel(3, 128);
    auto b = t.open_send_channel(16, 0);
    result.set_value((a ? std::string("ok") : a.error().message) + "|" + (b ? std::string("ok") : b.error().message));
  };
  must_listen(*engine, addr("127.0.0.1:0"), recording_factory(recorder, hooks));
  must_start(*engine);
  ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
  const std::string text = f.get();
  EXPECT_NE(text.find("send channel slots"), std::string::npos) << text;
  EXPECT_NE(text.find("send channel slot size"), std::string::npos) << text;
  stop_and_wait(*engine);
}

INSTANTIATE_TEST_SUITE_P(Backends, SendChannels, testing::ValuesIn(available_backends()), backend_test_name);

}  // namespace
}  // namespace salvo::test
