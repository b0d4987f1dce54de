// salvo impair as a child process between sockets of the test (or a salvo echo child): loss
// removes exactly the datagrams the in-process decision model says for the seed, in both
// directions; the duplicates and reordering a receiver sees are exactly the proxy's counters;
// --delay is a floor and jitter never reorders; replies go back to the client that asked, with two
// clients at once; the client table never grows past --max-clients (newcomers counted as refused
// until an idle client expires); --rate drops and counts the excess; bad flags are one-line usage
// errors with exit code 2; and ping through the proxy measures the configured loss, duplication and
// reordering within one percentage point.
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "cli/cli_test_support.hpp"
#include "cli/impair_children.hpp"
#include "cli/udp_receiver.hpp"
#include "impair/impairment.hpp"
#include "support/process.hpp"
#include "support/test_support.hpp"

namespace salvo::test {
namespace {

using cli::Direction;
using cli::ImpairmentModel;
using cli::ImpairmentSettings;

const std::string salvo_bin = SALVO_CLI_PATH;

std::uint64_t u(const nlohmann::json& j) { return j.get<std::uint64_t>(); }

std::set<std::uint64_t> seqs_of(const UdpReceiver& rx) {
  std::set<std::uint64_t> s;
  for (const auto& r : rx.records()) s.insert(r.seq);
  return s;
}

class Impair : public testing::TestWithParam<BackendKind> {
 protected:
  std::string backend() const { return std::string(to_string(GetParam())); }
};

TEST_P(Impair, LossDropsExactlyWhatTheModelSaysInBothDirections) {
  constexpr std::uint64_t n = 3000;
  ImpairmentSettings settings;
  settings.loss = 0.1;
  // What the model decides for seed 42, per direction, datagram by datagram.
  auto survivors = [&](Direction d) {
    ImpairmentModel m = ImpairmentModel::for_direction(settings, 42, d);
    std::set<std::uint64_t> kept;
    for (std::uint64_t i = 0; i < n; ++i) {
      if (!m.next().lose) kept.insert(i);
    }
    return kept;
  };
  const auto kept_up = survivors(Direction::client_to_server);
  const auto kept_down = survivors(Direction::server_to_client);
  ASSERT_GT(kept_up.size(), n * 85 / 100);
  ASSERT_LT(kept_up.size(), n * 95 / 100);

  UdpReceiver server(addr("127.0.0.1:0"));
  UdpReceiver client(addr("127.0.0.1:0"));
  Proxy proxy(server.local(), {"--loss", "0.1", "--seed", "42"}, backend());

  for (std::uint64_t i = 0; i < n; ++i) ASSERT_TRUE(client.socket().send_to(make_payload(i, 64), proxy.address()));
  ASSERT_TRUE(server.wait_for_count(kept_up.size(), 20s)) << server.count() << " of " << kept_up.size();
  server.wait_quiet(200ms, 5s);
  server.stop();
  ASSERT_FALSE(server.records().empty());
  EXPECT_EQ(seqs_of(server), kept_up) << "client -> server: not the model's survivors";
  EXPECT_EQ(server.records().size(), kept_up.size());
  for (const auto& r : server.records()) ASSERT_EQ(r.from_port, server.records().front().from_port);

  // The reply direction: the server answers to the port the client's datagrams came from (the
  // client's upstream socket on the proxy).
  const Address upstream = Address::ipv4_loopback(server.records().front().from_port);
  for (std::uint64_t i = 0; i < n; ++i) ASSERT_TRUE(server.socket().send_to(make_payload(i, 64), upstream));
  ASSERT_TRUE(client.wait_for_count(kept_down.size(), 20s)) << client.count() << " of " << kept_down.size();
  client.wait_quiet(200ms, 5s);
  client.stop();
  EXPECT_EQ(seqs_of(client), kept_down) << "server -> client: not the model's survivors";
  EXPECT_EQ(client.records().size(), kept_down.size());
  for (const auto& r : client.records()) ASSERT_EQ(r.from_port, proxy.address().port());

  const nlohmann::json j = proxy.result();
  EXPECT_EQ(u(j["kernel_drops"]), 0u) << "the proxy's sockets overflowed: the test is invalid";
  const auto& up = j["client_to_server"];
  const auto& down = j["server_to_client"];
  EXPECT_EQ(u(up["in"]), n);
  EXPECT_EQ(u(up["forwarded"]), kept_up.size());
  EXPECT_EQ(u(up["dropped_loss"]), n - kept_up.size());
  EXPECT_EQ(u(down["in"]), n);
  EXPECT_EQ(u(down["forwarded"]), kept_down.size());
  EXPECT_EQ(u(down["dropped_loss"]), n - kept_down.size());
  expect_accounted(up);
  expect_accounted(down);
  EXPECT_EQ(u(j["clients"]["admitted"]), 1u);
}

TEST_P(Impair, DuplicatesAndReorderingSeenMatchTheProxyCounters) {
  constexpr std::uint64_t n = 3000;
  ImpairmentSettings settings;
  settings.duplicate = 0.1;
  settings.reorder = 0.1;
  ImpairmentModel m = ImpairmentModel::for_direction(settings, 7, Direction::client_to_server);
  std::uint64_t model_dups = 0, model_holds = 0;
  for (std::uint64_t i = 0; i < n; ++i) {
    const auto d = m.next();
    model_dups += d.duplicate;
    model_holds += d.reorder;
  }

  UdpReceiver server(addr("127.0.0.1:0"));
  UdpReceiver client(addr("127.0.0.1:0"));
  Proxy proxy(server.local(), {"--dup", "0.1", "--reorder", "0.1", "--seed", "7"}, backend());
  for (std::uint64_t i = 0; i < n; ++i) ASSERT_TRUE(client.socket().send_to(make_payload(i, 64), proxy.address()));
  ASSERT_TRUE(server.wait_for_count(n + model_dups, 20s)) << server.count() << " of " << n + model_dups;
  server.wait_quiet(300ms, 5s);  // longer than the 100 ms a held datagram waits for a next one
  server.stop();
  const ArrivalOrder seen = arrival_order(server.records());

  const nlohmann::json j = proxy.result();
  EXPECT_EQ(u(j["kernel_drops"]), 0u);
  const auto& up = j["client_to_server"];
  EXPECT_EQ(seen.distinct, n);
  EXPECT_EQ(u(up["forwarded"]), n);
  EXPECT_EQ(seen.duplicates, u(up["duplicated"]));
  EXPECT_EQ(seen.duplicates, model_dups) << "no loss configured: every duplicate decision is sent";
  EXPECT_EQ(seen.out_of_order, u(up["reordered"]));
  EXPECT_GT(seen.out_of_order, model_holds / 2) << "most holds are overtaken (unless the next is held too)";
  EXPECT_LE(seen.out_of_order, model_holds);
  expect_accounted(up);
}

TEST_P(Impair, DelayIsAFloorAndJitterNeverReorders) {
  for (const bool jitter : {false, true}) {
    SCOPED_TRACE(jitter ? "--delay 20 --jitter 10" : "--delay 30");
    const auto floor = jitter ? 10ms : 30ms;
    UdpReceiver server(addr("127.0.0.1:0"));
    UdpSocket client(addr("127.0.0.1:0"));
    Proxy proxy(server.local(),
                jitter ? std::vector<std::string>{"--delay", "20", "--jitter", "10", "--seed", "3"}
                       : std::vector<std::string>{"--delay", "30"},
                backend());
    constexpr std::uint64_t n = 200;
    std::vector<Clock::time_point> sent_at(n);
    for (std::uint64_t i = 0; i < n; ++i) {
      sent_at[i] = Clock::now();
      ASSERT_TRUE(client.send_to(make_payload(i, 64), proxy.address()));
      std::this_thread::sleep_for(500us);  // the traffic's shape: one datagram every ~0.5 ms
    }
    ASSERT_TRUE(server.wait_for_count(n, 20s)) << server.count();
    server.stop();
    auto lowest = std::chrono::nanoseconds::max(), highest = std::chrono::nanoseconds::zero();
    for (const auto& r : server.records()) {
      const auto latency = r.at - sent_at.at(r.seq);
      EXPECT_GE(latency, floor) << "seq " << r.seq << " arrived early";
      lowest = std::min(lowest, latency);
      highest = std::max(highest, latency);
    }
    EXPECT_LT(lowest, floor + 1s);
    const ArrivalOrder order = arrival_order(server.records());
    EXPECT_EQ(order.out_of_order, 0u);
    EXPECT_EQ(order.distinct, n);
    if (jitter) {
      EXPECT_GT(highest - lowest, 5ms) << "jitter varies the delay";
    }
    const nlohmann::json j = proxy.result();
    EXPECT_EQ(u(j["client_to_server"]["delayed"]), n);
    EXPECT_EQ(u(j["client_to_server"]["forwarded"]), n);
    expect_accounted(j["client_to_server"]);
  }
}

TEST_P(Impair, RepliesGoBackToTheRightClient) {
  EchoServer echo(backend());
  Proxy proxy(echo.address(), {}, backend());
  UdpReceiver a(addr("127.0.0.1:0")), b(addr("127.0.0.1:0"));
  constexpr std::uint64_t n = 300;
  for (std::uint64_t i = 0; i < n; ++i) {
    ASSERT_TRUE(a.socket().send_to(make_payload((1ull << 32) | i, 48), proxy.address()));
    ASSERT_TRUE(b.socket().send_to(make_payload((2ull << 32) | i, 48), proxy.address()));
  }
  ASSERT_TRUE(a.wait_for_count(n, 20s)) << a.count();
  ASSERT_TRUE(b.wait_for_count(n, 20s)) << b.count();
  a.wait_quiet(100ms, 5s);
  b.wait_quiet(100ms, 5s);
  a.stop();
  b.stop();
  for (auto [rx, id] : {std::pair<UdpReceiver*, std::uint64_t>{&a, 1}, {&b, 2}}) {
    EXPECT_EQ(rx->records().size(), n);
    for (const auto& r : rx->records()) {
      ASSERT_EQ(r.seq >> 32, id) << "client " << id << " got another client's reply";
      ASSERT_EQ(r.from_port, proxy.address().port());
    }
    EXPECT_EQ(seqs_of(*rx).size(), n);
  }
  const nlohmann::json j = proxy.result();
  EXPECT_EQ(u(j["clients"]["admitted"]), 2u);
  EXPECT_EQ(u(j["clients"]["peak"]), 2u);
  EXPECT_EQ(u(j["client_to_server"]["forwarded"]), 2 * n);
  EXPECT_EQ(u(j["server_to_client"]["forwarded"]), 2 * n);
  expect_accounted(j["client_to_server"]);
  expect_accounted(j["server_to_client"]);
}

TEST_P(Impair, TheClientTableNeverGrowsPastItsBound) {
  EchoServer echo(backend());
  Proxy proxy(echo.address(), {"--max-clients", "2", "--idle-timeout", "0.5"}, backend());
  UdpReceiver a(addr("127.0.0.1:0")), b(addr("127.0.0.1:0")), c(addr("127.0.0.1:0"));
  // The proxy last saw a and b (their last datagrams and the replies to them) after this moment:
  // a lower bound of their last activity that no scheduling delay of this test can move later.
  Clock::time_point last_activity;
  for (std::uint64_t i = 0; i < 20; ++i) {
    last_activity = Clock::now();
    ASSERT_TRUE(a.socket().send_to(make_payload(i, 32), proxy.address()));
    ASSERT_TRUE(b.socket().send_to(make_payload(i, 32), proxy.address()));
  }
  ASSERT_TRUE(a.wait_for_count(20, 20s));
  ASSERT_TRUE(b.wait_for_count(20, 20s));
  // A third client while both slots are busy: refused, counted, no reply.
  for (std::uint64_t i = 0; i < 20; ++i) ASSERT_TRUE(c.socket().send_to(make_payload(i, 32), proxy.address()));
  // Once a and b have been idle for 0.5 s, c takes a slot: keep asking until it gets an answer.
  std::uint64_t asked = 20;
  Deadline deadline(10s);
  while (c.count() == 0 && !deadline.expired()) {
    ASSERT_TRUE(c.socket().send_to(make_payload(1000 + asked++, 32), proxy.address()));
    c.wait_for_count(1, 50ms);
  }
  ASSERT_GT(c.count(), 0u) << "the third client was never admitted";
  EXPECT_GE(Clock::now() - last_activity, 500ms) << "admitted before anyone was idle long enough";
  a.stop();
  b.stop();
  c.stop();
  EXPECT_EQ(a.records().size(), 20u);
  EXPECT_EQ(b.records().size(), 20u);
  for (const auto& r : c.records()) EXPECT_GE(r.seq, 1000u) << "a refused datagram got through";

  const nlohmann::json j = proxy.result();
  const auto& clients = j["clients"];
  EXPECT_EQ(u(clients["max"]), 2u);
  EXPECT_EQ(u(clients["peak"]), 2u) << "the table grew";
  EXPECT_LE(u(clients["active"]), 2u);
  // a and b expire (both, or one before c's admission and the other right after); c came in once.
  EXPECT_GE(u(clients["expired"]), 1u);
  EXPECT_LE(u(clients["expired"]), 2u);
  EXPECT_EQ(u(clients["admitted"]), 3u);
  EXPECT_GE(u(clients["refused"]), 20u);
  EXPECT_EQ(u(j["client_to_server"]["dropped_unroutable"]), u(clients["refused"]));
  EXPECT_EQ(u(j["client_to_server"]["in"]), 40u + asked);
  expect_accounted(j["client_to_server"]);
  expect_accounted(j["server_to_client"]);
}

// salvo ping -> salvo impair -> salvo echo: what ping measures end to end matches the settings
// within one percentage point. Each setting applies in both directions, so the end-to-end figure
// is the two directions combined: a round trip survives loss only if neither leg loses it
// (1 - (1 - p)^2); a request doubled on the way out is echoed twice and each reply may be doubled
// on the way back ((1 + d)^2 - 1 duplicates per request); a datagram held back behind the next one
// in either leg arrives out of order (2r, less the rare cases where both legs swap the same pair
// back). 20,000 pings per setting, so one percentage point is at least three standard deviations.
struct EndToEnd {
  const char* flag;
  double setting;
  double expected;  // fraction of the pings sent
  const char* counter;  // in ping's JSON "ping" object
};

TEST_P(Impair, PingThroughTheProxyMeasuresTheConfiguredRates) {
  constexpr std::uint64_t pings = 20000;
  const EndToEnd cases[] = {
      {"--loss", 0.05, 1 - 0.95 * 0.95, "lost"},
      {"--dup", 0.04, 1.04 * 1.04 - 1, "duplicates"},
      {"--reorder", 0.03, 2 * 0.03, "reordered"},
  };
  EchoServer echo(backend());
  for (const EndToEnd& c : cases) {
    SCOPED_TRACE(c.flag);
    Proxy proxy(echo.address(), {c.flag, std::to_string(c.setting), "--seed", "7"}, backend());
    const ProcessResult r = run_process({salvo_bin, "ping", "--to", proxy.address().to_string(), "--rate", "10000",
                                         "--count", std::to_string(pings), "--linger", "1", "--rcvbuf", "4194304",
                                         "--json", "--backend", backend()},
                                        60s);
    ASSERT_TRUE(r.exited && r.exit_code == 0) << show(r);
    const nlohmann::json ping = json_of(r)["ping"];
    ASSERT_EQ(u(ping["sent"]), pings) << ping.dump();
    const nlohmann::json j = proxy.result();
    expect_accounted(j["client_to_server"]);
    expect_accounted(j["server_to_client"]);
    const double measured = static_cast<double>(u(ping[c.counter])) / pings;
    EXPECT_NEAR(measured, c.expected, 0.01) << c.counter << " " << u(ping[c.counter]) << " of " << pings
                                            << "; ping: " << ping.dump() << "\nproxy: " << j.dump();
    // Nothing else goes wrong: only the impairment under test shows.
    for (const char* other : {"lost", "duplicates", "reordered"}) {
      if (std::string(other) != c.counter) {
        EXPECT_EQ(u(ping[other]), 0u) << other << "; ping: " << ping.dump();
      }
    }
    EXPECT_EQ(u(ping["invalid"]), 0u);
  }
}

// Loss, duplication and reordering at once, seen by a salvo protocol (an in-process Engine on the
// backend under test) rather than by a plain socket: the sequence numbers it gets are exactly the
// model's survivors for the seed, its duplicates are exactly the model's duplicate decisions (and
// the proxy's count), the datagrams it sees out of order are exactly the proxy's reordered count,
// and each rate is the configured one within one percentage point (20,000 datagrams: at least
// four standard deviations).
TEST_P(Impair, AllThreeAtOnceAreExactlyWhatASalvoProtocolCounts) {
  constexpr std::uint64_t n = 20000;
  constexpr double loss = 0.05, dup = 0.04, reorder = 0.03;
  ImpairmentSettings settings;
  settings.loss = loss;
  settings.duplicate = dup;
  settings.reorder = reorder;
  ImpairmentModel m = ImpairmentModel::for_direction(settings, 11, Direction::client_to_server);
  std::set<std::uint64_t> kept;
  std::uint64_t model_dups = 0, model_holds = 0;
  std::vector<std::uint64_t> arrivals_after(n + 1, 0);  // arrivals the first i datagrams make
  for (std::uint64_t i = 0; i < n; ++i) {
    const auto d = m.next();
    if (!d.lose) kept.insert(i);
    model_dups += d.duplicate;
    model_holds += d.reorder;
    arrivals_after[i + 1] = arrivals_after[i] + (d.lose ? 0 : 1) + (d.duplicate ? 1 : 0);
  }

  // The receiving protocol notes every arrival's sequence number, in order (one worker).
  struct Arrivals {
    std::vector<UdpReceiver::Record> records;
    std::atomic<std::uint64_t> count{0};
  } arrivals;
  arrivals.records.reserve(2 * n);
  Hooks hooks;
  hooks.on_datagrams = [&arrivals](std::span<const Datagram> batch, Transport&) {
    for (const Datagram& d : batch) {
      UdpReceiver::Record r;
      r.seq = payload_seq(d.payload);
      r.size = static_cast<std::uint32_t>(d.payload.size());
      r.from_port = d.peer.port();
      if (arrivals.records.size() < arrivals.records.capacity()) arrivals.records.push_back(r);
      arrivals.count.fetch_add(1, std::memory_order_release);
    }
  };
  Recorder recorder;
  EngineOptions o;
  o.backend = GetParam();
  o.socket_receive_buffer = 4 << 20;
  auto engine = make_engine(o);
  const Address server = must_listen(*engine, addr("127.0.0.1:0"), recording_factory(recorder, hooks, Record::nothing));
  must_start(*engine);
  Proxy proxy(server, {"--loss", std::to_string(loss), "--dup", std::to_string(dup), "--reorder",
                       std::to_string(reorder), "--seed", "11"}, backend());

  UdpSocket client(addr("127.0.0.1:0"), 0, 1 << 20);
  // Paced by what arrived, not by the clock, so that neither the proxy's socket nor the engine's
  // overflows however busy the machine is: after every 100 datagrams the client waits until the
  // protocol has seen all that the model says they make, but for the few the proxy may be holding
  // back to reorder (each waits for a later datagram, or for its hold to time out).
  constexpr std::uint64_t step = 100, held_slack = 16;
  for (std::uint64_t i = 0; i < n; ++i) {
    ASSERT_TRUE(client.send_to(make_payload(i, 64), proxy.address()));
    if (i % step == step - 1) {
      const std::uint64_t due = arrivals_after[i + 1] > held_slack ? arrivals_after[i + 1] - held_slack : 0;
      ASSERT_TRUE(wait_until([&] { return arrivals.count.load(std::memory_order_acquire) >= due; }, 30s))
          << arrivals.count.load() << " arrivals after " << i + 1 << " datagrams, " << due << " due";
    }
  }
  const std::uint64_t expected_arrivals = kept.size() + model_dups;
  EXPECT_TRUE(wait_until([&] { return arrivals.count.load(std::memory_order_acquire) >= expected_arrivals; }, 30s))
      << arrivals.count.load() << " of " << expected_arrivals;
  std::this_thread::sleep_for(300ms);  // longer than a held datagram waits for a next one: anything late shows
  stop_and_wait(*engine);
  const nlohmann::json j = proxy.result();
  const Counters c = engine->counters();
  EXPECT_EQ(u(j["kernel_drops"]), 0u) << "the proxy's sockets overflowed: the test is invalid";
  EXPECT_EQ(c.kernel_drops, 0u) << "the engine's socket overflowed: the test is invalid";

  const ArrivalOrder seen = arrival_order(arrivals.records);
  std::set<std::uint64_t> distinct;
  for (const auto& r : arrivals.records) distinct.insert(r.seq);
  const auto& up = j["client_to_server"];
  const double lost_rate = static_cast<double>(n - seen.distinct) / n;
  const double dup_rate = static_cast<double>(seen.duplicates) / n;
  const double reorder_rate = static_cast<double>(seen.out_of_order) / n;
  std::cout << "[ figure ] impair --loss " << loss << " --dup " << dup << " --reorder " << reorder << " ("
            << to_string(GetParam()) << "): " << n << " sent, protocol saw " << seen.arrivals << " arrivals, "
            << seen.distinct << " distinct (lost " << lost_rate * 100 << "%), " << seen.duplicates << " duplicates ("
            << dup_rate * 100 << "%), " << seen.out_of_order << " out of order (" << reorder_rate * 100
            << "%); model: lost " << n - kept.size() << ", duplicated " << model_dups << ", held " << model_holds
            << "; proxy: dropped_loss " << u(up["dropped_loss"]) << ", duplicated " << u(up["duplicated"])
            << ", reordered " << u(up["reordered"]) << "\n";
  EXPECT_EQ(seen.arrivals, c.delivered);
  EXPECT_EQ(c.received, c.delivered);
  EXPECT_EQ(distinct, kept) << "the protocol's datagrams are not the model's survivors";
  EXPECT_EQ(seen.duplicates, model_dups);
  EXPECT_EQ(seen.duplicates, u(up["duplicated"]));
  EXPECT_EQ(u(up["dropped_loss"]), n - kept.size());
  EXPECT_EQ(seen.out_of_order, u(up["reordered"]));
  EXPECT_LE(seen.out_of_order, model_holds);
  EXPECT_NEAR(lost_rate, loss, 0.01);
  EXPECT_NEAR(dup_rate, dup * (1 - loss), 0.01);  // only survivors are doubled
  EXPECT_NEAR(reorder_rate, reorder * (1 - loss), 0.01);
  expect_accounted(up);
}

TEST_P(Impair, RateLimitDropsAndCountsTheExcess) {
  UdpReceiver server(addr("127.0.0.1:0"));
  UdpSocket client(addr("127.0.0.1:0"));
  Proxy proxy(server.local(), {"--rate", "100", "--burst", "5"}, backend());
  const auto started = Clock::now();
  for (std::uint64_t i = 0; i < 500; ++i) ASSERT_TRUE(client.send_to(make_payload(i, 32), proxy.address()));
  const auto sending = Clock::now() - started;
  server.wait_quiet(300ms, 10s);
  server.stop();
  const nlohmann::json j = proxy.result();
  const auto& up = j["client_to_server"];
  EXPECT_EQ(u(up["in"]), 500u);
  EXPECT_EQ(u(up["forwarded"]), server.records().size());
  EXPECT_EQ(u(up["forwarded"]) + u(up["dropped_rate"]), 500u);
  // The burst passes, then about 100 per second of sending (plus the time the proxy took to read).
  EXPECT_GE(u(up["forwarded"]), 5u);
  const auto allowed = 5 + static_cast<std::uint64_t>(100 * std::chrono::duration<double>(sending + 1s).count());
  EXPECT_LE(u(up["forwarded"]), allowed);
  expect_accounted(up);
}

INSTANTIATE_TEST_SUITE_P(Backends, Impair, testing::ValuesIn(available_backends()), backend_test_name);

class ImpairUsage : public testing::TestWithParam<UsageCase> {};

TEST_P(ImpairUsage, ExitsWithCode2AndOneLine) {
  std::vector<std::string> argv = GetParam().args;
  argv.insert(argv.begin(), salvo_bin);
  const auto r = run_process(argv, 10s);
  expect_usage_error(r, GetParam().mentions);
}

std::vector<std::string> impair_with(std::vector<std::string> extra) {
  std::vector<std::string> a = {"impair", "--listen", "127.0.0.1:0", "--to", "127.0.0.1:9"};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ImpairUsage,
    testing::Values(UsageCase{"LossAboveOne", impair_with({"--loss", "1.5"}), {"--loss", "1.5"}},
                    UsageCase{"DupNegative", impair_with({"--dup=-0.1"}), {"--dup"}},
                    UsageCase{"ReorderGarbage", impair_with({"--reorder", "often"}), {"--reorder", "often"}},
                    UsageCase{"DelayNegative", impair_with({"--delay=-5"}), {"--delay"}},
                    UsageCase{"RateZero", impair_with({"--rate", "0"}), {"--rate"}},
                    UsageCase{"RateGarbage", impair_with({"--rate", "lots"}), {"--rate", "lots"}},
                    UsageCase{"BurstWithoutRate", impair_with({"--burst", "3"}), {"--burst", "--rate"}},
                    UsageCase{"MaxClientsZero", impair_with({"--max-clients", "0"}), {"--max-clients"}},
                    UsageCase{"MaxClientsAboveTheTable", impair_with({"--max-clients", "100001"}),
                              {"--max-clients", "100001", "100000"}},
                    UsageCase{"TwoWorkers", impair_with({"--workers", "2"}), {"--workers", "one worker"}},
                    UsageCase{"ToPortZero", {"impair", "--listen", "127.0.0.1:0", "--to", "127.0.0.1:0"}, {"--to"}},
                    UsageCase{"MissingTo", {"impair", "--listen", "127.0.0.1:0"}, {"--to"}},
                    UsageCase{"MissingListen", {"impair", "--to", "127.0.0.1:9"}, {"--listen"}},
                    UsageCase{"BadListen", {"impair", "--listen", "localhost:http", "--to", "127.0.0.1:9"},
                              {"localhost:http"}},
                    UsageCase{"UnknownTo", {"impair", "--listen", "127.0.0.1:0", "--to", "no-such-host.invalid:9"},
                              {"--to", "no-such-host.invalid"}}),
    [](const testing::TestParamInfo<UsageCase>& p) { return std::string(p.param.name); });

}  // namespace
}  // namespace salvo::test
