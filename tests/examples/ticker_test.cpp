// examples/ticker (the fixed-tick game-state server), run as a child process on each backend with
// 1,000 plain sockets as its clients: once all have joined, every client gets every tick, the same
// ticks as every other client, with tick numbers that only go up and a client count of 1,000; when
// they all go quiet, the ticker's timers drop every one of them, and its summary counts them.
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>

#include <algorithm>

#include "examples/example_test_support.hpp"
#include "ticker_protocol.hpp"

namespace salvo::test {
namespace {

// Raises this process's soft descriptor limit to `wanted` when it is lower and the hard limit
// allows; returns whether `wanted` descriptors are now allowed.
bool allow_descriptors(rlim_t wanted) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return false;
  if (limit.rlim_cur >= wanted) return true;
  if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < wanted) return false;
  limit.rlim_cur = wanted;
  return setrlimit(RLIMIT_NOFILE, &limit) == 0;
}

// What one client saw.
struct ClientView {
  std::uint64_t last_tick = 0;
  std::uint64_t first_full_tick = 0;  // the first snapshot that counted every client
  std::uint64_t full_snapshots = 0;
};

class Ticker : public ExampleTest {};

TEST_P(Ticker, EveryClientGetsTheSameTicksThenEveryQuietClientExpires) {
  constexpr std::size_t client_count = 1000;
  if (!allow_descriptors(client_count + 256)) GTEST_SKIP() << "cannot have " << client_count + 256 << " descriptors";

  ExampleProcess server({ticker_bin, "127.0.0.1:0", "--timeout", "1", "--quiet"}, backend_env());
  const auto ticking = server.wait_for_stdout_line("ticking on ", 10s);
  ASSERT_TRUE(ticking.has_value()) << "ticker did not start:\n" << server.err_so_far();
  const Address at = address_after(*ticking, "ticking on ");

  std::vector<std::unique_ptr<UdpSocket>> clients;
  std::vector<pollfd> fds;
  for (std::size_t i = 0; i < client_count; ++i) {
    clients.push_back(std::make_unique<UdpSocket>(addr("127.0.0.1:0")));
    fds.push_back(pollfd{clients.back()->fd(), POLLIN, 0});
  }

  // While they watch the ticks, the clients keep talking, as game clients send their inputs: each
  // sends every 250 ms, a few at a time, so that the ticker's receive buffer never overflows and no
  // client goes a whole second (its timeout) unheard, however slowly this loop turns. The first
  // round of these is each client's join.
  const auto refresh_period = 250ms;
  const Clock::time_point began = Clock::now();
  std::uint64_t sends = 0;
  std::vector<ClientView> views(client_count);
  std::size_t watched_enough = 0;  // clients with 3 snapshots that counted all 1,000
  std::size_t out_of_order = 0, wrong_count = 0, gaps = 0, strangers = 0;
  std::string first_problem;
  auto problem = [&](std::size_t& counter, std::size_t client, const std::string& what) {
    ++counter;
    if (first_problem.empty()) first_problem = "client " + std::to_string(client) + ": " + what;
  };

  const Deadline deadline(60s);
  while (watched_enough < client_count && !deadline.expired()) {
    const auto elapsed = Clock::now() - began;
    const auto due = static_cast<std::uint64_t>(client_count * elapsed / refresh_period) + client_count / 10;
    for (; sends < due; ++sends) clients[sends % client_count]->send_to(examples::bytes_of("input"), at);

    if (::poll(fds.data(), fds.size(), 10) < 0) continue;
    for (std::size_t i = 0; i < client_count; ++i) {
      if ((fds[i].revents & POLLIN) == 0) continue;
      std::byte buffer[64];
      Address from;
      for (long n; (n = clients[i]->try_receive(buffer, from)) >= 0;) {
        const auto snapshot = ticker::decode(std::span<const std::byte>(buffer, static_cast<std::size_t>(n)));
        if (!snapshot || from != at) {
          problem(strangers, i, std::to_string(n) + " bytes from " + from.to_string());
          continue;
        }
        ClientView& v = views[i];
        if (snapshot->tick <= v.last_tick) {
          problem(out_of_order, i, "tick " + std::to_string(snapshot->tick) + " after " + std::to_string(v.last_tick));
        }
        if (snapshot->clients > client_count || (v.first_full_tick != 0 && snapshot->clients != client_count)) {
          problem(wrong_count, i, "tick " + std::to_string(snapshot->tick) + " counts " +
                                      std::to_string(snapshot->clients) + " clients");
        }
        if (snapshot->clients == client_count) {
          if (v.first_full_tick == 0) {
            v.first_full_tick = snapshot->tick;
          } else if (snapshot->tick != v.last_tick + 1) {
            problem(gaps, i, "tick " + std::to_string(snapshot->tick) + " after " + std::to_string(v.last_tick));
          }
          if (++v.full_snapshots == 3) ++watched_enough;
        }
        v.last_tick = snapshot->tick;
      }
    }
  }
  ASSERT_EQ(watched_enough, client_count) << "clients that saw 3 ticks with all of them in\n" << server.err_so_far();
  EXPECT_EQ(out_of_order, 0u) << first_problem;
  EXPECT_EQ(wrong_count, 0u) << first_problem;
  EXPECT_EQ(gaps, 0u) << first_problem;
  EXPECT_EQ(strangers, 0u) << first_problem;
  // The tick at which the last client joined went to everyone: they all saw the same first full one.
  const auto same_first = std::count_if(views.begin(), views.end(), [&](const ClientView& v) {
    return v.first_full_tick == views.front().first_full_tick;
  });
  EXPECT_EQ(static_cast<std::size_t>(same_first), client_count);

  // Now the clients go quiet, and stay so: the ticker's own timers drop each a second after its last
  // datagram, and it says so when the last one has gone (waited for, not slept on).
  ASSERT_TRUE(server.wait_for_stdout_line("no clients left", 30s).has_value())
      << "stdout:\n" << server.out_so_far() << "\nstderr:\n" << server.err_so_far();
  server.send_signal(SIGTERM);
  const ProcessResult r = server.finish(10s);
  ASSERT_TRUE(r.exited && r.exit_code == 0) << describe(r);
  EXPECT_NE(r.err.find(backend_line()), std::string::npos) << describe(r);
  EXPECT_NE(r.err.find(" snapshots sent, 0 snapshots not queued, 1000 clients joined, 1000 clients expired, "
                       "0 clients turned away, 0 clients at exit, tick lateness p50 "),
            std::string::npos)
      << describe(r);
  const auto lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 2u) << "--quiet prints only the start and 'no clients left'\n" << describe(r);
  EXPECT_EQ(lines[1], "no clients left");
}

INSTANTIATE_TEST_SUITE_P(Backends, Ticker, testing::ValuesIn(available_backends()), backend_test_name);

}  // namespace
}  // namespace salvo::test
