#include "support/child_engine.hpp"

#include "support/test_support.hpp"

namespace salvo::test {
namespace {

class ChildEcho final : public Protocol {
 public:
  void on_datagrams(std::span<const Datagram> batch, Transport& transport) override {
    for (const Datagram& d : batch) (void)transport.send(d.payload, d.peer);
  }
};

}  // namespace

ProtocolFactory child_echo_factory() {
  return [](unsigned) { return std::make_unique<ChildEcho>(); };
}

bool echoes(const Address& server, std::uint64_t seq) {
  UdpSocket client(addr("127.0.0.1:0"));
  if (!client.send_to(make_payload(seq, 48), server)) return false;
  auto back = client.receive(10s);
  return back && payload_seq(back->payload) == seq;
}

BackendChoice serve_once(ChildChecks& c, const EngineOptions& options, const std::string& what) {
  auto engine = Engine::create(options);
  if (!c.check(engine.ok(), what + ": create: " + (engine ? "" : engine.error().message))) return {};
  auto bound = (*engine)->listen(addr("127.0.0.1:0"), child_echo_factory());
  if (!c.check(bound.ok(), what + ": listen: " + (bound ? "" : bound.error().message))) return {};
  auto started = (*engine)->start();
  if (!c.check(started.ok(), what + ": start: " + (started ? "" : started.error().message))) return {};
  c.check(echoes(*bound, 7), what + ": no echo");
  (*engine)->stop();
  (*engine)->wait();
  return (*engine)->backend();
}

}  // namespace salvo::test
