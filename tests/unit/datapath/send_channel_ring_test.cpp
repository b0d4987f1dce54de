// SendChannelRing: the bounded multi-producer / single-consumer ring other threads hand datagrams
// to a worker through. Single-threaded checks of sizes, order, refusals and the wake flag, then
// four producers against one consumer that sleeps on a real eventfd between drains: everything
// arrives once, in each producer's order, and no entry is left behind without a wake.
#include "datapath/send_channel_ring.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <deque>
#include <random>
#include <thread>
#include <vector>

#include "support/test_support.hpp"

namespace salvo::detail {
namespace {

using test::addr;
using test::make_payload;
using Push = SendChannelRing::Push;

struct Taken {
  std::vector<std::byte> payload;
  Address to;
};

// Drains up to `max` entries into a vector.
std::vector<Taken> drain_all(SendChannelRing& ring, std::size_t max = 1u << 30) {
  std::vector<Taken> out;
  const std::size_t n = ring.drain(
      [&](std::span<const std::byte> payload, const Address& to) {
        out.push_back({std::vector<std::byte>(payload.begin(), payload.end()), to});
        return true;
      },
      max);
  EXPECT_EQ(n, out.size());
  return out;
}

Push push(SendChannelRing& ring, const std::vector<std::byte>& payload, const Address& to) {
  return ring.push(payload, to).status;
}

TEST(SendChannelRing, InitRejectsBadSlotCountsNamingTheOption) {
  for (std::uint32_t slots : {0u, 1u, 3u, 6u, 1000u, (1u << 20) + 1, 1u << 21}) {
    SendChannelRing ring;
    auto r = ring.init(slots, 64);
    ASSERT_FALSE(r.ok()) << slots;
    EXPECT_EQ(r.error().code, make_error_code(Errc::bad_option));
    EXPECT_NE(r.error().message.find("send channel slots"), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find(std::to_string(slots)), std::string::npos) << r.error().message;
  }
}

TEST(SendChannelRing, InitRejectsBadSlotSizesNamingTheOption) {
  for (std::uint32_t bytes : {0u, 65528u, 70000u}) {
    SendChannelRing ring;
    auto r = ring.init(4, bytes);
    ASSERT_FALSE(r.ok()) << bytes;
    EXPECT_EQ(r.error().code, make_error_code(Errc::bad_option));
    EXPECT_NE(r.error().message.find("send channel slot size"), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find(std::to_string(bytes)), std::string::npos) << r.error().message;
  }
}

TEST(SendChannelRing, InitAcceptsTheLimits) {
  for (auto [slots, bytes] : {std::pair{2u, 1u}, std::pair{2u, 65527u}, std::pair{1u << 20, 1u}}) {
    SendChannelRing ring;
    ASSERT_TRUE(ring.init(slots, bytes).ok()) << slots << " x " << bytes;
    EXPECT_EQ(ring.capacity(), slots);
    EXPECT_EQ(ring.slot_bytes(), bytes);
    EXPECT_TRUE(ring.empty());
  }
}

TEST(SendChannelRing, DrainsInPushOrderWithBytesAndDestinations) {
  SendChannelRing ring;
  ASSERT_TRUE(ring.init(8, 100).ok());
  const Address a = addr("127.0.0.1:1");
  const Address b = addr("[::1]:2");
  const Address connected;  // Family::none: the socket's connected peer
  EXPECT_EQ(push(ring, make_payload(1, 10), a), Push::queued);
  EXPECT_EQ(push(ring, make_payload(2, 100), b), Push::queued);
  EXPECT_EQ(push(ring, {}, connected), Push::queued);  // an empty datagram is a datagram
  EXPECT_EQ(push(ring, make_payload(4, 33), a), Push::queued);
  EXPECT_FALSE(ring.empty());

  auto got = drain_all(ring);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0].payload, make_payload(1, 10));
  EXPECT_EQ(got[0].to, a);
  EXPECT_EQ(got[1].payload, make_payload(2, 100));
  EXPECT_EQ(got[1].to, b);
  EXPECT_TRUE(got[2].payload.empty());
  EXPECT_EQ(got[2].to.family(), Address::Family::none);
  EXPECT_EQ(got[3].payload, make_payload(4, 33));
  EXPECT_EQ(got[3].to, a);
  EXPECT_TRUE(ring.empty());
  EXPECT_TRUE(drain_all(ring).empty());
}

TEST(SendChannelRing, FullRefusesWithoutOverwriting) {
  SendChannelRing ring;
  ASSERT_TRUE(ring.init(4, 32).ok());
  const Address to = addr("10.0.0.1:9");
  for (std::uint64_t i = 0; i < 4; ++i) ASSERT_EQ(push(ring, make_payload(i, 32), to), Push::queued) << i;
  for (std::uint64_t i = 100; i < 110; ++i) {
    const auto r = ring.push(make_payload(i, 32), to);
    EXPECT_EQ(r.status, Push::full);
    EXPECT_FALSE(r.wake);
  }
  auto first = drain_all(ring, 1);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].payload, make_payload(0, 32));
  // One slot freed: one more fits, then full again.
  EXPECT_EQ(push(ring, make_payload(4, 32), to), Push::queued);
  EXPECT_EQ(push(ring, make_payload(200, 32), to), Push::full);
  auto rest = drain_all(ring);
  ASSERT_EQ(rest.size(), 4u);
  for (std::uint64_t i = 0; i < 4; ++i) EXPECT_EQ(rest[i].payload, make_payload(i + 1, 32)) << i;
  EXPECT_TRUE(ring.empty());
}

TEST(SendChannelRing, TooLargeIsRefusedAndTheLimitFits) {
  SendChannelRing ring;
  ASSERT_TRUE(ring.init(4, 100).ok());
  const Address to = addr("10.0.0.1:9");
  const auto r = ring.push(make_payload(1, 101), to);
  EXPECT_EQ(r.status, Push::too_large);
  EXPECT_FALSE(r.wake);
  EXPECT_TRUE(ring.empty());
  EXPECT_EQ(push(ring, make_payload(2, 100), to), Push::queued);
  auto got = drain_all(ring);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload, make_payload(2, 100));
}

TEST(SendChannelRing, RefusingTakeKeepsTheEntryForTheNextDrain) {
  SendChannelRing ring;
  ASSERT_TRUE(ring.init(8, 64).ok());
  const Address to = addr("10.0.0.1:9");
  for (std::uint64_t i = 0; i < 3; ++i) ASSERT_EQ(push(ring, make_payload(i, 20 + i), to), Push::queued);
  std::vector<std::uint64_t> offered;
  const std::size_t n = ring.drain(
      [&](std::span<const std::byte> payload, const Address&) {
        offered.push_back(test::payload_seq(payload));
        return offered.size() < 2;  // takes the first, refuses the second (a full send queue)
      },
      100);
  EXPECT_EQ(n, 1u);
  EXPECT_EQ(offered, (std::vector<std::uint64_t>{0, 1}));
  EXPECT_FALSE(ring.empty());
  auto rest = drain_all(ring);
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_EQ(rest[0].payload, make_payload(1, 21));
  EXPECT_EQ(rest[1].payload, make_payload(2, 22));
}

TEST(SendChannelRing, WrapsAroundManyTimesAgainstAModel) {
  SendChannelRing ring;
  ASSERT_TRUE(ring.init(4, 40).ok());
  std::mt19937 rng(7);
  std::deque<Taken> model;
  std::uint64_t seq = 0;
  std::size_t pushed = 0;
  for (int round = 0; round < 20000; ++round) {
    const int pushes = static_cast<int>(rng() % 6);  // sometimes more than fits
    for (int i = 0; i < pushes; ++i) {
      auto payload = make_payload(seq, rng() % 41);
      const Address to = Address::ipv4_loopback(static_cast<std::uint16_t>(seq % 60000));
      ++seq;
      const Push r = push(ring, payload, to);
      if (model.size() == 4) {
        ASSERT_EQ(r, Push::full) << round;
      } else {
        ASSERT_EQ(r, Push::queued) << round;
        model.push_back({std::move(payload), to});
        ++pushed;
      }
    }
    auto got = drain_all(ring, rng() % 5);
    for (const Taken& t : got) {
      ASSERT_FALSE(model.empty());
      ASSERT_EQ(t.payload, model.front().payload) << round;
      ASSERT_EQ(t.to, model.front().to) << round;
      model.pop_front();
    }
    ASSERT_EQ(ring.empty(), model.empty()) << round;
  }
  EXPECT_GT(pushed, 4u * 1000);  // the positions went round the four slots thousands of times
}

TEST(SendChannelRing, WakesOncePerBurstAfterTheConsumerFoundItEmpty) {
  SendChannelRing ring;
  ASSERT_TRUE(ring.init(16, 16).ok());
  const Address to = addr("10.0.0.1:9");
  const auto payload = make_payload(1, 16);
  auto wake = [&] {
    const auto r = ring.push(payload, to);
    EXPECT_EQ(r.status, Push::queued);
    return r.wake;
  };

  // A new ring's consumer is idle: the first push wakes it, the rest of the burst does not.
  EXPECT_TRUE(wake());
  EXPECT_FALSE(wake());
  EXPECT_FALSE(wake());
  // A drain that empties the ring arms the flag again.
  EXPECT_EQ(drain_all(ring).size(), 3u);
  EXPECT_TRUE(wake());
  EXPECT_FALSE(wake());
  EXPECT_FALSE(wake());

  // A drain stopped by `max` leaves entries: the consumer comes back without a wake.
  EXPECT_EQ(drain_all(ring, 1).size(), 1u);
  EXPECT_FALSE(wake());
  // So does a drain stopped by a refusing take.
  EXPECT_EQ(ring.drain([](std::span<const std::byte>, const Address&) { return false; }, 100), 0u);
  EXPECT_FALSE(wake());

  // Emptied again (four entries): armed once, however often the consumer finds it empty.
  EXPECT_EQ(drain_all(ring).size(), 4u);
  EXPECT_EQ(drain_all(ring).size(), 0u);
  EXPECT_TRUE(wake());
  EXPECT_FALSE(wake());

  // Refusals never take the flag.
  EXPECT_EQ(drain_all(ring).size(), 2u);
  EXPECT_EQ(ring.push(make_payload(2, 17), to).status, Push::too_large);
  EXPECT_TRUE(wake());
}

TEST(SendChannelRing, FullPushesDoNotTakeTheWake) {
  SendChannelRing ring;
  ASSERT_TRUE(ring.init(2, 8).ok());
  const Address to = addr("10.0.0.1:9");
  const auto payload = make_payload(1, 8);
  EXPECT_TRUE(ring.push(payload, to).wake);
  EXPECT_FALSE(ring.push(payload, to).wake);
  EXPECT_EQ(drain_all(ring, 2).size(), 2u);  // stopped by max: not armed
  EXPECT_FALSE(ring.push(payload, to).wake);
  EXPECT_FALSE(ring.push(payload, to).wake);
  const auto full = ring.push(payload, to);
  EXPECT_EQ(full.status, Push::full);
  EXPECT_FALSE(full.wake);
}

TEST(SendChannelRing, ClosedRefusesNewPushesAndKeepsQueuedOnes) {
  SendChannelRing ring;
  ASSERT_TRUE(ring.init(4, 16).ok());
  const Address to = addr("10.0.0.1:9");
  EXPECT_FALSE(ring.closed());
  EXPECT_EQ(push(ring, make_payload(1, 16), to), Push::queued);
  std::thread closer([&] { ring.close(); });
  closer.join();
  EXPECT_TRUE(ring.closed());
  for (std::size_t size : {0u, 16u, 17u}) {
    const auto r = ring.push(make_payload(2, size), to);
    EXPECT_EQ(r.status, Push::closed) << size;
    EXPECT_FALSE(r.wake);
  }
  auto got = drain_all(ring);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload, make_payload(1, 16));
  // init() makes a fresh, open ring.
  ASSERT_TRUE(ring.init(4, 16).ok());
  EXPECT_FALSE(ring.closed());
  EXPECT_EQ(push(ring, make_payload(3, 16), to), Push::queued);
}

// --- several producers, one consumer ---

// A producer's datagram: producer id and sequence number in the first eight bytes, then a length
// and pattern that depend on both, so that a byte from another entry or slot shows.
constexpr std::size_t stress_slot_bytes = 64;

std::size_t stress_length(std::uint32_t producer, std::uint32_t n) { return 8 + (n * 7 + producer) % 57; }
std::byte stress_byte(std::uint32_t producer, std::uint32_t n, std::size_t i) {
  return static_cast<std::byte>((n * 31 + producer * 101 + i * 13) & 0xff);
}
std::size_t fill_stress(std::array<std::byte, stress_slot_bytes>& out, std::uint32_t producer, std::uint32_t n) {
  std::memcpy(out.data(), &producer, 4);
  std::memcpy(out.data() + 4, &n, 4);
  const std::size_t length = stress_length(producer, n);
  for (std::size_t i = 8; i < length; ++i) out[i] = stress_byte(producer, n, i);
  return length;
}
// Producer 3 sends to the connected peer (Family::none); the others to a port that names them.
Address stress_address(std::uint32_t producer) {
  return producer == 3 ? Address{} : Address::ipv4_loopback(static_cast<std::uint16_t>(4000 + producer));
}

TEST(SendChannelRing, FourProducersOneSleepingConsumerLoseNothing) {
  constexpr std::uint32_t producers = 4;
  constexpr std::uint32_t per_producer = 200000;
  constexpr std::uint64_t total = std::uint64_t{producers} * per_producer;
  constexpr std::size_t drain_max = 64;

  SendChannelRing ring;
  ASSERT_TRUE(ring.init(256, stress_slot_bytes).ok());
  const int wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  ASSERT_GE(wake_fd, 0);

  std::atomic<bool> abandon{false};  // the consumer gave up: producers stop retrying a full ring
  std::atomic<std::uint64_t> wakes{0};
  std::atomic<std::uint64_t> queued{0};
  std::atomic<std::uint64_t> bad_status{0};

  std::vector<std::thread> threads;
  for (std::uint32_t p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      std::array<std::byte, stress_slot_bytes> buffer{};
      const Address to = stress_address(p);
      for (std::uint32_t n = 0; n < per_producer; ++n) {
        const std::size_t length = fill_stress(buffer, p, n);
        for (;;) {
          const auto r = ring.push(std::span<const std::byte>(buffer.data(), length), to);
          if (r.status == Push::queued) {
            queued.fetch_add(1, std::memory_order_relaxed);
            if (r.wake) {
              wakes.fetch_add(1, std::memory_order_relaxed);
              const std::uint64_t one = 1;
              // A full counter (EAGAIN) still leaves the eventfd readable.
              [[maybe_unused]] auto w = ::write(wake_fd, &one, sizeof one);
            }
            break;
          }
          if (r.status != Push::full) {
            bad_status.fetch_add(1, std::memory_order_relaxed);
            return;
          }
          if (abandon.load(std::memory_order_relaxed)) return;
          std::this_thread::yield();  // full: the consumer needs the CPU
        }
      }
    });
  }

  std::array<std::uint32_t, producers> next{};  // the sequence number expected from each producer
  std::uint64_t received = 0;
  std::uint64_t out_of_order = 0;
  std::uint64_t bad_bytes = 0;
  std::uint64_t bad_address = 0;
  std::uint64_t sleeps = 0;
  bool stranded = false;
  std::thread consumer([&] {
    auto take = [&](std::span<const std::byte> payload, const Address& to) {
      std::uint32_t p = producers;
      std::uint32_t n = 0;
      if (payload.size() >= 8) {
        std::memcpy(&p, payload.data(), 4);
        std::memcpy(&n, payload.data() + 4, 4);
      }
      ++received;
      if (p >= producers) {
        ++bad_bytes;
        return true;
      }
      if (n != next[p]) ++out_of_order;
      next[p] = n + 1;
      bool bytes_ok = payload.size() == stress_length(p, n);
      for (std::size_t i = 8; bytes_ok && i < payload.size(); ++i) bytes_ok = payload[i] == stress_byte(p, n, i);
      if (!bytes_ok) ++bad_bytes;
      const Address expected = stress_address(p);
      if (to.family() != expected.family() || (expected.family() != Address::Family::none && !(to == expected))) {
        ++bad_address;
      }
      return true;
    };
    while (received < total) {
      if (ring.drain(take, drain_max) == drain_max) continue;
      if (received == total) break;
      // The drain found the ring empty and armed the wake: sleep until a producer writes the
      // eventfd. The timeout only ends a test whose wake-up was lost.
      ++sleeps;
      pollfd pfd{wake_fd, POLLIN, 0};
      int rc = 0;
      do {
        rc = ::poll(&pfd, 1, 20000);
      } while (rc < 0 && errno == EINTR);
      if (rc <= 0) {
        stranded = true;
        break;
      }
      std::uint64_t count = 0;
      [[maybe_unused]] auto r = ::read(wake_fd, &count, sizeof count);
    }
    abandon.store(true, std::memory_order_relaxed);
  });

  for (auto& t : threads) t.join();
  consumer.join();
  ::close(wake_fd);

  EXPECT_FALSE(stranded) << "received " << received << " of " << queued.load() << " queued";
  EXPECT_EQ(bad_status.load(), 0u);
  EXPECT_EQ(queued.load(), total);
  EXPECT_EQ(received, total);
  for (std::uint32_t p = 0; p < producers; ++p) EXPECT_EQ(next[p], per_producer) << "producer " << p;
  EXPECT_EQ(out_of_order, 0u);
  EXPECT_EQ(bad_bytes, 0u);
  EXPECT_EQ(bad_address, 0u);
  EXPECT_GE(wakes.load(), 1u);
  EXPECT_LE(wakes.load(), queued.load());
  EXPECT_TRUE(ring.empty());
  RecordProperty("wakes", static_cast<int>(wakes.load()));
  RecordProperty("sleeps", static_cast<int>(sleeps));
}


// A lost wake-up strands only the entries pushed last, so here every round ends in silence: two
// producers push one datagram each, then wait until the consumer has taken both. A push that
// published while the consumer was going to sleep, and did not wake it, shows as a round that
// never completes.
TEST(SendChannelRing, EveryBurstWakesASleepingConsumer) {
  constexpr std::uint32_t rounds = 20000;
  constexpr std::uint64_t total = 2 * std::uint64_t{rounds};
  SendChannelRing ring;
  ASSERT_TRUE(ring.init(4, 8).ok());
  const int wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  ASSERT_GE(wake_fd, 0);
  const test::Deadline deadline(std::chrono::seconds(50));

  std::atomic<std::uint64_t> taken{0};
  std::atomic<bool> give_up{false};
  std::atomic<std::uint64_t> refused{0};
  auto producer = [&](std::uint32_t id) {
    std::array<std::byte, 8> payload{};
    for (std::uint32_t round = 0; round < rounds; ++round) {
      std::memcpy(payload.data(), &id, 4);
      std::memcpy(payload.data() + 4, &round, 4);
      const auto r = ring.push(payload, Address{});
      if (r.status != Push::queued) {  // four slots, at most two entries in flight
        refused.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      if (r.wake) {
        const std::uint64_t one = 1;
        [[maybe_unused]] auto w = ::write(wake_fd, &one, sizeof one);
      }
      // Both entries of this round taken: the consumer is asleep again, or about to be.
      while (taken.load(std::memory_order_acquire) < 2 * std::uint64_t{round + 1}) {
        if (give_up.load(std::memory_order_relaxed) || deadline.expired()) return;
        std::this_thread::yield();
      }
    }
  };
  std::thread a(producer, 0);
  std::thread b(producer, 1);

  bool stranded = false;
  std::uint64_t received = 0;
  while (received < total) {
    const std::size_t n = ring.drain([](std::span<const std::byte>, const Address&) { return true; }, 16);
    received += n;
    taken.store(received, std::memory_order_release);
    if (n == 16 || received == total) continue;
    pollfd pfd{wake_fd, POLLIN, 0};
    const int rc = ::poll(&pfd, 1, deadline.poll_ms(std::chrono::milliseconds(20000)));
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) {
      stranded = true;
      break;
    }
    std::uint64_t count = 0;
    [[maybe_unused]] auto r = ::read(wake_fd, &count, sizeof count);
  }
  give_up.store(true, std::memory_order_relaxed);
  a.join();
  b.join();
  ::close(wake_fd);
  EXPECT_FALSE(stranded) << "received " << received << " of " << total << ", " << ring.empty();
  EXPECT_EQ(received, total);
  EXPECT_EQ(refused.load(), 0u);
}

}  // namespace
}  // namespace salvo::detail
