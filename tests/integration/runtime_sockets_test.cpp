// Sockets opened and closed while the engine runs, for every backend: from inside on_datagrams
// (receiving at once), from another thread (Engine::open, listen() after start), with errors as
// values; 10,000 sockets opened and closed while traffic flows on another, leaving no
// descriptor behind and every datagram of that traffic accounted for; the slots of a burst of
// sockets given back once idle; and ICMP reports on from a socket's first datagram.

#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <future>
#include <mutex>

#include "support/test_support.hpp"

namespace salvo::test {
namespace {

using RuntimeSockets = SmallPoolPerBackend;

// A protocol built from lambdas, for sockets opened at runtime (no recorder bookkeeping).
class LambdaProtocol final : public Protocol {
 public:
  explicit LambdaProtocol(std::function<void(std::span<const Datagram>, Transport&)> on_batch,
                          std::function<void()> on_stopped = {})
      : on_batch_(std::move(on_batch)), on_stopped_(std::move(on_stopped)) {}
  void on_datagrams(std::span<const Datagram> batch, Transport& t) override {
    if (on_batch_) on_batch_(batch, t);
  }
  void on_stop() override {
    if (on_stopped_) on_stopped_();
  }

 private:
  std::function<void(std::span<const Datagram>, Transport&)> on_batch_;
  std::function<void()> on_stopped_;
};

TEST_P(RuntimeSockets, OpenedInsideOnDatagramsReceivesAtOnce) {
  // The first datagram makes the server open a second socket and reply with its address; the
  // client's datagram to that socket comes back echoed.
  auto engine = make_engine(options());
  Recorder recorder;
  Hooks hooks;
  hooks.on_datagrams = [](std::span<const Datagram> batch, Transport& t) {
    for (const auto& d : batch) {
      auto opened = t.reactor().open(addr("127.0.0.1:0"),
                                     std::make_unique<LambdaProtocol>([](std::span<const Datagram> b, Transport& echo) {
                                       for (const auto& e : b) echo.send(e.payload, e.peer);
                                     }));
      ASSERT_TRUE(opened) << opened.error().message;
      const std::string text = (*opened)->local_address().to_string();
      t.send(std::as_bytes(std::span(text.data(), text.size())), d.peer);
    }
  };
  const Address server = must_listen(*engine, addr("127.0.0.1:0"), recording_factory(recorder, hooks));
  must_start(*engine);
  UdpSocket client(addr("127.0.0.1:0"));
  ASSERT_TRUE(client.send_to(make_payload(1, 16), server));
  auto reply = client.receive(10s);
  ASSERT_TRUE(reply);
  const Address opened = addr(std::string(reinterpret_cast<const char*>(reply->payload.data()), reply->payload.size()));
  EXPECT_NE(opened.port(), server.port());
  const auto ping = make_payload(7, 100);
  ASSERT_TRUE(client.send_to(ping, opened));
  auto echoed = client.receive(1s);  // "in the same second"
  ASSERT_TRUE(echoed);
  EXPECT_EQ(echoed->payload, ping);
  EXPECT_EQ(echoed->from, opened);
  stop_and_wait(*engine);
}

// A socket opened connected on the wildcard address and port 0 is bound by the kernel at connect
// (no bind of its own): it sends from the loopback address the route picked and a port of its own,
// local_address() says exactly that, and its peer's datagrams reach it.
TEST_P(RuntimeSockets, ConnectedOnTheWildcardAddressIsBoundAtConnectAndKnowsItsAddress) {
  auto engine = make_engine(options());
  Recorder recorder;
  Hooks hooks;
  hooks.on_datagrams = [](std::span<const Datagram> batch, Transport& t) {
    for (const auto& d : batch) {
      OpenOptions how;
      how.connect_to = d.peer;
      auto opened = t.reactor().open(Address::ipv4_any(0),
                                     std::make_unique<LambdaProtocol>([](std::span<const Datagram> b, Transport& echo) {
                                       for (const auto& e : b) echo.send(e.payload);
                                     }),
                                     how);
      ASSERT_TRUE(opened) << opened.error().message;
      const std::string text = (*opened)->local_address().to_string();
      EXPECT_EQ((*opened)->send(std::as_bytes(std::span(text.data(), text.size()))), SendResult::queued);
    }
  };
  const Address server = must_listen(*engine, addr("127.0.0.1:0"), recording_factory(recorder, hooks));
  must_start(*engine);
  UdpSocket client(addr("127.0.0.1:0"));
  ASSERT_TRUE(client.send_to(make_payload(1, 16), server));
  auto hello = client.receive(10s);
  ASSERT_TRUE(hello);
  const Address said = addr(std::string(reinterpret_cast<const char*>(hello->payload.data()), hello->payload.size()));
  EXPECT_EQ(said, hello->from);
  EXPECT_EQ(hello->from.ip_string(), "127.0.0.1");
  EXPECT_NE(hello->from.port(), 0);
  EXPECT_NE(hello->from.port(), server.port());
  const auto ping = make_payload(9, 64);
  ASSERT_TRUE(client.send_to(ping, hello->from));
  auto echoed = client.receive(10s);
  ASSERT_TRUE(echoed);
  EXPECT_EQ(echoed->payload, ping);
  EXPECT_EQ(echoed->from, hello->from);
  stop_and_wait(*engine);
}

TEST_P(RuntimeSockets, ListenAndOpenAfterStartFromAnotherThread) {
  EngineOptions o = options();
  o.workers = 2;
  auto engine = make_engine(o);
  must_start(*engine);  // no sockets yet
  Recorder recorder;
  const Address group = must_listen(*engine, addr("127.0.0.1:0"), echo_factory(recorder));
  ASSERT_TRUE(wait_until([&] { return recorder.lifecycles().size() == 2 && recorder.lifecycles()[1].starts == 1; }, 10s));
  EXPECT_EQ(recorder.lifecycles()[0].local, group);
  EXPECT_EQ(recorder.lifecycles()[1].local, group);
  UdpSocket client(addr("127.0.0.1:0"));
  ASSERT_TRUE(client.send_to(make_payload(1, 20), group));
  auto echoed = client.receive(10s);
  ASSERT_TRUE(echoed);
  EXPECT_EQ(payload_seq(echoed->payload), 1u);

  // One connected socket on worker 1: the kernel delivers only its peer's datagrams.
  std::promise<std::vector<std::byte>> got;
  auto got_future = got.get_future();
  OpenOptions how;
  how.connect_to = client.local();
  auto opened = engine->open(1, addr("127.0.0.1:0"),
                             std::make_unique<LambdaProtocol>([&got](std::span<const Datagram> b, Transport& t) {
                               EXPECT_EQ(t.worker_index(), 1u);
                               EXPECT_EQ(t.connected_peer(), b[0].peer);
                               got.set_value(std::vector<std::byte>(b[0].payload.begin(), b[0].payload.end()));
                               t.stop_listening();
                             }),
                             how);
  ASSERT_TRUE(opened) << opened.error().message;
  UdpSocket stranger(addr("127.0.0.1:0"));
  ASSERT_TRUE(stranger.send_to(make_payload(99, 20), *opened));
  ASSERT_TRUE(client.send_to(make_payload(5, 20), *opened));
  ASSERT_EQ(got_future.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(payload_seq(got_future.get()), 5u);

  // Errors come back as values: the port is taken, the worker does not exist.
  auto taken = engine->open(0, group, std::make_unique<LambdaProtocol>(nullptr));
  ASSERT_FALSE(taken);
  EXPECT_EQ(taken.error().code.value(), EADDRINUSE) << taken.error().message;
  auto no_worker = engine->open(7, addr("127.0.0.1:0"), std::make_unique<LambdaProtocol>(nullptr));
  ASSERT_FALSE(no_worker);
  EXPECT_EQ(no_worker.error().code, make_error_code(Errc::bad_option));
  stop_and_wait(*engine);
}

TEST_P(RuntimeSockets, TenThousandOpenedAndClosedWhileTrafficFlows) {
  // A flow of numbered datagrams to an echo socket runs throughout; meanwhile a timer opens a
  // socket, and closes the one it opened before, 10,000 times. Afterwards: every opened socket
  // started and stopped once, the process holds the descriptors it held before, and every
  // datagram of the flow was echoed or counted as a kernel drop.
  EngineOptions o = options();
  o.send_queue_entries = 64;
  o.send_queue_bytes = 16384;
  auto engine = make_engine(o);
  Recorder recorder;
  const Address echo = must_listen(*engine, addr("127.0.0.1:0"), echo_factory(recorder));
  must_start(*engine);
  UdpSocket client(addr("127.0.0.1:0"), 4 << 20);
  const std::size_t descriptors_before = open_descriptors();

  constexpr int total = 10'000;
  // Everything the churning timer touches, behind one pointer (a timer's captures are small).
  struct Churn {
    std::atomic<int> opened{0};
    std::atomic<int> stopped{0};
    std::atomic<bool> failed{false};
    std::promise<void> all_done;
    Transport* previous = nullptr;
    Reactor* reactor = nullptr;
  } churn;
  auto done = churn.all_done.get_future();
  ASSERT_TRUE(engine->post(0, [&churn](Reactor& r) {
    churn.reactor = &r;
    auto id = r.call_every(50us, [c = &churn] {
      for (int k = 0; k < 20 && c->opened.load() < total; ++k) {
        if (c->previous != nullptr) c->previous->stop_listening();
        auto t = c->reactor->open(addr("127.0.0.1:0"), std::make_unique<LambdaProtocol>(nullptr, [c] {
                                    if (c->stopped.fetch_add(1) + 1 == total) c->all_done.set_value();
                                  }));
        if (!t) {
          c->failed = true;
          return;
        }
        c->previous = *t;
        if (c->opened.fetch_add(1) + 1 == total) c->previous->stop_listening();
      }
    });
    ASSERT_TRUE(id);
  }));

  std::uint64_t sent = 0;
  std::uint64_t echoed = 0;
  Deadline deadline(120s);
  while (done.wait_for(0s) != std::future_status::ready && !deadline.expired() && !churn.failed && sent < 2'000'000) {
    if (client.send_to(make_payload(sent, 64), echo)) ++sent;
    std::byte buffer[128];
    Address from;
    while (client.try_receive(buffer, from) > 0) ++echoed;
  }
  ASSERT_FALSE(churn.failed.load()) << "an open failed";
  ASSERT_EQ(done.wait_for(10s), std::future_status::ready)
      << churn.opened.load() << " opened, " << churn.stopped.load() << " stopped";
  EXPECT_EQ(churn.opened.load(), total);
  EXPECT_EQ(churn.stopped.load(), total);
  // A socket on a kernel-picked port may close its descriptor with the worker's next submission,
  // a moment after its on_stop (io_uring): the count comes back, if not at once.
  EXPECT_TRUE(wait_until([&] { return open_descriptors() == descriptors_before; }, 10s))
      << open_descriptors() << " descriptors against " << descriptors_before << " before: leaked";
  stop_and_wait(*engine);
  const Counters c = engine->counters();
  EXPECT_EQ(c.received + c.kernel_drops + c.discarded_at_close, sent) << describe(c);
  EXPECT_GT(sent, 0u);
  EXPECT_GT(echoed, 0u);
}

// A protocol that sends one datagram when it starts, echoes what it gets, and counts its own
// destruction: a slot given back destroys the protocol of the socket that last held it.
class CountedProtocol final : public Protocol {
 public:
  CountedProtocol(std::atomic<int>& destroyed, Address greet) : destroyed_(destroyed), greet_(greet) {}
  ~CountedProtocol() override { destroyed_.fetch_add(1); }
  void on_start(Transport& t) override { t.send(make_payload(t.local_address().port(), 16), greet_); }
  void on_datagrams(std::span<const Datagram> batch, Transport& t) override {
    for (const auto& d : batch) t.send(d.payload, d.peer);
  }

 private:
  std::atomic<int>& destroyed_;
  Address greet_;
};

TEST_P(RuntimeSockets, SlotsOfABurstBeyondTheWarmOnesAreGivenBackAndServeAgain) {
  // 100 sockets opened at once take slots 0-99; once closed, the 36 slots beyond the 64 warm ones
  // sit idle for socket_slot_keep (1 s here) and are given back (their protocols destroyed), while
  // their counts stay in the engine's. 100 sockets opened again reuse the 64 warm slots (destroying
  // their old protocols at once) and make 36 afresh, and the last of them, in a remade slot,
  // serves traffic.
  constexpr int burst = 100;
  constexpr int warm = 64;
  EngineOptions o = options();
  o.socket_slot_keep = 1s;
  auto engine = make_engine(o);
  must_start(*engine);
  UdpSocket client(addr("127.0.0.1:0"), 1 << 20);
  std::atomic<int> destroyed{0};
  std::vector<Transport*> opened;
  auto open_burst = [&](Reactor& r) {
    opened.clear();
    for (int i = 0; i < burst; ++i) {
      auto t = r.open(addr("127.0.0.1:0"), std::make_unique<CountedProtocol>(destroyed, client.local()));
      ASSERT_TRUE(t) << t.error().message;
      opened.push_back(*t);
    }
  };
  auto run_on_worker = [&](std::function<void(Reactor&)> fn) {
    std::promise<void> done;
    auto finished = done.get_future();
    ASSERT_TRUE(engine->post(0, [&](Reactor& r) {
      fn(r);
      done.set_value();
    }));
    ASSERT_EQ(finished.wait_for(10s), std::future_status::ready);
  };

  run_on_worker([&](Reactor& r) {
    open_burst(r);
    for (Transport* t : opened) t->stop_listening();
  });
  for (int i = 0; i < burst; ++i) ASSERT_TRUE(client.receive(10s)) << "greeting " << i;
  ASSERT_TRUE(wait_until([&] { return destroyed.load() == burst - warm; }, 30s)) << destroyed.load() << " destroyed";
  EXPECT_EQ(engine->counters().sent, std::uint64_t{burst});

  Address last;
  run_on_worker([&](Reactor& r) {
    open_burst(r);
    EXPECT_EQ(destroyed.load(), burst) << "the warm slots' protocols go when their slots are reused";
    last = opened.back()->local_address();
  });
  for (int i = 0; i < burst; ++i) ASSERT_TRUE(client.receive(10s)) << "greeting " << i;
  const auto ping = make_payload(4242, 64);
  ASSERT_TRUE(client.send_to(ping, last));
  auto echoed = client.receive(10s);
  ASSERT_TRUE(echoed);
  EXPECT_EQ(echoed->payload, ping);
  EXPECT_EQ(echoed->from, last);
  stop_and_wait(*engine);
  const Counters c = engine->counters();
  EXPECT_EQ(c.sent, std::uint64_t{2 * burst + 1}) << describe(c);
  EXPECT_EQ(c.received, 1u) << describe(c);
  engine.reset();
  EXPECT_EQ(destroyed.load(), 2 * burst);
}

// A protocol that sends one datagram as it starts and records its refusals, with what the socket
// says of IP_RECVERR when the first one comes.
class RefusedProbe final : public Protocol {
 public:
  void on_start(Transport& t) override { t.send(make_payload(1, 8)); }
  void on_datagrams(std::span<const Datagram>, Transport&) override {}
  void on_refused(const Address& peer, Transport& t) override {
    std::lock_guard lock(mutex_);
    if (refused_.empty()) {
      int on = 0;
      socklen_t length = sizeof on;
      recverr_ = ::getsockopt(t.native_handle(), IPPROTO_IP, IP_RECVERR, &on, &length) == 0 ? on : -1;
      if (t.local_address().is_v6()) {
        on = 0;
        length = sizeof on;
        recverr_v6_ = ::getsockopt(t.native_handle(), IPPROTO_IPV6, IPV6_RECVERR, &on, &length) == 0 ? on : -1;
      }
    }
    refused_.push_back(peer);
  }
  std::vector<Address> refused() const {
    std::lock_guard lock(mutex_);
    return refused_;
  }
  int recverr() const {
    std::lock_guard lock(mutex_);
    return recverr_;
  }
  int recverr_v6() const {
    std::lock_guard lock(mutex_);
    return recverr_v6_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<Address> refused_;
  int recverr_ = -2;
  int recverr_v6_ = -2;
};

// A socket opened while running has IP_RECVERR on before its first datagram leaves (io_uring
// turns it on with the round's requests, in order; epoll at open): ICMP port unreachable for that
// datagram reaches on_refused with the peer. Were the option late, the kernel would leave only the
// socket's pending error, which a socket with IP_RECVERR does not report twice, and no refusal
// would come.
void opened_socket_hears_refusal(const EngineOptions& options, const Address& loopback) {
  const Address closed = closed_port_address(loopback);
  auto engine = make_engine(options);
  must_start(*engine);
  auto probe = std::make_unique<RefusedProbe>();
  RefusedProbe* seen = probe.get();
  std::promise<bool> opened;
  auto done = opened.get_future();
  ASSERT_TRUE(engine->post(0, [&](Reactor& r) {
    OpenOptions how;
    how.connect_to = closed;
    auto t = r.open(loopback.is_v6() ? Address::ipv6_any(0) : Address::ipv4_any(0), std::move(probe), how);
    opened.set_value(t.ok());
  }));
  ASSERT_EQ(done.wait_for(10s), std::future_status::ready);
  ASSERT_TRUE(done.get());
  ASSERT_TRUE(wait_until([&] { return !seen->refused().empty(); }, 10s)) << describe(engine->counters());
  stop_and_wait(*engine);
  EXPECT_EQ(seen->refused(), std::vector<Address>{closed});
  EXPECT_EQ(seen->recverr(), 1);
  if (loopback.is_v6()) {
    EXPECT_EQ(seen->recverr_v6(), 1);
  }
  const Counters c = engine->counters();
  EXPECT_EQ(c.refused, 1u) << describe(c);
  EXPECT_EQ(c.socket_errors, 0u) << describe(c);
}

TEST_P(RuntimeSockets, OpenedWhileRunningHearsTheRefusalOfItsFirstDatagramIpv4) {
  opened_socket_hears_refusal(options(), addr("127.0.0.1:0"));
}

TEST_P(RuntimeSockets, OpenedWhileRunningHearsTheRefusalOfItsFirstDatagramIpv6) {
  opened_socket_hears_refusal(options(), addr("[::1]:0"));
}

INSTANTIATE_TEST_SUITE_P(Backends, RuntimeSockets, testing::ValuesIn(available_backends()), backend_test_name);

}  // namespace
}  // namespace salvo::test
