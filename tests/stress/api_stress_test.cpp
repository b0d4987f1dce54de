// Randomized API stress, as msquic's spinquic does it: for a while (SALVO_STRESS_SECONDS, 10 by
// default), engines are made, driven and ended one after another. In each, three threads pick
// operations at random: send bursts from their own client sockets, listen, open runtime sockets
// (Engine::open, or Reactor::open through a post), close them, pause and resume them, post work,
// have a protocol send from a post, set and cancel timers. The engine then ends in one of four
// ways: stop(), stop_now(), drain(), or destruction while it runs; in one engine of four a thread
// stops or drains it while the others are still at work, so that every call also meets a stopping
// engine.
//
// Every engine ends with its books exact: every datagram the clients' kernels accepted was read,
// dropped by the kernel (counted) or discarded at close (counted); everything a protocol queued was
// sent or counted as refused, and the clients got every datagram sent; every post accepted ran
// once; every one-shot timer fired once or was cancelled, none after its cancel, none before it
// was due; every protocol started was stopped exactly once; the process's descriptors are back to
// where they were. (When a thread stops the engine mid-flight, datagrams sent after a socket closed
// are lost with no one to count them, so the first book is an upper bound there.)
//
// Reproducible operation sequences: the seed is printed; SALVO_STRESS_SEED=N runs the same ones
// (the threads' interleaving is the machine's). A watchdog aborts the run, naming the seed, when no
// operation completes for 30 s.
#include <linux/sock_diag.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "support/test_support.hpp"

namespace salvo::test {
namespace {

std::uint64_t env_number(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  return std::strtoull(v, nullptr, 10);
}

// This process's own loopback address, from its pid. Every socket of the test binds it, so that a
// datagram still in flight to a port this process closed cannot reach another process that ctest
// runs beside it (the other backend's run of this test) when the kernel hands that port out again.
Address own_loopback() {
  const auto pid = static_cast<unsigned>(::getpid());
  const std::string text = "127." + std::to_string(64 + ((pid >> 16) & 63)) + "." + std::to_string((pid >> 8) & 255) +
                           "." + std::to_string(pid & 255) + ":0";
  return addr(text);
}

class StressProtocol;

// What every protocol of one engine adds up to, from any worker.
struct Books {
  std::mutex mutex;
  Counters closed;  // the final counters of every socket, added in on_stop
  std::atomic<std::uint64_t> protocols_made{0};
  std::atomic<std::uint64_t> protocols_gone{0};
  std::atomic<std::uint64_t> starts{0};
  std::atomic<std::uint64_t> stops{0};
  std::atomic<std::uint64_t> stop_errors{0};  // on_stop twice, or without on_start
  std::atomic<std::uint64_t> queued{0};       // sends a protocol queued
  std::atomic<std::uint64_t> refused_sends{0};
  std::atomic<std::uint64_t> posts_accepted{0};
  std::atomic<std::uint64_t> posts_ran{0};

  // The protocols alive now, by serial: a post names a protocol by its serial, because a socket the
  // engine closed (a racing stop, a drain) gives its slot, and with it its protocol, to the next
  // socket opened on that worker. Protocols that posts name are destroyed only on their worker's
  // thread, where the posts run too, so what the lookup finds lives while the post uses it.
  std::mutex live_mutex;
  std::unordered_map<std::uint64_t, StressProtocol*> live;
  std::uint64_t next_serial = 0;  // guarded by live_mutex
  StressProtocol* find(std::uint64_t serial) {
    std::lock_guard lock(live_mutex);
    auto it = live.find(serial);
    return it == live.end() ? nullptr : it->second;
  }
};

// Replies to datagrams whose first byte is 'R'; counts what it queued; adds its counters to the
// books when it stops.
class StressProtocol final : public Protocol {
 public:
  explicit StressProtocol(Books& books) : books_(books) {
    books_.protocols_made.fetch_add(1);
    std::lock_guard lock(books_.live_mutex);
    serial_ = books_.next_serial++;
    books_.live.emplace(serial_, this);
  }
  ~StressProtocol() override {
    books_.protocols_gone.fetch_add(1);
    std::lock_guard lock(books_.live_mutex);
    books_.live.erase(serial_);
  }
  std::uint64_t serial() const { return serial_; }

  void on_start(Transport& t) override {
    transport_ = &t;
    started_ = true;
    books_.starts.fetch_add(1);
  }
  void on_datagrams(std::span<const Datagram> batch, Transport& t) override {
    for (const Datagram& d : batch) {
      if (!d.payload.empty() && d.payload[0] == std::byte{'R'}) send(t, d.payload, d.peer);
    }
  }
  void on_stop() override {
    if (stopped_ || !started_) books_.stop_errors.fetch_add(1);
    stopped_ = true;
    books_.stops.fetch_add(1);
    const Counters c = transport_->counters();  // final: counted at close, before on_stop
    std::lock_guard lock(books_.mutex);
    books_.closed += c;
  }

  // --- worker thread, from posts ---
  void send_to(const Address& to) {
    if (stopped_) return;
    static const std::vector<std::byte> bytes = make_payload(7, 40);
    send(*transport_, bytes, to);
  }
  void stop_listening() {
    if (!stopped_) transport_->stop_listening();
  }
  void pause(bool on) {
    if (stopped_) return;
    if (on) {
      transport_->pause_reading();
    } else {
      transport_->resume_reading();
    }
  }

 private:
  void send(Transport& t, std::span<const std::byte> bytes, const Address& to) {
    (t.send(bytes, to) == SendResult::queued ? books_.queued : books_.refused_sends).fetch_add(1);
  }
  Books& books_;
  std::uint64_t serial_ = 0;
  Transport* transport_ = nullptr;
  bool started_ = false;
  bool stopped_ = false;
};

// One worker's timers, touched only on that worker's thread (and read after it has finished).
struct TimerBooks {
  struct Entry {
    TimerId id;
    bool periodic = false;
    bool fired = false;
    bool cancelled = false;
    Clock::time_point due;
  };
  std::vector<Entry> entries;
  std::uint64_t set = 0, fired = 0, cancelled = 0, refused = 0, errors = 0;
  bool checked = false;
  std::uint64_t pending_at_check = 0, accounted_at_check = 0;

  void operate(Reactor& r, std::uint64_t choice) {
    if (choice % 10 < 3 && !entries.empty()) {
      Entry& e = entries[choice / 10 % entries.size()];
      if (e.cancelled || (e.fired && !e.periodic)) return;
      const bool was = r.cancel(e.id);
      // A one-shot that has not fired, or a periodic one, is pending: cancel must find it.
      if (!was) ++errors;
      e.cancelled = true;
      ++cancelled;
      return;
    }
    if (entries.size() >= 512) return;
    const bool periodic = choice % 10 == 9;
    const auto delay = std::chrono::microseconds(choice / 16 % 20000 + (periodic ? 1000 : 0));
    const std::size_t index = entries.size();
    Entry& e = entries.emplace_back();
    e.periodic = periodic;
    e.due = r.now() + delay;
    auto fire = [this, index] {
      Entry& me = entries[index];
      if (me.cancelled || (me.fired && !me.periodic)) ++errors;  // after its cancel, or twice
      if (Clock::now() < me.due) ++errors;                       // before it was due
      if (!me.fired && !me.periodic) ++fired;
      me.fired = true;
    };
    auto id = periodic ? r.call_every(delay, fire) : r.call_later(delay, fire);
    if (!id) {
      ++refused;  // the timer table is full
      entries.pop_back();
      return;
    }
    e.id = *id;
    ++set;
  }
  // On the worker: every timer set is fired (one-shots), cancelled or still pending.
  void check(Reactor& r) {
    checked = true;
    pending_at_check = r.pending_timers();
    std::uint64_t pending = 0;
    for (const Entry& e : entries) pending += !e.cancelled && !(e.fired && !e.periodic);
    accounted_at_check = pending;
  }
};

// A thread's own client socket: plain POSIX, non-blocking, reads the replies it gets.
class Client {
 public:
  Client() {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    const int size = 1 << 20;
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    const Address any = own_loopback();
    if (fd_ < 0 || ::bind(fd_, static_cast<const sockaddr*>(any.sockaddr_data()), any.sockaddr_size()) != 0)
      throw std::runtime_error("client socket");
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len);
    local_ = Address::from_sockaddr(&ss, len);
  }
  ~Client() { ::close(fd_); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const Address& local() const { return local_; }
  // True when the kernel accepted it (it is then in the destination's queue, or a counted drop).
  bool send(std::span<const std::byte> bytes, const Address& to) {
    return ::sendto(fd_, bytes.data(), bytes.size(), 0, static_cast<const sockaddr*>(to.sockaddr_data()),
                    to.sockaddr_size()) == static_cast<ssize_t>(bytes.size());
  }
  void read_all() {
    std::byte buffer[256];
    while (::recv(fd_, buffer, sizeof buffer, MSG_DONTWAIT) >= 0) ++received_;
  }
  std::uint64_t received() const { return received_; }
  // What the kernel dropped for want of room (SK_MEMINFO_DROPS).
  std::uint64_t drops() const {
    std::uint32_t meminfo[SK_MEMINFO_VARS] = {};
    socklen_t len = sizeof meminfo;
    if (::getsockopt(fd_, SOL_SOCKET, SO_MEMINFO, meminfo, &len) != 0) return 0;
    return meminfo[SK_MEMINFO_DROPS];
  }

 private:
  int fd_ = -1;
  Address local_;
  std::uint64_t received_ = 0;
};

struct Watchdog {
  std::atomic<std::uint64_t> progress{0};
  std::atomic<bool> done{false};
  std::uint64_t seed = 0;
  std::thread thread;

  void start(std::uint64_t s) {
    seed = s;
    thread = std::thread([this] {
      std::uint64_t seen = progress.load();
      auto last_change = Clock::now();
      while (!done.load()) {
        std::this_thread::sleep_for(100ms);
        const std::uint64_t now_seen = progress.load();
        if (now_seen != seen) {
          seen = now_seen;
          last_change = Clock::now();
        } else if (Clock::now() - last_change > 30s) {
          std::fprintf(stderr, "ApiStress watchdog: no progress for 30 s (seed %" PRIu64 "); aborting\n", seed);
          std::abort();
        }
      }
    });
  }
  ~Watchdog() {
    done.store(true);
    if (thread.joinable()) thread.join();
  }
};

struct SequenceResult {
  std::uint64_t client_accepted = 0, replies_received = 0, client_drops = 0, ops = 0, open_failures = 0;
  std::uint64_t timers_set = 0, timers_cancelled = 0;
  bool racing = false;
  unsigned ending = 0;  // an Ending
};

// How an engine's life ends; the figure line counts each.
enum class Ending : unsigned { stop, stop_now, drain, destroy };
constexpr unsigned ending_count = 4;

class ApiStress : public testing::TestWithParam<BackendKind> {
 protected:
  // One engine's life. Returns what the test asserts on; failures inside are reported as they come.
  SequenceResult sequence(std::uint64_t seed, Watchdog& watchdog) {
    std::mt19937_64 rng(seed);
    EngineOptions o;
    o.backend = GetParam();
    o.workers = 1 + static_cast<unsigned>(rng() % 2);
    o.buffer_count = rng() % 2 ? 64 : 256;
    o.batch_size = 8u << (rng() % 4);
    o.send_queue_entries = 16u << (rng() % 5);
    const bool racing = rng() % 4 == 0;
    const auto ending = static_cast<Ending>(rng() % ending_count);
    const auto active = std::chrono::milliseconds(50 + rng() % 250);

    SequenceResult result;
    Books books;
    std::vector<TimerBooks> timers(o.workers);
    auto engine = make_engine(o);
    std::mutex listen_mutex;
    std::vector<Address> listening;
    listening.push_back(must_listen(*engine, own_loopback(),
                                    [&books](unsigned) { return std::make_unique<StressProtocol>(books); }));
    must_start(*engine);

    constexpr unsigned actors = 3;
    std::vector<Client> clients(actors);
    std::atomic<std::uint64_t> accepted{0}, ops{0}, open_failures{0};
    std::atomic<bool> stopped_by_actor{false};
    const auto end = Clock::now() + active;
    auto actor = [&](unsigned me) {
      std::mt19937_64 r(seed * 1000003 + me);
      Client& client = clients[me];
      struct Own {
        Address address;
        std::uint64_t protocol;  // its serial (Books::find)
        unsigned worker;
      };
      std::vector<Own> own;
      const auto racing_stop_at = Clock::now() + active / 2;
      const std::vector<std::byte> reply_me = [] {
        auto p = make_payload(1, 32);
        p[0] = std::byte{'R'};
        return p;
      }();
      const std::vector<std::byte> quiet = [] {
        auto p = make_payload(2, 48);
        p[0] = std::byte{'Q'};
        return p;
      }();
      while (Clock::now() < end) {
        client.read_all();
        if (racing && me == 0 && Clock::now() >= racing_stop_at && !stopped_by_actor.exchange(true)) {
          switch (r() % 3) {
            case 0:
              engine->stop();
              break;
            case 1:
              engine->stop_now();
              break;
            default:
              engine->drain(std::chrono::milliseconds(r() % 20));
          }
        }
        const unsigned worker = static_cast<unsigned>(r() % o.workers);
        switch (r() % 16) {
          case 0:
          case 1:
          case 2:
          case 3:
          case 4: {  // a burst of datagrams
            Address to;
            if (!own.empty() && r() % 2) {
              to = own[r() % own.size()].address;
            } else {
              std::lock_guard lock(listen_mutex);
              to = listening[r() % listening.size()];
            }
            const unsigned n = 1 + static_cast<unsigned>(r() % 32);
            for (unsigned i = 0; i < n; ++i) accepted.fetch_add(client.send(r() % 4 == 0 ? reply_me : quiet, to));
            break;
          }
          case 5: {  // listen again: one more socket on every worker
            if (r() % 4 != 0) break;
            auto l = engine->listen(own_loopback(),
                                    [&books](unsigned) { return std::make_unique<StressProtocol>(books); });
            if (l) {
              std::lock_guard lock(listen_mutex);
              listening.push_back(*l);
            } else {
              open_failures.fetch_add(1);
            }
            break;
          }
          case 6:
          case 7: {  // open a runtime socket, from this thread or from a post
            if (own.size() >= 8) break;
            auto protocol = std::make_unique<StressProtocol>(books);
            const std::uint64_t p = protocol->serial();
            if (r() % 2) {
              auto opened = engine->open(worker, own_loopback(), std::move(protocol));
              if (opened) {
                own.push_back({*opened, p, worker});
              } else {
                open_failures.fetch_add(1);
              }
            } else {
              auto promise = std::make_shared<std::promise<std::optional<Address>>>();
              auto future = promise->get_future();
              auto holder = std::make_shared<std::unique_ptr<Protocol>>(std::move(protocol));
              auto posted = engine->post(worker, [promise, holder, &books](Reactor& reactor) {
                books.posts_ran.fetch_add(1);
                auto t = reactor.open(own_loopback(), std::move(*holder));
                promise->set_value(t ? std::optional<Address>((*t)->local_address()) : std::nullopt);
              });
              if (!posted) {
                open_failures.fetch_add(1);
                break;
              }
              books.posts_accepted.fetch_add(1);
              if (future.wait_for(30s) != std::future_status::ready) {
                ADD_FAILURE() << "a posted open did not run within 30 s";
                break;
              }
              if (auto a = future.get()) {
                own.push_back({*a, p, worker});
              } else {
                open_failures.fetch_add(1);
              }
            }
            break;
          }
          case 8: {  // close one of ours
            if (own.empty()) break;
            const std::size_t i = r() % own.size();
            const std::uint64_t p = own[i].protocol;
            if (engine->post(own[i].worker, [p, &books] {
                  if (StressProtocol* sp = books.find(p)) sp->stop_listening();
                  books.posts_ran.fetch_add(1);
                })) {
              books.posts_accepted.fetch_add(1);
            }
            own.erase(own.begin() + static_cast<std::ptrdiff_t>(i));
            break;
          }
          case 9: {  // pause or resume one of ours
            if (own.empty()) break;
            const Own& s = own[r() % own.size()];
            const bool on = r() % 2;
            const std::uint64_t p = s.protocol;
            if (engine->post(s.worker, [p, on, &books] {
                  if (StressProtocol* sp = books.find(p)) sp->pause(on);
                  books.posts_ran.fetch_add(1);
                })) {
              books.posts_accepted.fetch_add(1);
            }
            break;
          }
          case 10:
          case 11: {  // a protocol sends from a post (to this thread's client)
            if (own.empty()) break;
            const Own& s = own[r() % own.size()];
            const std::uint64_t p = s.protocol;
            const Address to = client.local();
            if (engine->post(s.worker, [p, to, &books] {
                  if (StressProtocol* sp = books.find(p)) sp->send_to(to);
                  books.posts_ran.fetch_add(1);
                })) {
              books.posts_accepted.fetch_add(1);
            }
            break;
          }
          case 12:
          case 13:
          case 14: {  // timers
            const std::uint64_t choice = r();
            TimerBooks* tb = &timers[worker];
            if (engine->post(worker, [tb, choice, &books](Reactor& reactor) {
                  tb->operate(reactor, choice);
                  books.posts_ran.fetch_add(1);
                })) {
              books.posts_accepted.fetch_add(1);
            }
            break;
          }
          case 15: {  // plain posted work
            if (engine->post(worker, [&books] { books.posts_ran.fetch_add(1); })) books.posts_accepted.fetch_add(1);
            break;
          }
        }
        ops.fetch_add(1);
        watchdog.progress.fetch_add(1);
      }
    };
    std::vector<std::thread> threads;
    for (unsigned i = 0; i < actors; ++i) threads.emplace_back(actor, i);
    for (auto& t : threads) t.join();

    // Timers are checked on each worker before the end (a refused post: the engine has finished).
    for (unsigned w = 0; w < o.workers; ++w) {
      TimerBooks* tb = &timers[w];
      (void)engine->post(w, [tb](Reactor& reactor) { tb->check(reactor); });  // refused once the engine has finished
    }
    result.ending = static_cast<unsigned>(ending);
    switch (ending) {
      case Ending::stop:
        engine->stop();
        break;
      case Ending::stop_now:
        engine->stop_now();
        break;
      case Ending::drain:
        engine->drain(std::chrono::milliseconds(rng() % 30));
        break;
      default:
        break;
    }
    if (ending != Ending::destroy) {
      EXPECT_TRUE(engine->wait_for(10s)) << "ending " << result.ending << " did not finish within 10 s (seed " << seed << ")";
    }
    engine.reset();  // stops and joins a running one
    watchdog.progress.fetch_add(1);

    // The books, once every worker has finished.
    const Counters& c = books.closed;
    const std::uint64_t into_sockets = c.received + c.kernel_drops + c.discarded_at_close;
    if (stopped_by_actor.load()) {
      EXPECT_LE(into_sockets, accepted.load()) << "seed " << seed << ": " << describe(c);
    } else {
      EXPECT_EQ(into_sockets, accepted.load()) << "seed " << seed << ": " << describe(c);
    }
    EXPECT_EQ(c.received, c.delivered) << "seed " << seed;
    EXPECT_EQ(c.sent + c.dropped_send_error, books.queued.load()) << "seed " << seed << ": " << describe(c);
    EXPECT_EQ(c.dropped_send_error, 0u) << "loopback to a live client refuses nothing (seed " << seed << ")";
    std::uint64_t replies = 0, drops = 0;
    const bool all_replies = wait_until(
        [&] {
          replies = drops = 0;
          for (auto& client : clients) {
            client.read_all();
            replies += client.received();
            drops += client.drops();
          }
          return replies + drops == c.sent;
        },
        5s);
    EXPECT_TRUE(all_replies) << "seed " << seed << ": clients got " << replies << " + dropped " << drops << " of "
                             << c.sent;
    EXPECT_EQ(books.posts_ran.load(), books.posts_accepted.load()) << "seed " << seed;
    EXPECT_EQ(books.starts.load(), books.stops.load()) << "seed " << seed;
    EXPECT_EQ(books.stop_errors.load(), 0u) << "seed " << seed;
    EXPECT_EQ(books.protocols_made.load(), books.protocols_gone.load()) << "seed " << seed;
    for (unsigned w = 0; w < timers.size(); ++w) {
      const TimerBooks& tb = timers[w];
      EXPECT_EQ(tb.errors, 0u) << "worker " << w
                               << ": a timer fired twice, early, after its cancel, or a cancel missed it (seed " << seed
                               << ")";
      if (tb.checked) {
        EXPECT_EQ(tb.pending_at_check, tb.accounted_at_check) << "worker " << w << ", seed " << seed;
      } else {
        EXPECT_TRUE(racing) << "the timers' check did not run (seed " << seed << ")";
      }
    }
    if (!racing) {
      EXPECT_EQ(open_failures.load(), 0u) << "an open or listen failed on a running engine (seed " << seed << ")";
    }
    result.client_accepted = accepted.load();
    result.replies_received = replies;
    result.client_drops = drops;
    result.ops = ops.load();
    result.open_failures = open_failures.load();
    result.racing = racing;
    for (const TimerBooks& tb : timers) {
      result.timers_set += tb.set;
      result.timers_cancelled += tb.cancelled;
    }
    return result;
  }
};

TEST_P(ApiStress, RandomSequencesKeepTheBooks) {
  const std::uint64_t seconds = env_number("SALVO_STRESS_SECONDS", 10);
  const std::uint64_t seed = env_number("SALVO_STRESS_SEED", std::random_device{}());
  std::printf("[ seed ] ApiStress %s: SALVO_STRESS_SEED=%" PRIu64 " SALVO_STRESS_SECONDS=%" PRIu64 "\n",
              std::string(salvo::to_string(GetParam())).c_str(), seed, seconds);
  std::fflush(stdout);
  Watchdog watchdog;
  watchdog.start(seed);
  const std::size_t descriptors = open_descriptors();
  const auto until = Clock::now() + std::chrono::seconds(seconds);
  std::uint64_t sequences = 0, ops = 0, datagrams = 0, replies = 0, failures = 0, raced = 0, timers = 0, cancels = 0;
  unsigned by_ending[ending_count] = {};
  while (Clock::now() < until && !HasFailure()) {
    const SequenceResult r = sequence(seed + sequences, watchdog);
    ++sequences;
    ops += r.ops;
    datagrams += r.client_accepted;
    replies += r.replies_received;
    failures += r.open_failures;
    raced += r.racing;
    timers += r.timers_set;
    cancels += r.timers_cancelled;
    by_ending[r.ending]++;
    EXPECT_EQ(open_descriptors(), descriptors)
        << "descriptors leaked by sequence " << sequences - 1 << " (seed " << seed + sequences - 1 << ")";
  }
  std::printf("[ figure ] ApiStress %s: %" PRIu64 " engines (%u stopped, %u stopped now, %u drained, %u destroyed running; %" PRIu64
              " stopped by a thread mid-flight) in %" PRIu64 " s, %" PRIu64 " operations, %" PRIu64
              " datagrams in, %" PRIu64 " replies, %" PRIu64 " timers set (%" PRIu64 " cancelled), %" PRIu64
              " opens refused by a stopping engine\n",
              std::string(salvo::to_string(GetParam())).c_str(), sequences, by_ending[0], by_ending[1], by_ending[2], by_ending[3],
              raced, seconds, ops, datagrams, replies, timers, cancels, failures);
  EXPECT_GT(sequences, 1u);
}

INSTANTIATE_TEST_SUITE_P(Backends, ApiStress, testing::ValuesIn(available_backends()), backend_test_name);

}  // namespace
}  // namespace salvo::test
