// salvo impair: a UDP proxy between clients and one server that loses, duplicates, reorders,
// delays and rate-limits datagrams in both directions, reproducibly for a given --seed. The
// proxying is ImpairProxy; the decisions are ImpairmentModel's. This file is flags and reports.
#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "common/cli_common.hpp"
#include "common/descriptor_limit.hpp"
#include "common/commands.hpp"
#include "common/report.hpp"
#include "common/session.hpp"
#include "impair/impair_proxy.hpp"
#include "salvo/salvo.hpp"

namespace salvo::cli {
namespace {

// The table's arrays take a few dozen bytes per client whether used or not; beyond this many
// clients the descriptor limit, not the table, is what bounds the proxy.
constexpr std::uint32_t max_clients_limit = 100'000;

struct ImpairFlags {
  CommonFlags common;
  std::string listen;
  std::string to;
  double loss = 0;
  double dup = 0;
  double reorder = 0;
  double delay_ms = 0;
  double jitter_ms = 0;
  std::uint64_t rate = 0;
  std::uint64_t burst = 0;
  std::uint64_t seed = 1;
  std::uint32_t max_clients = 256;
  bool max_clients_given = false;  // --max-clients on the command line, not the default
  double idle_timeout_s = 30;
  std::uint32_t queue = 4096;
};

std::chrono::nanoseconds from_ms(double ms) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double, std::milli>(ms));
}

nlohmann::json direction_json(const DirectionCounters& c) {
  nlohmann::json j = nlohmann::json::object();
#define SALVO_IMPAIR_JSON(name, help) j[#name] = c.name;
  SALVO_IMPAIR_COUNTERS(SALVO_IMPAIR_JSON)
#undef SALVO_IMPAIR_JSON
  return j;
}

void print_direction(const char* name, const DirectionCounters& c) {
  std::fprintf(stderr,
               "  %s: in %llu, forwarded %llu, duplicated %llu (withheld in a loop %llu), reordered %llu, delayed "
               "%llu; dropped: loss %llu, rate %llu, overflow %llu, unroutable %llu, no upstream socket %llu, send "
               "%llu, at exit %llu\n",
               name, static_cast<unsigned long long>(c.in), static_cast<unsigned long long>(c.forwarded),
               static_cast<unsigned long long>(c.duplicated), static_cast<unsigned long long>(c.dup_withheld),
               static_cast<unsigned long long>(c.reordered),
               static_cast<unsigned long long>(c.delayed), static_cast<unsigned long long>(c.dropped_loss),
               static_cast<unsigned long long>(c.dropped_rate), static_cast<unsigned long long>(c.dropped_overflow),
               static_cast<unsigned long long>(c.dropped_unroutable),
               static_cast<unsigned long long>(c.dropped_no_upstream), static_cast<unsigned long long>(c.dropped_send),
               static_cast<unsigned long long>(c.dropped_at_exit));
}

// Whether --max-clients clients can have a socket each beside the descriptors the proxy holds once
// it has started: a message naming the limit when they cannot, nothing when they can (or when the
// limit or the count cannot be read).
std::optional<std::string> max_clients_beyond_limit(std::uint32_t max_clients) {
  const auto limit = descriptor_limit();
  const auto open = open_descriptor_count();
  if (!limit || !open) return std::nullopt;
  const std::uint64_t room = *limit > *open ? *limit - *open : 0;
  if (max_clients <= room) return std::nullopt;
  return "--max-clients " + std::to_string(max_clients) +
         ": every client served has its own socket toward the server, but the descriptor limit RLIMIT_NOFILE is " +
         std::to_string(*limit) + " and the proxy holds " + std::to_string(*open) + " already, which leaves room for " +
         std::to_string(room) + " clients; lower --max-clients, or raise the limit with ulimit -n";
}

int run_impair(const ImpairFlags& flags) {
  auto options = to_engine_options(flags.common);
  if (!options) return usage_error(options.error().message);
  if (options->workers != 1) {
    return usage_error("--workers " + std::to_string(options->workers) +
                       ": impair runs on one worker (its decisions follow the arrival order)");
  }
  auto listen = resolve_flag("--listen", flags.listen);
  if (!listen) return usage_error(listen.error().message);
  auto to = resolve_flag("--to", flags.to);
  if (!to) return usage_error(to.error().message);
  if (to->port() == 0) return usage_error("--to " + flags.to + ": destination port cannot be 0");
  if (to->is_unspecified()) return usage_error("--to " + flags.to + ": a destination cannot be the any-address");
  if (flags.burst != 0 && flags.rate == 0) return usage_error("--burst needs --rate PPS");
  // Delayed and held datagrams wait in --queue slots of --buffer-size bytes each, allocated up front.
  const std::uint64_t pool_bytes = std::uint64_t{flags.queue} * options->buffer_size;
  if (pool_bytes > (std::uint64_t{1} << 30)) {
    return usage_error("--queue " + std::to_string(flags.queue) + " x --buffer-size " +
                       std::to_string(options->buffer_size) + ": more than 1 GiB of queue");
  }
  // Every client being served has a socket with its own send queue: keep each small (32
  // datagrams; on_writable refills it as it drains).
  options->send_queue_entries = 32;
  options->send_queue_bytes = 33 * options->buffer_size;

  ImpairConfig config;
  config.listen = *listen;
  config.to = *to;
  config.settings.loss = flags.loss;
  config.settings.duplicate = flags.dup;
  config.settings.reorder = flags.reorder;
  config.settings.delay = from_ms(flags.delay_ms);
  config.settings.jitter = from_ms(flags.jitter_ms);
  config.seed = flags.seed;
  config.rate = flags.rate;
  config.burst = flags.burst;
  config.max_clients = flags.max_clients;
  config.idle_timeout = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(flags.idle_timeout_s));
  config.queue_slots = flags.queue;
  config.slot_size = options->buffer_size;

  block_stop_signals();
  ImpairProxy proxy(config);  // outlives the engine: its sockets' protocols point into it
  auto engine = Engine::create(*options);
  if (!engine) return usage_error(engine.error().message);
  auto bound = proxy.listen_on(**engine);
  if (!bound) return usage_error(bound.error().message);
  if (auto started = (*engine)->start(); !started) return start_failed(started.error());
  // A --max-clients that was asked for and cannot be kept is refused now, while the user is there
  // to hear it. Without one, the default is served as far as descriptors go: once the proxy runs,
  // a client that finds none is a counted drop, never a reason to stop (anyone may send).
  if (flags.max_clients_given) {
    if (auto problem = max_clients_beyond_limit(flags.max_clients)) {
      (*engine)->stop();
      (*engine)->wait();
      return usage_error(*problem);
    }
  }
  std::fprintf(stderr, "salvo impair: listening on %s (%s), forwarding to %s\n", bound->to_string().c_str(),
               (*engine)->backend().reason.c_str(), to->to_string().c_str());
  const SessionResult session = run_session(**engine, flags.common);
  proxy.finish();
  print_summary("impair", **engine, session);
  const DirectionCounters& up = proxy.counters(Direction::client_to_server);
  const DirectionCounters& down = proxy.counters(Direction::server_to_client);
  print_direction("client -> server", up);
  print_direction("server -> client", down);
  const ClientTable& clients = proxy.clients();
  std::fprintf(stderr, "  clients: peak %u of %u, admitted %llu, expired %llu, refused datagrams %llu\n",
               clients.peak(), clients.capacity(), static_cast<unsigned long long>(clients.admitted()),
               static_cast<unsigned long long>(clients.expired()), static_cast<unsigned long long>(clients.refused()));
  if (flags.common.json) {
    nlohmann::json j = session_json("impair", **engine, session);
    j["listen"] = bound->to_string();
    j["to"] = to->to_string();
    j["seed"] = flags.seed;
    j["settings"] = {{"loss", flags.loss},         {"dup", flags.dup},
                     {"reorder", flags.reorder},   {"delay_ms", flags.delay_ms},
                     {"jitter_ms", flags.jitter_ms}, {"rate", flags.rate},
                     {"burst", flags.rate == 0 ? 0 : (flags.burst != 0 ? flags.burst : std::max<std::uint64_t>(1, flags.rate / 100))},
                     {"queue", flags.queue},       {"max_clients", flags.max_clients},
                     {"idle_timeout_s", flags.idle_timeout_s}};
    j["client_to_server"] = direction_json(up);
    j["server_to_client"] = direction_json(down);
    j["clients"] = {{"max", clients.capacity()},       {"active", clients.active()},
                    {"peak", clients.peak()},          {"admitted", clients.admitted()},
                    {"expired", clients.expired()},    {"refused", clients.refused()}};
    std::printf("%s\n", j.dump().c_str());
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

Command add_impair_command(CLI::App& app) {
  auto flags = std::make_shared<ImpairFlags>();
  CLI::App* sub = app.add_subcommand("impair", "UDP proxy that loses, duplicates, reorders, delays and rate-limits");
  sub->add_option("--listen", flags->listen, "address clients send to, e.g. 127.0.0.1:9001")
      ->required()
      ->check(check_address);
  sub->add_option("--to", flags->to, "the server, e.g. 127.0.0.1:9000")->required()->check(check_address);
  const auto probability = CLI::Range(0.0, 1.0);
  sub->add_option("--loss", flags->loss, "probability a datagram is dropped (0..1)")->check(probability);
  sub->add_option("--dup", flags->dup,
                  "probability a datagram is sent twice (0..1); never for a client that sends back what it is "
                  "sent (a loop: the copy would go round it for good)")
      ->check(probability);
  sub->add_option("--reorder", flags->reorder, "probability a datagram is held back and sent after the next one (0..1)")
      ->check(probability);
  sub->add_option("--delay", flags->delay_ms, "milliseconds added to every datagram")->check(CLI::Range(0.0, 600000.0));
  sub->add_option("--jitter", flags->jitter_ms, "milliseconds of uniform variation around --delay (never reorders)")
      ->check(CLI::Range(0.0, 600000.0));
  sub->add_option("--rate", flags->rate, "datagrams per second per direction; the excess is dropped")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1'000'000'000}));
  sub->add_option("--burst", flags->burst, "datagrams --rate lets through back to back (default: 10 ms worth)")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 30));
  sub->add_option("--seed", flags->seed, "seed of the decisions: the same seed, the same decisions")->capture_default_str();
  CLI::Option* max_clients =
      sub->add_option("--max-clients", flags->max_clients,
                      "clients (source addresses) served at once, up to 100000; each has its own socket toward the "
                      "server while it is served, opened when it first sends. Given, it must fit under the "
                      "descriptor limit (RLIMIT_NOFILE), or impair does not start; by default, clients beyond the "
                      "limit are refused and counted (dropped_no_upstream)")
          ->check(CLI::Range(1u, max_clients_limit))
          ->capture_default_str();
  sub->add_option("--idle-timeout", flags->idle_timeout_s, "seconds without traffic before a client's slot is freed")
      ->check(CLI::Range(0.001, 1e7))
      ->capture_default_str();
  sub->add_option("--queue", flags->queue, "datagrams that may wait (delayed or held), both directions together")
      ->check(CLI::Range(1u, 1u << 20))
      ->capture_default_str();
  add_common_flags(*sub, flags->common, /*server=*/true);
  return [flags, max_clients] {
    flags->max_clients_given = max_clients->count() != 0;
    return run_impair(*flags);
  };
}

}  // namespace salvo::cli
