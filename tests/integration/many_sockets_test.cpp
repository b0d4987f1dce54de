// Ten thousand sockets on one worker, for every backend. Every socket answers the one datagram
// sent to it, and the reply shows which socket it was; half of them close through
// Transport::stop_listening and the rest with the engine, each on_stop runs exactly once, the
// counters are exact and no descriptor is left behind. Then the same number opened while running,
// closed and opened again, in waves, each wave returning to the descriptors it started from.
#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <vector>

#include "support/test_support.hpp"

namespace salvo::test {
namespace {

constexpr std::size_t socket_count = 10'000;
// The sockets, the clients, the engine's own descriptors and whatever gtest holds.
constexpr rlim_t descriptors_needed = socket_count + 300;

// What the protocols of one set of sockets saw, by socket number. The counts are atomics because
// the test thread reads them; `transports` is touched only on the worker (hooks and posts).
struct Board {
  explicit Board(std::size_t n) : starts(n), stops(n), transports(n, nullptr) {}
  std::vector<std::atomic<int>> starts;
  std::vector<std::atomic<int>> stops;
  std::vector<Transport*> transports;
};

class NumberedEcho final : public Protocol {
 public:
  NumberedEcho(Board& board, std::size_t number) : board_(board), number_(number) {}
  void on_start(Transport& t) override {
    board_.starts[number_].fetch_add(1);
    board_.transports[number_] = &t;
  }
  void on_datagrams(std::span<const Datagram> batch, Transport& t) override {
    for (const Datagram& d : batch) t.send(d.payload, d.peer);
  }
  void on_stop() override { board_.stops[number_].fetch_add(1); }

 private:
  Board& board_;
  std::size_t number_;
};

// The payload sent to socket `number` at `to`: its sequence field names both, so that a reply
// shows which socket answered and which datagram it answers.
std::vector<std::byte> payload_for(std::size_t number, const Address& to) {
  return make_payload((std::uint64_t{number} << 16) | to.port(), 32);
}

// What came back: per target, how many correct replies came from it; anything else is counted in
// `wrong`, with the first one described.
struct Replies {
  std::vector<int> replies;
  std::size_t answered = 0;
  std::size_t wrong = 0;
  std::string first_wrong;
};

// Sends one datagram to every target and collects every reply, through a few non-blocking client
// sockets. Each client keeps at most `window` datagrams unanswered, so that the replies never
// overflow its receive buffer; a send the kernel refuses for room is tried again after the next
// wait.
Replies ask_every_socket(const std::vector<Address>& targets, milliseconds timeout) {
  constexpr std::size_t clients_count = 4;
  constexpr std::size_t window = 64;
  std::vector<std::unique_ptr<UdpSocket>> clients;
  for (std::size_t c = 0; c < clients_count; ++c) {
    clients.push_back(std::make_unique<UdpSocket>(addr("127.0.0.1:0"), 1 << 20));
    const int flags = ::fcntl(clients.back()->fd(), F_GETFL);
    ::fcntl(clients.back()->fd(), F_SETFL, flags | O_NONBLOCK);
  }
  Replies x;
  x.replies.assign(targets.size(), 0);
  // Client c sends to targets c, c + clients_count, c + 2 * clients_count, ...
  std::vector<std::size_t> next(clients_count), in_flight(clients_count);
  for (std::size_t c = 0; c < clients_count; ++c) next[c] = c;
  const Deadline deadline(timeout);
  while (x.answered + x.wrong < targets.size() && !deadline.expired()) {
    std::vector<pollfd> fds;
    for (std::size_t c = 0; c < clients_count; ++c) {
      while (in_flight[c] < window && next[c] < targets.size()) {
        if (!clients[c]->send_to(payload_for(next[c], targets[next[c]]), targets[next[c]])) break;
        next[c] += clients_count;
        ++in_flight[c];
      }
      fds.push_back(pollfd{clients[c]->fd(), POLLIN, 0});
    }
    // Woken by a reply; the cap only bounds how long a refused send waits for its retry.
    ::poll(fds.data(), fds.size(), deadline.poll_ms(milliseconds(100)));
    for (std::size_t c = 0; c < clients_count; ++c) {
      std::byte buffer[128];
      Address from;
      for (long n; (n = clients[c]->try_receive(buffer, from)) >= 0;) {
        if (in_flight[c] > 0) --in_flight[c];
        const std::span<const std::byte> got(buffer, static_cast<std::size_t>(n));
        const std::uint64_t seq = payload_seq(got);
        const std::size_t number = static_cast<std::size_t>(seq >> 16);
        const bool known = number < targets.size() && number % clients_count == c;
        if (known && from == targets[number] && std::ranges::equal(got, payload_for(number, targets[number])) &&
            x.replies[number] == 0) {
          ++x.replies[number];
          ++x.answered;
        } else if (x.wrong++ == 0) {
          x.first_wrong = std::to_string(n) + " bytes from " + from.to_string() + ", seq " + std::to_string(seq);
        }
      }
    }
  }
  return x;
}

// Expects every target answered once, and nothing else.
void expect_all_answered(const Replies& x) {
  EXPECT_EQ(x.answered, x.replies.size());
  EXPECT_EQ(x.wrong, 0u) << "first: " << x.first_wrong;
  std::size_t unanswered = 0;
  for (int r : x.replies) unanswered += r != 1;
  EXPECT_EQ(unanswered, 0u);
}

// How many entries of `counts` (a board's starts or stops) differ from `expected`, from `first` in
// steps of `step`.
std::size_t count_other_than(const std::vector<std::atomic<int>>& counts, int expected, std::size_t first = 0,
                             std::size_t step = 1) {
  std::size_t n = 0;
  for (std::size_t i = first; i < counts.size(); i += step) n += counts[i].load() != expected;
  return n;
}

class ManySockets : public testing::TestWithParam<BackendKind> {
 protected:
  void SetUp() override {
    // Ten thousand sockets need the soft descriptor limit at the hard one; the hard one only root
    // can raise, and the test does not need root.
    rlimit limit{};
    ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &limit), 0);
    if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < descriptors_needed) {
      GTEST_SKIP() << "the hard RLIMIT_NOFILE is " << limit.rlim_max << "; " << socket_count << " sockets need "
                   << descriptors_needed;
    }
    if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < descriptors_needed) {
      limit.rlim_cur = limit.rlim_max;
      ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &limit), 0);
    }
  }

  EngineOptions options() const {
    EngineOptions o;
    o.backend = GetParam();
    return o;
  }
};

TEST_P(ManySockets, TenThousandEchoThenCloseHalfByStopListeningAndHalfByStop) {
  const std::size_t descriptors_before = open_descriptors();
  Board board(socket_count);
  std::vector<Address> targets(socket_count);
  {
    auto engine = make_engine(options());
    for (std::size_t i = 0; i < socket_count; ++i) {
      auto bound = engine->open(0, addr("127.0.0.1:0"), std::make_unique<NumberedEcho>(board, i));
      ASSERT_TRUE(bound) << "socket " << i << ": " << bound.error().message;
      targets[i] = *bound;
    }
    must_start(*engine);
    run_on_worker(*engine, [](Reactor&) {});  // on_start ran for every socket before the post
    EXPECT_EQ(count_other_than(board.starts, 1), 0u);
    EXPECT_EQ(engine->open_sockets(), socket_count);

    expect_all_answered(ask_every_socket(targets, 30s));
    // The last replies reached the clients; their send completions may still be on their way.
    EXPECT_TRUE(wait_until([&] { return engine->counters().sent == socket_count; }, 10s)) << describe(engine->counters());

    // The even-numbered half closes from the worker, the rest with the engine.
    run_on_worker(*engine, [&board](Reactor&) {
      for (std::size_t i = 0; i < socket_count; i += 2) board.transports[i]->stop_listening();
    });
    EXPECT_TRUE(wait_until([&] { return engine->open_sockets() == socket_count / 2; }, 30s)) << engine->open_sockets();
    EXPECT_EQ(count_other_than(board.stops, 1, 0, 2), 0u) << "even-numbered sockets not stopped exactly once";
    EXPECT_EQ(count_other_than(board.stops, 0, 1, 2), 0u) << "odd-numbered sockets stopped by stop_listening";

    stop_and_wait(*engine, 60s);
    EXPECT_EQ(engine->open_sockets(), 0u);
    const Counters c = engine->counters();
    EXPECT_EQ(c.received, socket_count) << describe(c);
    EXPECT_EQ(c.delivered, socket_count) << describe(c);
    EXPECT_EQ(c.send_requests, socket_count) << describe(c);
    EXPECT_EQ(c.sent, socket_count) << describe(c);
    EXPECT_EQ(c.kernel_drops + c.discarded_at_close + c.dropped_truncated, 0u) << describe(c);
    EXPECT_EQ(c.dropped_send_queue_full + c.dropped_send_error + c.send_rejected, 0u) << describe(c);
  }
  EXPECT_EQ(count_other_than(board.starts, 1), 0u) << "on_start not run exactly once";
  EXPECT_EQ(count_other_than(board.stops, 1), 0u) << "on_stop not run exactly once";
  EXPECT_EQ(open_descriptors(), descriptors_before) << "descriptors leaked";
}

TEST_P(ManySockets, TenThousandOpenedAtRuntimeClosedAndOpenedAgain) {
  // Each wave opens 10,000 sockets with Engine::open while the engine runs, has each answer one
  // datagram, and closes them all from the worker; the descriptors then return to what the
  // running engine held before the wave.
  constexpr int waves = 2;
  const std::size_t descriptors_before = open_descriptors();
  std::vector<std::unique_ptr<Board>> boards;  // protocols keep a reference until the engine goes
  {
    auto engine = make_engine(options());
    must_start(*engine);
    const std::size_t descriptors_running = open_descriptors();
    for (int wave = 0; wave < waves; ++wave) {
      SCOPED_TRACE("wave " + std::to_string(wave));
      Board& board = *boards.emplace_back(std::make_unique<Board>(socket_count));
      std::vector<Address> targets(socket_count);
      for (std::size_t i = 0; i < socket_count; ++i) {
        auto bound = engine->open(0, addr("127.0.0.1:0"), std::make_unique<NumberedEcho>(board, i));
        ASSERT_TRUE(bound) << "socket " << i << ": " << bound.error().message;
        targets[i] = *bound;
      }
      run_on_worker(*engine, [](Reactor&) {});  // every socket above was attached before the post
      EXPECT_EQ(count_other_than(board.starts, 1), 0u);
      EXPECT_EQ(engine->open_sockets(), socket_count);
      EXPECT_EQ(open_descriptors(), descriptors_running + socket_count);

      expect_all_answered(ask_every_socket(targets, 30s));

      run_on_worker(*engine, [&board](Reactor&) {
        for (Transport* t : board.transports) t->stop_listening();
      });
      EXPECT_TRUE(wait_until([&] { return engine->open_sockets() == 0; }, 30s)) << engine->open_sockets();
      EXPECT_EQ(count_other_than(board.stops, 1), 0u) << "on_stop not run exactly once";
      EXPECT_EQ(open_descriptors(), descriptors_running) << "descriptors leaked";
    }
    EXPECT_TRUE(wait_until([&] { return engine->counters().sent == waves * socket_count; }, 10s))
        << describe(engine->counters());
    stop_and_wait(*engine, 60s);
    const Counters c = engine->counters();
    EXPECT_EQ(c.received, waves * socket_count) << describe(c);
    EXPECT_EQ(c.sent, waves * socket_count) << describe(c);
    EXPECT_EQ(c.kernel_drops + c.discarded_at_close + c.dropped_truncated, 0u) << describe(c);
    EXPECT_EQ(c.dropped_send_queue_full + c.dropped_send_error + c.send_rejected, 0u) << describe(c);
  }
  for (const auto& board : boards) EXPECT_EQ(count_other_than(board->stops, 1), 0u);
  EXPECT_EQ(open_descriptors(), descriptors_before) << "descriptors leaked";
}

INSTANTIATE_TEST_SUITE_P(Backends, ManySockets, testing::ValuesIn(available_backends()), backend_test_name);

}  // namespace
}  // namespace salvo::test
