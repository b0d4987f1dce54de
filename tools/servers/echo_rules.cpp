#include "servers/echo_rules.hpp"

#include <algorithm>
#include <bit>
#include <cstdio>
#include <random>

namespace salvo::cli {

// One peer: its remembered reply, or its hold. 64 bytes, so a set of 4 is four cache lines.
struct EchoRules::Entry {
  std::uint64_t peer = 0;    // key_of(peer); 0: never used
  std::int64_t since = 0;    // steady-clock ns: when the reply was remembered, or the hold began
  PayloadFingerprint reply;  // the remembered reply (not looked at while held)
  bool returned = false;     // the peer has sent the remembered reply back once (answered)
  bool held = false;
};
static_assert(sizeof(PayloadFingerprint) == 40, "an entry should stay one cache line");

EchoStats& EchoStats::operator+=(const EchoStats& o) noexcept {
  answered += o.answered;
  not_sent += o.not_sent;
  low_port += o.low_port;
  loop += o.loop;
  held += o.held;
  evicted += o.evicted;
  return *this;
}

nlohmann::json echo_stats_json(const EchoStats& s) {
  return {{"answered", s.answered}, {"not_sent", s.not_sent}, {"low_port", s.low_port},
          {"loop", s.loop},         {"held", s.held},         {"evicted", s.evicted}};
}

std::string echo_stats_line(const EchoStats& s) {
  char line[320];
  std::snprintf(line, sizeof line,
                "  echo: %llu answered, %llu not sent (refused); ignored: %llu well-known source port (< 1024), "
                "%llu loop (the peer sent a reply back twice), %llu from a peer held after its loop; %llu peers "
                "forgotten early",
                static_cast<unsigned long long>(s.answered), static_cast<unsigned long long>(s.not_sent),
                static_cast<unsigned long long>(s.low_port), static_cast<unsigned long long>(s.loop),
                static_cast<unsigned long long>(s.held), static_cast<unsigned long long>(s.evicted));
  return line;
}

EchoRules::EchoRules(const EchoRulesOptions& options, EchoStats& stats)
    : options_(options), stats_(stats), window_ns_(options.loop_window.count()) {
  if (window_ns_ <= 0) return;
  const std::uint32_t entries = std::bit_ceil(std::max(options.table_entries, ways));
  options_.table_entries = entries;
  table_ = std::make_unique<Entry[]>(entries);
  set_mask_ = entries / ways - 1;
  seed_ = (static_cast<std::uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}();
}

EchoRules::~EchoRules() = default;

std::uint64_t EchoRules::key_of(const Address& peer) const noexcept {
  // The sockaddr bytes are canonical (Address::from_sockaddr zeroes padding and flow info).
  const auto bytes = std::span(static_cast<const std::byte*>(peer.sockaddr_data()), peer.sockaddr_size());
  return hash_bytes(bytes, seed_) | 1;  // never 0, which marks an unused entry
}

bool EchoRules::live(const Entry& e, std::int64_t now_ns) const noexcept {
  return e.peer != 0 && now_ns - e.since < window_ns_;
}

bool EchoRules::admit(const Address& peer, std::span<const std::byte> payload, time_point now) noexcept {
  if (!options_.answer_low_ports && peer.port() < lowest_client_port) {
    ++stats_.low_port;
    return false;
  }
  if (!table_) return true;
  const std::int64_t now_ns = now.time_since_epoch().count();
  key_ = key_of(peer);
  set_ = &table_[(key_ & set_mask_) * ways];
  entry_ = nullptr;
  returning_ = false;
  for (std::uint32_t i = 0; i < ways; ++i) {
    Entry& e = set_[i];
    if (e.peer != key_ || !live(e, now_ns)) continue;
    if (e.held) {
      ++stats_.held;
      return false;
    }
    entry_ = &e;
    if (!e.reply.matches(payload)) return true;
    if (!e.returned) {
      returning_ = true;  // once may be a duplicate or a retransmission: answered
      return true;
    }
    // Back a second time: a loop. Answering would keep it going.
    ++stats_.loop;
    e.held = true;
    e.since = now_ns;
    return false;
  }
  return true;
}

void EchoRules::remember(std::span<const std::byte> payload, time_point now) noexcept {
  if (entry_ != nullptr) {
    if (returning_) entry_->returned = true;  // only an answered return counts
    return;  // the remembered reply stands until its window is over
  }
  const std::int64_t now_ns = now.time_since_epoch().count();
  Entry* target = nullptr;
  for (std::uint32_t i = 0; i < ways && target == nullptr; ++i) {
    if (!live(set_[i], now_ns)) target = &set_[i];
  }
  if (target == nullptr) {
    target = set_;
    for (std::uint32_t i = 1; i < ways; ++i) {
      if (set_[i].since < target->since) target = &set_[i];
    }
    ++stats_.evicted;
  }
  target->peer = key_;
  target->since = now_ns;
  target->reply = PayloadFingerprint::of(payload);
  target->returned = false;
  target->held = false;
}

}  // namespace salvo::cli
