// Twisted's Helloer from the UDP howto ("Connected UDP"), in salvo: a socket on any port connects
// to one server, says "hello" without naming an address, prints what comes back, and hears about
// it when no one listens there.
//   Twisted: class Helloer(DatagramProtocol):
//              def startProtocol(self):
//                  self.transport.connect(host, port); self.transport.write("hello")
//              def datagramReceived(self, data, (host, port)): print "received %r from %s:%d" ...
//              def connectionRefused(self): print "No one listening"
//            reactor.listenUDP(0, Helloer()); reactor.run()
// The seed's connect() takes IP addresses only and says to use reactor.resolve() for a name; so
// does salvo: the running worker resolves the host (Reactor::resolve, which does not block it),
// then opens the socket and connects it. The socket is opened after the answer because its family
// must be the answer's ("localhost" may be ::1).
//
// Usage: helloer [HOST:PORT]        (default 127.0.0.1:1234, the seed's port; HOST is an IP address
//                                    or a name: localhost:1234)
// Runs until Ctrl-C or SIGTERM, like the seed; when the server's port refuses (ICMP port
// unreachable), prints "No one listening" and exits at once.
// Exit codes: 0 stopped by a signal; 3 no one listening; 2 bad usage or setup (address, a name that
// does not resolve, backend); 1 the engine could not start.
#include <atomic>
#include <cstdio>
#include <string>
#include <vector>

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

// Where helloer is told to send: a numeric address, or a name and a port to resolve.
struct ServerName {
  std::string host;
  std::uint16_t port = 0;
  salvo::Address numeric;  // Family::none for a name
};

// "IP:PORT", "[IPv6]:PORT" or "NAME:PORT", or exit 2 naming the bad text.
ServerName parse_server_or_exit(const char* program, std::string_view text) {
  if (auto checked = salvo::check_endpoint(text); !checked) examples::usage_error(program, checked.error().message);
  ServerName server;
  if (auto numeric = salvo::Address::parse(text)) {
    server.numeric = *numeric;
    server.port = numeric->port();
    return server;
  }
  // check_endpoint accepted it and it is not numeric: NAME:PORT, where the port is a number.
  const std::size_t colon = text.rfind(':');
  server.host = std::string(text.substr(0, colon));
  server.port = static_cast<std::uint16_t>(
      examples::parse_count_or_exit(program, "the port", text.substr(colon + 1), 0, 65535));
  return server;
}

// Runs on the worker once the server's address is known: a socket on any port of its family,
// served by a Helloer. What fails here is reported as setup (exit 2) and ends the program.
void open_helloer(salvo::Reactor& reactor, const salvo::Address& server, examples::StopSignal& stop,
                  std::atomic<int>& exit_code) {
  // 0 means any port, we don't care in this case (the seed's comment); the family follows the server's.
  const salvo::Address any = server.is_v4() ? salvo::Address::ipv4_any(0) : salvo::Address::ipv6_any(0);
  if (auto opened = reactor.open(any, std::make_unique<Helloer>(server, stop, exit_code)); !opened) {
    std::fprintf(stderr, "helloer: %s\n", opened.error().message.c_str());
    exit_code = 2;
    stop.request_stop();
  }
}

}  // namespace

int main(int argc, char** argv) {
  const char* program = "helloer";
  examples::Arguments args(program, argc, argv);
  ServerName server = parse_server_or_exit(program, "127.0.0.1:1234");
  if (!args.done()) {
    const std::string_view first = args.take();
    if (first == "--help" || first == "-h") {
      std::printf("usage: helloer [HOST:PORT]   (default 127.0.0.1:1234; HOST may be a name)\n");
      return 0;
    }
    server = parse_server_or_exit(program, first);
  }
  if (!args.done()) args.unknown(args.take());
  if (server.port == 0) examples::usage_error(program, "the server's port cannot be 0");

  examples::StopSignal stop;  // before start: the workers inherit the blocked signals
  std::atomic<int> exit_code{0};
  auto engine = salvo::Engine::create({});
  if (!engine) return std::fprintf(stderr, "%s: %s\n", program, engine.error().message.c_str()), 2;
  examples::announce_backend(program, **engine);
  if (auto started = (*engine)->start(); !started) {
    return std::fprintf(stderr, "%s: %s\n", program, started.error().message.c_str()), 1;
  }
  // Twisted: reactor.resolve(host).addCallback(...). The worker asks a resolver thread and goes on
  // serving; the answer comes back on the worker. A numeric address needs no answer.
  auto posted = (*engine)->post(0, [&](salvo::Reactor& reactor) {
    if (server.numeric.family() != salvo::Address::Family::none) {
      return open_helloer(reactor, server.numeric, stop, exit_code);
    }
    reactor.resolve(server.host, server.port, [&, at = &reactor](salvo::Result<std::vector<salvo::Address>> found) {
      if (!found) {
        std::fprintf(stderr, "%s: %s\n", program, found.error().message.c_str());
        exit_code = 2;
        stop.request_stop();
        return;
      }
      open_helloer(*at, found->front(), stop, exit_code);  // the resolver's preferred address
    });
  });
  if (!posted) return std::fprintf(stderr, "%s: %s\n", program, posted.error().message.c_str()), 1;
  // The engine runs until stopped, with or without a socket: the protocol or a signal ends the wait.
  stop.wait();
  (*engine)->stop();
  (*engine)->wait();
  return exit_code.load();
}
