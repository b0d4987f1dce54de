// Twisted's Echo from the UDP howto, in salvo: every datagram goes back to where it came from.
//   Twisted: class Echo(DatagramProtocol): def datagramReceived(self, data, addr):
//                self.transport.write(data, addr)
//            reactor.listenUDP(9999, Echo()); reactor.run()
// Usage: echo_server [HOST:PORT]   (default 127.0.0.1:9999; stop with Ctrl-C)
#include <salvo/salvo.hpp>

#include <csignal>
#include <cstdio>

class Echo : public salvo::Protocol {
 public:
  void on_datagrams(std::span<const salvo::Datagram> batch, salvo::Transport& transport) override {
    for (const salvo::Datagram& d : batch) transport.send(d.payload, d.peer);
  }
};

int main(int argc, char** argv) {
  auto address = salvo::Address::parse(argc > 1 ? argv[1] : "127.0.0.1:9999");
  if (!address) return std::fprintf(stderr, "%s\n", address.error().message.c_str()), 2;

  sigset_t stop_signals;  // block them before the workers start, then wait for one here
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto engine = salvo::Engine::create({});
  if (!engine) return std::fprintf(stderr, "%s\n", engine.error().message.c_str()), 1;
  auto bound = (*engine)->listen(*address, [](unsigned) { return std::make_unique<Echo>(); });
  if (!bound) return std::fprintf(stderr, "%s\n", bound.error().message.c_str()), 2;
  if (auto started = (*engine)->start(); !started) return std::fprintf(stderr, "%s\n", started.error().message.c_str()), 1;
  std::printf("echoing on %s\n", bound->to_string().c_str());
  std::fflush(stdout);

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  (*engine)->stop();
  (*engine)->wait();
}
