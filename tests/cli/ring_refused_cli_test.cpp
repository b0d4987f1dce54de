// The salvo command when the io_uring probe passes but the workers' rings are refused at start:
// it runs under `without_io_uring --rings-above 64`, a seccomp filter that refuses only rings of
// more than 64 entries (the probe's has 64, a worker's 512), as a filter installed between the
// probe and start() would. With auto, echo serves on epoll and its start line and --json report
// say why; with --backend io_uring, the command fails in one line with the reason, exit 1.
#include <signal.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/cli_test_support.hpp"
#include "support/process.hpp"
#include "support/seccomp_filters.hpp"
#include "support/test_support.hpp"

namespace salvo::test {
namespace {

const std::string fallback_reason =
    "epoll: auto, the io_uring probe passed but a ring could not be set up at start (io_uring_setup for worker 0: "
    "Operation not permitted)";

std::vector<std::string> under_small_ring_filter(std::vector<std::string> args) {
  args.insert(args.begin(), {SALVO_WITHOUT_IO_URING_PATH, "--rings-above", "64", SALVO_CLI_PATH});
  return args;
}

#define SALVO_REQUIRE_RING_FILTER()                                                                   \
  do {                                                                                                \
    if (!backend_available(BackendKind::io_uring)) GTEST_SKIP() << "io_uring does not run here anyway"; \
    if (!seccomp_filters_apply) GTEST_SKIP() << "the seccomp filter is written for x86-64";          \
  } while (false)

TEST(RingRefusedAtStart, AutoEchoesOnEpollAndItsStartLineSaysWhy) {
  SALVO_REQUIRE_RING_FILTER();
  Child echo(under_small_ring_filter({"echo", "--bind", "127.0.0.1:0", "--duration", "60", "--json"}));
  ASSERT_TRUE(echo.wait_for_stderr(")\n", 20s)) << echo.err_so_far();
  EXPECT_NE(echo.err_so_far().find("salvo echo: listening on 127.0.0.1:"), std::string::npos) << echo.err_so_far();
  EXPECT_NE(echo.err_so_far().find("(" + fallback_reason + ")\n"), std::string::npos) << echo.err_so_far();
  const Address where = listening_address(echo.err_so_far());
  UdpSocket client(addr("127.0.0.1:0"), 1 << 20);
  for (std::uint64_t i = 0; i < 50; ++i) {
    ASSERT_TRUE(client.send_to(make_payload(i, 64), where));
    auto reply = client.receive(10s);
    ASSERT_TRUE(reply) << "no echo for " << i;
    EXPECT_EQ(payload_seq(reply->payload), i);
  }
  echo.send_signal(SIGINT);
  const ProcessResult r = echo.finish(20s);
  ASSERT_TRUE(r.exited && r.exit_code == 0) << show(r);
  const nlohmann::json j = json_of(r);
  EXPECT_EQ(j["backend"], "epoll");
  EXPECT_EQ(j["backend_reason"], fallback_reason);
  EXPECT_EQ(j["received"].get<std::uint64_t>(), 50u);
  EXPECT_EQ(j["sent"].get<std::uint64_t>(), 50u);
}

TEST(RingRefusedAtStart, ExplicitIoUringIsOneLineWithTheReason) {
  SALVO_REQUIRE_RING_FILTER();
  const ProcessResult r = run_process(
      under_small_ring_filter({"sink", "--backend", "io_uring", "--bind", "127.0.0.1:0", "--duration", "5"}), 30s);
  ASSERT_TRUE(r.exited) << show(r);
  EXPECT_EQ(r.exit_code, 1) << show(r);
  EXPECT_EQ(r.err, "salvo: io_uring_setup for worker 0: Operation not permitted\n");
  EXPECT_EQ(r.out, "");
}

}  // namespace
}  // namespace salvo::test
