// salvo sink and salvo echo: the two servers. sink counts and discards; echo sends every datagram
// back to its sender, batched (one flush per received batch), but for what EchoRules turns away
// (echo_rules.hpp: sources on well-known ports, and peers that send back echo's own reply, which
// is how a loop between two servers looks). echo --sockperf answers sockperf clients as sockperf's
// own server does (sockperf_echo.hpp). echo --flood-guard puts a FloodGuard
// (salvo/flood_guard.hpp) in front: per-source rate limit, and replies through the guard's budget.
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/cli_common.hpp"
#include "common/descriptor_limit.hpp"
#include "common/commands.hpp"
#include "common/report.hpp"
#include "common/session.hpp"
#include "common/start_at.hpp"
#include "salvo/salvo.hpp"
#include "servers/echo_rules.hpp"
#include "servers/metrics_file.hpp"
#include "servers/sink_metadata.hpp"
#include "servers/sockperf_echo.hpp"

namespace salvo::cli {
namespace {

class SinkProtocol final : public Protocol {
 public:
  void on_datagrams(std::span<const Datagram>, Transport&) override {}  // the counters say it all
};

// How an echo's reply leaves; each returns true when the reply was queued (refusals are counted
// by the engine, or by the guard, and by EchoRules as not_sent).
struct ToSender {  // plain echo
  bool operator()(const Datagram& d, Transport& t) const noexcept { return t.send(d.payload, d.peer) == SendResult::queued; }
};
struct FromArrival {  // --reply-from-arrival: from the address the request was sent to
  bool operator()(const Datagram& d, Transport& t) const noexcept { return t.reply(d, d.payload) == SendResult::queued; }
};
struct ThroughGuard {  // --flood-guard: never more bytes to a source than it sent (an echo always
                       // fits; a spoofed source gets only its own datagram back)
  FloodGuard* guard;
  bool operator()(const Datagram& d, Transport& t) const noexcept {
    return guard->send(d.payload, d.peer, t) == GuardedSend::queued;
  }
};

template <class Reply>
class EchoProtocol final : public Protocol {
 public:
  EchoProtocol(const EchoRulesOptions& rules, EchoStats& stats, Reply reply) : rules_(rules, stats), reply_(reply) {}
  void on_datagrams(std::span<const Datagram> batch, Transport& transport) override {
    const auto now = std::chrono::steady_clock::now();  // once per batch: the rules' clock
    for (const Datagram& d : batch) rules_.echo(d, now, [&] { return reply_(d, transport); });
  }

 private:
  EchoRules rules_;
  Reply reply_;
};

struct ServerFlags {
  CommonFlags common;
  std::string bind;
  std::string metrics;  // --metrics FILE (metrics_file.hpp)
  bool sockperf = false;  // echo only
  bool reply_from_arrival = false;  // echo only: EngineOptions::receive_destination + Transport::reply
  bool gro = false;       // sink only: EngineOptions::gro
  bool metadata = false;  // sink only: destination, traffic class and timestamps per datagram
  bool flood_guard = false;  // echo only
  FloodGuardOptions guard;
  EchoRulesOptions rules;    // echo only (--sockperf takes answer_low_ports alone)
  double loop_window_s = 1;  // echo only: rules.loop_window
  std::string label;         // --label (instance_label)
};

// What a server adds to the common run: its protocols, and optionally its own report fields and
// summary lines (read after the engine has stopped).
struct ServerParts {
  ProtocolFactory factory;
  std::function<void(nlohmann::json&)> add_json;
  std::function<void()> print_summary;
};

using PartsMaker = std::function<ServerParts(const ServerFlags&, const EngineOptions&)>;

int run_server(const char* name, const ServerFlags& flags, const PartsMaker& make_parts) {
  auto options = to_engine_options(flags.common);
  if (!options) return usage_error(options.error().message);
  options->gro = flags.gro;
  if (flags.metadata) {
    options->receive_destination = true;
    options->receive_traffic_class = true;
    options->timestamps = EngineOptions::Timestamps::software;
  }
  if (flags.reply_from_arrival) options->receive_destination = true;
  auto bind = resolve_flag("--bind", flags.bind);
  if (!bind) return usage_error(bind.error().message);
  if (auto writable = check_metrics_path(flags.metrics); !writable) return usage_error(writable.error().message);
  const ServerParts parts = make_parts(flags, *options);

  block_stop_signals();
  auto engine = Engine::create(*options);
  if (!engine) return usage_error(engine.error().message);
  auto bound = (*engine)->listen(*bind, parts.factory);
  if (!bound) return usage_error(bound.error().message);
  if (auto started = (*engine)->start(); !started) return start_failed(started.error());
  std::fprintf(stderr, "salvo %s: listening on %s (%s)\n", name, bound->to_string().c_str(),
               (*engine)->backend().reason.c_str());
  auto metrics = start_metrics_file(flags.metrics, **engine, name);  // declared after the engine: stops first
  if (!metrics) {
    // The engine serves already; it stops, and its summary is not printed, as for any start failure.
    (*engine)->stop();
    (*engine)->wait();
    return start_failed(metrics.error());
  }
  const std::int64_t start_unix_ns = wall_clock_ns();
  const SessionResult session = run_session(**engine, flags.common);
  const std::int64_t end_unix_ns = wall_clock_ns();
  if (*metrics) (*metrics)->finish();  // the final counters
  print_summary(name, **engine, session);
  if (parts.print_summary) parts.print_summary();
  if (flags.common.json) {
    nlohmann::json j = session_json(name, **engine, session);
    j["bind"] = bound->to_string();
    // A server shapes no load; what it was asked to serve is what merge compares.
    nlohmann::json load;
    load["bind"] = flags.bind;
    load["workers"] = options->workers;
    load["gro"] = flags.gro;
    add_instance_json(j, RunInstance{host_name(), instance_label(flags.label), start_unix_ns, end_unix_ns},
                      std::move(load));
    if (parts.add_json) parts.add_json(j);
    std::printf("%s\n", j.dump().c_str());
    std::fflush(stdout);
  }
  return 0;
}

CLI::App* add_server(CLI::App& app, const char* name, const char* description, ServerFlags& flags) {
  CLI::App* sub = app.add_subcommand(name, description);
  sub->add_option("--bind", flags.bind, "address to listen on, e.g. 127.0.0.1:9000, [::1]:9000 or localhost:9000")
      ->required()
      ->check(check_address);
  add_common_flags(*sub, flags.common, /*server=*/true);
  add_label_flag(*sub, flags.label);
  sub->add_option("--metrics", flags.metrics,
                  "write the counters to FILE every second in Prometheus text format (node_exporter's textfile collector)");
  return sub;
}

ServerParts plain_parts(std::function<std::unique_ptr<Protocol>()> make) {
  ServerParts parts;
  parts.factory = [make = std::move(make)](unsigned) { return make(); };
  return parts;
}

// echo --sockperf: one SockperfStats per worker, summed into the report at exit.
ServerParts sockperf_parts(const EngineOptions& options, bool answer_low_ports) {
  auto stats = std::make_shared<std::vector<SockperfStats>>(options.workers);
  const std::size_t max_datagram = options.buffer_size;
  ServerParts parts;
  parts.factory = [stats, max_datagram, answer_low_ports](unsigned worker) {
    return std::make_unique<SockperfEchoProtocol>((*stats)[worker], max_datagram, answer_low_ports);
  };
  auto total = [stats] {
    SockperfStats sum;
    for (const SockperfStats& s : *stats) sum += s;
    return sum;
  };
  parts.add_json = [total](nlohmann::json& j) { j["sockperf"] = sockperf_stats_json(total()); };
  parts.print_summary = [total] {
    const SockperfStats s = total();
    std::fprintf(stderr,
                 "  sockperf: %llu client messages, %llu answered (pong requested), %llu not answered; ignored: "
                 "%llu warm-up, %llu not from a client, %llu malformed, %llu well-known source port (< 1024); "
                 "%llu replies refused by the send queue\n",
                 static_cast<unsigned long long>(s.messages), static_cast<unsigned long long>(s.replies),
                 static_cast<unsigned long long>(s.no_reply), static_cast<unsigned long long>(s.warmup),
                 static_cast<unsigned long long>(s.not_client), static_cast<unsigned long long>(s.invalid),
                 static_cast<unsigned long long>(s.low_port), static_cast<unsigned long long>(s.reply_failed));
  };
  return parts;
}

// echo --flood-guard: the guards' counters, summed into the report at exit.
ServerParts guarded_parts(const FloodGuardOptions& options, GuardedProtocolFactory inner) {
  auto monitor = std::make_shared<FloodGuardMonitor>();
  auto factory = flood_guarded(options, std::move(inner), monitor);
  ServerParts parts;
  parts.factory = factory ? *factory : ProtocolFactory{};
  parts.add_json = [monitor](nlohmann::json& j) {
    const FloodGuardStats s = monitor->stats();
    nlohmann::json g;
#define SALVO_FLOOD_GUARD_JSON(name, help) g[#name] = s.name;
    SALVO_FLOOD_GUARD_COUNTERS(SALVO_FLOOD_GUARD_JSON)
#undef SALVO_FLOOD_GUARD_JSON
    g["tracked"] = s.tracked;
    g["capacity"] = s.capacity;
    j["flood_guard"] = g;
  };
  parts.print_summary = [monitor] {
    const FloodGuardStats s = monitor->stats();
    std::fprintf(stderr,
                 "  flood guard: %llu datagrams, %llu admitted, %llu rate limited; %llu replies, %llu over budget; "
                 "%llu sources tracked of %llu, %llu evictions\n",
                 static_cast<unsigned long long>(s.datagrams), static_cast<unsigned long long>(s.admitted),
                 static_cast<unsigned long long>(s.rate_limited), static_cast<unsigned long long>(s.replies),
                 static_cast<unsigned long long>(s.over_budget), static_cast<unsigned long long>(s.tracked),
                 static_cast<unsigned long long>(s.capacity), static_cast<unsigned long long>(s.evictions));
  };
  return parts;
}

// echo (all but --sockperf): one EchoStats per worker, summed into the report at exit ("echo" in
// --json, an "echo:" line in the summary), beside the guard's with --flood-guard.
ServerParts echo_parts(const ServerFlags& f, const EngineOptions& options) {
  auto stats = std::make_shared<std::vector<EchoStats>>(options.workers);
  const EchoRulesOptions rules = f.rules;
  ServerParts parts;
  if (f.reply_from_arrival) {
    parts.factory = [stats, rules](unsigned worker) {
      return std::make_unique<EchoProtocol<FromArrival>>(rules, (*stats)[worker], FromArrival{});
    };
  } else if (f.flood_guard) {
    parts = guarded_parts(f.guard, [stats, rules](unsigned worker, FloodGuard& guard) {
      return std::make_unique<EchoProtocol<ThroughGuard>>(rules, (*stats)[worker], ThroughGuard{&guard});
    });
  } else {
    parts.factory = [stats, rules](unsigned worker) {
      return std::make_unique<EchoProtocol<ToSender>>(rules, (*stats)[worker], ToSender{});
    };
  }
  auto total = [stats] {
    EchoStats sum;
    for (const EchoStats& s : *stats) sum += s;
    return sum;
  };
  parts.add_json = [total, more = std::move(parts.add_json)](nlohmann::json& j) {
    j["echo"] = echo_stats_json(total());
    if (more) more(j);
  };
  parts.print_summary = [total, more = std::move(parts.print_summary)] {
    std::fprintf(stderr, "%s\n", echo_stats_line(total()).c_str());
    if (more) more();
  };
  return parts;
}

}  // namespace

// sink --metadata: one SinkMetadataStats per worker, summed into the report at exit.
ServerParts metadata_sink_parts(const EngineOptions& options) {
  auto stats = std::make_shared<std::vector<SinkMetadataStats>>(options.workers);
  ServerParts parts;
  parts.factory = [stats](unsigned worker) { return make_metadata_sink((*stats)[worker]); };
  auto total = [stats] {
    SinkMetadataStats sum;
    for (const SinkMetadataStats& s : *stats) sum += s;
    return sum;
  };
  parts.add_json = [total](nlohmann::json& j) { j["metadata"] = sink_metadata_json(total()); };
  parts.print_summary = [total] { std::fprintf(stderr, "%s\n", sink_metadata_line(total()).c_str()); };
  return parts;
}

Command add_sink_command(CLI::App& app) {
  auto flags = std::make_shared<ServerFlags>();
  CLI::App* sub = add_server(app, "sink", "count and discard datagrams", *flags);
  sub->add_flag("--gro", flags->gro,
                "take UDP GRO: the kernel may hand over several datagrams of one sender as one (counted as "
                "datagrams; every receive buffer then holds 64 KiB)");
  sub->add_flag("--metadata", flags->metadata,
                "read each datagram's destination, interface, ECN / traffic class and kernel timestamp, and "
                "report them (also in --json)");
  return [flags] {
    return run_server("sink", *flags, [](const ServerFlags& f, const EngineOptions& options) {
      if (f.metadata) return metadata_sink_parts(options);
      return plain_parts([] { return std::make_unique<SinkProtocol>(); });
    });
  };
}

Command add_echo_command(CLI::App& app) {
  auto flags = std::make_shared<ServerFlags>();
  CLI::App* sub = add_server(app, "echo", "send every datagram back to its sender (not to a well-known port, nor around a loop)",
                             *flags);
  sub->add_flag("--sockperf", flags->sockperf,
                "answer sockperf clients as sockperf's server does: only messages that request a pong, "
                "client flag cleared");
  sub->add_flag("--reply-from-arrival", flags->reply_from_arrival,
                "send each reply from the address its request was sent to (IP_PKTINFO), for a server bound "
                "to the wildcard on a host with several addresses");
  sub->add_flag("--answer-low-ports", flags->rules.answer_low_ports,
                "answer sources whose port is below 1024 too; by default they are ignored (counted): those "
                "are services' ports, and two services that answer each other loop forever");
  sub->add_option("--loop-window", flags->loop_window_s,
                  "seconds echo remembers its first reply to a peer: a peer that sends those very bytes back "
                  "within them a second time is in a loop, and gets no answer for as long again (0: no loop "
                  "rule; not with --sockperf, whose replies are never answered anyway)")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();
  sub->add_flag("--flood-guard", flags->flood_guard,
                "per-source rate limit and no reply larger than what the source sent (salvo/flood_guard.hpp)");
  sub->add_option("--guard-rate", flags->guard.rate, "flood guard: datagrams per second per source (a prefix)")
      ->check(CLI::Range(1u, 1'000'000'000u))
      ->capture_default_str();
  sub->add_option("--guard-burst", flags->guard.burst, "flood guard: datagrams per source (a prefix) back to back")
      ->check(CLI::Range(1u, 1'000'000'000u))
      ->capture_default_str();
  sub->add_option("--guard-ipv4-prefix", flags->guard.ipv4_prefix,
                  "flood guard: the leading bits of an IPv4 address that make one source, whatever its port "
                  "(32: each address)")
      ->check(CLI::Range(0u, 32u))
      ->capture_default_str();
  sub->add_option("--guard-ipv6-prefix", flags->guard.ipv6_prefix,
                  "flood guard: the leading bits of an IPv6 address that make one source, whatever its port "
                  "(128: each address)")
      ->check(CLI::Range(0u, 128u))
      ->capture_default_str();
  sub->add_option("--guard-table", flags->guard.table_entries, "flood guard: sources tracked per worker (a power of two)")
      ->capture_default_str();
  return [flags] {
    if (flags->flood_guard && flags->sockperf) return usage_error("--flood-guard and --sockperf do not go together");
    if (flags->flood_guard) {
      if (auto ok = check_flood_guard_options(flags->guard); !ok) return usage_error(ok.error().message);
    }
    flags->rules.loop_window =
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(flags->loop_window_s));
    return run_server("echo", *flags, [](const ServerFlags& f, const EngineOptions& options) {
      if (f.sockperf) return sockperf_parts(options, f.rules.answer_low_ports);
      return echo_parts(f, options);
    });
  };
}

int usage_error(const std::string& message) {
  std::fprintf(stderr, "salvo: %s\n", message.c_str());
  return 2;
}

}  // namespace salvo::cli
