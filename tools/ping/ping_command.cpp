// salvo ping: open-loop round-trip latency against any UDP echo server, at a fixed rate, with
// loss, duplicates and reordering counted and the latency distribution kept in a mergeable
// histogram (ping_protocol.hpp says how it measures).
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <random>
#include <string>

#include "common/cli_common.hpp"
#include "common/descriptor_limit.hpp"
#include "common/commands.hpp"
#include "common/hgrm.hpp"
#include "common/report.hpp"
#include "common/session.hpp"
#include "common/start_at.hpp"
#include "ping/ping_payload.hpp"
#include "ping/ping_protocol.hpp"
#include "ping/ping_report.hpp"
#include "salvo/salvo.hpp"

namespace salvo::cli {
namespace {

constexpr double max_rate = 10'000'000;  // datagrams per second

struct PingFlags {
  CommonFlags common;
  std::string to;
  std::string bind;
  std::string rate = "1000";  // validated by check_rate; a string so that "abc" gets our message
  std::uint64_t count = 0;
  std::size_t size = 64;
  double linger_s = -1;       // < 0: automatic
  std::string hgrm;
  std::string label;     // --label (instance_label)
  std::string start_at;  // --start-at (start_at.hpp); "" = now
};

std::optional<double> parse_rate(const std::string& text) {
  if (text.empty()) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(text.c_str(), &end);
  if (errno != 0 || end != text.c_str() + text.size() || !std::isfinite(v) || v <= 0 || v > max_rate) {
    return std::nullopt;
  }
  return v;
}

std::string check_rate(const std::string& text) {
  return parse_rate(text) ? std::string()
                          : "'" + text + "' is not a rate: datagrams per second, more than 0 and at most 10000000";
}

std::uint64_t random_token() {
  std::random_device device;
  return (static_cast<std::uint64_t>(device()) << 32) ^ device();
}

int run_ping(const PingFlags& flags) {
  auto options = to_engine_options(flags.common);
  if (!options) return usage_error(options.error().message);
  if (options->workers != 1) {
    return usage_error("ping runs on one worker (--workers 1); for more load run several pings and "
                       "combine their --json results with salvo merge");
  }
  auto endpoints = resolve_bind_and_to(flags.bind, flags.to);
  if (!endpoints) return usage_error(endpoints.error().message);
  const std::optional<Address> bind = endpoints->bind;
  const Address to = endpoints->to;
  if (to.port() == 0) return usage_error("--to " + flags.to + ": destination port cannot be 0");
  const double rate = *parse_rate(flags.rate);  // the flag's check already passed
  if (flags.size < ping_header_size) {
    return usage_error("--size " + std::to_string(flags.size) + ": smaller than the ping header (" +
                       std::to_string(ping_header_size) + " bytes)");
  }
  const std::size_t limit = to.is_v4() || to.is_v4_mapped() ? 65507 : 65527;
  if (flags.size > limit) {
    return usage_error("--size " + std::to_string(flags.size) + ": larger than a UDP datagram to " + flags.to +
                       " can be (" + std::to_string(limit) + ")");
  }
  auto start_at = parse_start_at(flags.start_at.empty() ? "now" : flags.start_at, wall_clock_ns());
  if (!start_at) return usage_error(start_at.error().message);
  if (flags.count == 0 && flags.common.duration_s <= 0) {
    return usage_error("ping needs --count N or --duration S (a load must end by itself)");
  }
  std::uint64_t count = flags.count;
  if (flags.common.duration_s > 0) {
    const double planned = std::floor(rate * flags.common.duration_s);
    if (planned < 1) return usage_error("--duration times --rate is less than one datagram");
    const auto by_duration = planned >= 1.8e19 ? ~std::uint64_t{0} : static_cast<std::uint64_t>(planned);
    count = count == 0 ? by_duration : std::min(count, by_duration);
  }
  Address source = to.is_v4() ? Address::ipv4_any(0) : Address::ipv6_any(0);
  if (bind) {
    source = *bind;
    const bool to_v4 = to.is_v4() || to.is_v4_mapped();
    if (source.is_v4() && !to_v4) return usage_error("--bind " + flags.bind + " is IPv4 but --to " + flags.to + " is IPv6");
    if (source.is_v6() && !source.is_unspecified() && !source.is_v4_mapped() && to_v4) {
      return usage_error("--bind " + flags.bind + " is IPv6 but --to " + flags.to + " is IPv4");
    }
  }
  if (!flags.hgrm.empty()) {
    // Fail before sending anything when the file cannot be written.
    std::FILE* f = std::fopen(flags.hgrm.c_str(), "w");
    if (f == nullptr) return usage_error(Error::from_errno(errno, "--hgrm " + flags.hgrm).message);
    std::fclose(f);
  }

  // Latency, not throughput: wake for every completion instead of waiting to batch them (io_uring),
  // make room for the replies, and deliver oversized datagrams flagged so they count as invalid.
  options->completion_batch = 1;
  options->buffer_size = std::max<std::uint32_t>(options->buffer_size, static_cast<std::uint32_t>(flags.size));
  options->deliver_truncated = true;

  PingPlan plan;
  plan.to = to;
  plan.size = flags.size;
  plan.rate = rate;
  plan.count = count;
  if (flags.linger_s >= 0) {
    plan.linger = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(flags.linger_s));
  }
  plan.token = random_token();
  auto result = std::make_unique<PingResult>();
  LoadStart load_start(1);  // outlives the engine and its protocol

  block_stop_signals();
  auto engine = Engine::create(*options);
  if (!engine) return usage_error(engine.error().message);
  auto bound = (*engine)->listen(source, [&](unsigned) { return std::make_unique<PingProtocol>(plan, *result, load_start); });
  if (!bound) return usage_error(bound.error().message);
  if (auto started = (*engine)->start(); !started) return start_failed(started.error());
  // Set up; the schedule begins when the load starts, at once or at --start-at.
  SessionResult session;
  if (!start_at->now) {
    std::fprintf(stderr, "salvo ping: set up, starting at %s\n", format_rfc3339_us(start_at->unix_ns).c_str());
  }
  const std::optional<std::chrono::steady_clock::time_point> start = wait_for_start(*start_at);
  if (!start) {
    session.interrupted = true;  // stopped before the start: nothing was sent
    (*engine)->stop();
    (*engine)->wait();
  } else {
    if (auto opened = load_start.open(**engine, *start); !opened) {
      return start_failed(opened.error());
    }
    // The protocol ends the run itself (schedule, then linger); the session only watches signals.
    CommonFlags session_flags = flags.common;
    session_flags.duration_s = 0;
    session = run_session(**engine, session_flags);
  }
  const std::int64_t end_unix_ns = wall_clock_ns();

  const double linger_s = std::chrono::duration<double>(result->linger).count();
  print_summary("ping", **engine, session);
  const std::string summary = ping_summary_text(to.to_string(), result->counts, result->latency,
                                                result->all_sent ? linger_s : -1);
  std::fputs(summary.c_str(), flags.common.json ? stderr : stdout);
  if (flags.common.json) {
    nlohmann::json j = session_json("ping", **engine, session);
    j["to"] = to.to_string();
    j["bind"] = bound->to_string();
    j["size"] = flags.size;
    j["rate"] = rate;
    j["requested_count"] = count;
    j["all_sent"] = result->all_sent;
    j["linger_s"] = linger_s;
    nlohmann::json load;
    load["to"] = to.to_string();
    load["size"] = flags.size;
    load["rate"] = rate;
    load["count"] = flags.count;
    load["duration_s"] = flags.common.duration_s;
    load["linger_s"] = flags.linger_s < 0 ? nlohmann::json("auto") : nlohmann::json(flags.linger_s);
    load["workers"] = 1;
    const std::int64_t began = load_start.began_unix_ns();
    add_instance_json(j, RunInstance{host_name(), instance_label(flags.label), began != 0 ? began : end_unix_ns, end_unix_ns},
                      std::move(load));
    j["ping"] = ping_results_json(result->counts, result->latency);
    std::printf("%s\n", j.dump().c_str());
  }
  std::fflush(stdout);
  if (!flags.hgrm.empty()) {
    const std::string comment = "salvo ping " + to.to_string() + ": round-trip latency from the scheduled send time\n"
                                "values in microseconds (us); " + std::to_string(result->latency.total()) + " replies";
    if (auto written = write_hgrm_file(flags.hgrm, result->latency, comment); !written) {
      std::fprintf(stderr, "salvo: %s\n", written.error().message.c_str());
      return 1;
    }
  }
  return 0;
}

}  // namespace

Command add_ping_command(CLI::App& app) {
  auto flags = std::make_shared<PingFlags>();
  CLI::App* sub = app.add_subcommand("ping", "open-loop round-trip latency against a UDP echo server");
  sub->add_option("--to", flags->to, "the echo server, e.g. 127.0.0.1:9000, [::1]:9000 or localhost:9000")->required()->check(check_address);
  sub->add_option("--rate", flags->rate, "datagrams per second (open loop, on a fixed schedule)")
      ->check(check_rate)
      ->capture_default_str();
  sub->add_option("--count", flags->count, "datagrams to send")->check(CLI::Range(std::uint64_t{1}, ~std::uint64_t{0} - 1));
  sub->add_option("--size", flags->size, "payload bytes per datagram (at least the 32-byte header)")
      ->check(CLI::Range(0, 65527))
      ->capture_default_str();
  sub->add_option("--linger", flags->linger_s,
                  "seconds to wait for replies after the last send (default: 3 x the largest latency seen, "
                  "1 to 10 s); later replies count as lost")
      ->check(CLI::Range(0.0, 3600.0));
  sub->add_option("--hgrm", flags->hgrm, "write the latency distribution to this file in HdrHistogram's .hgrm format");
  sub->add_option("--bind", flags->bind, "source address (default: any, ephemeral port)")->check(check_address);
  add_start_at_flag(*sub, flags->start_at);
  add_label_flag(*sub, flags->label);
  add_common_flags(*sub, flags->common, /*server=*/false);
  return [flags] { return run_ping(*flags); };
}

}  // namespace salvo::cli
