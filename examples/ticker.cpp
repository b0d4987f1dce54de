// A fixed-tick game-state server: clients join by sending anything, and every tick each joined
// client gets a snapshot of the game's state (here: the tick number and how many are in). A client
// quiet for --timeout seconds is dropped. The protocol is examples/ticker_protocol.hpp; this file
// reads the flags, sizes the engine and prints the summary.
//
// How it uses salvo: the tick is a periodic timer the socket owns (Transport::call_every, Twisted's
// LoopingCall), each client's expiry a one-shot timer moved whenever it sends (Transport::call_later,
// Twisted's callLater with reset), and one tick's snapshots leave together in one flush when the
// timer returns. How late each tick ran (steady_clock::now() against Reactor::firing_due()) goes
// into a fixed histogram.
//
// Snapshot format (12 bytes): tick number, little-endian uint64 (the first is 1), then the number
// of joined clients, little-endian uint32.
//
// Bounds (nothing grows while it runs):
//   - at most --max-clients clients (default 4096, at most 65536); datagrams from new sources while
//     the table is full are counted ("turned away") and get nothing.
//   - the send queue holds one tick's snapshots: --max-clients entries rounded up to a power of two,
//     12 bytes each. A snapshot the queue refuses (the kernel fell behind) is counted, not waited for.
//   - the engine's timer table holds the tick and one expiry per client, and a few to spare.
// One worker: the client table is one table, owned by that worker's thread, with no lock.
//
// Usage: ticker [HOST:PORT] [--hz N] [--timeout S] [--max-clients N] [--quiet]   (default 127.0.0.1:7000)
//   --hz N            ticks per second, 1..10000 (default 60)
//   --timeout S       drop a client quiet for S seconds (default 10)
//   --max-clients N   client table size, 1..65536 (default 4096)
//   --quiet           no line per join and expiry
// Prints "ticking on HOST:PORT ...", then "joined HOST:PORT (N clients)" and "expired HOST:PORT (N
// clients)" (unless --quiet), and "no clients left" whenever the last client expires. Ctrl-C or
// SIGTERM stops it with a summary on stderr: ticks, snapshots sent and not queued, clients joined,
// expired, turned away and still in at exit, and tick lateness (p50, p99, max, in microseconds).
// Exit codes: 0 stopped by a signal; 1 the engine could not start or tick; 2 bad usage or setup.
#include <bit>
#include <chrono>
#include <cstdio>

#include "example_support.hpp"
#include "ticker_protocol.hpp"

int main(int argc, char** argv) {
  const char* program = "ticker";
  examples::Arguments args(program, argc, argv);
  salvo::Address address = examples::parse_address_or_exit(program, "127.0.0.1:7000");
  std::uint64_t hz = 60;
  double timeout_seconds = 10;
  ticker::Settings settings;
  bool have_address = false;
  while (!args.done()) {
    const std::string_view a = args.take();
    if (a == "--help" || a == "-h") {
      std::printf("usage: ticker [HOST:PORT] [--hz N] [--timeout S] [--max-clients N] [--quiet]   (default 127.0.0.1:7000)\n");
      return 0;
    } else if (a == "--hz") {
      hz = examples::parse_count_or_exit(program, "--hz", args.value_for(a), 1, 10000);
    } else if (a == "--timeout") {
      timeout_seconds = examples::parse_seconds_or_exit(program, "--timeout", args.value_for(a), 0.001, 86400);
    } else if (a == "--max-clients") {
      settings.max_clients = static_cast<std::uint32_t>(
          examples::parse_count_or_exit(program, "--max-clients", args.value_for(a), 1, 65536));
    } else if (a == "--quiet") {
      settings.quiet = true;
    } else if (!have_address && !a.starts_with("--")) {
      address = examples::parse_address_or_exit(program, a);
      have_address = true;
    } else {
      args.unknown(a);
    }
  }
  settings.period = std::chrono::duration_cast<ticker::Clock::duration>(std::chrono::seconds(1)) /
                    static_cast<ticker::Clock::rep>(hz);
  settings.timeout =
      std::chrono::duration_cast<ticker::Clock::duration>(std::chrono::duration<double>(timeout_seconds));

  salvo::EngineOptions options;  // one worker (the default): one client table
  options.send_queue_entries = std::bit_ceil(settings.max_clients);
  options.send_queue_bytes = options.send_queue_entries * static_cast<std::uint32_t>(ticker::snapshot_size);
  options.timers_per_worker = settings.max_clients + 16;  // the tick, one expiry per client, spares

  examples::StopSignal stop;  // before start: the workers inherit the blocked signals
  ticker::Stats stats;
  auto engine = salvo::Engine::create(options);
  if (!engine) return std::fprintf(stderr, "%s: %s\n", program, engine.error().message.c_str()), 2;
  examples::announce_backend(program, **engine);
  auto bound = (*engine)->listen(address, [&](unsigned) { return std::make_unique<ticker::Ticker>(settings, stats, &stop); });
  if (!bound) return std::fprintf(stderr, "%s: %s\n", program, bound.error().message.c_str()), 2;
  if (auto started = (*engine)->start(); !started) {
    return std::fprintf(stderr, "%s: %s\n", program, started.error().message.c_str()), 1;
  }
  std::printf("ticking on %s (%llu Hz, timeout %g s, at most %u clients)\n", bound->to_string().c_str(),
              static_cast<unsigned long long>(hz), timeout_seconds, settings.max_clients);
  std::fflush(stdout);

  stop.wait();
  (*engine)->stop();
  (*engine)->wait();
  std::fflush(stdout);
  // The socket sends nothing but snapshots: the kernel's count is the true one.
  const salvo::Counters counters = (*engine)->counters();
  std::fprintf(stderr,
               "ticker: %llu ticks, %llu snapshots sent, %llu snapshots not queued, %llu clients joined, "
               "%llu clients expired, %llu clients turned away, %u clients at exit, "
               "tick lateness p50 %llu us, p99 %llu us, max %llu us\n",
               static_cast<unsigned long long>(stats.ticks), static_cast<unsigned long long>(counters.sent),
               static_cast<unsigned long long>(stats.snapshots_not_queued),
               static_cast<unsigned long long>(stats.clients_joined),
               static_cast<unsigned long long>(stats.clients_expired),
               static_cast<unsigned long long>(stats.clients_turned_away), stats.clients_at_exit,
               static_cast<unsigned long long>(stats.lateness.percentile_us(0.50)),
               static_cast<unsigned long long>(stats.lateness.percentile_us(0.99)),
               static_cast<unsigned long long>(stats.lateness.max_us()));
  return stats.tick_timer_refused ? 1 : 0;
}
