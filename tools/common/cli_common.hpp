// Flags every salvo subcommand shares, and their translation into EngineOptions.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "salvo/engine.hpp"

namespace salvo::cli {

struct CommonFlags {
  std::string backend = "auto";
  unsigned workers = 1;
  std::string cpus;            // "" = no pinning
  double duration_s = 0;       // 0 = until stopped
  double idle_exit_s = 0;      // servers: exit this long after the last datagram; 0 = never
  bool json = false;
  std::uint32_t batch = 64;
  std::uint32_t buffers = 0;  // 0: the engine's choice (1024, or 64 with --gro)
  std::uint32_t buffer_size = 2048;
  int rcvbuf = 0;
  int sndbuf = 0;
  bool busy_poll = false;
  double busy_poll_idle_s = 1.0;
  std::string uring_receive = "adaptive";  // EngineOptions::io_uring_receive
  std::string latency_budget = "0";        // EngineOptions::latency_budget (servers only)
};

// Adds the shared flags to a subcommand. `server` adds --idle-exit and --latency-budget.
void add_common_flags(CLI::App& app, CommonFlags& flags, bool server);

// --label NAME: the instance's name in its --json report and in merge's table, for commands that
// report (blast, ping, sink, echo). 1 to 64 printable ASCII characters, no space.
void add_label_flag(CLI::App& app, std::string& label);
// The label a report carries: --label if given, else Kubernetes' JOB_COMPLETION_INDEX (an Indexed
// Job's pod number) if set and valid, else the host name.
std::string instance_label(const std::string& flag);
// Whether `label` is one --label accepts (merge checks reports' labels with it too).
bool is_valid_label(std::string_view label);
// This machine's host name (gethostname), or "unknown".
std::string host_name();

// --start-at TIME (start_at.hpp) for the sending commands; checked when the command runs, against
// the clock then.
void add_start_at_flag(CLI::App& app, std::string& start_at);

// Validates what CLI11 cannot (backend names, CPU lists) and builds the engine's options.
Result<EngineOptions> to_engine_options(const CommonFlags& flags);

// CLI11 check for HOST:PORT arguments: numeric ("127.0.0.1:9000", "[::1]:9000") or NAME:PORT. The
// syntax only: names are looked up once, by resolve_flag() when the command runs.
std::string check_address(const std::string& text);

// The address of a HOST:PORT flag that check_address passed: a numeric one as written, a name
// through the system resolver (its first answer of `family`; Family::none takes either). A name
// that does not resolve is an error naming the flag and the host, for usage_error().
Result<Address> resolve_flag(const std::string& flag, const std::string& text,
                             Address::Family family = Address::Family::none);

// The family of the peers a socket bound to `source` can reach: IPv4 from an IPv4 or v4-mapped
// address, IPv6 from another IPv6 one, either from the dual-stack "::" or when nothing is bound.
Address::Family peer_family(const std::optional<Address>& source);

// A sender's --bind (optional) and --to, looked up in that order, so that a --to name resolves to
// an address of the family the source can reach. Errors name the flag.
struct Endpoints {
  std::optional<Address> bind;
  Address to;
};
Result<Endpoints> resolve_bind_and_to(const std::string& bind_text, const std::string& to_text);

}  // namespace salvo::cli
