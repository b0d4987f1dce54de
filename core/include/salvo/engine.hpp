// Engine: owns the worker threads, their backends and their sockets.
//
// Lifecycle: create() -> listen()/open() any number of times -> start() -> [running; listen()
// and open() still work] -> drain() or stop() -> wait(). An engine may start with no sockets; it
// runs until stop() (or a drain's end), serving timers and posted work, whether or not any socket
// is open. listen() and open() bind on the calling thread, so "port in use", "bad address" and
// EMFILE come back from them, not from a worker thread later.
//
// Threading: create/start/wait are for one controlling thread. listen(), open(), post(),
// drain(), stop(), stop_now(), counters(), worker_counters() and finished() may be called from any thread
// once the engine exists (listen/open/adopt from several threads at once before start() are not
// supported). The destructor stops and joins, so it must run on a thread other than the engine's
// workers: destroying an engine inside one of its own hooks, timers or posted functions would wait
// for the very thread running it. That is a programming error the engine refuses loudly: the
// destructor writes one line to stderr naming the worker and aborts the process (rather than
// deadlocking, or ending in std::terminate without a word). From a hook, call stop() and let the
// controlling thread destroy the engine after wait().
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "salvo/address.hpp"
#include "salvo/counters.hpp"
#include "salvo/engine_options.hpp"
#include "salvo/error.hpp"
#include "salvo/protocol.hpp"
#include "salvo/reactor.hpp"
#include "salvo/socket_options.hpp"

namespace salvo {

// Why a backend runs: written for people ("epoll: forced by SALVO_BACKEND=epoll").
struct BackendChoice {
  BackendKind kind = BackendKind::epoll;
  std::string reason;
};

class Engine {
 public:
  static Result<std::unique_ptr<Engine>> create(EngineOptions options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Opens one socket per worker bound to `address` (SO_REUSEPORT when workers > 1; port 0 picks
  // one free port shared by all of them) and attaches a protocol from `factory` to each.
  // Returns the bound address. Before start() or while running (Twisted: listenUDP at any time):
  // then each worker attaches its socket in its next round and runs on_start there.
  Result<Address> listen(const Address& address, const ProtocolFactory& factory);

  // listen() for a port other sockets and programs may share (Twisted: listenMulticast with
  // listenMultiple=True): SO_REUSEADDR and SO_REUSEPORT are set and the port-in-use check is
  // skipped, so several receivers on one host each get a copy of every multicast datagram.
  // `socket`: options for every socket of this listen() (socket_options.hpp); its buffer sizes,
  // when 0, are EngineOptions::socket_receive_buffer / socket_send_buffer. socket.reuse_port, like
  // listen_multiple, also skips the port-in-use check, so that the sockets may join a group others
  // hold.
  struct ListenOptions {
    bool listen_multiple = false;
    SocketOptions socket{};
  };
  Result<Address> listen(const Address& address, const ProtocolFactory& factory, const ListenOptions& how);

  // One socket on one worker: bound to `local` (port 0 picks one), optionally connected
  // (how.connect_to), served by `protocol`. Returns the bound address. Before start() or while
  // running; from a hook on that worker, Reactor::open does the same and returns the Transport.
  Result<Address> open(unsigned worker, const Address& local, std::unique_ptr<Protocol> protocol,
                       const OpenOptions& how = {});

  // Serves a UDP socket made elsewhere (socket activation: systemd's LISTEN_FDS, inetd, a parent
  // process). The engine takes ownership of `fd` (it closes it at stop, or on failure here) and
  // gives it to worker `worker` with a protocol from `factory`. The socket must be a bound
  // AF_INET/AF_INET6 datagram socket; it is made non-blocking and close-on-exec. Returns its
  // bound address. Only before start().
  Result<Address> adopt(int fd, const ProtocolFactory& factory, unsigned worker = 0);

  // Starts the worker threads; each sets up its backend and, once every worker has, calls on_start
  // for its sockets, then serves. Under BackendKind::automatic, a worker that cannot set up its
  // io_uring ring (the probe at create() passed, but a ring is refused now: a seccomp filter, the
  // descriptor or memory limits) makes every worker fall back to epoll, and backend() says so and
  // why; an explicit io_uring fails with the reason instead.
  Result<void> start();

  // Asks every worker to stop: work posted before this call runs first, then reading stops,
  // queued sends are flushed, on_stop runs once per protocol, sockets close. Returns at once; use
  // wait() to join. Safe from any thread.
  void stop() noexcept;
  // stop() without the flush, for a second Ctrl-C or a stop that must not wait on peers: posted
  // work still runs first and every protocol still hears on_stop, but datagrams still queued (or
  // still with the kernel on io_uring) are counted as dropped_send_error instead of waiting up to
  // EngineOptions::stop_flush_timeout for a full socket buffer. Also cuts short a stop() or a
  // drain's end already flushing. Safe from any thread.
  void stop_now() noexcept;

  // Blocks until every worker has finished (after stop() or drain()).
  void wait();
  // Waits at most `timeout`; true when every worker has finished.
  bool wait_for(std::chrono::milliseconds timeout);
  bool finished() const noexcept;

  // Runs `fn` on worker `worker`'s thread (Twisted: callFromThread), after every function posted
  // to that worker before it, between batches: never inside a protocol hook, so fn may use the
  // worker's protocols and transports freely. Any thread may call it, after start(). The queue is
  // guarded by a lock that only post() and the worker's hand-over take; the data path never
  // does. Functions accepted before the worker finishes all run, even after stop(); later calls
  // fail with Errc::invalid_state. fn must not throw.
  Result<void> post(unsigned worker, std::function<void()> fn);
  // The same, handing fn the worker's Reactor (timers, open, resolve).
  Result<void> post(unsigned worker, std::function<void(Reactor&)> fn);

  // Graceful stop: every worker stops reading, each protocol hears on_draining(time left) and
  // closes its socket when it has finished (timers, sends and on_writable keep working), and at
  // `grace` from now whatever is still open stops as with stop(). The workers finish when their
  // sockets have closed. Any thread; after start(). A later stop() ends the drain at once.
  void drain(std::chrono::milliseconds grace) noexcept;

  // Sockets open on all workers right now (a socket counts from its attach until it closed). Any
  // thread; a program that stops once its sockets have ended by themselves polls this.
  std::size_t open_sockets() const noexcept;

  // The backend and why. Set by create(); start() may change it once (auto's fallback to epoll),
  // so read it on the controlling thread, or after start() returned.
  const BackendChoice& backend() const noexcept;
  const EngineOptions& options() const noexcept;

  Counters counters() const noexcept;                  // summed over every socket and worker
  std::vector<Counters> worker_counters() const;       // one entry per worker

  struct Impl;

 private:
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace salvo
