// The game chat server the Python socket tutorial ends on ("a chat server that subsequently
// broadcasts any messages received to all parties listening"), in salvo: every message is relayed
// to every other peer heard from in the last --window seconds. A peer joins by sending anything.
//   Python (the seed's server):  serverSock.bind((UDP_IP_ADDRESS, UDP_PORT_NO))
//                                while True: data, addr = serverSock.recvfrom(1024); print "Message: ", data
//
// How it uses salvo: a whole batch of received messages is handled in one on_datagrams call, and
// every relay it makes is queued and leaves in one flush when the call returns (one sendmmsg or one
// io_uring submission for the lot), not one system call per relay.
//
// Bounds (nothing grows while it runs):
//   - the peer table holds --max-peers peers (default 256, at most 4096). A message from a peer not
//     in the table while the table is full is not relayed, and its sender gets nothing; such
//     messages are counted ("from peers over the limit").
//   - a peer's slot frees when its window ends, with or without traffic: each peer has one timer,
//     owned by the socket, due a window after its last message; a message from it moves the timer
//     (cancel and schedule again, O(1) steps, no allocation). The engine's timer table is sized to
//     --max-peers plus a few, so a peer always gets its timer. Unless --quiet, an expiry prints
//     "Expired: HOST:PORT".
//   - messages are at most 512 bytes; longer ones are dropped and counted by the engine (truncated).
//   - the send queue holds 16384 relays of up to 512 bytes, and a receive batch is at most
//     16384 / (max-peers - 1) messages (and 64), so one batch's relays always fit. A relay the
//     queue still refuses (the kernel fell behind) is counted, never waited for.
// One worker: the peer table is one table, owned by that worker's thread, with no lock.
//
// Usage: chat_relay [HOST:PORT] [--window S] [--max-peers N] [--quiet]   (default 127.0.0.1:6789)
//   --window S      relay to peers heard from in the last S seconds (default 30)
//   --max-peers N   peer table size, 2..4096 (default 256)
//   --quiet         do not print each message and expiry
// Prints "relaying on HOST:PORT ...", then "Message: b'...' from HOST:PORT" per message and
// "Expired: HOST:PORT" per peer whose window ended (unless --quiet); Ctrl-C or SIGTERM stops it
// with a summary on stderr.
// Exit codes: 0 stopped by a signal; 1 the engine could not start; 2 bad usage or setup.
#include <algorithm>
#include <chrono>
#include <cstdio>

#include "example_support.hpp"
#include "peer_table.hpp"

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::uint32_t max_message = 512;
constexpr std::uint32_t send_queue_relays = 16384;

// Written by the worker, read by main after the engine has stopped (Engine::wait orders the two).
struct RelayStats {
  std::uint64_t messages = 0;
  std::uint64_t relays_queued = 0;
  std::uint64_t relays_not_queued = 0;  // the send queue was full
  std::uint64_t from_peers_over_limit = 0;
  std::uint64_t peers_expired = 0;
  std::size_t peers_at_exit = 0;
};

class ChatRelay : public salvo::Protocol {
 public:
  ChatRelay(std::uint32_t max_peers, Clock::duration window, bool quiet, RelayStats& stats)
      : table_(max_peers), window_(window), quiet_(quiet), stats_(stats) {}

  void on_datagrams(std::span<const salvo::Datagram> batch, salvo::Transport& transport) override {
    for (const salvo::Datagram& d : batch) {
      ++stats_.messages;
      if (!quiet_) print_message(d);
      std::uint32_t sender = table_.find(d.peer);
      if (sender == examples::PeerTable::npos) {
        sender = table_.add(d.peer);
        if (sender == examples::PeerTable::npos) {
          ++stats_.from_peers_over_limit;
          continue;
        }
      }
      // Heard from now: the peer stays for another window. The timer captures the slot, which
      // keeps its number while the peer is in the table.
      if (!table_.expire_after(sender, transport, window_, [this, sender] { expire(sender); })) {
        table_.remove(sender);  // cannot happen with main's timer table; never keep a peer forever
        ++stats_.from_peers_over_limit;
        continue;
      }
      // Everyone in the table was heard from within the window: relay to all but the sender.
      // These are only queued here; the whole batch's relays go out together after we return.
      for (const std::uint32_t peer : table_.active()) {
        if (peer == sender) continue;
        if (transport.send(d.payload, table_.address(peer)) == salvo::SendResult::queued) {
          ++stats_.relays_queued;
        } else {
          ++stats_.relays_not_queued;
        }
      }
    }
    if (!quiet_) std::fflush(stdout);  // a pipe is block-buffered: show the batch's lines now
  }

  // The socket's timers (the peers' expiries) go with it; only the count is left to take.
  void on_stop() override { stats_.peers_at_exit = table_.size(); }

 private:
  // The peer's window ended without a message from it.
  void expire(std::uint32_t slot) {
    if (!quiet_) {
      char peer[salvo::Address::max_text];
      table_.address(slot).format(peer, sizeof peer);
      std::printf("Expired: %s\n", peer);
      std::fflush(stdout);
    }
    table_.remove(slot);
    ++stats_.peers_expired;
  }

  static void print_message(const salvo::Datagram& d) {
    char peer[salvo::Address::max_text];
    d.peer.format(peer, sizeof peer);
    std::fputs("Message: ", stdout);
    examples::print_bytes_repr(stdout, d.payload);
    std::printf(" from %s\n", peer);
  }

  examples::PeerTable table_;
  Clock::duration window_;
  bool quiet_;
  RelayStats& stats_;
};

}  // namespace

int main(int argc, char** argv) {
  const char* program = "chat_relay";
  examples::Arguments args(program, argc, argv);
  salvo::Address address = examples::parse_address_or_exit(program, "127.0.0.1:6789");
  double window_seconds = 30;
  std::uint32_t max_peers = 256;
  bool quiet = false;
  bool have_address = false;
  while (!args.done()) {
    const std::string_view a = args.take();
    if (a == "--help" || a == "-h") {
      std::printf("usage: chat_relay [HOST:PORT] [--window S] [--max-peers N] [--quiet]   (default 127.0.0.1:6789)\n");
      return 0;
    } else if (a == "--window") {
      window_seconds = examples::parse_seconds_or_exit(program, "--window", args.value_for(a), 0.001, 86400);
    } else if (a == "--max-peers") {
      max_peers =
          static_cast<std::uint32_t>(examples::parse_count_or_exit(program, "--max-peers", args.value_for(a), 2, 4096));
    } else if (a == "--quiet") {
      quiet = true;
    } else if (!have_address && !a.starts_with("--")) {
      address = examples::parse_address_or_exit(program, a);
      have_address = true;
    } else {
      args.unknown(a);
    }
  }

  salvo::EngineOptions options;  // one worker (the default): one peer table
  options.buffer_size = max_message;
  options.batch_size = std::min<std::uint32_t>(64, send_queue_relays / (max_peers - 1));
  options.send_queue_entries = send_queue_relays;
  options.send_queue_bytes = send_queue_relays * max_message;
  options.timers_per_worker = max_peers + 16;  // one expiry timer per peer, and a few to spare
  const auto window =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(window_seconds));

  examples::StopSignal stop;  // before start: the workers inherit the blocked signals
  RelayStats stats;
  auto engine = salvo::Engine::create(options);
  if (!engine) return std::fprintf(stderr, "%s: %s\n", program, engine.error().message.c_str()), 2;
  examples::announce_backend(program, **engine);
  auto bound = (*engine)->listen(
      address, [&](unsigned) { return std::make_unique<ChatRelay>(max_peers, window, quiet, stats); });
  if (!bound) return std::fprintf(stderr, "%s: %s\n", program, bound.error().message.c_str()), 2;
  if (auto started = (*engine)->start(); !started) {
    return std::fprintf(stderr, "%s: %s\n", program, started.error().message.c_str()), 1;
  }
  std::printf("relaying on %s (window %g s, at most %u peers)\n", bound->to_string().c_str(), window_seconds,
              max_peers);
  std::fflush(stdout);

  stop.wait();
  (*engine)->stop();
  (*engine)->wait();
  std::fflush(stdout);
  const salvo::Counters counters = (*engine)->counters();
  std::fprintf(stderr,
               "chat_relay: %llu messages, %llu relays queued, %llu relays sent, %llu relays not queued, "
               "%llu messages from peers over the limit, %llu peers expired, %zu peers in the table, "
               "%llu messages too long\n",
               static_cast<unsigned long long>(stats.messages), static_cast<unsigned long long>(stats.relays_queued),
               static_cast<unsigned long long>(counters.sent), static_cast<unsigned long long>(stats.relays_not_queued),
               static_cast<unsigned long long>(stats.from_peers_over_limit),
               static_cast<unsigned long long>(stats.peers_expired), stats.peers_at_exit,
               static_cast<unsigned long long>(counters.dropped_truncated));
  return 0;
}
