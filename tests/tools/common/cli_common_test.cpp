// The translation of the shared command-line flags into EngineOptions, in-process.
#include <gtest/gtest.h>

#include "common/cli_common.hpp"

namespace salvo::cli {
namespace {

TEST(CliCommon, FlagsBecomeEngineOptions) {
  CommonFlags f;
  f.backend = "epoll";
  f.workers = 3;
  f.cpus = "1,0-1";  // this machine has at least two CPUs (salvo needs them for its tests)
  f.batch = 16;
  f.buffers = 100;
  f.buffer_size = 9000;
  f.rcvbuf = 1 << 20;
  f.sndbuf = 1 << 19;
  f.busy_poll = true;
  f.busy_poll_idle_s = 0.25;
  auto o = to_engine_options(f);
  ASSERT_TRUE(o.ok()) << o.error().message;
  EXPECT_EQ(o->backend, BackendKind::epoll);
  EXPECT_EQ(o->workers, 3u);
  EXPECT_EQ(o->cpus, (std::vector<int>{1, 0, 1}));
  EXPECT_EQ(o->batch_size, 16u);
  EXPECT_EQ(o->buffer_count, 100u);
  EXPECT_EQ(o->buffer_size, 9000u);
  EXPECT_EQ(o->socket_receive_buffer, 1 << 20);
  EXPECT_EQ(o->socket_send_buffer, 1 << 19);
  EXPECT_TRUE(o->busy_poll);
  EXPECT_EQ(o->busy_poll_idle, std::chrono::milliseconds(250));
}

TEST(CliCommon, BadCpuListAndBackendAreErrors) {
  CommonFlags f;
  f.cpus = "3-1";
  auto o = to_engine_options(f);
  ASSERT_FALSE(o.ok());
  EXPECT_NE(o.error().message.find("3-1"), std::string::npos) << o.error().message;
  f.cpus.clear();
  f.backend = "kqueue";
  EXPECT_FALSE(to_engine_options(f).ok());
}

TEST(CliCommon, CheckAddressNamesTheProblem) {
  EXPECT_EQ(check_address("127.0.0.1:9000"), "");
  EXPECT_EQ(check_address("[::1]:53"), "");
  EXPECT_EQ(check_address("localhost:80"), "");
  EXPECT_EQ(check_address("no-such-host.invalid:80"), "") << "syntax only: the name is looked up later";
  EXPECT_NE(check_address("127.0.0.1"), "");
  EXPECT_NE(check_address("localhost"), "");
  EXPECT_NE(check_address("127.0.0.1:70000"), "");
  EXPECT_NE(check_address("local host:80"), "");
}

TEST(CliCommon, ResolveFlagNamesFlagAndHost) {
  auto numeric = resolve_flag("--to", "[::1]:9", Address::Family::v4);
  ASSERT_TRUE(numeric.ok()) << numeric.error().message;
  EXPECT_EQ(*numeric, Address::ipv6_loopback(9)) << "numeric addresses are kept for the command's own checks";
  auto name = resolve_flag("--to", "localhost:9", Address::Family::v4);
  ASSERT_TRUE(name.ok()) << name.error().message;
  EXPECT_EQ(*name, Address::ipv4_loopback(9));
  auto missing = resolve_flag("--to", "no-such-host.invalid:9");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, make_error_code(Errc::name_not_resolved));
  EXPECT_EQ(missing.error().message.rfind("--to: cannot resolve 'no-such-host.invalid': ", 0), 0u)
      << missing.error().message;
}

TEST(CliCommon, PeerFamilyFollowsTheSource) {
  EXPECT_EQ(peer_family(std::nullopt), Address::Family::none);
  EXPECT_EQ(peer_family(Address::ipv4_any(0)), Address::Family::v4);
  EXPECT_EQ(peer_family(Address::ipv4_loopback(0).v4_mapped()), Address::Family::v4);
  EXPECT_EQ(peer_family(Address::ipv6_any(0)), Address::Family::none) << "dual-stack";
  EXPECT_EQ(peer_family(Address::ipv6_loopback(0)), Address::Family::v6);
}

}  // namespace
}  // namespace salvo::cli
