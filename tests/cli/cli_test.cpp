// The `salvo` command, run as a child process. Usage errors exit with code 2 and print exactly one
// line on stderr that names the problem; real runs on loopback report JSON whose numbers add up;
// SIGTERM ends a server cleanly with its summary; a second signal ends it at once, even while
// what it queued cannot leave.
#include <signal.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "cli/cli_test_support.hpp"
#include "support/netns.hpp"
#include "support/process.hpp"
#include "support/test_support.hpp"

namespace salvo::test {
namespace {

const std::string salvo_bin = SALVO_CLI_PATH;

ProcessResult salvo(std::vector<std::string> args, std::chrono::milliseconds timeout = 20s) {
  args.insert(args.begin(), salvo_bin);
  return run_process(args, timeout);
}

class UsageError : public testing::TestWithParam<UsageCase> {};

TEST_P(UsageError, ExitsWithCode2AndOneLineNamingTheProblem) {
  const auto r = salvo(GetParam().args);
  ASSERT_TRUE(r.exited) << show(r);
  EXPECT_EQ(r.exit_code, 2) << show(r);
  const auto lines = lines_of(r.err);
  ASSERT_EQ(lines.size(), 1u) << "stderr must be exactly one line:\n" << r.err;
  EXPECT_EQ(r.err.back(), '\n');
  EXPECT_EQ(lines[0].rfind("salvo: ", 0), 0u) << lines[0];
  for (const std::string& m : GetParam().mentions) {
    EXPECT_NE(lines[0].find(m), std::string::npos) << "stderr does not mention '" << m << "': " << lines[0];
  }
  EXPECT_TRUE(r.out.empty()) << "nothing on stdout for a usage error: " << r.out;
}

const std::vector<UsageCase> usage_cases = {
    {"UnknownFlag", {"sink", "--bind", "127.0.0.1:0", "--bogus"}, {"--bogus"}},
    {"UnknownFlagOnBlast", {"blast", "--to", "127.0.0.1:9", "--count", "1", "--frobnicate"}, {"--frobnicate"}},
    {"MissingBind", {"sink"}, {"--bind"}},
    {"MissingBindEcho", {"echo", "--json"}, {"--bind"}},
    {"NoSubcommand", {}, {"subcommand"}},
    {"AddressWithoutPort", {"sink", "--bind", "127.0.0.1"}, {"127.0.0.1", "PORT"}},
    {"BadPort", {"sink", "--bind", "127.0.0.1:70000"}, {"127.0.0.1:70000", "port"}},
    {"NonNumericPort", {"echo", "--bind", "127.0.0.1:http"}, {"127.0.0.1:http"}},
    {"UnknownName", {"sink", "--bind", "no-such-host.invalid:9000"}, {"--bind", "no-such-host.invalid"}},
    {"NotAName", {"sink", "--bind", "local host:9000"}, {"local host:9000"}},
    {"UnbracketedIpv6", {"sink", "--bind", "::1:9000"}, {"::1:9000"}},
    {"UnknownBackend", {"sink", "--bind", "127.0.0.1:0", "--backend", "foo"}, {"--backend", "foo"}},
    {"UnknownUringReceive", {"echo", "--bind", "127.0.0.1:0", "--uring-receive", "sometimes"},
     {"--uring-receive", "sometimes"}},
    {"BadLatencyBudget", {"echo", "--bind", "127.0.0.1:0", "--latency-budget", "soon"}, {"--latency-budget", "soon"}},
    {"LatencyBudgetTooLong", {"sink", "--bind", "127.0.0.1:0", "--latency-budget", "20000"}, {"--latency-budget", "20000"}},
    {"LatencyBudgetOnAClient", {"ping", "--to", "127.0.0.1:9", "--latency-budget", "50"}, {"--latency-budget"}},
    {"BadCpus", {"sink", "--bind", "127.0.0.1:0", "--cpus", "9999"}, {"9999"}},
    {"BadCpuSyntax", {"sink", "--bind", "127.0.0.1:0", "--cpus", "0-"}, {"0-"}},
    {"WorkersZero", {"sink", "--bind", "127.0.0.1:0", "--workers", "0"}, {"--workers"}},
    {"BatchZero", {"echo", "--bind", "127.0.0.1:0", "--batch", "0"}, {"--batch"}},
    {"BlastWithoutCountOrDuration", {"blast", "--to", "127.0.0.1:9"}, {"--count", "--duration"}},
    {"BlastMissingTo", {"blast", "--count", "1"}, {"--to"}},
    {"BlastSizeTooLarge", {"blast", "--to", "127.0.0.1:9", "--count", "1", "--size", "70000"}, {"--size", "70000"}},
    {"BlastSizeTooLargeForIpv4", {"blast", "--to", "127.0.0.1:9", "--count", "1", "--size", "65508"},
     {"--size", "65508", "65507"}},
    {"BlastToPortZero", {"blast", "--to", "127.0.0.1:0", "--count", "1"}, {"127.0.0.1:0"}},
    {"BlastBadTo", {"blast", "--to", "1.2.3:9", "--count", "1"}, {"1.2.3:9"}},
    {"BlastBadCount", {"blast", "--to", "127.0.0.1:9", "--count", "0"}, {"--count"}},
    {"NegativeDuration", {"blast", "--to", "127.0.0.1:9", "--duration", "-1"}, {"--duration"}},
};

INSTANTIATE_TEST_SUITE_P(Cases, UsageError, testing::ValuesIn(usage_cases),
                         [](const testing::TestParamInfo<UsageCase>& p) { return std::string(p.param.name); });

TEST(Cli, PortInUseIsAUsageError) {
  for (const char* host : {"127.0.0.1:0", "[::1]:0"}) {
    if (host[0] == '[' && !ipv6_loopback_available()) continue;
    UdpSocket holder(addr(host));
    const std::string where = holder.local().to_string();
    const auto r = salvo({"sink", "--bind", where, "--backend", "epoll"});
    ASSERT_TRUE(r.exited) << show(r);
    EXPECT_EQ(r.exit_code, 2) << show(r);
    const auto lines = lines_of(r.err);
    ASSERT_EQ(lines.size(), 1u) << r.err;
    EXPECT_NE(lines[0].find(where), std::string::npos) << lines[0];
    EXPECT_NE(lines[0].find("in use"), std::string::npos) << lines[0];
  }
}

// A source address of the other family cannot reach the destination. blast must say so and exit
// 2, not spin (IPv4 --bind, IPv6 --to) or report success having sent nothing (the reverse).
TEST(Cli, BlastBindOfTheOtherFamilyIsAUsageError) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"blast", "--to", "[::1]:9", "--bind", "127.0.0.1:0", "--count", "10"},
        std::vector<std::string>{"blast", "--to", "127.0.0.1:9", "--bind", "[::1]:0", "--count", "10"}}) {
    SCOPED_TRACE(args[2] + " from " + args[4]);
    const auto r = salvo(args, 5s);
    ASSERT_TRUE(r.exited) << show(r);
    EXPECT_EQ(r.exit_code, 2) << show(r);
    const auto lines = lines_of(r.err);
    ASSERT_EQ(lines.size(), 1u) << r.err;
    EXPECT_NE(lines[0].find("--bind"), std::string::npos) << lines[0];
  }
}

TEST(Cli, UnavailableBackendIsAUsageError) {
  if (backend_available(BackendKind::io_uring)) GTEST_SKIP() << "io_uring is available here";
  const auto r = salvo({"sink", "--bind", "127.0.0.1:0", "--backend", "io_uring"});
  ASSERT_TRUE(r.exited) << show(r);
  EXPECT_EQ(r.exit_code, 2) << show(r);
  const auto lines = lines_of(r.err);
  ASSERT_EQ(lines.size(), 1u) << r.err;
  EXPECT_NE(lines[0].find("io_uring"), std::string::npos) << lines[0];
}

TEST(Cli, HelpExitsZero) {
  const auto r = salvo({"--help"});
  ASSERT_TRUE(r.exited) << show(r);
  EXPECT_EQ(r.exit_code, 0) << show(r);
  EXPECT_NE(r.out.find("sink"), std::string::npos);
  EXPECT_NE(r.out.find("blast"), std::string::npos);
}

void expect_report_keys(const nlohmann::json& j) {
  for (const char* key : {"backend", "received", "bytes", "delivered", "dropped", "kernel_drops", "sent"}) {
    EXPECT_TRUE(j.contains(key)) << "missing key " << key << " in " << j.dump();
  }
  ASSERT_TRUE(j.contains("dropped") && j["dropped"].is_object()) << j.dump();
  for (const char* key : {"truncated", "send_queue_full", "send_error"}) {
    EXPECT_TRUE(j["dropped"].contains(key)) << "missing dropped." << key << " in " << j.dump();
  }
  for (const char* key : {"received", "bytes", "delivered", "kernel_drops", "sent"}) {
    if (j.contains(key)) {
      EXPECT_TRUE(j[key].is_number_unsigned()) << key << " in " << j.dump();
    }
  }
}

class CliRun : public testing::TestWithParam<BackendKind> {};

TEST_P(CliRun, BlastIntoSinkAddsUp) {
  const std::string backend(to_string(GetParam()));
  Child sink({salvo_bin, "sink", "--bind", "127.0.0.1:0", "--idle-exit", "2", "--json", "--backend", backend});
  ASSERT_TRUE(sink.wait_for_stderr("listening on ", 20s)) << sink.err_so_far();
  ASSERT_TRUE(sink.wait_for_stderr(")\n", 5s)) << sink.err_so_far();
  const Address where = listening_address(sink.err_so_far());
  EXPECT_EQ(where.ip_string(), "127.0.0.1");
  EXPECT_NE(where.port(), 0);

  const auto blast = salvo({"blast", "--to", where.to_string(), "--count", "20000", "--json", "--backend", backend}, 60s);
  ASSERT_TRUE(blast.exited) << show(blast);
  ASSERT_EQ(blast.exit_code, 0) << show(blast);
  const auto sunk = sink.finish(30s);
  ASSERT_TRUE(sunk.exited) << show(sunk);
  ASSERT_EQ(sunk.exit_code, 0) << show(sunk);

  const nlohmann::json b = parse_json_line(blast.out);
  const nlohmann::json s = parse_json_line(sunk.out);
  expect_report_keys(b);
  expect_report_keys(s);
  EXPECT_EQ(b["backend"], backend);
  EXPECT_EQ(s["backend"], backend);
  EXPECT_EQ(b["sent"].get<std::uint64_t>(), 20000u) << b.dump();
  EXPECT_EQ(b["sent_bytes"].get<std::uint64_t>(), 20000u * 64) << b.dump();
  EXPECT_EQ(b["dropped"]["send_queue_full"].get<std::uint64_t>(), 0u);
  EXPECT_EQ(b["dropped"]["send_error"].get<std::uint64_t>(), 0u);
  EXPECT_EQ(b["to"], where.to_string());
  EXPECT_EQ(b["requested_count"].get<std::uint64_t>(), 20000u);
  const std::uint64_t received = s["received"].get<std::uint64_t>();
  const std::uint64_t kernel_drops = s["kernel_drops"].get<std::uint64_t>();
  EXPECT_EQ(received + kernel_drops, b["sent"].get<std::uint64_t>()) << "sink: " << s.dump();
  EXPECT_EQ(s["delivered"].get<std::uint64_t>(), received);
  EXPECT_EQ(s["bytes"].get<std::uint64_t>(), received * 64);
  EXPECT_EQ(s["dropped"]["truncated"].get<std::uint64_t>(), 0u);
  EXPECT_EQ(s["sent"].get<std::uint64_t>(), 0u);
  EXPECT_EQ(s["bind"], where.to_string());
  EXPECT_EQ(s["interrupted"], false);
  EXPECT_GT(received, 0u);
}

TEST_P(CliRun, EchoAnswersAPlainClient) {
  SALVO_REQUIRE_IPV6();
  const std::string backend(to_string(GetParam()));
  Child echo({salvo_bin, "echo", "--bind", "[::1]:0", "--duration", "30", "--json", "--backend", backend});
  ASSERT_TRUE(echo.wait_for_stderr(")\n", 20s)) << echo.err_so_far();
  const Address where = listening_address(echo.err_so_far());
  UdpSocket client(addr("[::1]:0"), 1 << 20);
  for (std::uint64_t i = 0; i < 100; ++i) {
    ASSERT_TRUE(client.send_to(make_payload(i, 50), where));
    auto reply = client.receive(5s);
    ASSERT_TRUE(reply.has_value()) << "no echo for " << i;
    EXPECT_EQ(reply->payload, make_payload(i, 50));
    EXPECT_EQ(reply->from, where);
  }
  echo.send_signal(SIGINT);
  const auto r = echo.finish(20s);
  ASSERT_TRUE(r.exited) << show(r);
  EXPECT_EQ(r.exit_code, 0) << show(r);
  const nlohmann::json j = parse_json_line(r.out);
  EXPECT_EQ(j["received"].get<std::uint64_t>(), 100u);
  EXPECT_EQ(j["sent"].get<std::uint64_t>(), 100u);
  EXPECT_EQ(j["interrupted"], true);
}

TEST_P(CliRun, EchoWithALatencyBudgetAnswersAllAndReportsItsWaits) {
  const std::string backend(to_string(GetParam()));
  Child echo({salvo_bin, "echo", "--bind", "127.0.0.1:0", "--duration", "30", "--json", "--backend", backend,
              "--latency-budget", "adaptive:200"});
  ASSERT_TRUE(echo.wait_for_stderr(")\n", 20s)) << echo.err_so_far();
  const Address where = listening_address(echo.err_so_far());
  UdpSocket client(addr("127.0.0.1:0"), 1 << 20);
  for (std::uint64_t i = 0; i < 100; ++i) {
    ASSERT_TRUE(client.send_to(make_payload(i, 50), where));
    auto reply = client.receive(5s);
    ASSERT_TRUE(reply.has_value()) << "no echo for " << i;
    EXPECT_EQ(reply->payload, make_payload(i, 50));
  }
  echo.send_signal(SIGINT);
  const auto r = echo.finish(20s);
  ASSERT_TRUE(r.exited) << show(r);
  EXPECT_EQ(r.exit_code, 0) << show(r);
  const nlohmann::json j = parse_json_line(r.out);
  EXPECT_EQ(j["sent"].get<std::uint64_t>(), 100u);
  const auto& c = j["counters"];
  EXPECT_GE(c["wakeups"].get<std::uint64_t>(), 1u) << c.dump();
  EXPECT_LE(c["batch_wait_us"].get<std::uint64_t>(), 200 * c["batch_waits"].get<std::uint64_t>()) << c.dump();
  EXPECT_NE(r.err.find("wake-ups: "), std::string::npos) << r.err;
}

TEST_P(CliRun, SigtermEndsASinkWithASummary) {
  const std::string backend(to_string(GetParam()));
  Child sink({salvo_bin, "sink", "--bind", "127.0.0.1:0", "--json", "--backend", backend});
  ASSERT_TRUE(sink.wait_for_stderr(")\n", 20s)) << sink.err_so_far();
  const Address where = listening_address(sink.err_so_far());
  UdpSocket client(addr("127.0.0.1:0"));
  for (std::uint64_t i = 0; i < 10; ++i) ASSERT_TRUE(client.send_to(make_payload(i, 100), where));
  sink.send_signal(SIGTERM);
  const auto r = sink.finish(20s);
  ASSERT_TRUE(r.exited) << "the sink died of signal " << r.signal << "\n" << show(r);
  EXPECT_EQ(r.exit_code, 0) << show(r);
  const nlohmann::json j = parse_json_line(r.out);
  expect_report_keys(j);
  EXPECT_EQ(j["interrupted"], true);
  EXPECT_EQ(j["command"], "sink");
  EXPECT_EQ(j["backend"], backend);
  // Stopped at an arbitrary moment: what was read is at most what was sent, and all delivered.
  EXPECT_LE(j["received"].get<std::uint64_t>() + j["kernel_drops"].get<std::uint64_t>(), 10u);
  EXPECT_EQ(j["delivered"], j["received"]);
  // The human summary goes to stderr.
  EXPECT_NE(r.err.find("salvo sink: backend " + backend), std::string::npos) << r.err;
}

TEST_P(CliRun, DurationEndsABlastWithoutCount) {
  const std::string backend(to_string(GetParam()));
  UdpSocket target(addr("127.0.0.1:0"), 1 << 20);
  const auto r = salvo({"blast", "--to", target.local().to_string(), "--duration", "0.3", "--size", "16", "--json",
                        "--backend", backend},
                       15s);
  ASSERT_TRUE(r.exited) << show(r);
  ASSERT_EQ(r.exit_code, 0) << show(r);
  const nlohmann::json j = parse_json_line(r.out);
  EXPECT_GT(j["sent"].get<std::uint64_t>(), 0u);
  EXPECT_EQ(j["sent_bytes"].get<std::uint64_t>(), j["sent"].get<std::uint64_t>() * 16);
  EXPECT_GE(j["elapsed_s"].get<double>(), 0.3);
  EXPECT_LT(j["elapsed_s"].get<double>(), 10.0);
  // What arrived is what blast sent, minus what this socket's queue could not hold.
  auto first = target.receive(1s);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->payload.size(), 16u);
  EXPECT_EQ(first->from.ip_string(), "127.0.0.1");
}

// A token bucket on the namespace's loopback lets one datagram out every 1.2 s, so blast's send
// buffer fills and stays full. The first signal drains it (reading stops; what is queued waits for
// the send buffer), the second ends the run at once: what was still queued is counted as a send
// error, and the report says so.
TEST_P(CliRun, ASecondSignalEndsTheRunAtOnceWhileSendsCannotLeave) {
  const std::string backend(to_string(GetParam()));
  const std::string skip = in_fresh_namespace([&] {
    // The target outlives the bucket, and the bucket blast (see LoopbackTokenBucket).
    UdpSocket target(addr("127.0.0.1:0"));
    LoopbackTokenBucket bucket;
    if (!bucket.why_not().empty()) GTEST_SKIP() << bucket.why_not();
    Child blast({salvo_bin, "blast", "--to", target.local().to_string(), "--count", "100000", "--size", "1200",
                 "--json", "--backend", backend});
    ASSERT_TRUE(target.receive(20s).has_value()) << "blast sent nothing";
    blast.send_signal(SIGINT);
    // A different signal, so that the two cannot merge into one pending signal.
    blast.send_signal(SIGTERM);
    const auto second = std::chrono::steady_clock::now();
    const auto r = blast.finish(20s);
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - second);
    ASSERT_TRUE(r.exited) << show(r);
    EXPECT_EQ(r.exit_code, 0) << show(r);
    const nlohmann::json j = parse_json_line(r.out);
    EXPECT_EQ(j["interrupted"], true);
    EXPECT_GT(j["sent"].get<std::uint64_t>(), 0u) << j.dump();
    EXPECT_GT(j["dropped"]["send_error"].get<std::uint64_t>(), 0u) << "the queued datagrams were not counted: " << j.dump();
    std::printf("[ figure ] blast ended %lld ms after its second signal\n", static_cast<long long>(took.count()));
  });
  if (!skip.empty()) GTEST_SKIP() << skip;
}

TEST_P(CliRun, BlastSplitsItsCountOverWorkers) {
  const std::string backend(to_string(GetParam()));
  UdpSocket target(addr("127.0.0.1:0"), 4 << 20);
  const auto r = salvo({"blast", "--to", target.local().to_string(), "--count", "1001", "--workers", "2", "--size",
                        "24", "--json", "--backend", backend},
                       30s);
  ASSERT_TRUE(r.exited) << show(r);
  ASSERT_EQ(r.exit_code, 0) << show(r);
  const nlohmann::json j = parse_json_line(r.out);
  EXPECT_EQ(j["sent"].get<std::uint64_t>(), 1001u) << j.dump();
  EXPECT_EQ(j["workers"].get<unsigned>(), 2u);
  ASSERT_EQ(j["per_worker"].size(), 2u);
  EXPECT_EQ(j["per_worker"][0]["sent"].get<std::uint64_t>(), 501u);
  EXPECT_EQ(j["per_worker"][1]["sent"].get<std::uint64_t>(), 500u);
  EXPECT_EQ(j["counters"]["send_requests"].get<std::uint64_t>(), 1001u);
  // Every datagram arrived; each worker numbers its own from 0, so each sequence number shows up
  // once per worker that sent it.
  std::map<std::uint64_t, int> seqs;
  std::set<Address, bool (*)(const Address&, const Address&)> sources(
      [](const Address& a, const Address& b) { return a.to_string() < b.to_string(); });
  for (int i = 0; i < 1001; ++i) {
    auto m = target.receive(2s);
    ASSERT_TRUE(m.has_value()) << "only " << i << " of 1001 arrived";
    ASSERT_EQ(m->payload.size(), 24u);
    ++seqs[payload_seq(m->payload)];
    sources.insert(m->from);
  }
  EXPECT_FALSE(target.receive(50ms).has_value());
  EXPECT_EQ(sources.size(), 1u) << "the workers' sockets share one port (SO_REUSEPORT group)";
  EXPECT_EQ(seqs.size(), 501u);
  EXPECT_EQ(seqs[0], 2);
  EXPECT_EQ(seqs[499], 2);
  EXPECT_EQ(seqs[500], 1);
}

INSTANTIATE_TEST_SUITE_P(Backends, CliRun, testing::ValuesIn(available_backends()), backend_test_name);

}  // namespace
}  // namespace salvo::test
