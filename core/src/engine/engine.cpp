#include "salvo/engine.hpp"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <condition_variable>
#include <future>
#include <mutex>
#include <new>
#include <string>

#include "engine/backend.hpp"
#include "engine/memory_limit.hpp"
#include "engine/worker.hpp"
#include "names/resolver.hpp"
#include "socket/open_options.hpp"
#include "socket/udp_socket.hpp"

namespace salvo {

struct Engine::Impl {
  EngineOptions options;
  BackendChoice choice;
  std::vector<std::unique_ptr<detail::Worker>> workers;
  // Set by start(); read by stop(), drain(), post(), wait() and finished(), which any thread may
  // call at any time, also while start() runs on another.
  std::atomic<bool> started{false};
  // Host names for Reactor::resolve; its thread starts on the first name. Declared after the
  // workers so that it shuts down (answering nobody) before they go.
  detail::Resolver resolver;

  // Set by create(): io_uring runs because `auto` chose it, so a ring that cannot be set up at
  // start() makes the engine fall back to epoll rather than fail.
  bool may_fall_back = false;

  // Worker start-up and exit are reported here (control path only, never per datagram).
  mutable std::mutex mutex;
  std::condition_variable changed;
  bool launched = false;  // start() has counted its workers into `running`
  unsigned running = 0;
  // The setup reports of the current round (the first setup, or epoll's after a fallback).
  unsigned setups_reported = 0;
  std::vector<Error> setup_errors;
  bool only_backends_refused = true;  // every error of the round came from a backend's setup
  // The verdicts start() has published, and the latest: a worker waits for the verdict of the
  // round it reported in.
  unsigned verdicts = 0;
  detail::SetupVerdict verdict = detail::SetupVerdict::serve;

  // Worker::start's `ready`, on each worker thread: counts the report, then waits for start()'s
  // verdict on the whole round.
  detail::SetupVerdict report_setup(const detail::SetupReport& report) {
    std::unique_lock lock(mutex);
    if (!report.result) {
      setup_errors.push_back(report.result.error());
      if (!report.backend_refused) only_backends_refused = false;
    }
    ++setups_reported;
    const unsigned awaited = verdicts + 1;
    changed.notify_all();
    changed.wait(lock, [&] { return verdicts >= awaited; });
    return verdict;
  }
  void publish_verdict(detail::SetupVerdict v) {  // under `mutex`
    verdict = v;
    ++verdicts;
    changed.notify_all();
  }
};

namespace {

Result<void> validate(const EngineOptions& o) {
  auto bad = [](std::string why) { return Error::make(Errc::bad_option, std::move(why)); };
  if (o.workers == 0 || o.workers > 1024) return bad("workers must be between 1 and 1024");
  if (o.batch_size == 0 || o.batch_size > 1024) return bad("batch size must be between 1 and 1024");
  if (o.buffer_count > (1u << 15)) {
    // 2^15 is the io_uring provided-buffer ring's limit; the same bound keeps both backends alike.
    return bad("buffer count must be between 1 and 32768 (or 0: automatic)");
  }
  if (o.buffer_size == 0 || o.buffer_size > (1u << 20)) return bad("buffer size must be between 1 byte and 1 MiB");
  if (o.reads_per_wakeup == 0) return bad("reads per wakeup must be at least 1");
  if (o.send_queue_entries == 0) return bad("send queue entries must be at least 1");
  if (o.completion_batch == 0 || o.completion_batch > 4096) return bad("completion batch must be between 1 and 4096");
  if (o.completion_wait.count() < 0) return bad("completion wait cannot be negative");
  if (o.send_queue_bytes == 0) return bad("send queue bytes must be at least 1");
  if (o.send_pool_bytes < (std::uint64_t{128} << 10) || o.send_pool_bytes > (std::uint64_t{1} << 40)) {
    return bad("send pool bytes must be between 128 KiB and 1 TiB");
  }
  if (o.steer_by_cpu && o.cpus.empty()) return bad("CPU steering needs the workers pinned (cpus)");
  if (o.busy_poll_idle.count() < 0) return bad("busy-poll idle budget cannot be negative");
  if (o.timestamps > EngineOptions::Timestamps::hardware) return bad("unknown timestamps mode");
  if (o.socket_receive_buffer < 0 || o.socket_send_buffer < 0) return bad("socket buffer sizes cannot be negative");
  if (o.latency_budget.limit.count() < 0 || o.latency_budget.limit > std::chrono::milliseconds(10)) {
    return bad("latency budget must be between 0 and 10000 us");
  }
  if (o.socket_slot_keep.count() < 0 || o.socket_slot_keep > std::chrono::hours(1)) {
    return bad("socket slot keep must be between 0 and 3600 s");
  }
  if (o.timers_per_worker == 0 || o.timers_per_worker > (1u << 20)) return bad("timers per worker must be between 1 and 1048576");
  return {};
}

// The receive buffers are mapped and touched when the engine is made: asking for more than the
// process may use would end in the OOM killer, not in an error. Half of that memory is the bound,
// leaving the rest to the send pools (reserved, touched only as used) and the program itself.
Result<void> check_receive_memory(const EngineOptions& o) {
  const detail::MemoryLimit limit = detail::usable_memory();
  if (limit.bytes == 0) return {};
  const std::uint64_t slot = (std::uint64_t{o.buffer_size} + 63) & ~std::uint64_t{63};
  const std::uint64_t total = std::uint64_t{o.workers} * o.buffer_count * slot;
  if (total <= limit.bytes / 2) return {};
  return Error::make(Errc::bad_option,
                     "receive buffers would take " + std::to_string(total >> 20) + " MiB (" + std::to_string(o.workers) +
                         " workers x " + std::to_string(o.buffer_count) + " buffers x " + std::to_string(slot) +
                         " bytes), more than half of the " + std::to_string(limit.bytes >> 20) + " MiB this process may use (" +
                         limit.source + "): lower workers, buffer_count or buffer_size");
}

}  // namespace

namespace {
Result<void> attach_to(Engine::Impl& impl, unsigned worker, const detail::BoundSocket& socket,
                       std::unique_ptr<Protocol> protocol, const Address& peer);
}  // namespace

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Engine::~Engine() {
  // On its own worker thread the destructor would wait for that thread, which is running it: a
  // deadlock, or std::terminate from std::thread::join. Say so in one line, then abort.
  if (detail::Worker* current = detail::Worker::current(); current != nullptr) {
    for (const auto& w : impl_->workers) {
      if (w.get() != current) continue;
      std::fprintf(stderr,
                   "salvo: Engine destroyed on its own worker thread %u (inside a hook or posted function), which "
                   "it would wait for forever: call stop() there and destroy the engine on another thread; aborting\n",
                   current->index());
      std::abort();
    }
  }
  stop();
  for (auto& w : impl_->workers) w->join();
}

Result<std::unique_ptr<Engine>> Engine::create(EngineOptions options) {
  if (auto r = validate(options); !r) return r.error();
  auto choice = detail::choose_backend(options.backend);
  if (!choice) return choice.error();
  // GRO coalesces up to a whole UDP datagram's worth of segments: every buffer must hold one.
  if (options.gro && options.buffer_size < EngineOptions::gro_buffer_size) options.buffer_size = EngineOptions::gro_buffer_size;
  if (options.buffer_count == 0) {
    options.buffer_count = options.gro ? EngineOptions::gro_default_buffer_count : EngineOptions::default_buffer_count;
  }
  if (auto r = check_receive_memory(options); !r) return r.error();
  const std::string tables = std::to_string(options.workers) + " workers (" +
                             std::to_string((detail::Worker::table_bytes(options) + (1 << 20) - 1) >> 20) +
                             " MiB each for timers_per_worker " + std::to_string(options.timers_per_worker) +
                             " and batch_size " + std::to_string(options.batch_size) + ")";
  try {
    auto impl = std::make_unique<Impl>();
    impl->options = std::move(options);
    impl->choice = std::move(choice.value());
    auto requested = detail::requested_backend(impl->options.backend);
    impl->may_fall_back = impl->choice.kind == BackendKind::io_uring && requested && *requested == BackendKind::automatic;
    for (unsigned i = 0; i < impl->options.workers; ++i) {
      auto worker = std::make_unique<detail::Worker>(i, impl->options, detail::make_backend(impl->choice.kind));
      if (auto r = worker->init(); !r) return r.error();
      worker->reactor().set_resolver(&impl->resolver);
      impl->workers.push_back(std::move(worker));
    }
    return std::unique_ptr<Engine>(new Engine(std::move(impl)));
  } catch (const std::bad_alloc&) {
    // The tables each worker allocates once (timers, sockets, batches) did not fit: an error the
    // program can report, as the options caused it, rather than an exception through main().
    return Error::from_errno(ENOMEM, "cannot allocate the engine's tables for " + tables);
  }
}

Result<Address> Engine::listen(const Address& address, const ProtocolFactory& factory) {
  return listen(address, factory, ListenOptions{});
}

Result<Address> Engine::adopt(int fd, const ProtocolFactory& factory, unsigned worker) {
  auto refuse = [fd](Error e) {
    if (fd >= 0) ::close(fd);
    return e;
  };
  if (impl_->started) return refuse(Error::make(Errc::invalid_state, "adopt() must come before start()"));
  if (!factory) return refuse(Error::make(Errc::invalid_state, "adopt() needs a protocol factory"));
  if (worker >= impl_->workers.size()) {
    return refuse(Error::make(Errc::bad_option, "adopt() to worker " + std::to_string(worker) + ", but the engine has " +
                                                    std::to_string(impl_->workers.size())));
  }
  auto socket = detail::adopt_udp_socket(fd);
  if (!socket) return refuse(socket.error());
  auto protocol = factory(worker);
  if (!protocol) return refuse(Error::make(Errc::invalid_state, "the protocol factory returned no protocol"));
  // attach closes the fd itself when it fails.
  auto added = impl_->workers[worker]->attach(fd, socket->local, std::move(protocol), socket->recverr);
  if (!added) return added.error();
  return socket->local;
}

Result<Address> Engine::listen(const Address& address, const ProtocolFactory& factory, const ListenOptions& how) {
  if (!factory) return Error::make(Errc::invalid_state, "listen() needs a protocol factory");
  if (impl_->started && detail::Worker::current() != nullptr) {
    return Error::make(Errc::invalid_state,
                       "listen() while running waits for every worker: call it from outside the workers, or open a "
                       "socket on this worker with Reactor::open");
  }
  detail::UdpSocketOptions socket_options = detail::udp_socket_options(how.socket, impl_->options);
  socket_options.reuse_port = socket_options.reuse_port || impl_->workers.size() > 1 || how.listen_multiple;
  socket_options.reuse_address = socket_options.reuse_address || how.listen_multiple;

  // Open every worker's socket before attaching any, so that a failure leaves nothing half-made.
  // With port 0 the first bind picks the port and the others join it.
  std::vector<detail::BoundSocket> bound;
  Address target = address;
  if (socket_options.reuse_port && !how.listen_multiple && !how.socket.reuse_port) {
    auto free = detail::check_port_free(address, socket_options);
    if (!free) return free.error();
    target = *free;
  }
  for (std::size_t i = 0; i < impl_->workers.size(); ++i) {
    auto s = detail::open_udp_socket(target, socket_options);
    if (!s) {
      for (auto& b : bound) ::close(b.fd);
      return s.error();
    }
    if (i == 0) target = target.with_port(s->local.port());
    bound.push_back(*s);
  }
  if (impl_->options.steer_by_cpu && bound.size() > 1) {
    std::vector<int> worker_cpus;
    for (std::size_t i = 0; i < bound.size(); ++i) worker_cpus.push_back(impl_->options.cpus[i % impl_->options.cpus.size()]);
    if (auto r = detail::steer_group_by_cpu(bound.front().fd, worker_cpus); !r) {
      for (auto& b : bound) ::close(b.fd);
      return r.error();
    }
  }
  std::vector<std::unique_ptr<Protocol>> protocols;
  for (std::size_t i = 0; i < bound.size(); ++i) {
    protocols.push_back(factory(static_cast<unsigned>(i)));
    if (!protocols.back()) {
      for (auto& b : bound) ::close(b.fd);
      return Error::make(Errc::invalid_state, "the protocol factory returned no protocol");
    }
  }
  // attach closes the fd it fails on; the ones not yet handed over are closed here.
  for (std::size_t i = 0; i < bound.size(); ++i) {
    auto added = attach_to(*impl_, static_cast<unsigned>(i), bound[i], std::move(protocols[i]), Address{});
    if (!added) {
      for (std::size_t j = i + 1; j < bound.size(); ++j) ::close(bound[j].fd);
      return added.error();
    }
  }
  return bound.front().local;
}

namespace {

// Hands a bound socket to a worker: directly before start, through a post while running.
Result<void> attach_to(Engine::Impl& impl, unsigned worker, const detail::BoundSocket& socket,
                       std::unique_ptr<Protocol> protocol, const Address& peer) {
  detail::Worker& w = *impl.workers[worker];
  if (!impl.started) {
    auto added = w.attach(socket.fd, socket.local, std::move(protocol), socket.recverr, peer);
    if (!added) return added.error();
    return {};
  }
  // Running: the worker attaches it in its next round; this thread waits for the outcome, so
  // that errors come back here as they do before start.
  auto outcome = std::make_shared<std::promise<Result<void>>>();
  auto done = outcome->get_future();
  auto* raw = protocol.release();  // std::function needs a copyable callable
  auto posted = w.post([&w, socket, raw, peer, outcome] {
    auto added = w.attach(socket.fd, socket.local, std::unique_ptr<Protocol>(raw), socket.recverr, peer);
    outcome->set_value(added ? Result<void>{} : Result<void>{added.error()});
  });
  if (!posted) {
    delete raw;
    ::close(socket.fd);
    return posted.error();
  }
  return done.get();
}

}  // namespace

Result<Address> Engine::open(unsigned worker, const Address& local, std::unique_ptr<Protocol> protocol,
                             const OpenOptions& how) {
  if (!protocol) return Error::make(Errc::invalid_state, "open() needs a protocol");
  if (worker >= impl_->workers.size()) {
    return Error::make(Errc::bad_option, "open() on worker " + std::to_string(worker) + ", but the engine has " +
                                             std::to_string(impl_->workers.size()));
  }
  detail::Worker* current = detail::Worker::current();
  if (impl_->started && current == impl_->workers[worker].get()) {
    auto opened = current->open_socket(local, std::move(protocol), how);
    if (!opened) return opened.error();
    return (*opened)->local_address();
  }
  if (impl_->started && current != nullptr) {
    return Error::make(Errc::invalid_state,
                       "open() on another worker from a worker waits for it: post to that worker and use Reactor::open");
  }
  auto opened = detail::open_socket(local, how, impl_->options);
  if (!opened) return opened.error();
  if (auto r = attach_to(*impl_, worker, opened->bound, std::move(protocol), opened->peer); !r) return r.error();
  return opened->bound.local;
}

Result<void> Engine::start() {
  if (impl_->started.exchange(true)) return Error::make(Errc::invalid_state, "start() was already called");
  Impl& impl = *impl_;
  {
    // Under the lock, with `launched`: finished() and wait() on other threads read them together,
    // so that they never take the moment before the workers are counted for the end of the run.
    std::lock_guard lock(impl.mutex);
    impl.running = static_cast<unsigned>(impl.workers.size());
    impl.launched = true;
  }
  for (std::size_t i = 0; i < impl.workers.size(); ++i) {
    auto started_thread = impl.workers[i]->start(
        [&impl](const detail::SetupReport& report) { return impl.report_setup(report); },
        [&impl] {
          std::lock_guard lock(impl.mutex);
          --impl.running;
          impl.changed.notify_all();
        });
    if (!started_thread) {
      // This worker and the ones after it never run: they report neither a setup nor an exit. The
      // ones already running are stopped below, as after a failed setup.
      const auto never = static_cast<unsigned>(impl.workers.size() - i);
      std::lock_guard lock(impl.mutex);
      impl.setup_errors.push_back(started_thread.error());
      impl.only_backends_refused = false;
      impl.setups_reported += never;
      impl.running -= never;
      break;
    }
  }
  // Every worker has set up its backend (or failed to) and waits for the verdict, so that no
  // protocol starts on a backend the engine then gives up.
  std::unique_lock lock(impl.mutex);
  auto all_reported = [&] { return impl.setups_reported == impl.workers.size(); };
  impl.changed.wait(lock, all_reported);
  if (!impl.setup_errors.empty() && impl.may_fall_back && impl.only_backends_refused) {
    // The probe passed, yet a ring cannot be set up now (a seccomp filter installed since, the
    // descriptors or locked memory a ring needs): `auto` means a backend that runs.
    impl.choice = BackendChoice{BackendKind::epoll, "epoll: auto, the io_uring probe passed but a ring could not be set up "
                                                    "at start (" + impl.setup_errors.front().message + ")"};
    impl.setup_errors.clear();
    impl.setups_reported = 0;
    impl.publish_verdict(detail::SetupVerdict::use_epoll);
    impl.changed.wait(lock, all_reported);
  }
  if (impl.setup_errors.empty()) {
    impl.publish_verdict(detail::SetupVerdict::serve);
    return {};
  }
  Error first = impl.setup_errors.front();
  impl.publish_verdict(detail::SetupVerdict::give_up);
  lock.unlock();
  stop();
  wait();
  return first;
}

void Engine::stop() noexcept {
  if (!impl_->started) return;
  for (auto& w : impl_->workers) w->request_stop(detail::Worker::StopLevel::flush);
}

void Engine::stop_now() noexcept {
  if (!impl_->started) return;
  for (auto& w : impl_->workers) w->request_stop(detail::Worker::StopLevel::now);
}

void Engine::wait() {
  if (!impl_->started) return;
  {
    std::unique_lock lock(impl_->mutex);
    impl_->changed.wait(lock, [&] { return impl_->launched && impl_->running == 0; });
  }
  for (auto& w : impl_->workers) w->join();
}

bool Engine::wait_for(std::chrono::milliseconds timeout) {
  if (!impl_->started) return true;
  std::unique_lock lock(impl_->mutex);
  return impl_->changed.wait_for(lock, timeout, [&] { return impl_->launched && impl_->running == 0; });
}

bool Engine::finished() const noexcept {
  std::lock_guard lock(impl_->mutex);
  return impl_->launched && impl_->running == 0;
}

Result<void> Engine::post(unsigned worker, std::function<void()> fn) {
  if (!impl_->started) return Error::make(Errc::invalid_state, "post() needs a started engine");
  if (worker >= impl_->workers.size()) {
    return Error::make(Errc::bad_option, "post() to worker " + std::to_string(worker) + ", but the engine has " +
                                             std::to_string(impl_->workers.size()));
  }
  return impl_->workers[worker]->post(std::move(fn));
}

Result<void> Engine::post(unsigned worker, std::function<void(Reactor&)> fn) {
  if (!fn) return Error::make(Errc::invalid_state, "post() needs a function");
  if (worker >= impl_->workers.size()) return post(worker, std::function<void()>{});  // the same error
  detail::Worker* w = impl_->workers[worker].get();
  return post(worker, [w, fn = std::move(fn)] { fn(w->reactor().reactor()); });
}

void Engine::drain(std::chrono::milliseconds grace) noexcept {
  if (!impl_->started) return;
  const auto deadline = std::chrono::steady_clock::now() + grace;
  for (auto& w : impl_->workers) {
    detail::Worker* worker = w.get();
    // A worker that has finished has nothing to drain: its refusal needs no handling.
    (void)worker->post([worker, deadline] { worker->begin_drain(deadline); });
  }
}

std::size_t Engine::open_sockets() const noexcept {
  std::size_t n = 0;
  for (const auto& w : impl_->workers) n += w->open_socket_count();
  return n;
}

const BackendChoice& Engine::backend() const noexcept { return impl_->choice; }
const EngineOptions& Engine::options() const noexcept { return impl_->options; }

Counters Engine::counters() const noexcept {
  Counters sum;
  for (const auto& w : impl_->workers) sum += w->counters();
  return sum;
}

std::vector<Counters> Engine::worker_counters() const {
  std::vector<Counters> out;
  out.reserve(impl_->workers.size());
  for (const auto& w : impl_->workers) out.push_back(w->counters());
  return out;
}

}  // namespace salvo
