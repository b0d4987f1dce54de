// Zero heap allocations per datagram in steady state, for every backend: this executable replaces
// malloc and operator new with counting versions, warms an engine up, then counts every allocation
// in the whole process while 100,000 datagrams are received (sink) or received and answered (echo,
// also behind a FloodGuard), and while 1200-byte datagrams come in coalesced (GRO) and are answered
// in GSO runs.
// The test thread itself uses only raw sockets and preallocated buffers inside the window.
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <time.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "alloc/allocation_counter.hpp"
#include "support/test_support.hpp"

extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);
void __libc_free(void*);
}

namespace {
std::atomic<bool> g_counting{false};
std::atomic<std::uint64_t> g_allocations{0};
inline void note() {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace

extern "C" {
void* malloc(size_t n) {
  note();
  return __libc_malloc(n);
}
void* calloc(size_t n, size_t m) {
  note();
  return __libc_calloc(n, m);
}
void* realloc(void* p, size_t n) {
  note();
  return __libc_realloc(p, n);
}
void* memalign(size_t a, size_t n) {
  note();
  return __libc_memalign(a, n);
}
void* aligned_alloc(size_t a, size_t n) {
  note();
  return __libc_memalign(a, n);
}
int posix_memalign(void** out, size_t a, size_t n) {
  note();
  void* p = __libc_memalign(a, n);
  if (p == nullptr) return ENOMEM;
  *out = p;
  return 0;
}
void free(void* p) { __libc_free(p); }
}

// operator new goes through malloc in libstdc++, but count it explicitly in case it does not.
void* operator new(std::size_t n) {
  note();
  if (void* p = __libc_malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
void operator delete(void* p) noexcept { __libc_free(p); }
void operator delete[](void* p) noexcept { __libc_free(p); }
void operator delete(void* p, std::size_t) noexcept { __libc_free(p); }
void operator delete[](void* p, std::size_t) noexcept { __libc_free(p); }

namespace salvo::test {

void start_counting_allocations() {
  g_allocations = 0;
  g_counting = true;
}

std::uint64_t stop_counting_allocations() {
  g_counting = false;
  return g_allocations.load();
}

namespace {

class Allocations : public testing::TestWithParam<BackendKind> {};

void nap_us(long us) {
  timespec ts{0, us * 1000};
  nanosleep(&ts, nullptr);
}

// Sends datagrams of `size` bytes to `to` in sendmmsg batches (with `segments` > 1, each message is
// a GSO message of that many datagrams, cut by the socket's UDP_SEGMENT), and reads the replies.
// No allocation.
struct RawClient {
  int fd = -1;
  static constexpr int batch = 32;
  static constexpr std::size_t max_message = 8 * 1200;
  unsigned segments = 1;  // datagrams per message
  mmsghdr out[batch] = {};
  iovec out_iov[batch] = {};
  unsigned char payload[max_message] = {};
  mmsghdr in[batch] = {};
  iovec in_iov[batch] = {};
  unsigned char in_buf[batch][2048] = {};
  std::uint64_t replies = 0;

  explicit RawClient(const Address& to, std::size_t size = 64, unsigned gso_segments = 1) : segments(gso_segments) {
    fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    if (segments > 1) {
      const int segment = static_cast<int>(size);
      EXPECT_EQ(::setsockopt(fd, SOL_UDP, UDP_SEGMENT, &segment, sizeof segment), 0);
    }
    sockaddr_in local{};
    local.sin_family = AF_INET;
    local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local);
    const int big = 4 << 20;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    for (int i = 0; i < batch; ++i) {
      out_iov[i] = {payload, size * segments};
      out[i].msg_hdr.msg_iov = &out_iov[i];
      out[i].msg_hdr.msg_iovlen = 1;
      out[i].msg_hdr.msg_name = const_cast<void*>(to.sockaddr_data());
      out[i].msg_hdr.msg_namelen = to.sockaddr_size();
      in_iov[i] = {in_buf[i], sizeof in_buf[i]};
      in[i].msg_hdr.msg_iov = &in_iov[i];
      in[i].msg_hdr.msg_iovlen = 1;
    }
  }
  ~RawClient() { ::close(fd); }
  void drain() {
    for (;;) {
      const int n = ::recvmmsg(fd, in, batch, MSG_DONTWAIT, nullptr);
      if (n <= 0) return;
      replies += static_cast<std::uint64_t>(n);
    }
  }
  // Returns the datagrams sent.
  int send_batch() {
    const int n = ::sendmmsg(fd, out, batch, 0);
    return n < 0 ? 0 : n * static_cast<int>(segments);
  }
};

// Runs `count` datagrams through the engine and returns (allocations, datagrams the engine read).
std::pair<std::uint64_t, std::uint64_t> run_window(Engine& engine, RawClient& client, std::uint64_t count,
                                                   bool echo, bool count_allocations) {
  const std::uint64_t start = engine.counters().received;
  std::uint64_t sent = 0;
  if (count_allocations) {
    g_allocations = 0;
    g_counting = true;
  }
  for (int spins = 0; sent < count && spins < 2'000'000; ++spins) {
    // Keep about 256 datagrams in flight so that the socket never overflows.
    const std::uint64_t read = engine.counters().received - start;
    if (sent - read < 256) {
      sent += static_cast<std::uint64_t>(client.send_batch());
    } else {
      nap_us(20);
    }
    if (echo) client.drain();
  }
  for (int spins = 0; spins < 200'000 && engine.counters().received - start < sent; ++spins) nap_us(50);
  if (echo) {
    for (int spins = 0; spins < 200'000 && client.replies < sent; ++spins) {
      client.drain();
      nap_us(50);
    }
  }
  g_counting = false;
  return {g_allocations.load(), engine.counters().received - start};
}

// Echoes through a FloodGuard (FloodGuard::send, so the reply budget is checked for every reply);
// limits wide enough that every datagram passes: the guard's whole data path runs.
ProtocolFactory guarded_echo_factory() {
  class Echo final : public Protocol {
   public:
    explicit Echo(FloodGuard& g) : guard_(g) {}
    void on_datagrams(std::span<const Datagram> batch, Transport& t) override {
      for (const Datagram& d : batch) guard_.send(d.payload, d.peer, t);
    }

   private:
    FloodGuard& guard_;
  };
  FloodGuardOptions g;
  g.rate = 1'000'000'000;
  g.burst = 1'000'000;
  auto f = flood_guarded(g, [](unsigned, FloodGuard& guard) { return std::make_unique<Echo>(guard); });
  if (!f) throw std::runtime_error(f.error().message);
  return *f;
}

// Echoes every datagram of a coalesced (GRO) payload on its own: the replies to one peer are
// datagrams of one size, which the engine sends as GSO runs.
ProtocolFactory segment_echo_factory(Recorder& recorder) {
  Hooks hooks;
  hooks.on_datagrams = [](std::span<const Datagram> batch, Transport& t) {
    for (const Datagram& d : batch) {
      for (std::span<const std::byte> datagram : segments(d)) t.send(datagram, d.peer);
    }
  };
  return recording_factory(recorder, std::move(hooks), Record::nothing);
}

enum class Traffic { small, large_gso_gro };

void check_no_allocations(BackendKind kind, bool echo, bool guarded = false, Traffic traffic = Traffic::small) {
  Recorder recorder;
  EngineOptions o;
  o.backend = kind;
  o.socket_receive_buffer = 4 << 20;
  const bool large = traffic == Traffic::large_gso_gro;
  if (large) {
    o.gro = true;  // the default buffer count for GRO: 64 of 64 KiB
  } else {
    o.buffer_count = 512;
  }
  auto engine = make_engine(o);
  const ProtocolFactory factory = large     ? segment_echo_factory(recorder)
                                  : guarded ? guarded_echo_factory()
                                  : echo    ? echo_factory(recorder)
                                            : recording_factory(recorder, {}, Record::nothing);
  const Address server = must_listen(*engine, addr("127.0.0.1:0"), factory);
  must_start(*engine);
  RawClient client = large ? RawClient(server, 1200, 8) : RawClient(server);
  client.replies = 0;
  // Warm-up: first-use allocations (lazy tables, per-peer state in test support) happen here.
  run_window(*engine, client, 10'000, echo, false);
  client.replies = 0;
  const auto [allocations, read] = run_window(*engine, client, 100'000, echo, true);
  const Counters c = engine->counters();
  stop_and_wait(*engine);
  ASSERT_GE(read, 100'000u) << describe(c);
  if (echo) {
    EXPECT_GE(client.replies, 100'000u) << describe(c);
  }
  EXPECT_EQ(c.kernel_drops, 0u) << describe(c);
  if (large) {
    // The path under test was taken: datagrams came in coalesced and went out in GSO runs.
    EXPECT_GT(c.gro_receives, 0u) << describe(c);
    EXPECT_GT(c.gso_sends, 0u) << describe(c);
  }
  EXPECT_EQ(allocations, 0u) << "heap allocations while " << read << " datagrams went through";
}

TEST_P(Allocations, NoneWhileReceiving) { check_no_allocations(GetParam(), false); }
TEST_P(Allocations, NoneWhileEchoing) { check_no_allocations(GetParam(), true); }
TEST_P(Allocations, NoneWhileEchoingBehindAFloodGuard) { check_no_allocations(GetParam(), true, true); }
TEST_P(Allocations, NoneWhileEchoingLargeDatagramsWithGroAndGso) {
  check_no_allocations(GetParam(), true, false, Traffic::large_gso_gro);
}

TEST(AllocationCounter, CountsWhatItShould) {
  // The counter itself must see allocations, or the tests above prove nothing.
  g_allocations = 0;
  g_counting = true;
  void* p = std::malloc(100);
  auto* q = new int(5);
  g_counting = false;
  std::free(p);
  delete q;
  EXPECT_EQ(g_allocations.load(), 2u);
}

INSTANTIATE_TEST_SUITE_P(Backends, Allocations, testing::ValuesIn(available_backends()), backend_test_name);

}  // namespace
}  // namespace salvo::test
