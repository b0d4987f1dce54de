// salvo sink --gro / --metadata, blast --tos and echo --reply-from-arrival as child processes:
// GSO messages into a GRO sink arrive coalesced and are counted as datagrams, with their ECN code
// point, destination and interface, and a kernel timestamp for every datagram; blast --tos marks
// every datagram; echo answers from the address each request was sent to; bad --tos values are
// usage errors.
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <signal.h>

#include <nlohmann/json.hpp>

#include <cstring>
#include <thread>

#include "cli/cli_test_support.hpp"
#include "support/process.hpp"
#include "support/test_support.hpp"

namespace salvo::test {
namespace {

const std::string salvo_bin = SALVO_CLI_PATH;

ProcessResult salvo(std::vector<std::string> args, std::chrono::milliseconds timeout = 30s) {
  args.insert(args.begin(), salvo_bin);
  return run_process(args, timeout);
}

class OffloadCli : public testing::TestWithParam<BackendKind> {
 protected:
  std::string backend() const { return std::string(to_string(GetParam())); }
};

// Four GSO messages of 50 x 1200 bytes, ECT(0), from the test's own socket, one at a time (a
// blast's runs depend on how the machine schedules it; these do not).
void send_gso_messages(UdpSocket& from, const Address& to, int messages) {
  const int tos = 2;
  ASSERT_EQ(::setsockopt(from.fd(), IPPROTO_IP, IP_TOS, &tos, sizeof tos), 0);
  for (int k = 0; k < messages; ++k) {
    std::vector<std::byte> bytes;
    for (int i = 0; i < 50; ++i) {
      const auto p = make_payload(static_cast<std::uint64_t>(k * 50 + i), 1200);
      bytes.insert(bytes.end(), p.begin(), p.end());
    }
    ASSERT_EQ(from.send_gso(bytes, 1200, to), static_cast<long>(bytes.size())) << std::strerror(errno);
    std::this_thread::sleep_for(20ms);  // one run at a time: the sink's socket buffer never fills
  }
}

TEST_P(OffloadCli, GroSinkReportsSegmentsEcnDestinationAndStamps) {
  Child sink({salvo_bin, "sink", "--bind", "127.0.0.1:0", "--gro", "--metadata", "--idle-exit", "1", "--json",
              "--backend", backend()});
  ASSERT_TRUE(sink.wait_for_stderr(")\n", 20s)) << sink.err_so_far();
  const Address where = listening_address(sink.err_so_far());
  UdpSocket client(addr("127.0.0.1:0"));
  constexpr std::uint64_t count = 200;
  send_gso_messages(client, where, 4);
  const auto sunk = sink.finish(30s);
  ASSERT_TRUE(sunk.exited && sunk.exit_code == 0) << show(sunk);
  const nlohmann::json s = parse_json_line(sunk.out);

  const nlohmann::json& c = s["counters"];
  EXPECT_EQ(s["kernel_drops"].get<std::uint64_t>(), 0u) << s.dump();
  EXPECT_EQ(s["received"].get<std::uint64_t>(), count) << s.dump();
  EXPECT_EQ(s["delivered"].get<std::uint64_t>(), count);
  EXPECT_EQ(s["bytes"].get<std::uint64_t>(), count * 1200);
  EXPECT_EQ(c["gro_receives"].get<std::uint64_t>(), 4u) << "each GSO message reaches a GRO socket whole: " << s.dump();
  EXPECT_EQ(c["gro_segments"].get<std::uint64_t>(), count);
  EXPECT_NE(sunk.err.find("  GRO: 4 receives carried 200 of the datagrams received"), std::string::npos) << sunk.err;

  const nlohmann::json& m = s["metadata"];
  EXPECT_EQ(m["ecn"]["ect0"].get<std::uint64_t>(), count) << m.dump();
  EXPECT_EQ(m["ecn"]["not_ect"].get<std::uint64_t>(), 0u);
  EXPECT_EQ(m["ecn"]["ect1"].get<std::uint64_t>(), 0u);
  EXPECT_EQ(m["ecn"]["ce"].get<std::uint64_t>(), 0u);
  ASSERT_EQ(m["destinations"].size(), 1u) << m.dump();
  EXPECT_EQ(m["destinations"][0]["address"], where.to_string());
  EXPECT_EQ(m["destinations"][0]["interface"].get<unsigned>(), if_nametoindex("lo"));
  EXPECT_EQ(m["destinations"][0]["datagrams"].get<std::uint64_t>(), count);
  EXPECT_EQ(m["other_destinations"].get<std::uint64_t>(), 0u);
  EXPECT_EQ(m["timestamped"].get<std::uint64_t>(), count);
  const double min_us = m["kernel_to_hook_us"]["min"].get<double>();
  const double max_us = m["kernel_to_hook_us"]["max"].get<double>();
  EXPECT_GE(min_us, 0.0);
  EXPECT_LE(min_us, max_us);
  EXPECT_LT(max_us, 1e6) << "a kernel stamp more than a second before the hook";
  EXPECT_NE(sunk.err.find("  ecn: not-ect 0, ect(1) 0, ect(0) 200, ce 0; 1 destination(s)"), std::string::npos)
      << sunk.err;
}

// blast --tos marks every datagram; blast --gso's runs reach a GRO sink (how many runs form
// depends on scheduling, so only that some did and every datagram arrived is checked).
TEST_P(OffloadCli, BlastTosMarksEveryDatagramAndItsGsoRunsReachAGroSink) {
  Child sink({salvo_bin, "sink", "--bind", "127.0.0.1:0", "--gro", "--metadata", "--idle-exit", "1", "--json",
              "--backend", backend()});
  ASSERT_TRUE(sink.wait_for_stderr(")\n", 20s)) << sink.err_so_far();
  const Address where = listening_address(sink.err_so_far());
  constexpr std::uint64_t count = 100;
  const auto blast = salvo({"blast", "--to", where.to_string(), "--count", std::to_string(count), "--size", "1200",
                            "--tos", "1", "--quiet", "--json", "--backend", backend()});
  ASSERT_TRUE(blast.exited && blast.exit_code == 0) << show(blast);
  const auto sunk = sink.finish(30s);
  ASSERT_TRUE(sunk.exited && sunk.exit_code == 0) << show(sunk);
  const nlohmann::json b = parse_json_line(blast.out);
  const nlohmann::json s = parse_json_line(sunk.out);
  EXPECT_EQ(b["tos"].get<int>(), 1);
  EXPECT_EQ(b["sent"].get<std::uint64_t>(), count);
  // 100 x 1200 bytes fit the sink's default socket buffer even as one burst.
  EXPECT_EQ(s["kernel_drops"].get<std::uint64_t>(), 0u) << s.dump();
  EXPECT_EQ(s["received"].get<std::uint64_t>(), count) << s.dump();
  EXPECT_EQ(s["metadata"]["ecn"]["ect1"].get<std::uint64_t>(), count) << s.dump();
  EXPECT_EQ(s["counters"]["gro_segments"].get<std::uint64_t>(), b["counters"]["gso_segments"].get<std::uint64_t>())
      << "every GSO run arrives whole at a GRO socket on loopback: " << s.dump() << b.dump();
}

// The server is bound to 0.0.0.0; the client at 127.0.0.1 writes to 127.0.0.5. With
// --reply-from-arrival the answer comes from 127.0.0.5, without it from the kernel's choice.
TEST_P(OffloadCli, EchoRepliesFromTheArrivalAddress) {
  for (bool from_arrival : {true, false}) {
    SCOPED_TRACE(from_arrival ? "--reply-from-arrival" : "plain echo");
    std::vector<std::string> args = {salvo_bin, "echo", "--bind", "0.0.0.0:0", "--duration", "20", "--backend", backend()};
    if (from_arrival) args.push_back("--reply-from-arrival");
    Child echo(args);
    ASSERT_TRUE(echo.wait_for_stderr(")\n", 20s)) << echo.err_so_far();
    const Address where = listening_address(echo.err_so_far());
    UdpSocket client(addr("127.0.0.1:0"));
    const Address target = addr("127.0.0.5:0").with_port(where.port());
    ASSERT_TRUE(client.send_to(make_payload(1, 40), target));
    auto reply = client.receive(5s);
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ(reply->payload, make_payload(1, 40));
    EXPECT_EQ(reply->from, from_arrival ? target : addr("127.0.0.1:0").with_port(where.port()));
    echo.send_signal(SIGINT);
    const auto r = echo.finish(20s);
    EXPECT_TRUE(r.exited && r.exit_code == 0) << show(r);
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, OffloadCli, testing::ValuesIn(available_backends()), backend_test_name);

class TosUsage : public testing::TestWithParam<UsageCase> {};

TEST_P(TosUsage, ExitsWithCode2AndOneLine) { expect_usage_error(salvo(GetParam().args, 10s), GetParam().mentions); }

INSTANTIATE_TEST_SUITE_P(
    Cases, TosUsage,
    testing::Values(UsageCase{"TosTooLarge", {"blast", "--to", "127.0.0.1:9", "--count", "1", "--tos", "256"}, {"--tos"}},
                    UsageCase{"TosNegative", {"blast", "--to", "127.0.0.1:9", "--count", "1", "--tos=-1"}, {"--tos"}},
                    UsageCase{"TosGarbage", {"blast", "--to", "127.0.0.1:9", "--count", "1", "--tos", "ect0"}, {"--tos"}},
                    UsageCase{"GroOnEcho", {"echo", "--bind", "127.0.0.1:0", "--gro"}, {"--gro"}}),
    [](const testing::TestParamInfo<UsageCase>& p) { return std::string(p.param.name); });

}  // namespace
}  // namespace salvo::test
