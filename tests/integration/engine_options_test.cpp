// Engine::create: options out of range are refused with Errc::bad_option and a message naming the
// option; SALVO_BACKEND overrides the requested backend (and a bad value is an error, not a
// silent fallback); asking for a backend that cannot run fails with backend_unavailable.
#include <sys/resource.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <system_error>

#include "support/in_child.hpp"
#include "support/test_support.hpp"

namespace salvo::test {
namespace {

struct BadOption {
  const char* name;
  std::function<void(EngineOptions&)> apply;
  const char* message_mentions;
};

void PrintTo(const BadOption& b, std::ostream* os) { *os << b.name; }

class EngineCreateRejects : public testing::TestWithParam<BadOption> {};

TEST_P(EngineCreateRejects, WithBadOption) {
  EngineOptions o;
  o.backend = BackendKind::epoll;
  GetParam().apply(o);
  auto e = Engine::create(o);
  ASSERT_FALSE(e.ok()) << GetParam().name << " was accepted";
  EXPECT_EQ(e.error().code, make_error_code(Errc::bad_option)) << e.error().message;
  EXPECT_NE(e.error().message.find(GetParam().message_mentions), std::string::npos) << e.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Options, EngineCreateRejects,
    testing::Values(BadOption{"workers0", [](EngineOptions& o) { o.workers = 0; }, "workers"},
                    BadOption{"workers1025", [](EngineOptions& o) { o.workers = 1025; }, "workers"},
                    BadOption{"batch0", [](EngineOptions& o) { o.batch_size = 0; }, "batch"},
                    BadOption{"batch1025", [](EngineOptions& o) { o.batch_size = 1025; }, "batch"},
                    BadOption{"buffers32769", [](EngineOptions& o) { o.buffer_count = 32769; }, "buffer count"},
                    BadOption{"bufferSize0", [](EngineOptions& o) { o.buffer_size = 0; }, "buffer size"},
                    BadOption{"bufferSize2MiB", [](EngineOptions& o) { o.buffer_size = 2u << 20; }, "buffer size"},
                    BadOption{"readsPerWakeup0", [](EngineOptions& o) { o.reads_per_wakeup = 0; }, "reads"},
                    BadOption{"sendQueueEntries0", [](EngineOptions& o) { o.send_queue_entries = 0; }, "send queue entries"},
                    BadOption{"sendPoolBytesTiny", [](EngineOptions& o) { o.send_pool_bytes = 4096; }, "send pool bytes"},
                    BadOption{"socketSlotKeepNegative", [](EngineOptions& o) { o.socket_slot_keep = std::chrono::seconds(-1); }, "socket slot keep"},
                    BadOption{"socketSlotKeepOverAnHour", [](EngineOptions& o) { o.socket_slot_keep = std::chrono::hours(2); }, "socket slot keep"},
                    BadOption{"sendQueueBytes0", [](EngineOptions& o) { o.send_queue_bytes = 0; }, "send queue bytes"},
                    BadOption{"rcvbufNegative", [](EngineOptions& o) { o.socket_receive_buffer = -1; }, "negative"},
                    BadOption{"sndbufNegative", [](EngineOptions& o) { o.socket_send_buffer = -1; }, "negative"}),
    [](const testing::TestParamInfo<BadOption>& p) { return std::string(p.param.name); });

TEST(EngineCreate, AcceptsTheEdgesOfEveryRange) {
  EngineOptions o;
  o.backend = BackendKind::epoll;
  o.workers = 1;
  o.batch_size = 1024;
  o.buffer_count = 1;
  o.buffer_size = 1;
  o.send_queue_entries = 1;
  o.send_queue_bytes = 1;
  o.reads_per_wakeup = 1;
  auto e = Engine::create(o);
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ((*e)->options().batch_size, 1024u);
  EXPECT_EQ((*e)->worker_counters().size(), 1u);
  o.buffer_size = 1u << 20;
  o.buffer_count = 2;
  o.batch_size = 1;
  o.workers = 3;
  auto f = Engine::create(o);
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_EQ((*f)->worker_counters().size(), 3u);
}

// Receive buffers are touched when the engine is made: more than half of the memory the process
// may use is refused with a reason naming the options, before anything is allocated (before, 1,024
// workers of 32,768 one-MiB buffers ended in the OOM killer).
TEST(EngineCreate, RefusesReceiveBuffersBeyondTheMemoryItMayUse) {
  for (BackendKind kind : {BackendKind::epoll, BackendKind::io_uring}) {
    if (!backend_available(kind)) continue;
    SCOPED_TRACE(to_string(kind));
    EngineOptions o;
    o.backend = kind;
    o.workers = 1024;
    o.buffer_count = 32768;
    o.buffer_size = 1u << 20;
    auto e = Engine::create(o);
    ASSERT_FALSE(e.ok());
    EXPECT_EQ(e.error().code, make_error_code(Errc::bad_option));
    EXPECT_NE(e.error().message.find("receive buffers would take 33554432 MiB (1024 workers x 32768 buffers x 1048576 bytes)"),
              std::string::npos)
        << e.error().message;
    EXPECT_NE(e.error().message.find("lower workers, buffer_count or buffer_size"), std::string::npos) << e.error().message;
  }
}

// The process's address space in bytes (VmSize), or 0 when /proc cannot say.
std::uint64_t address_space_in_use() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmSize:", 0) == 0) return std::stoull(line.substr(7)) << 10;
  }
  return 0;
}

// A worker's timer table is allocated when the engine is made; one that does not fit is an error
// naming the option and the size, not a std::bad_alloc through the caller. In a child whose
// address space is capped 32 MiB above what it uses, so that the 1,048,579 timers' table (over
// 100 MiB) cannot be had.
TEST(EngineCreate, ATimerTableThatDoesNotFitIsAnErrorNamingItsSize) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SALVO_SANITIZED_ALLOCATOR 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SALVO_SANITIZED_ALLOCATOR 1
#endif
#endif
#ifdef SALVO_SANITIZED_ALLOCATOR
  GTEST_SKIP() << "a sanitizer's allocator reports a failed allocation and ends the process instead of throwing";
#endif
  for (BackendKind kind : available_backends()) {  // probed here, before the limit
    SCOPED_TRACE(to_string(kind));
    const ChildOutcome outcome = run_in_child(
        [kind] {
          ChildChecks c;
          EngineOptions o;
          o.backend = kind;
          o.buffer_count = 64;
          o.send_pool_bytes = 128 << 10;
          o.timers_per_worker = 1u << 20;
          const std::uint64_t in_use = address_space_in_use();
          if (in_use == 0) return std::string("no VmSize in /proc/self/status");
          const rlimit capped{in_use + (32 << 20), RLIM_INFINITY};
          if (::setrlimit(RLIMIT_AS, &capped) != 0) return std::string("setrlimit failed");
          auto e = Engine::create(o);
          if (e.ok()) return std::string("the engine was made within the limit");
          const std::string& m = e.error().message;
          c.check(e.error().code == std::errc::not_enough_memory, "not ENOMEM: " + m);
          c.contains(m, "worker 0 with timers_per_worker 1048576, timer capacity 1048579: cannot allocate its ", "who");
          c.contains(m, " MiB: Cannot allocate memory", "the unit and the reason");
          const std::size_t at = m.find("cannot allocate its ");
          const unsigned long mib = at == std::string::npos ? 0 : std::stoul(m.substr(at + 20));
          c.check(mib >= 100 && mib <= 1024, "the size " + std::to_string(mib) + " MiB is not the table's: " + m);
          return c.failures();
        },
        std::chrono::seconds(60));
    EXPECT_TRUE(outcome.passed()) << outcome.describe();
  }
}

// buffer_count 0 lets the engine choose: 1024 buffers, or 64 of 64 KiB with GRO; a count given
// is kept, GRO or not.
TEST(EngineCreate, ChoosesTheBufferCountWhenGivenZero) {
  for (BackendKind kind : {BackendKind::epoll, BackendKind::io_uring}) {
    if (!backend_available(kind)) continue;
    SCOPED_TRACE(to_string(kind));
    EngineOptions o;
    o.backend = kind;
    EXPECT_EQ(o.buffer_count, 0u);
    auto plain = Engine::create(o);
    ASSERT_TRUE(plain.ok()) << plain.error().message;
    EXPECT_EQ((*plain)->options().buffer_count, 1024u);
    EXPECT_EQ((*plain)->options().buffer_size, 2048u);
    o.gro = true;
    auto gro = Engine::create(o);
    ASSERT_TRUE(gro.ok()) << gro.error().message;
    EXPECT_EQ((*gro)->options().buffer_count, 64u);
    EXPECT_EQ((*gro)->options().buffer_size, 65535u);
    o.buffer_count = 200;
    auto given = Engine::create(o);
    ASSERT_TRUE(given.ok()) << given.error().message;
    EXPECT_EQ((*given)->options().buffer_count, 200u);
  }
}

TEST(EngineCreate, EnvironmentForcesEpoll) {
  EnvGuard env("SALVO_BACKEND", "epoll");
  for (BackendKind asked : {BackendKind::automatic, BackendKind::io_uring, BackendKind::epoll}) {
    EngineOptions o;
    o.backend = asked;
    auto e = Engine::create(o);
    ASSERT_TRUE(e.ok()) << to_string(asked) << ": " << e.error().message;
    EXPECT_EQ((*e)->backend().kind, BackendKind::epoll) << "asked for " << to_string(asked);
    EXPECT_NE((*e)->backend().reason.find("SALVO_BACKEND"), std::string::npos) << (*e)->backend().reason;
    EXPECT_NE((*e)->backend().reason.find("epoll"), std::string::npos) << (*e)->backend().reason;
  }
}

TEST(EngineCreate, EnvironmentForcedEngineServes) {
  EnvGuard env("SALVO_BACKEND", "epoll");
  EngineOptions o;
  o.backend = BackendKind::io_uring;
  auto engine = make_engine(o);
  ASSERT_EQ(engine->backend().kind, BackendKind::epoll);
  Recorder recorder;
  const Address bound = must_listen(*engine, addr("127.0.0.1:0"), recording_factory(recorder));
  must_start(*engine);
  UdpSocket client(addr("127.0.0.1:0"));
  ASSERT_TRUE(client.send_to(make_payload(1, 9), bound));
  EXPECT_TRUE(recorder.wait_for_datagrams(1, 10s));
  stop_and_wait(*engine);
}

TEST(EngineCreate, EnvironmentForcesIoUringWhenAvailable) {
  if (!backend_available(BackendKind::io_uring)) GTEST_SKIP() << "io_uring is not available here";
  EnvGuard env("SALVO_BACKEND", "io_uring");
  EngineOptions o;
  o.backend = BackendKind::epoll;
  auto e = Engine::create(o);
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ((*e)->backend().kind, BackendKind::io_uring);
  EXPECT_NE((*e)->backend().reason.find("SALVO_BACKEND"), std::string::npos) << (*e)->backend().reason;
}

TEST(EngineCreate, BogusEnvironmentFails) {
  EnvGuard env("SALVO_BACKEND", "bogus");
  auto e = Engine::create(EngineOptions{});
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().code, make_error_code(Errc::bad_option));
  EXPECT_NE(e.error().message.find("SALVO_BACKEND"), std::string::npos) << e.error().message;
  EXPECT_NE(e.error().message.find("bogus"), std::string::npos) << e.error().message;
}

TEST(EngineCreate, EmptyEnvironmentIsIgnored) {
  EnvGuard env("SALVO_BACKEND", "");
  EngineOptions o;
  o.backend = BackendKind::epoll;
  auto e = Engine::create(o);
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ((*e)->backend().kind, BackendKind::epoll);
  EXPECT_EQ((*e)->backend().reason.find("SALVO_BACKEND"), std::string::npos) << (*e)->backend().reason;
}

TEST(EngineCreate, EnvGuardRestoresTheEnvironment) {
  ASSERT_EQ(std::getenv("SALVO_BACKEND"), nullptr) << "main() should have removed it";
  {
    EnvGuard env("SALVO_BACKEND", "epoll");
    ASSERT_NE(std::getenv("SALVO_BACKEND"), nullptr);
    {
      EnvGuard inner("SALVO_BACKEND", "bogus");
      EXPECT_STREQ(std::getenv("SALVO_BACKEND"), "bogus");
    }
    EXPECT_STREQ(std::getenv("SALVO_BACKEND"), "epoll");
  }
  EXPECT_EQ(std::getenv("SALVO_BACKEND"), nullptr);
}

TEST(EngineCreate, AutomaticPicksAnAvailableBackendAndSaysWhy) {
  auto e = Engine::create(EngineOptions{});
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_TRUE(backend_available((*e)->backend().kind));
  EXPECT_NE((*e)->backend().reason.find("auto"), std::string::npos) << (*e)->backend().reason;
  if (backend_available(BackendKind::io_uring)) {
    EXPECT_EQ((*e)->backend().kind, BackendKind::io_uring) << "auto should prefer io_uring when it works";
  } else {
    EXPECT_EQ((*e)->backend().kind, BackendKind::epoll);
    EXPECT_NE((*e)->backend().reason.find("io_uring"), std::string::npos)
        << "the reason should say why io_uring is not used: " << (*e)->backend().reason;
  }
}

TEST(EngineCreate, UnavailableIoUringIsAnError) {
  if (backend_available(BackendKind::io_uring)) GTEST_SKIP() << "io_uring is available here";
  EngineOptions o;
  o.backend = BackendKind::io_uring;
  auto e = Engine::create(o);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().code, make_error_code(Errc::backend_unavailable));
  EXPECT_NE(e.error().message.find("io_uring"), std::string::npos) << e.error().message;
}

TEST(EngineCreate, AvailableBackendsIncludeEpoll) {
  // epoll is the fallback that must always work; the parameterized suites rely on this list.
  EXPECT_TRUE(backend_available(BackendKind::epoll));
}

}  // namespace
}  // namespace salvo::test
