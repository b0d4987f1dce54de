// Out of descriptors, for every backend: with this process's RLIMIT_NOFILE lowered so that no new
// descriptor fits, Engine::listen, Engine::open from another thread and Reactor::open on the worker
// each return EMFILE with a message that names RLIMIT_NOFILE and its value, open nothing, and leave
// the engine serving; with the limit restored the same calls succeed.
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <optional>
#include <stdexcept>
#include <string>

#include "support/test_support.hpp"

namespace salvo::test {
namespace {

using DescriptorLimit = SmallPoolPerBackend;

// For one scope, the soft RLIMIT_NOFILE is this process's lowest free descriptor number, so that
// the next descriptor anything opens fails with EMFILE; the limit is restored afterwards.
class NoDescriptorLeft {
 public:
  NoDescriptorLeft() {
    if (::getrlimit(RLIMIT_NOFILE, &saved_) != 0) throw std::runtime_error("getrlimit failed");
    const int lowest_free = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (lowest_free < 0) throw std::runtime_error("no descriptor to probe with");
    ::close(lowest_free);
    limit_ = static_cast<rlim_t>(lowest_free);
    rlimit lowered = saved_;
    lowered.rlim_cur = limit_;
    if (::setrlimit(RLIMIT_NOFILE, &lowered) != 0) throw std::runtime_error("setrlimit failed");
  }
  ~NoDescriptorLeft() { ::setrlimit(RLIMIT_NOFILE, &saved_); }
  NoDescriptorLeft(const NoDescriptorLeft&) = delete;
  NoDescriptorLeft& operator=(const NoDescriptorLeft&) = delete;

  // What the error message must say: the limit and its value.
  std::string named() const { return "RLIMIT_NOFILE is " + std::to_string(limit_); }

 private:
  rlimit saved_{};
  rlim_t limit_ = 0;
};

void expect_out_of_descriptors(const Error& e, const NoDescriptorLeft& limit) {
  EXPECT_EQ(e.code, std::errc::too_many_files_open) << e.message;
  EXPECT_NE(e.message.find(limit.named()), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("ulimit -n"), std::string::npos) << e.message;
}

class Quiet final : public Protocol {
 public:
  void on_datagrams(std::span<const Datagram>, Transport&) override {}
};

TEST_P(DescriptorLimit, ListenBeforeStartNamesTheLimit) {
  SALVO_SKIP_UNLESS_DESCRIPTOR_EXHAUSTION_TESTABLE();
  Recorder recorder;  // outlives the engine, whose protocols report to it until they stop
  auto engine = make_engine(options());
  {
    NoDescriptorLeft limit;
    auto bound = engine->listen(addr("127.0.0.1:0"), [](unsigned) { return std::make_unique<Quiet>(); });
    ASSERT_FALSE(bound);
    expect_out_of_descriptors(bound.error(), limit);
  }
  EXPECT_EQ(engine->open_sockets(), 0u);
  must_listen(*engine, addr("127.0.0.1:0"), echo_factory(recorder));
  EXPECT_EQ(engine->open_sockets(), 1u);
}

TEST_P(DescriptorLimit, RuntimeOpensNameTheLimitAndTheEngineServesOn) {
  SALVO_SKIP_UNLESS_DESCRIPTOR_EXHAUSTION_TESTABLE();
  Recorder recorder;
  auto engine = make_engine(options());
  const Address echo = must_listen(*engine, addr("127.0.0.1:0"), echo_factory(recorder));
  must_start(*engine);
  UdpSocket client(addr("127.0.0.1:0"));  // opened before the limit comes down

  {
    NoDescriptorLeft limit;
    // From this thread: the socket is opened here, then handed to the worker.
    auto opened = engine->open(0, addr("127.0.0.1:0"), std::make_unique<Quiet>());
    ASSERT_FALSE(opened);
    expect_out_of_descriptors(opened.error(), limit);
    // On the worker, as a hook or timer would.
    std::optional<Error> refused;
    run_on_worker(*engine, [&refused](Reactor& r) {
      auto t = r.open(addr("127.0.0.1:0"), std::make_unique<Quiet>());
      if (!t) refused = t.error();
    });
    ASSERT_TRUE(refused) << "Reactor::open succeeded with no descriptor left";
    expect_out_of_descriptors(*refused, limit);
    EXPECT_EQ(engine->open_sockets(), 1u) << "a failed open left a socket behind";
    // The socket it had serves on.
    ASSERT_TRUE(client.send_to(make_payload(1, 32), echo));
    auto echoed = client.receive(10s);
    ASSERT_TRUE(echoed);
    EXPECT_EQ(payload_seq(echoed->payload), 1u);
  }

  auto opened = engine->open(0, addr("127.0.0.1:0"), std::make_unique<Quiet>());
  ASSERT_TRUE(opened) << opened.error().message;
  bool reopened = false;
  run_on_worker(*engine, [&reopened](Reactor& r) {
    reopened = r.open(addr("127.0.0.1:0"), std::make_unique<Quiet>()).ok();
  });
  EXPECT_TRUE(reopened);
  EXPECT_EQ(engine->open_sockets(), 3u);
  stop_and_wait(*engine);
}

// A socket that opens its successor as it stops, as a forwarder's query socket gives way to the
// next query's, and says how that open went: `state` 1 opened, 2 refused (`why`, written first).
class Successor final : public Protocol {
 public:
  Successor(std::atomic<int>& state, std::string& why) : state_(state), why_(why) {}
  void on_start(Transport& t) override { reactor_ = &t.reactor(); }
  void on_datagrams(std::span<const Datagram>, Transport&) override {}
  void on_stop() override {
    auto next = reactor_->open(addr("127.0.0.1:0"), std::make_unique<Quiet>());
    if (!next) why_ = next.error().message;
    state_.store(next ? 1 : 2, std::memory_order_release);
  }

 private:
  std::atomic<int>& state_;
  std::string& why_;
  Reactor* reactor_ = nullptr;
};

// At the limit, a socket on a kernel-picked port that closes leaves its descriptor to the open
// that follows in the same round, though io_uring closes such a socket with its next submission:
// out of descriptors, the worker submits what is queued and tries the open again.
TEST_P(DescriptorLimit, ASocketClosedAtTheLimitLeavesItsDescriptorToTheNextOpen) {
  SALVO_SKIP_UNLESS_DESCRIPTOR_EXHAUSTION_TESTABLE();
  Recorder recorder;
  auto engine = make_engine(options());
  must_listen(*engine, addr("127.0.0.1:0"), echo_factory(recorder));  // stays open throughout
  must_start(*engine);
  std::atomic<int> state{0};
  std::string why;
  Transport* first = nullptr;
  run_on_worker(*engine, [&](Reactor& r) {
    auto t = r.open(addr("127.0.0.1:0"), std::make_unique<Successor>(state, why));
    if (t) first = *t;
  });
  ASSERT_NE(first, nullptr);
  {
    NoDescriptorLeft limit;
    run_on_worker(*engine, [&](Reactor&) { first->stop_listening(); });
    ASSERT_TRUE(wait_until([&] { return state.load(std::memory_order_acquire) != 0; }, 10s)) << "the first socket never stopped";
  }
  EXPECT_EQ(state.load(), 1) << "the successor's open failed: " << why;
  EXPECT_EQ(engine->open_sockets(), 2u);
  stop_and_wait(*engine);
}

INSTANTIATE_TEST_SUITE_P(Backends, DescriptorLimit, testing::ValuesIn(available_backends()), backend_test_name);

}  // namespace
}  // namespace salvo::test
