// Twisted's MulticastPingClient from the UDP howto ("Multicast UDP"), in salvo: send "Client: Ping"
// to a multicast group and print every reply (multicast_pong answers with a unicast "Server: Pong").
//   Twisted: class MulticastPingClient(DatagramProtocol):
//              def startProtocol(self):
//                  self.transport.joinGroup("228.0.0.5")
//                  self.transport.write('Client: Ping', ("228.0.0.5", 9999))
//              def datagramReceived(self, datagram, address):
//                  print "Datagram %s received from %s" % (repr(datagram), repr(address))
//            reactor.listenMulticast(9999, MulticastPingClient(), listenMultiple=True)
//
// One change from the seed: the seed's client shares the pongs' port (9999) and joins the group, so
// it also hears its own ping; but a unicast reply to a port several sockets share goes to only one
// of them, chosen by the kernel, which may be a pong rather than the pinger. Here the pinger sends
// from a port of its own (any free port) and does not join: every pong reaches it.
//
// Usage: multicast_ping [GROUP:PORT] [--count N] [--interval S] [--wait S] [--expect N]
//                       [--ttl N] [--interface NAME]                  (default 228.0.0.5:9999)
//   --count N        pings to send (default 1, as the seed)
//   --interval S     seconds between pings (default 1)
//   --wait S         seconds to wait for pongs after the last ping (default 2)
//   --expect N       end as soon as N pongs have come (default 0: wait the whole --wait)
//   --ttl N          multicast TTL, 1..255 (default: the kernel's, 1: the pings stay on this link)
//   --interface NAME send the pings out of this interface (default: the routing table's choice)
// Prints "pinging GROUP:PORT from port P", one line per datagram received, and a summary on stderr.
// Exit codes: 0 every ping sent got at least one pong; 1 some did not (or the engine could not start,
// or an option could not be set); 2 bad usage or setup.
#include <atomic>
#include <chrono>
#include <cstdio>

#include "example_support.hpp"

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::string_view ping = "Client: Ping";
constexpr std::string_view pong = "Server: Pong";

struct PingPlan {
  salvo::Address group;
  std::uint64_t count = 1;
  Clock::duration interval = std::chrono::seconds(1);
  Clock::duration wait = std::chrono::seconds(2);
  std::uint64_t expect = 0;
  int ttl = 0;  // 0: leave the kernel's default
  salvo::NetworkInterface out_of;
};

// Written by the worker, read by main after the engine has stopped (Engine::wait orders the two).
struct PingStats {
  std::uint64_t pings_queued = 0;
  std::uint64_t pings_not_queued = 0;
  std::uint64_t pongs = 0;
  std::uint64_t other_datagrams = 0;
  std::uint64_t attempted() const noexcept { return pings_queued + pings_not_queued; }
};

class MulticastPingClient : public salvo::Protocol {
 public:
  MulticastPingClient(const PingPlan& plan, PingStats& stats, examples::StopSignal& stop, std::atomic<int>& exit_code)
      : plan_(plan), stats_(stats), stop_(stop), exit_code_(exit_code) {}

  void on_start(salvo::Transport& transport) override {
    // A multicast socket has a TTL of 1 unless told otherwise (the seed's note on setTTL).
    if (plan_.ttl != 0) {
      if (auto r = transport.set_multicast_ttl(plan_.ttl); !r) return fail(r.error());
    }
    if (!plan_.out_of.name.empty()) {
      if (auto r = transport.set_multicast_interface(plan_.out_of); !r) return fail(r.error());
    }
    std::printf("pinging %s from port %u\n", plan_.group.to_string().c_str(), transport.local_address().port());
    std::fflush(stdout);
    // The pings are paced with the writable hook: it sends what is due, then defers itself to the
    // next ping's time, and the worker sleeps in between.
    next_ping_ = Clock::now();
    transport.request_writable(true);
  }

  void on_writable(salvo::Transport& transport) override {
    const Clock::time_point now = Clock::now();
    if (stats_.attempted() < plan_.count) {
      if (now >= next_ping_) {
        // Send to the group: every socket that joined it on this port gets a copy.
        if (transport.send(examples::bytes_of(ping), plan_.group) == salvo::SendResult::queued) {
          ++stats_.pings_queued;
        } else {
          ++stats_.pings_not_queued;
        }
        next_ping_ += plan_.interval;
        if (stats_.attempted() == plan_.count) give_up_at_ = now + plan_.wait;
      }
      transport.defer_writable(stats_.attempted() < plan_.count ? next_ping_ : give_up_at_);
      return;
    }
    if (now >= give_up_at_) return finish(transport);
    transport.defer_writable(give_up_at_);
  }

  // A ping the kernel would not send (no route to the group, say) or an ICMP error.
  void on_error(std::error_code error, salvo::Transport& /*transport*/) override {
    std::fprintf(stderr, "multicast_ping: %s\n", error.message().c_str());
  }

  void on_datagrams(std::span<const salvo::Datagram> batch, salvo::Transport& transport) override {
    for (const salvo::Datagram& d : batch) {
      std::fputs("Datagram ", stdout);
      examples::print_bytes_repr(stdout, d.payload);
      std::fputs(" received from ", stdout);
      examples::print_address_tuple(stdout, d.peer);
      std::fputc('\n', stdout);
      if (examples::payload_equals(d.payload, pong)) {
        ++stats_.pongs;
      } else {
        ++stats_.other_datagrams;
      }
    }
    std::fflush(stdout);
    if (plan_.expect != 0 && stats_.pongs >= plan_.expect) finish(transport);
  }

 private:
  void fail(const salvo::Error& error) {
    std::fprintf(stderr, "multicast_ping: %s\n", error.message.c_str());
    exit_code_ = 1;
    stop_.request_stop();
  }
  void finish(salvo::Transport& transport) {
    if (finished_) return;
    finished_ = true;
    transport.request_writable(false);
    stop_.request_stop();
  }

  const PingPlan& plan_;
  PingStats& stats_;
  examples::StopSignal& stop_;
  std::atomic<int>& exit_code_;
  Clock::time_point next_ping_{};
  Clock::time_point give_up_at_{};
  bool finished_ = false;
};

Clock::duration seconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

}  // namespace

int main(int argc, char** argv) {
  const char* program = "multicast_ping";
  examples::Arguments args(program, argc, argv);
  PingPlan plan;
  plan.group = examples::parse_address_or_exit(program, "228.0.0.5:9999");
  bool have_group = false;
  while (!args.done()) {
    const std::string_view a = args.take();
    if (a == "--help" || a == "-h") {
      std::printf(
          "usage: multicast_ping [GROUP:PORT] [--count N] [--interval S] [--wait S] [--expect N] [--ttl N] "
          "[--interface NAME]   (default 228.0.0.5:9999)\n");
      return 0;
    } else if (a == "--count") {
      plan.count = examples::parse_count_or_exit(program, "--count", args.value_for(a), 1, 1000000);
    } else if (a == "--interval") {
      plan.interval = seconds(examples::parse_seconds_or_exit(program, "--interval", args.value_for(a), 0, 3600));
    } else if (a == "--wait") {
      plan.wait = seconds(examples::parse_seconds_or_exit(program, "--wait", args.value_for(a), 0, 3600));
    } else if (a == "--expect") {
      plan.expect = examples::parse_count_or_exit(program, "--expect", args.value_for(a), 0, 1000000000);
    } else if (a == "--ttl") {
      plan.ttl = static_cast<int>(examples::parse_count_or_exit(program, "--ttl", args.value_for(a), 1, 255));
    } else if (a == "--interface") {
      plan.out_of = salvo::NetworkInterface::named(std::string(args.value_for(a)));
    } else if (!have_group && !a.starts_with("--")) {
      plan.group = examples::parse_address_or_exit(program, a);
      have_group = true;
    } else {
      args.unknown(a);
    }
  }
  if (plan.group.port() == 0) examples::usage_error(program, "the group's port cannot be 0");

  examples::StopSignal stop;  // before start: the workers inherit the blocked signals
  std::atomic<int> exit_code{0};
  PingStats stats;
  auto engine = salvo::Engine::create({});
  if (!engine) return std::fprintf(stderr, "%s: %s\n", program, engine.error().message.c_str()), 2;
  examples::announce_backend(program, **engine);
  // Any free port of our own, so that the unicast pongs come back to this socket alone.
  const salvo::Address any = plan.group.is_v4() ? salvo::Address::ipv4_any(0) : salvo::Address::ipv6_any(0);
  auto bound = (*engine)->listen(
      any, [&](unsigned) { return std::make_unique<MulticastPingClient>(plan, stats, stop, exit_code); });
  if (!bound) return std::fprintf(stderr, "%s: %s\n", program, bound.error().message.c_str()), 2;
  if (auto started = (*engine)->start(); !started) {
    return std::fprintf(stderr, "%s: %s\n", program, started.error().message.c_str()), 1;
  }
  stop.wait();
  (*engine)->stop();
  (*engine)->wait();
  // Every datagram this socket sent is a ping; the kernel's count is the true one.
  const std::uint64_t pings_sent = (*engine)->counters().sent;
  std::fprintf(stderr, "multicast_ping: %llu pings sent, %llu not sent, %llu pongs received, %llu other datagrams\n",
               static_cast<unsigned long long>(pings_sent),
               static_cast<unsigned long long>(stats.attempted() - pings_sent),
               static_cast<unsigned long long>(stats.pongs), static_cast<unsigned long long>(stats.other_datagrams));
  if (exit_code.load() != 0) return exit_code.load();
  return pings_sent > 0 && stats.pongs >= pings_sent ? 0 : 1;
}
