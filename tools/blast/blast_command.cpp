// salvo blast: the load generator. Sends datagrams to one destination from --flows source ports
// (each flow is one listen() on port 0; with several workers, each worker has a socket in every
// flow's SO_REUSEPORT group and sends a share of it), for a count or a duration, as fast as the
// sockets take them or paced at --rate.
//
// Every socket is one BlastSender. Unpaced, it refills its send queue from on_writable, so the rate
// is bounded by the kernel, not by salvo. Paced, it sends what its token bucket allows (never more
// than --burst back to back) and defers on_writable to when the next tokens are due
// (Transport::defer_writable), so the worker sleeps in between instead of spinning. Counts and
// rates are split exactly over the sockets; all of them share one start time (the epoch), so the
// paced ones wake together and the run's end is the same for all. The senders wait for that start
// (LoadStart): the engine is up and every socket bound before it, at once or at --start-at.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "blast/blast_plan.hpp"
#include "blast/progress.hpp"
#include "common/cli_common.hpp"
#include "common/descriptor_limit.hpp"
#include "common/commands.hpp"
#include "common/load_start.hpp"
#include "common/pacer.hpp"
#include "common/report.hpp"
#include "common/seeded_random.hpp"
#include "common/session.hpp"
#include "common/start_at.hpp"
#include "salvo/salvo.hpp"

namespace salvo::cli {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::uint64_t unlimited = ~std::uint64_t{0};

// What every sender shares; written by the controlling thread before the load starts
// (LoadStart::open, which posts to the workers), read-only after.
struct BlastPlan {
  Address to;
  SizeRange sizes;
  std::uint64_t seed = 1;
  std::uint64_t rate = 0;  // total datagrams per second; 0 = as fast as possible
  std::uint64_t burst = 0; // per socket; 0 = Pacer::default_burst
  std::uint64_t senders = 1;
  SteadyTime end = SteadyTime::max();
  SendOptions how;  // --tos: the traffic class of every datagram
};

class BlastSender final : public Protocol, public LoadStart::Sender {
 public:
  // `behind` collects, over every sender, the datagrams its pacer had due but did not send.
  BlastSender(const BlastPlan& plan, std::uint64_t count, std::uint64_t stream, std::atomic<std::uint64_t>& behind,
              LoadStart& start, unsigned worker)
      : plan_(plan), payload_(std::max<std::size_t>(plan.sizes.max, 1)), remaining_(count),
        sizes_(derive_seed(plan.seed, stream)), behind_(behind), start_(start), worker_(worker) {
    // A recognisable pattern; the first 8 bytes carry the sender's sequence number.
    for (std::size_t i = 0; i < payload_.size(); ++i) payload_[i] = static_cast<std::byte>('a' + i % 26);
  }

  void on_start(Transport& transport) override {
    if (remaining_ == 0) {
      transport.stop_listening();
      return;
    }
    start_.enlist(worker_, *this, transport);
  }

  void begin(Transport& transport, SteadyTime epoch) override {
    // Here, not in the constructor: the epoch is fixed when the load starts.
    if (plan_.rate != 0) {
      const Rate share{plan_.rate, plan_.senders};
      pacer_.emplace(share, plan_.burst != 0 ? plan_.burst : Pacer::default_burst(share), epoch, plan_.end);
    }
    transport.request_writable(true);
    transport.defer_writable(epoch);
  }

  void on_writable(Transport& transport) override {
    const SteadyTime now = Clock::now();  // once per call (a queue's worth), not per datagram
    // Conservative: room for datagrams of the largest size; the byte ring is sized so that
    // entries, not bytes, run out first.
    std::uint64_t n = std::min<std::uint64_t>(transport.send_queue_room(plan_.sizes.max), remaining_);
    if (pacer_) n = pacer_->grant(now, n);
    for (std::uint64_t i = 0; i < n; ++i) {
      const std::size_t size = plan_.sizes.min == plan_.sizes.max
                                   ? plan_.sizes.min
                                   : static_cast<std::size_t>(sizes_.between(plan_.sizes.min, plan_.sizes.max));
      if (size >= sizeof sequence_) std::memcpy(payload_.data(), &sequence_, sizeof sequence_);
      const SendResult r = transport.send(std::span<const std::byte>(payload_.data(), size), plan_.to, plan_.how);
      if (r != SendResult::queued) {
        // Sending can never succeed (e.g. the wrong address family): end rather than spin. The
        // refusal is counted as send_rejected, which the summary shows.
        remaining_ = 0;
        break;
      }
      ++sequence_;
      if (remaining_ != unlimited) --remaining_;
    }
    if (n != 0 && !sending_) {
      sending_ = true;
      start_.sending(worker_);
    }
    if (remaining_ == 0 || now >= plan_.end) {
      transport.request_writable(false);
      transport.stop_listening();  // flushes what is queued, then closes
      return;
    }
    if (pacer_) {
      transport.defer_writable(std::min(pacer_->next_wake(now), plan_.end));
    } else if (n == 0) {
      // Entries are free but not bytes (io_uring sends in flight): the engine offers on_writable
      // again only for free entries, so look again shortly rather than go quiet.
      transport.defer_writable(now + std::chrono::microseconds(50));
    }
  }

  void on_datagrams(std::span<const Datagram>, Transport&) override {}

  void on_stop() override {
    start_.withdraw(worker_, *this);  // stopped before the start (a signal while waiting)
    if (!pacer_) return;
    // Ended by the count: only what the pacer forfeited (it fell more than its catch-up window
    // behind) is a shortfall. Ended by the clock (its end, a signal, or the session's safety
    // stop): everything that was due by then and not sent. So for a --duration run, queued +
    // behind is what the socket's share of the rate made due, floor(rate / sockets x duration).
    const TokenBucket& b = pacer_->bucket();
    behind_.fetch_add(remaining_ == 0 ? b.forfeited() : b.earned(Clock::now()) - b.taken(), std::memory_order_relaxed);
  }

 private:
  const BlastPlan& plan_;
  std::vector<std::byte> payload_;
  std::uint64_t remaining_;
  std::uint64_t sequence_ = 0;
  SeededRandom sizes_;
  std::atomic<std::uint64_t>& behind_;
  LoadStart& start_;
  unsigned worker_;
  bool sending_ = false;  // has queued a datagram
  std::optional<Pacer> pacer_;
};

struct BlastFlags {
  CommonFlags common;
  std::string to;
  std::string bind;
  std::size_t size = 64;
  std::string size_range;
  std::uint64_t count = 0;
  std::string rate = "max";
  std::uint64_t burst = 0;
  std::uint64_t seed = 1;
  unsigned flows = 1;
  bool quiet = false;
  bool gso = true;  // EngineOptions::gso
  int tos = -1;      // --tos: TOS / traffic class byte per datagram (ECN in the low two bits)
  bool zerocopy = false;  // EngineOptions::zerocopy_send
  std::string label;      // --label (instance_label)
  std::string start_at;   // --start-at (start_at.hpp); "" = now
};

// The options that shape the load, for the report's "load" (merge compares them across reports).
nlohmann::json blast_load_json(const BlastFlags& flags, const BlastPlan& plan, unsigned workers) {
  nlohmann::json load;
  load["to"] = plan.to.to_string();
  load["size_min"] = plan.sizes.min;
  load["size_max"] = plan.sizes.max;
  if (plan.sizes.min != plan.sizes.max) load["seed"] = flags.seed;
  load["rate"] = plan.rate == 0 ? nlohmann::json("max") : nlohmann::json(plan.rate);
  if (plan.rate != 0) load["burst"] = plan.burst != 0 ? plan.burst : Pacer::default_burst(Rate{plan.rate, plan.senders});
  load["count"] = flags.count;
  load["duration_s"] = flags.common.duration_s;
  load["flows"] = flags.flows;
  load["workers"] = workers;
  load["gso"] = flags.gso;
  load["zerocopy"] = flags.zerocopy;
  if (flags.tos >= 0) load["tos"] = flags.tos;
  return load;
}

int run_blast(const BlastFlags& flags, bool size_given) {
  auto options = to_engine_options(flags.common);
  if (!options) return usage_error(options.error().message);
  auto endpoints = resolve_bind_and_to(flags.bind, flags.to);
  if (!endpoints) return usage_error(endpoints.error().message);
  const std::optional<Address> bind = endpoints->bind;
  const Address to = endpoints->to;
  if (to.port() == 0) return usage_error("--to " + flags.to + ": destination port cannot be 0");
  if (flags.count == 0 && flags.common.duration_s <= 0) {
    return usage_error("blast needs --count N or --duration S (a load must end by itself)");
  }
  auto rate = parse_rate(flags.rate);
  if (!rate) return usage_error(rate.error().message);
  auto start_at = parse_start_at(flags.start_at.empty() ? "now" : flags.start_at, wall_clock_ns());
  if (!start_at) return usage_error(start_at.error().message);
  if (flags.burst != 0 && *rate == 0) return usage_error("--burst needs --rate PPS (a paced blast)");

  BlastPlan plan;
  plan.sizes = SizeRange{flags.size, flags.size};
  if (!flags.size_range.empty()) {
    if (size_given) return usage_error("give --size or --size-range, not both");
    auto range = parse_size_range(flags.size_range);
    if (!range) return usage_error(range.error().message);
    plan.sizes = *range;
  }
  const std::size_t limit = to.is_v4() || to.is_v4_mapped() ? 65507 : 65527;
  if (plan.sizes.max > limit) {
    const std::string flag = flags.size_range.empty() ? "--size " + std::to_string(flags.size)
                                                      : "--size-range " + flags.size_range;
    return usage_error(flag + ": larger than a UDP datagram to " + flags.to + " can be (" + std::to_string(limit) + ")");
  }
  Address source = to.is_v4() ? Address::ipv4_any(0) : Address::ipv6_any(0);
  if (bind) {
    source = *bind;
    if (source.is_v4() && to.is_v6() && !to.is_v4_mapped()) {
      return usage_error("--bind " + flags.bind + " is IPv4 but --to " + flags.to + " is IPv6");
    }
    // An IPv6 socket reaches IPv4 peers only when bound to the wildcard (dual-stack).
    if (source.is_v6() && !source.is_unspecified() && !source.is_v4_mapped() &&
        (to.is_v4() || to.is_v4_mapped())) {
      return usage_error("--bind " + flags.bind + " is IPv6 but --to " + flags.to + " is IPv4");
    }
    if (flags.flows > 1 && source.port() != 0) {
      return usage_error("--bind " + flags.bind + " with --flows " + std::to_string(flags.flows) +
                         ": each flow needs its own port; bind port 0");
    }
  }
  // Blast's datagrams are sent, not received: the receive side needs only a few buffers.
  if (options->buffer_count == 0 || options->buffer_count > 64) options->buffer_count = 64;
  const SendQueueSize queue = blast_send_queue(flags.flows, plan.sizes.max);
  options->send_queue_entries = queue.entries;
  options->send_queue_bytes = queue.bytes;
  // Every flow may have a segment of queued sends at once: room in the pool's address space for
  // that (memory is used only as far as the flows fill their segments).
  options->send_pool_bytes = std::max<std::uint64_t>(options->send_pool_bytes, std::uint64_t{flags.flows + 64} * (128u << 10));
  options->gso = flags.gso;
  options->zerocopy_send = flags.zerocopy;

  const unsigned workers = options->workers;
  plan.to = to;
  plan.how.traffic_class = static_cast<std::int16_t>(flags.tos);
  plan.seed = flags.seed;
  plan.rate = *rate;
  plan.burst = flags.burst;
  plan.senders = std::uint64_t{flags.flows} * workers;

  std::atomic<std::uint64_t> behind{0};  // outlives the engine and its senders
  LoadStart load_start(workers);         // so does this
  block_stop_signals();
  auto engine = Engine::create(*options);
  if (!engine) return usage_error(engine.error().message);
  std::vector<Address> sources;
  for (unsigned flow = 0; flow < flags.flows; ++flow) {
    auto bound = (*engine)->listen(source, [&](unsigned worker) {
      const std::uint64_t count =
          flags.count == 0 ? unlimited : sender_count(flags.count, flags.flows, workers, flow, worker);
      return std::make_unique<BlastSender>(plan, count, std::uint64_t{flow} * workers + worker, behind, load_start,
                                           worker);
    });
    if (!bound) {
      // With several flows, which one failed says how far the descriptors went.
      if (flags.flows == 1) return usage_error(bound.error().message);
      return usage_error("blast --flows " + std::to_string(flags.flows) + ": cannot open flow " +
                         std::to_string(flow + 1) + " of " + std::to_string(flags.flows) + ": " + bound.error().message);
    }
    sources.push_back(*bound);
  }
  if (auto started = (*engine)->start(); !started) return start_failed(started.error());
  // Set up: every sender waits for the start. Then every sender starts at the same moment.
  SessionResult session;
  if (!start_at->now) {
    std::fprintf(stderr, "salvo blast: set up, starting at %s\n", format_rfc3339_us(start_at->unix_ns).c_str());
  }
  const std::optional<SteadyTime> start = wait_for_start(*start_at);
  if (!start) {
    session.interrupted = true;  // stopped before the start: nothing was sent
    (*engine)->stop();
    (*engine)->wait();
  } else {
    const SteadyTime epoch = *start;
    if (flags.common.duration_s > 0) {
      plan.end = epoch + std::chrono::duration_cast<std::chrono::nanoseconds>(
                             std::chrono::duration<double>(flags.common.duration_s));
    }
    if (auto opened = load_start.open(**engine, epoch); !opened) return start_failed(opened.error());
    SendingSession session_options;
    session_options.command = "blast";
    session_options.epoch = epoch;
    session_options.end = plan.end;
    session_options.progress = !flags.quiet;
    session = run_sending_session(**engine, session_options);
  }
  const std::int64_t end_unix_ns = wall_clock_ns();
  print_summary("blast", **engine, session);
  if (*rate != 0 && behind.load() != 0) {
    std::fprintf(stderr, "  behind schedule: %llu datagrams due at --rate %llu were not sent (the sender fell behind)\n",
                 static_cast<unsigned long long>(behind.load()), static_cast<unsigned long long>(*rate));
  }
  if (flags.common.json) {
    nlohmann::json j = session_json("blast", **engine, session);
    j["to"] = to.to_string();
    if (flags.size_range.empty()) j["size"] = flags.size;
    j["size_min"] = plan.sizes.min;
    j["size_max"] = plan.sizes.max;
    j["requested_count"] = flags.count;
    j["rate"] = *rate == 0 ? nlohmann::json("max") : nlohmann::json(*rate);
    if (*rate != 0) {
      j["burst"] = plan.burst != 0 ? plan.burst : Pacer::default_burst(Rate{*rate, plan.senders});
      j["behind_schedule"] = behind.load();
    }
    j["seed"] = flags.seed;
    j["flows"] = flags.flows;
    j["gso"] = flags.gso;
    if (flags.tos >= 0) j["tos"] = flags.tos;
    const std::int64_t began = load_start.began_unix_ns();
    add_instance_json(j, RunInstance{host_name(), instance_label(flags.label), began != 0 ? began : end_unix_ns, end_unix_ns},
                      blast_load_json(flags, plan, workers));
    nlohmann::json list = nlohmann::json::array();
    for (const Address& a : sources) list.push_back(a.to_string());
    j["sources"] = std::move(list);
    std::printf("%s\n", j.dump().c_str());
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

Command add_blast_command(CLI::App& app) {
  auto flags = std::make_shared<BlastFlags>();
  CLI::App* sub = app.add_subcommand("blast", "send datagrams, as fast as possible or paced at --rate");
  sub->add_option("--to", flags->to, "destination, e.g. 127.0.0.1:9000, [::1]:9000 or localhost:9000")->required()->check(check_address);
  sub->add_option("--bind", flags->bind, "source address (default: any, ephemeral port)")->check(check_address);
  CLI::Option* size = sub->add_option("--size", flags->size, "payload bytes per datagram")
                          ->check(CLI::Range(0, 65527))
                          ->capture_default_str();
  sub->add_option("--size-range", flags->size_range,
                  "MIN-MAX: payload sizes drawn uniformly from this range (reproducible with --seed)");
  sub->add_option("--count", flags->count, "datagrams to send in all (split over the flows and workers)")
      ->check(CLI::Range(std::uint64_t{1}, unlimited - 1));
  sub->add_option("--rate", flags->rate, "datagrams per second in all, or max (default)")->capture_default_str();
  sub->add_option("--burst", flags->burst, "datagrams one socket sends back to back at most (default: 10 ms worth)")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 20));
  sub->add_option("--seed", flags->seed, "seed of the --size-range generator")->capture_default_str();
  sub->add_option("--flows", flags->flows, "source ports (sockets) to send from")
      ->check(CLI::Range(1u, 65536u))
      ->capture_default_str();
  sub->add_flag("--quiet", flags->quiet, "no progress line every second");
  sub->add_flag("--gso,!--no-gso", flags->gso,
                "send runs of equal datagrams as one UDP GSO message each (default; --no-gso: one message per datagram)");
  sub->add_flag("--zerocopy", flags->zerocopy,
                "send messages of 16 KiB or more (GSO runs included) with io_uring's zero-copy SENDMSG_ZC "
                "(io_uring backend only; pays on real devices, not on loopback)");
  sub->add_option("--tos", flags->tos,
                  "TOS / traffic class byte of every datagram, 0-255; its low two bits are ECN (1: ECT(1), 2: "
                  "ECT(0), 3: CE). Default: the socket's")
      ->check(CLI::Range(0, 255));
  add_start_at_flag(*sub, flags->start_at);
  add_label_flag(*sub, flags->label);
  add_common_flags(*sub, flags->common, /*server=*/false);
  return [flags, size] { return run_blast(*flags, size->count() > 0); };
}

}  // namespace salvo::cli
