// Twisted's MulticastPingPong server from the UDP howto ("Multicast UDP"), in salvo: join a
// multicast group on a port that other programs may share, and answer every "Client: Ping" sent to
// the group with a "Server: Pong" sent straight (unicast) to the pinger's own address.
//   Twisted: class MulticastPingPong(DatagramProtocol):
//              def startProtocol(self): self.transport.joinGroup("228.0.0.5")
//              def datagramReceived(self, datagram, address):
//                  print "Datagram %s received from %s" % (repr(datagram), repr(address))
//                  if datagram == "Client: Ping": self.transport.write("Server: Pong", address)
//            reactor.listenMulticast(9999, MulticastPingPong(), listenMultiple=True)
//
// Usage: multicast_pong [GROUP:PORT] [--interface NAME]   (default 228.0.0.5:9999)
//   --interface NAME   join on this interface (default: the one the routing table picks for the group)
// Several pongs may run on one host: each gets its own copy of every ping (listen_multiple).
// Prints "joined GROUP on port PORT" once the group is joined, then one line per datagram.
// Ctrl-C or SIGTERM stops it with a summary on stderr.
// Exit codes: 0 stopped by a signal; 1 the engine could not start or the join failed; 2 bad usage or
// setup (address, port in use without listen_multiple, backend).
#include <atomic>
#include <cstdio>

#include "example_support.hpp"

namespace {

constexpr std::string_view ping = "Client: Ping";
constexpr std::string_view pong = "Server: Pong";

// Written by the worker, read by main after the engine has stopped (Engine::wait orders the two).
struct PongStats {
  std::uint64_t datagrams = 0;
  std::uint64_t pongs_not_queued = 0;  // the send queue refused (full); counted by the engine too
};

class MulticastPingPong : public salvo::Protocol {
 public:
  MulticastPingPong(salvo::Address group, salvo::NetworkInterface where, PongStats& stats,
                    examples::StopSignal& stop, std::atomic<int>& exit_code)
      : group_(group), where_(std::move(where)), stats_(stats), stop_(stop), exit_code_(exit_code) {}

  void on_start(salvo::Transport& transport) override {
    // Join the multicast group, so that datagrams sent to it reach this socket too (a socket
    // always receives unicast to its own port).
    if (auto joined = transport.join_group(group_, where_); !joined) {
      std::fprintf(stderr, "multicast_pong: %s\n", joined.error().message.c_str());
      exit_code_ = 1;
      stop_.request_stop();
      return;
    }
    std::printf("joined %s on port %u\n", group_.ip_string().c_str(), transport.local_address().port());
    std::fflush(stdout);
  }

  void on_datagrams(std::span<const salvo::Datagram> batch, salvo::Transport& transport) override {
    for (const salvo::Datagram& d : batch) {
      ++stats_.datagrams;
      std::fputs("Datagram ", stdout);
      examples::print_bytes_repr(stdout, d.payload);
      std::fputs(" received from ", stdout);
      examples::print_address_tuple(stdout, d.peer);
      std::fputc('\n', stdout);
      if (examples::payload_equals(d.payload, ping)) {
        // Rather than replying to the group multicast address, we send the reply directly
        // (unicast) to the originating port (the seed's comment). All replies of this batch leave
        // together when the hook returns.
        if (transport.send(examples::bytes_of(pong), d.peer) != salvo::SendResult::queued) ++stats_.pongs_not_queued;
      }
    }
    std::fflush(stdout);
  }

 private:
  salvo::Address group_;
  salvo::NetworkInterface where_;
  PongStats& stats_;
  examples::StopSignal& stop_;
  std::atomic<int>& exit_code_;
};

}  // namespace

int main(int argc, char** argv) {
  const char* program = "multicast_pong";
  examples::Arguments args(program, argc, argv);
  salvo::Address group = examples::parse_address_or_exit(program, "228.0.0.5:9999");
  salvo::NetworkInterface where;
  bool have_group = false;
  while (!args.done()) {
    const std::string_view a = args.take();
    if (a == "--help" || a == "-h") {
      std::printf("usage: multicast_pong [GROUP:PORT] [--interface NAME]   (default 228.0.0.5:9999)\n");
      return 0;
    } else if (a == "--interface") {
      where = salvo::NetworkInterface::named(std::string(args.value_for(a)));
    } else if (!have_group && !a.starts_with("--")) {
      group = examples::parse_address_or_exit(program, a);
      have_group = true;
    } else {
      args.unknown(a);
    }
  }
  if (group.port() == 0) examples::usage_error(program, "the group's port cannot be 0");

  examples::StopSignal stop;  // before start: the workers inherit the blocked signals
  std::atomic<int> exit_code{0};
  PongStats stats;
  auto engine = salvo::Engine::create({});  // one worker: one socket, one copy of each ping
  if (!engine) return std::fprintf(stderr, "%s: %s\n", program, engine.error().message.c_str()), 2;
  examples::announce_backend(program, **engine);
  // listenMulticast(port, ..., listenMultiple=True): bound to every address of the host, on a port
  // that other pongs (and pingers) may share; each socket on it gets its own copy of the group's
  // datagrams.
  const salvo::Address any =
      group.is_v4() ? salvo::Address::ipv4_any(group.port()) : salvo::Address::ipv6_any(group.port());
  auto bound = (*engine)->listen(
      any, [&](unsigned) { return std::make_unique<MulticastPingPong>(group.with_port(0), where, stats, stop, exit_code); },
      salvo::Engine::ListenOptions{.listen_multiple = true});
  if (!bound) return std::fprintf(stderr, "%s: %s\n", program, bound.error().message.c_str()), 2;
  if (auto started = (*engine)->start(); !started) {
    return std::fprintf(stderr, "%s: %s\n", program, started.error().message.c_str()), 1;
  }
  stop.wait();
  (*engine)->stop();
  (*engine)->wait();
  std::fprintf(stderr, "multicast_pong: %llu datagrams received, %llu pongs sent, %llu pongs not queued\n",
               static_cast<unsigned long long>(stats.datagrams),
               static_cast<unsigned long long>((*engine)->counters().sent),
               static_cast<unsigned long long>(stats.pongs_not_queued));
  return exit_code.load();
}
