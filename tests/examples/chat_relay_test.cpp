// examples/chat_relay (the socket tutorial's game chat server), run as a child process on each
// backend with plain sockets as its peers: 100 peers, each message relayed to exactly the other
// peers in the table, counted exactly; a peer gone quiet is dropped when its window ends, with no
// traffic needed, gets nothing after that, and its slot takes a newcomer; a full peer table turns
// newcomers away and counts them; over-long messages are dropped and counted.
#include <signal.h>

#include <algorithm>

#include "examples/example_test_support.hpp"

namespace salvo::test {
namespace {

std::string text_of(const std::vector<std::byte>& payload) {
  return std::string(reinterpret_cast<const char*>(payload.data()), payload.size());
}

std::span<const std::byte> bytes_of(const std::string& text) {
  return std::as_bytes(std::span<const char>(text.data(), text.size()));
}

class ChatRelay : public ExampleTest {
 protected:
  // Starts chat_relay on a free loopback port; returns the address it relays on.
  Address start(std::vector<std::string> flags) {
    flags.insert(flags.begin(), {chat_relay_bin, "127.0.0.1:0"});
    relay_ = std::make_unique<ExampleProcess>(flags, backend_env());
    const auto line = relay_->wait_for_stdout_line("relaying on ", 10s);
    if (!line) throw std::runtime_error("chat_relay did not start: " + relay_->err_so_far());
    return address_after(*line, "relaying on ");
  }

  ProcessResult stop() {
    relay_->send_signal(SIGTERM);
    ProcessResult r = relay_->finish(10s);
    EXPECT_TRUE(r.exited && r.exit_code == 0) << describe(r);
    EXPECT_NE(r.err.find(backend_line()), std::string::npos) << describe(r);
    return r;
  }

  // Reads exactly `count` datagrams (each must come from the relay) within `timeout`; their texts,
  // sorted.
  static std::vector<std::string> receive_exactly(UdpSocket& socket, std::size_t count, const Address& relay,
                                                  std::chrono::milliseconds timeout = 10s) {
    const Deadline deadline(timeout);
    std::vector<std::string> texts;
    while (texts.size() < count) {
      auto m = socket.receive(std::chrono::milliseconds(deadline.poll_ms(10s)));
      if (!m) break;
      EXPECT_EQ(m->from, relay);
      texts.push_back(text_of(m->payload));
    }
    std::sort(texts.begin(), texts.end());
    return texts;
  }

  static std::size_t count_prefixed(const std::string& text, const std::string& prefix) {
    const auto lines = lines_of(text);
    return static_cast<std::size_t>(
        std::count_if(lines.begin(), lines.end(), [&](const std::string& l) { return l.rfind(prefix, 0) == 0; }));
  }

  // True when nothing is queued on `socket` right now.
  static bool nothing_queued(UdpSocket& socket) {
    std::byte buffer[2048];
    Address from;
    return socket.try_receive(buffer, from) < 0;
  }

  std::unique_ptr<ExampleProcess> relay_;
};

TEST_P(ChatRelay, EveryMessageReachesExactlyTheOtherPeersInTheTable) {
  constexpr std::size_t peer_count = 100;
  // A window no run of this test comes near: every peer stays in the table to the end.
  const Address relay = start({"--window", "600"});

  std::vector<std::unique_ptr<UdpSocket>> peers;
  for (std::size_t i = 0; i < peer_count; ++i) peers.push_back(std::make_unique<UdpSocket>(addr("127.0.0.1:0")));
  // Joining in order: peer i's hello goes to the peers that joined before it.
  for (std::size_t i = 0; i < peer_count; ++i) {
    ASSERT_TRUE(peers[i]->send_to(bytes_of("hello from " + std::to_string(i)), relay));
  }
  for (std::size_t i = 0; i < peer_count; ++i) {
    std::vector<std::string> expected;
    for (std::size_t j = i + 1; j < peer_count; ++j) expected.push_back("hello from " + std::to_string(j));
    std::sort(expected.begin(), expected.end());
    ASSERT_EQ(receive_exactly(*peers[i], expected.size(), relay), expected) << "peer " << i;
  }
  // Everyone speaks once: each message goes to exactly the other 99.
  for (std::size_t i = 0; i < peer_count; ++i) {
    ASSERT_TRUE(peers[i]->send_to(bytes_of("message from " + std::to_string(i)), relay));
  }
  for (std::size_t i = 0; i < peer_count; ++i) {
    std::vector<std::string> expected;
    for (std::size_t j = 0; j < peer_count; ++j) {
      if (j != i) expected.push_back("message from " + std::to_string(j));
    }
    std::sort(expected.begin(), expected.end());
    ASSERT_EQ(receive_exactly(*peers[i], expected.size(), relay), expected) << "peer " << i;
  }
  const ProcessResult r = stop();
  // The relay's own count pins the total: nothing went anywhere beyond what was received above.
  EXPECT_NE(r.err.find("chat_relay: 200 messages, 14850 relays queued, 14850 relays sent, 0 relays not queued, "
                       "0 messages from peers over the limit, 0 peers expired, 100 peers in the table, "
                       "0 messages too long"),
            std::string::npos)
      << describe(r);
  for (std::size_t i = 0; i < peer_count; ++i) EXPECT_TRUE(nothing_queued(*peers[i])) << "peer " << i;
  // Each message is printed as the seed's server prints it, with its sender.
  const auto lines = lines_of(r.out);
  EXPECT_EQ(lines.size(), 1 + 2 * peer_count) << describe(r);
  const std::string seven = "Message: b'message from 7' from " + peers[7]->local().to_string();
  EXPECT_EQ(count_lines(r.out, seven), 1u) << describe(r);
}

TEST_P(ChatRelay, AQuietPeerIsDroppedWhenItsWindowEndsWithoutAnyTraffic) {
  const Address relay = start({"--window", "1", "--max-peers", "2"});
  UdpSocket a(addr("127.0.0.1:0"));
  UdpSocket b(addr("127.0.0.1:0"));
  ASSERT_TRUE(a.send_to(bytes_of("a joins"), relay));
  ASSERT_TRUE(b.send_to(bytes_of("b joins"), relay));
  ASSERT_EQ(receive_exactly(a, 1, relay), std::vector<std::string>{"b joins"});
  // Then nothing is sent at all: each expiry is the relay's timer alone. Waiting for the lines it
  // prints (not sleeping a window) keeps this right however slow the machine is.
  ASSERT_TRUE(relay_->wait_for_stdout_line("Expired: " + a.local().to_string(), 20s)) << relay_->out_so_far();
  ASSERT_TRUE(relay_->wait_for_stdout_line("Expired: " + b.local().to_string(), 20s)) << relay_->out_so_far();

  // Both slots of the full table were freed by the timers: two newcomers fit, the quiet ones hear
  // nothing of them.
  UdpSocket c(addr("127.0.0.1:0"));
  UdpSocket d(addr("127.0.0.1:0"));
  ASSERT_TRUE(c.send_to(bytes_of("c joins"), relay));
  ASSERT_TRUE(d.send_to(bytes_of("d joins"), relay));
  ASSERT_TRUE(relay_->wait_for_stdout_line("Message: b'd joins'", 10s)) << relay_->out_so_far();
  const ProcessResult r = stop();
  EXPECT_NE(r.err.find("chat_relay: 4 messages, "), std::string::npos) << describe(r);
  EXPECT_NE(r.err.find(" 0 messages from peers over the limit, "), std::string::npos) << describe(r);
  // c and d may have gone quiet for a window too before the stop, on a slow machine: whatever
  // expired printed its line, and every peer is either expired or still in the table.
  const std::size_t expired = count_prefixed(r.out, "Expired: ");
  EXPECT_GE(expired, 2u) << describe(r);
  EXPECT_NE(r.err.find(" " + std::to_string(expired) + " peers expired, " + std::to_string(4 - expired) +
                       " peers in the table, "),
            std::string::npos)
      << describe(r);
  EXPECT_TRUE(nothing_queued(a)) << "a peer whose window ended got a relay";
  EXPECT_TRUE(nothing_queued(b)) << "a peer whose window ended got a relay";
}

TEST_P(ChatRelay, AFullTableTurnsNewcomersAwayAndOverlongMessagesAreDropped) {
  const Address relay = start({"--window", "60", "--max-peers", "3", "--quiet"});
  UdpSocket a(addr("127.0.0.1:0"));
  UdpSocket b(addr("127.0.0.1:0"));
  UdpSocket c(addr("127.0.0.1:0"));
  UdpSocket d(addr("127.0.0.1:0"));
  // Sent in this order, read by the relay in this order (one socket queue on loopback).
  ASSERT_TRUE(a.send_to(bytes_of("a joins"), relay));      // to nobody
  ASSERT_TRUE(b.send_to(bytes_of("b joins"), relay));      // to a
  ASSERT_TRUE(c.send_to(bytes_of("c joins"), relay));      // to a, b: the table is full
  ASSERT_TRUE(d.send_to(bytes_of("d knocks"), relay));     // turned away, counted
  ASSERT_TRUE(a.send_to(bytes_of("a speaks"), relay));     // to b, c, not d
  ASSERT_TRUE(b.send_to(bytes_of(std::string(513, 'x')), relay));  // over 512 bytes: dropped
  ASSERT_TRUE(a.send_to(bytes_of("a again"), relay));      // to b, c
  EXPECT_EQ(receive_exactly(a, 2, relay), (std::vector<std::string>{"b joins", "c joins"}));
  EXPECT_EQ(receive_exactly(b, 3, relay), (std::vector<std::string>{"a again", "a speaks", "c joins"}));
  EXPECT_EQ(receive_exactly(c, 2, relay), (std::vector<std::string>{"a again", "a speaks"}));
  const ProcessResult r = stop();
  EXPECT_NE(r.err.find("chat_relay: 6 messages, 7 relays queued, 7 relays sent, 0 relays not queued, "
                       "1 messages from peers over the limit, 0 peers expired, 3 peers in the table, "
                       "1 messages too long"),
            std::string::npos)
      << describe(r);
  EXPECT_TRUE(nothing_queued(d)) << "a peer the table had no room for got a relay";
  for (UdpSocket* s : {&a, &b, &c}) EXPECT_TRUE(nothing_queued(*s));
  EXPECT_EQ(lines_of(r.out).size(), 1u) << "--quiet prints only the 'relaying on' line\n" << describe(r);
}

INSTANTIATE_TEST_SUITE_P(Backends, ChatRelay, testing::ValuesIn(available_backends()), backend_test_name);

}  // namespace
}  // namespace salvo::test
