// Twisted's Helloer from the UDP howto ("Connected UDP"), in salvo: a socket on any port connects
// to one server, says "hello" without naming an address, prints what comes back, and hears about
// it when no one listens there.
//   Twisted: class Helloer(DatagramProtocol):
//              def startProtocol(self):
//                  self.transport.connect(host, port); self.transport.write("hello")
//              def datagramReceived(self, data, (host, port)): print "received %r from %s:%d" ...
//              def connectionRefused(self): print "No one listening"
//            reactor.listenUDP(0, Helloer()); reactor.run()
//
// Usage: helloer [HOST:PORT]        (default 127.0.0.1:1234, the seed's port; numeric addresses only)
// Runs until Ctrl-C or SIGTERM, like the seed; when the server's port refuses (ICMP port
// unreachable), prints "No one listening" and exits at once.
// Exit codes: 0 stopped by a signal; 3 no one listening; 2 bad usage or setup (address, backend);
// 1 the engine could not start.
#include <atomic>
#include <cstdio>

#include "example_support.hpp"

namespace {

constexpr int exit_no_one_listening = 3;

class Helloer : public salvo::Protocol {
 public:
  Helloer(salvo::Address server, examples::StopSignal& stop, std::atomic<int>& exit_code)
      : server_(server), stop_(stop), exit_code_(exit_code) {}

  void on_start(salvo::Transport& transport) override {
    // From now on the kernel delivers only the server's datagrams, and an ICMP port unreachable
    // from it comes back as on_refused.
    if (auto connected = transport.connect(server_); !connected) {
      std::fprintf(stderr, "helloer: %s\n", connected.error().message.c_str());
      exit_code_ = 2;
      stop_.request_stop();
      return;
    }
    std::printf("now we can only send to host %s port %u\n", server_.ip_string().c_str(), server_.port());
    transport.send(examples::bytes_of("hello"));  // no need for address
    std::fflush(stdout);
  }

  void on_datagrams(std::span<const salvo::Datagram> batch, salvo::Transport& /*transport*/) override {
    char peer[salvo::Address::max_text];
    for (const salvo::Datagram& d : batch) {
      d.peer.format(peer, sizeof peer);
      std::fputs("received ", stdout);
      examples::print_bytes_repr(stdout, d.payload);
      std::printf(" from %s\n", peer);
    }
    std::fflush(stdout);
  }

  // Possibly invoked if there is no server listening on the address we send to (the seed's
  // comment): whether the ICMP message comes back is up to the network.
  void on_refused(const salvo::Address& /*peer*/, salvo::Transport& /*transport*/) override {
    std::puts("No one listening");
    std::fflush(stdout);
    exit_code_ = exit_no_one_listening;
    stop_.request_stop();
  }

 private:
  salvo::Address server_;
  examples::StopSignal& stop_;
  std::atomic<int>& exit_code_;
};

}  // namespace

int main(int argc, char** argv) {
  const char* program = "helloer";
  examples::Arguments args(program, argc, argv);
  salvo::Address server = examples::parse_address_or_exit(program, "127.0.0.1:1234");
  if (!args.done()) {
    const std::string_view first = args.take();
    if (first == "--help" || first == "-h") {
      std::printf("usage: helloer [HOST:PORT]   (default 127.0.0.1:1234)\n");
      return 0;
    }
    server = examples::parse_address_or_exit(program, first);
  }
  if (!args.done()) args.unknown(args.take());
  if (server.port() == 0) examples::usage_error(program, "the server's port cannot be 0");

  examples::StopSignal stop;  // before start: the workers inherit the blocked signals
  std::atomic<int> exit_code{0};
  auto engine = salvo::Engine::create({});
  if (!engine) return std::fprintf(stderr, "%s: %s\n", program, engine.error().message.c_str()), 2;
  examples::announce_backend(program, **engine);
  // 0 means any port, we don't care in this case (the seed's comment); the family follows the server's.
  const salvo::Address any = server.is_v4() ? salvo::Address::ipv4_any(0) : salvo::Address::ipv6_any(0);
  auto bound = (*engine)->listen(any, [&](unsigned) { return std::make_unique<Helloer>(server, stop, exit_code); });
  if (!bound) return std::fprintf(stderr, "%s: %s\n", program, bound.error().message.c_str()), 2;
  if (auto started = (*engine)->start(); !started) {
    return std::fprintf(stderr, "%s: %s\n", program, started.error().message.c_str()), 1;
  }
  stop.wait();
  (*engine)->stop();
  (*engine)->wait();
  return exit_code.load();
}
