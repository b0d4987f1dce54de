// salvo blast: send datagrams of one size to one destination as fast as the socket takes them,
// for a count or a duration. Each worker sends its share from its own socket, refilling its send
// queue from on_writable, so the sending rate is bounded by the kernel, not by salvo.
#include <algorithm>
#include <cstring>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli_common.hpp"
#include "commands.hpp"
#include "report.hpp"
#include "salvo/salvo.hpp"
#include "session.hpp"

namespace salvo::cli {
namespace {

constexpr std::uint64_t unlimited = ~std::uint64_t{0};

class BlastProtocol final : public Protocol {
 public:
  BlastProtocol(Address to, std::size_t size, std::uint64_t count) : to_(to), payload_(size), remaining_(count) {
    // A recognisable pattern; the first 8 bytes carry a sequence number.
    for (std::size_t i = 0; i < size; ++i) payload_[i] = static_cast<std::byte>('a' + i % 26);
  }

  void on_start(Transport& transport) override {
    if (remaining_ == 0) {
      transport.stop_listening();
      return;
    }
    transport.request_writable(true);
  }

  void on_writable(Transport& transport) override {
    // Fill only what fits, so that a full queue is a pause, not a counted drop.
    for (std::size_t room = transport.send_queue_room(payload_.size()); room != 0 && remaining_ != 0; --room) {
      if (payload_.size() >= sizeof sequence_) std::memcpy(payload_.data(), &sequence_, sizeof sequence_);
      const SendResult r = transport.send(payload_, to_);
      if (r == SendResult::queue_full) break;
      if (r != SendResult::queued) {
        // Sending can never succeed (e.g. the wrong address family): end rather than spin. The
        // refusal is counted as send_rejected, which the summary shows.
        remaining_ = 0;
        break;
      }
      ++sequence_;
      if (remaining_ != unlimited) --remaining_;
    }
    if (remaining_ == 0) {
      transport.request_writable(false);
      transport.stop_listening();  // flushes what is queued, then closes
    }
  }

  void on_datagrams(std::span<const Datagram>, Transport&) override {}

 private:
  Address to_;
  std::vector<std::byte> payload_;
  std::uint64_t remaining_;
  std::uint64_t sequence_ = 0;
};

struct BlastFlags {
  CommonFlags common;
  std::string to;
  std::string bind;
  std::size_t size = 64;
  std::uint64_t count = 0;
};

int run_blast(const BlastFlags& flags) {
  auto options = to_engine_options(flags.common);
  if (!options) return usage_error(options.error().message);
  auto to = Address::parse(flags.to);
  if (!to) return usage_error(to.error().message);
  if (to->port() == 0) return usage_error("--to " + flags.to + ": destination port cannot be 0");
  if (flags.count == 0 && flags.common.duration_s <= 0) {
    return usage_error("blast needs --count N or --duration S (a load must end by itself)");
  }
  const std::size_t limit = to->is_v4() || to->is_v4_mapped() ? 65507 : 65527;
  if (flags.size > limit) {
    return usage_error("--size " + std::to_string(flags.size) + ": larger than a UDP datagram to " +
                       flags.to + " can be (" + std::to_string(limit) + ")");
  }
  Address source = to->is_v4() ? Address::ipv4_any(0) : Address::ipv6_any(0);
  if (!flags.bind.empty()) {
    auto b = Address::parse(flags.bind);
    if (!b) return usage_error(b.error().message);
    source = *b;
    if (source.is_v4() && to->is_v6() && !to->is_v4_mapped()) {
      return usage_error("--bind " + flags.bind + " is IPv4 but --to " + flags.to + " is IPv6");
    }
    // An IPv6 socket reaches IPv4 peers only when bound to the wildcard (dual-stack).
    if (source.is_v6() && !source.is_unspecified() && !source.is_v4_mapped() &&
        (to->is_v4() || to->is_v4_mapped())) {
      return usage_error("--bind " + flags.bind + " is IPv6 but --to " + flags.to + " is IPv4");
    }
  }
  // Blast's datagrams are sent, not received: the receive side needs only a few buffers.
  options->buffer_count = std::min<std::uint32_t>(options->buffer_count, 64);

  block_stop_signals();
  auto engine = Engine::create(*options);
  if (!engine) return usage_error(engine.error().message);
  const unsigned workers = options->workers;
  auto bound = (*engine)->listen(source, [&](unsigned worker) {
    std::uint64_t share = unlimited;
    if (flags.count != 0) share = flags.count / workers + (worker < flags.count % workers ? 1 : 0);
    return std::make_unique<BlastProtocol>(*to, flags.size, share);
  });
  if (!bound) return usage_error(bound.error().message);
  if (auto started = (*engine)->start(); !started) {
    std::fprintf(stderr, "salvo: %s\n", started.error().message.c_str());
    return 1;
  }
  const SessionResult session = run_session(**engine, flags.common);
  print_summary("blast", **engine, session);
  if (flags.common.json) {
    nlohmann::json j = session_json("blast", **engine, session);
    j["to"] = to->to_string();
    j["size"] = flags.size;
    j["requested_count"] = flags.count;
    std::printf("%s\n", j.dump().c_str());
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

Command add_blast_command(CLI::App& app) {
  auto flags = std::make_shared<BlastFlags>();
  CLI::App* sub = app.add_subcommand("blast", "send datagrams as fast as possible");
  sub->add_option("--to", flags->to, "destination, e.g. 127.0.0.1:9000")->required()->check(check_address);
  sub->add_option("--bind", flags->bind, "source address (default: any, ephemeral port)")->check(check_address);
  sub->add_option("--size", flags->size, "payload bytes per datagram")->check(CLI::Range(0, 65527))->capture_default_str();
  sub->add_option("--count", flags->count, "datagrams to send in all (split over the workers)")
      ->check(CLI::Range(std::uint64_t{1}, unlimited - 1));
  add_common_flags(*sub, flags->common, /*server=*/false);
  return [flags] { return run_blast(*flags); };
}

}  // namespace salvo::cli
