#include "common/cli_common.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include "salvo/resolve.hpp"

namespace salvo::cli {
namespace {

// A flag checked by the library's own parser (parse_backend_kind...), so that the names it takes
// are written in one place: a bad value is a usage error with the parser's message.
template <class Parse>
CLI::Validator parsed_by(Parse parse) {
  return CLI::Validator(
      [parse](std::string& text) -> std::string {
        const auto parsed = parse(text);
        return parsed ? std::string() : parsed.error().message;
      },
      "");
}

}  // namespace

void add_label_flag(CLI::App& app, std::string& label) {
  app.add_option("--label", label,
                 "this instance's name in the --json report and in salvo merge's table (default: "
                 "$JOB_COMPLETION_INDEX if set, else the host name)")
      ->check(CLI::Validator(
          [](std::string& text) {
            return is_valid_label(text) ? std::string()
                                        : "--label '" + text + "': 1 to 64 printable characters, no space";
          },
          ""));
}

bool is_valid_label(std::string_view label) {
  return !label.empty() && label.size() <= 64 &&
         std::all_of(label.begin(), label.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

std::string host_name() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "unknown";
  return name;
}

std::string instance_label(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* index = std::getenv("JOB_COMPLETION_INDEX"); index != nullptr && is_valid_label(index)) return index;
  const std::string host = host_name();
  return is_valid_label(host) ? host : "unknown";
}

void add_start_at_flag(CLI::App& app, std::string& start_at) {
  app.add_option("--start-at", start_at,
                 "set up, then start the load at this wall-clock time: RFC 3339 (2026-12-06T14:00:00.250Z), "
                 "Unix seconds (1796565600.25) or now; at most 24 h ahead. --duration counts from it");
}

void add_common_flags(CLI::App& app, CommonFlags& f, bool server) {
  app.add_option("--backend", f.backend, "I/O backend: auto, io_uring or epoll")
      ->check(parsed_by(parse_backend_kind))
      ->capture_default_str();
  app.add_option("--workers", f.workers, "worker threads (one socket each)")
      ->check(CLI::Range(1u, 1024u))
      ->capture_default_str();
  app.add_option("--cpus", f.cpus, "CPU list to pin workers to, e.g. 0 or 0,2-3");
  app.add_option("--duration", f.duration_s, "stop after this many seconds")->check(CLI::Range(0.0, 1e7));
  if (server) {
    app.add_option("--idle-exit", f.idle_exit_s,
                   "exit this many seconds after the last datagram (or after start if none came)")
        ->check(CLI::Range(0.0, 1e7));
    app.add_option("--latency-budget", f.latency_budget,
                   "longest a datagram may wait for others to share its wake-up: microseconds (0 = off, at most "
                   "10000), adaptive (up to 50 us, held only while batches form) or adaptive:US")
        ->check(parsed_by(parse_latency_budget))
        ->capture_default_str();
  }
  app.add_flag("--json", f.json, "print one JSON object with the results on stdout at exit");
  app.add_option("--batch", f.batch, "datagrams per receive call")->check(CLI::Range(1u, 1024u))->capture_default_str();
  app.add_option("--buffers", f.buffers, "receive buffers per worker (0: 1024, or 64 with --gro)")->check(CLI::Range(0u, 32768u))->capture_default_str();
  app.add_option("--buffer-size", f.buffer_size, "bytes per receive buffer")
      ->check(CLI::Range(1u, 1u << 20))
      ->capture_default_str();
  app.add_option("--rcvbuf", f.rcvbuf, "socket receive buffer (SO_RCVBUF) in bytes")->check(CLI::Range(0, 1 << 30));
  app.add_flag("--busy-poll", f.busy_poll,
               "spin instead of sleeping while traffic flows: lower latency for a whole CPU per worker");
  app.add_option("--busy-poll-idle", f.busy_poll_idle_s,
                 "with --busy-poll: sleep after this many seconds without traffic (0 = never)")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();
  app.add_option("--uring-receive", f.uring_receive,
                 "io_uring receive requests: adaptive (multishot for bursts, single-shot for a ping-pong), "
                 "multishot or single-shot")
      ->check(parsed_by(parse_io_uring_receive))
      ->capture_default_str();
  app.add_option("--sndbuf", f.sndbuf, "socket send buffer (SO_SNDBUF) in bytes")->check(CLI::Range(0, 1 << 30));
}

Result<EngineOptions> to_engine_options(const CommonFlags& f) {
  EngineOptions o;
  // A command ends when its sockets have (blast --count), not only on a signal or --duration.
  o.stop_when_sockets_closed = true;
  auto kind = parse_backend_kind(f.backend);
  if (!kind) return kind.error();
  o.backend = *kind;
  o.workers = f.workers;
  if (!f.cpus.empty()) {
    auto cpus = parse_cpu_list(f.cpus);
    if (!cpus) return cpus.error();
    o.cpus = std::move(*cpus);
  }
  o.batch_size = f.batch;
  o.buffer_count = f.buffers;
  o.buffer_size = f.buffer_size;
  o.socket_receive_buffer = f.rcvbuf;
  o.socket_send_buffer = f.sndbuf;
  o.busy_poll = f.busy_poll;
  o.busy_poll_idle = std::chrono::milliseconds(static_cast<long long>(f.busy_poll_idle_s * 1000));
  auto receive = parse_io_uring_receive(f.uring_receive);
  if (!receive) return receive.error();
  o.io_uring_receive = *receive;
  auto budget = parse_latency_budget(f.latency_budget);
  if (!budget) return budget.error();
  o.latency_budget = *budget;
  return o;
}

std::string check_address(const std::string& text) {
  auto checked = check_endpoint(text);
  return checked ? std::string() : checked.error().message;
}

Result<Address> resolve_flag(const std::string& flag, const std::string& text, Address::Family family) {
  // A numeric address is kept whatever its family: the commands' own checks then name both flags.
  if (auto numeric = Address::parse(text)) return *numeric;
  auto resolved = resolve_endpoint(text, family);
  if (!resolved) return Error{resolved.error().code, flag + ": " + resolved.error().message};
  return resolved;
}

Address::Family peer_family(const std::optional<Address>& source) {
  if (!source || source->family() == Address::Family::none) return Address::Family::none;
  if (source->is_v4() || source->is_v4_mapped()) return Address::Family::v4;
  return source->is_unspecified() ? Address::Family::none : Address::Family::v6;
}

Result<Endpoints> resolve_bind_and_to(const std::string& bind_text, const std::string& to_text) {
  Endpoints e;
  if (!bind_text.empty()) {
    auto b = resolve_flag("--bind", bind_text);
    if (!b) return b.error();
    e.bind = *b;
  }
  auto to = resolve_flag("--to", to_text, peer_family(e.bind));
  if (!to) return to.error();
  e.to = *to;
  return e;
}

}  // namespace salvo::cli
