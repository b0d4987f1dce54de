// Uses the installed public API end to end: parse an address, create an engine, serve one
// datagram on loopback, stop. Prints "consumer ok <backend>" and exits 0 when all of it worked.
#include <salvo/salvo.hpp>

#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <thread>

namespace {

class Count final : public salvo::Protocol {
 public:
  void on_datagrams(std::span<const salvo::Datagram> batch, salvo::Transport&) override { seen_ += batch.size(); }

 private:
  std::size_t seen_ = 0;
};

int fail(const char* what, const std::string& why) {
  std::fprintf(stderr, "consumer: %s: %s\n", what, why.c_str());
  return 1;
}

}  // namespace

int main() {
  auto address = salvo::Address::parse("127.0.0.1:0");
  if (!address) return fail("parse", address.error().message);
  if (salvo::Address::parse("not an address").ok()) return fail("parse", "accepted garbage");

  salvo::EngineOptions options;
  options.buffer_count = 8;
  auto engine = salvo::Engine::create(options);
  if (!engine) return fail("create", engine.error().message);
  auto bound = (*engine)->listen(*address, [](unsigned) { return std::make_unique<Count>(); });
  if (!bound) return fail("listen", bound.error().message);
  if (auto started = (*engine)->start(); !started) return fail("start", started.error().message);

  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  const char payload[] = "hello";
  ::sendto(fd, payload, sizeof payload, 0, static_cast<const sockaddr*>(bound->sockaddr_data()),
           bound->sockaddr_size());
  ::close(fd);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while ((*engine)->counters().delivered == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  (*engine)->stop();
  (*engine)->wait();
  if ((*engine)->counters().delivered != 1) return fail("serve", "the datagram was not delivered");
  std::printf("consumer ok %s\n", std::string(salvo::to_string((*engine)->backend().kind)).c_str());
  return 0;
}
