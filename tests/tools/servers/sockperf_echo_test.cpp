// SockperfEchoProtocol on a real engine, for every backend: it answers exactly the client messages
// that request a pong, with the client flag cleared and every other byte unchanged, to the sender;
// everything else is counted under its reason and not answered.
#include <gtest/gtest.h>

#include <algorithm>

#include "servers/sockperf_echo.hpp"
#include "servers/sockperf_header.hpp"
#include "support/test_support.hpp"

namespace salvo::cli {
namespace {

using namespace salvo::test;

// A message of `size` bytes; one shorter than the header holds the header's first bytes.
std::vector<std::byte> message(std::uint64_t seq, std::uint16_t flags, std::size_t size, std::uint32_t length = 0) {
  std::vector<std::byte> m(std::max(size, sockperf_header_size));
  for (std::size_t i = sockperf_header_size; i < size; ++i) m[i] = static_cast<std::byte>(seq + i);
  write_sockperf_header(m, SockperfHeader{seq, flags, length != 0 ? length : static_cast<std::uint32_t>(size)});
  m.resize(size);
  return m;
}

class SockperfEcho : public testing::TestWithParam<BackendKind> {};

TEST_P(SockperfEcho, AnswersOnlyPongRequestsFromClients) {
  SockperfStats stats;
  EngineOptions o;
  o.backend = GetParam();
  o.buffer_count = 64;
  auto engine = make_engine(o);
  const Address server = must_listen(*engine, addr("127.0.0.1:0"), [&](unsigned) {
    return std::make_unique<SockperfEchoProtocol>(stats, o.buffer_size);
  });
  must_start(*engine);

  constexpr std::uint16_t client = SockperfHeader::client;
  constexpr std::uint16_t pong = SockperfHeader::pong_request;
  constexpr std::uint16_t warmup = SockperfHeader::warmup;
  UdpSocket peer(addr("127.0.0.1:0"));
  // Not answered, each for its own reason.
  ASSERT_TRUE(peer.send_to(message(1, client, 14), server));                   // no pong request
  ASSERT_TRUE(peer.send_to(message(2, client, 300), server));                  // no pong request
  ASSERT_TRUE(peer.send_to(message(3, client | pong | warmup, 14), server));   // warm-up
  ASSERT_TRUE(peer.send_to(message(4, pong, 14), server));                     // a server's message
  ASSERT_TRUE(peer.send_to(message(5, client | pong, 13), server));            // shorter than the header
  ASSERT_TRUE(peer.send_to(message(6, client | pong, 64, 65), server));        // length != size
  ASSERT_TRUE(peer.send_to(message(7, client | pong, 3000), server));          // truncated (buffer 2048)
  // Answered.
  const std::vector<std::vector<std::byte>> answered = {message(8, client | pong, 14), message(9, client | pong, 1400),
                                                        message(10, client | pong | 0x100, 100)};
  for (const auto& m : answered) ASSERT_TRUE(peer.send_to(m, server));

  for (const auto& m : answered) {
    auto reply = peer.receive(5s);
    ASSERT_TRUE(reply.has_value()) << "no reply to sequence " << parse_sockperf_header(m)->sequence;
    EXPECT_EQ(reply->from, server);
    std::vector<std::byte> expected = m;
    make_sockperf_reply(expected);
    EXPECT_EQ(reply->payload, expected);
    auto h = parse_sockperf_header(reply->payload);
    ASSERT_TRUE(h.has_value());
    EXPECT_FALSE(h->is_client());
    EXPECT_TRUE(h->wants_pong());
  }
  // Loopback keeps order, so the replies above prove everything before them was handled.
  EXPECT_FALSE(peer.wait_readable(200ms)) << "a datagram that must not be answered was";
  stop_and_wait(*engine);

  EXPECT_EQ(stats.messages, 5u);
  EXPECT_EQ(stats.replies, 3u);
  EXPECT_EQ(stats.no_reply, 2u);
  EXPECT_EQ(stats.warmup, 1u);
  EXPECT_EQ(stats.not_client, 1u);
  EXPECT_EQ(stats.invalid, 2u);  // short, wrong length (the truncated one never reaches the protocol)
  EXPECT_EQ(stats.reply_failed, 0u);
  const Counters c = engine->counters();
  EXPECT_EQ(c.received, 10u) << describe(c);
  EXPECT_EQ(c.delivered, 9u) << describe(c);
  EXPECT_EQ(c.dropped_truncated, 1u) << describe(c);
  EXPECT_EQ(c.sent, 3u) << describe(c);

  const nlohmann::json j = sockperf_stats_json(stats);
  EXPECT_EQ(j["messages"], 5u);
  EXPECT_EQ(j["replies"], 3u);
  EXPECT_EQ(j["invalid"], 2u);
}

INSTANTIATE_TEST_SUITE_P(Backends, SockperfEcho, testing::ValuesIn(available_backends()), backend_test_name);

}  // namespace
}  // namespace salvo::cli
