// dns_server: an authoritative DNS server (--zone) or a forwarder (--forward) on salvo, over UDP.
// See examples/dns/README.md for the behaviour and a dig session against each mode.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/cli_common.hpp"
#include "common/descriptor_limit.hpp"
#include "common/report.hpp"
#include "common/session.hpp"
#include "dns_authority.hpp"
#include "dns_counters.hpp"
#include "dns_forwarder.hpp"
#include "dns_zone.hpp"
#include "salvo/engine.hpp"
#include "salvo/flood_guard.hpp"
#include "salvo/metrics.hpp"
#include "servers/metrics_file.hpp"

namespace {

using salvo::cli::CommonFlags;

struct Flags {
  CommonFlags common;
  std::string bind;
  std::vector<std::string> zones;
  std::string forward;
  unsigned timeout_ms = 1000;
  unsigned retries = 2;
  std::uint32_t max_in_flight = 1024;
  std::uint32_t rrl = 0;  // answers per second per source prefix; 0 = off
  std::uint16_t max_udp_payload = 1232;
  std::uint32_t answer_cache = 16384;  // slots per worker (512 bytes each)
  std::string metrics;
};

int usage_error(const std::string& message) {
  std::fprintf(stderr, "dns_server: %s\n", message.c_str());
  return 2;
}

// Every worker's counters, for the reports; the engine's, labelled, beside them in --metrics.
struct WorkerCounters {
  explicit WorkerCounters(unsigned workers) : count(workers), cells(new dns::DnsCounters[workers]) {}
  std::vector<dns::DnsStats> per_worker() const {
    std::vector<dns::DnsStats> stats;
    for (unsigned w = 0; w < count; ++w) stats.push_back(cells[w].snapshot());
    return stats;
  }
  dns::DnsStats total() const {
    dns::DnsStats sum;
    for (const dns::DnsStats& s : per_worker()) sum += s;
    return sum;
  }
  unsigned count;
  std::unique_ptr<dns::DnsCounters[]> cells;
};

nlohmann::json stats_json(const dns::DnsStats& s) {
  nlohmann::json j;
#define SALVO_DNS_JSON(name, help) j[#name] = s.name;
  SALVO_DNS_COUNTERS(SALVO_DNS_JSON)
#undef SALVO_DNS_JSON
  return j;
}

void print_dns_summary(const dns::DnsStats& s) {
  std::fprintf(stderr,
               "  dns: %llu queries; answers: %llu NOERROR, %llu NXDOMAIN, %llu SERVFAIL, %llu FORMERR, %llu NOTIMP, "
               "%llu REFUSED, %llu BADVERS, %llu other, %llu truncated; dropped: %llu short, %llu responses, "
               "%llu refused by the send queue\n",
               static_cast<unsigned long long>(s.queries), static_cast<unsigned long long>(s.noerror),
               static_cast<unsigned long long>(s.nxdomain), static_cast<unsigned long long>(s.servfail),
               static_cast<unsigned long long>(s.formerr), static_cast<unsigned long long>(s.notimp),
               static_cast<unsigned long long>(s.refused), static_cast<unsigned long long>(s.badvers),
               static_cast<unsigned long long>(s.other_rcode), static_cast<unsigned long long>(s.truncated),
               static_cast<unsigned long long>(s.dropped_short), static_cast<unsigned long long>(s.dropped_response),
               static_cast<unsigned long long>(s.dropped_send));
  if (s.forwarded == 0 && s.in_flight_full == 0 && s.upstream_open_failed == 0) return;
  std::fprintf(stderr,
               "  upstream: %llu forwarded, %llu retransmits, %llu gave up, %llu mismatched replies dropped, "
               "%llu port unreachable, %llu in-flight table full, %llu sockets not opened; at the end: %llu given up "
               "at the drain, %llu unanswered\n",
               static_cast<unsigned long long>(s.forwarded), static_cast<unsigned long long>(s.retransmits),
               static_cast<unsigned long long>(s.upstream_timeouts),
               static_cast<unsigned long long>(s.upstream_mismatched),
               static_cast<unsigned long long>(s.upstream_refused), static_cast<unsigned long long>(s.in_flight_full),
               static_cast<unsigned long long>(s.upstream_open_failed),
               static_cast<unsigned long long>(s.given_up_at_drain),
               static_cast<unsigned long long>(s.unanswered_at_stop));
}

int run(const Flags& flags) {
  if (flags.zones.empty() == flags.forward.empty()) return usage_error("give either --zone FILE or --forward HOST:PORT");
  auto options = salvo::cli::to_engine_options(flags.common);
  if (!options) return usage_error(options.error().message);
  auto bind = salvo::cli::resolve_flag("--bind", flags.bind);
  if (!bind) return usage_error(bind.error().message);
  if (auto writable = salvo::cli::check_metrics_path(flags.metrics); !writable) {
    return usage_error(writable.error().message);
  }
  if (flags.max_udp_payload < 512) return usage_error("--max-udp-payload must be at least 512");

  dns::ZoneSet zones;
  for (const std::string& zone : flags.zones) {
    // ORIGIN=FILE names the zone for a file that does not say it ($ORIGIN), as NSD's and Knot's
    // configurations do; a plain FILE takes its $ORIGIN or its first owner name.
    const std::size_t equals = zone.find('=');
    const bool named = equals != std::string::npos && zone.find('/') > equals;
    const std::string path = named ? zone.substr(equals + 1) : zone;
    const std::string origin = named ? zone.substr(0, equals) : std::string();
    if (std::string error = zones.add_file(path, origin); !error.empty()) return usage_error(error);
  }
  dns::ForwarderOptions forwarding;
  if (!flags.forward.empty()) {
    auto upstream = salvo::cli::resolve_flag("--forward", flags.forward);
    if (!upstream) return usage_error(upstream.error().message);
    forwarding.upstream = *upstream;
    forwarding.timeout = std::chrono::milliseconds(flags.timeout_ms);
    forwarding.retries = flags.retries;
    forwarding.max_in_flight = flags.max_in_flight;
  }
  dns::ResponseLimits limits;
  limits.max_udp_payload = flags.max_udp_payload;
  // A datagram that does not fit a receive buffer arrives truncated and is dropped: every size
  // this server answers with, or asks an upstream for, must fit.
  options->buffer_size = std::max<std::uint32_t>(options->buffer_size, flags.max_udp_payload);
  limits.advertised_udp_payload = flags.max_udp_payload;

  WorkerCounters counters(options->workers);
  salvo::ProtocolFactory factory;
  std::shared_ptr<salvo::FloodGuardMonitor> monitor;
  if (!flags.forward.empty()) {
    factory = [&](unsigned worker) {
      return std::make_unique<dns::ForwarderProtocol>(forwarding, limits, counters.cells[worker]);
    };
  } else if (flags.rrl == 0) {
    factory = [&](unsigned worker) {
      return std::make_unique<dns::AuthorityProtocol>(zones, limits, counters.cells[worker], nullptr,
                                                      flags.answer_cache);
    };
  } else {
    // Response rate limiting on the flood guard: each source prefix (/24, /56) gets --rrl answers per
    // second. Answers are larger than queries by design, so the guard's byte budget is set above the
    // largest ratio (a 1232-byte answer to a 17-byte query) and the rate is what limits.
    salvo::FloodGuardOptions guard;
    guard.rate = flags.rrl;
    guard.burst = flags.rrl;
    guard.reply_factor = 80;
    monitor = std::make_shared<salvo::FloodGuardMonitor>();
    auto guarded = salvo::flood_guarded(
        guard,
        [&](unsigned worker, salvo::FloodGuard& g) {
          return std::make_unique<dns::AuthorityProtocol>(zones, limits, counters.cells[worker], &g,
                                                      flags.answer_cache);
        },
        monitor);
    if (!guarded) return usage_error("--rrl: " + guarded.error().message);
    factory = *guarded;
  }

  salvo::cli::block_stop_signals();
  auto engine = salvo::Engine::create(*options);
  if (!engine) return usage_error(engine.error().message);
  auto bound = (*engine)->listen(*bind, factory);
  if (!bound) return usage_error(bound.error().message);
  if (auto started = (*engine)->start(); !started) return salvo::cli::start_failed(started.error());
  const std::string mode = flags.forward.empty()
                               ? "authoritative for " + std::to_string(zones.zone_count()) + " zones"
                               : "forwarding to " + forwarding.upstream.to_string();
  std::fprintf(stderr, "dns_server: answering on %s (%s), %s\n", bound->to_string().c_str(), mode.c_str(),
               (*engine)->backend().reason.c_str());

  std::unique_ptr<salvo::cli::MetricsFileWriter> metrics;
  if (!flags.metrics.empty()) {
    salvo::PrometheusOptions labels;
    labels.labels = {{"command", "dns_server"}, {"backend", std::string(to_string((*engine)->backend().kind))}};
    const salvo::Engine& e = **engine;
    auto started = salvo::cli::MetricsFileWriter::start(flags.metrics, [&e, labels, &counters] {
      return salvo::prometheus_text(e.worker_counters(), labels) + dns::dns_prometheus_text(counters.per_worker());
    });
    if (!started) {
      (*engine)->stop();
      (*engine)->wait();
      return salvo::cli::start_failed(started.error());
    }
    metrics = std::move(*started);
  }
  const salvo::cli::SessionResult session = salvo::cli::run_session(**engine, flags.common);
  if (metrics) metrics->finish();
  const dns::DnsStats total = counters.total();
  salvo::cli::print_summary("dns_server", **engine, session);
  print_dns_summary(total);
  if (flags.common.json) {
    nlohmann::json j = salvo::cli::session_json("dns_server", **engine, session);
    j["bind"] = bound->to_string();
    j["mode"] = flags.forward.empty() ? "authoritative" : "forwarder";
    j["dns"] = stats_json(total);
    if (monitor) {
      const salvo::FloodGuardStats g = monitor->stats();
      j["rrl"] = {{"admitted", g.admitted}, {"rate_limited", g.rate_limited}, {"over_budget", g.over_budget}};
    }
    std::printf("%s\n", j.dump().c_str());
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  salvo::cli::raise_descriptor_limit();  // the forwarder opens a socket per query in flight
  Flags flags;
  CLI::App app{"dns_server: an authoritative DNS server (--zone) or a forwarder (--forward) on salvo", "dns_server"};
  app.add_option("--bind", flags.bind, "address to answer on, e.g. 127.0.0.1:5300 or [::1]:53")
      ->required()
      ->check(salvo::cli::check_address);
  app.add_option("--zone", flags.zones,
                 "[ORIGIN=]FILE: an RFC 1035 master file to serve, its zone named by ORIGIN, else by its $ORIGIN or "
                 "first owner (repeatable)");
  app.add_option("--forward", flags.forward, "forward every query to this server (HOST:PORT)")
      ->check(salvo::cli::check_address);
  app.add_option("--timeout", flags.timeout_ms, "forwarder: milliseconds to wait for each try")
      ->check(CLI::Range(1u, 60000u));
  app.add_option("--retries", flags.retries, "forwarder: tries after the first before SERVFAIL")
      ->check(CLI::Range(0u, 10u));
  app.add_option("--max-in-flight", flags.max_in_flight, "forwarder: queries in flight per worker (then SERVFAIL)")
      ->check(CLI::Range(1u, 65536u));
  app.add_option("--rrl", flags.rrl,
                 "authoritative: answers per second per source prefix (/24, /56); excess queries are dropped; 0 = off")
      ->check(CLI::Range(0u, 10000000u));
  app.add_option("--max-udp-payload", flags.max_udp_payload,
                 "largest answer to an EDNS query, and the size advertised (512-65535)")
      ->check(CLI::Range(512, 65535));
  app.add_option("--answer-cache", flags.answer_cache,
                 "authoritative: answers kept per worker to be copied when asked again (512 bytes each; 0 = none)")
      ->check(CLI::Range(0u, 1u << 20));
  app.add_option("--metrics", flags.metrics, "write the counters to FILE every second in Prometheus text format");
  salvo::cli::add_common_flags(app, flags.common, /*server=*/true);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string message = e.what();
    for (char& c : message) {
      if (c == '\n') c = ' ';
    }
    return usage_error(message);
  } catch (const std::exception& e) {
    return usage_error(e.what());  // CLI11's number conversions may throw std::out_of_range
  }
  return run(flags);
}
