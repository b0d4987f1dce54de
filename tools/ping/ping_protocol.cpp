#include "ping/ping_protocol.hpp"

#include <algorithm>
#include <bit>
#include <ctime>
#include <sys/prctl.h>

#include "ping/ping_payload.hpp"

namespace salvo::cli {
namespace {

std::chrono::steady_clock::time_point as_time_point(std::uint64_t ns) {
  // libstdc++'s steady_clock is CLOCK_MONOTONIC with the same epoch.
  return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(ns));
}

}  // namespace

std::uint64_t monotonic_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);  // vDSO: no system call
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

PingCounts& PingCounts::operator+=(const PingCounts& o) noexcept {
  sent += o.sent;
  received += o.received;
  duplicates += o.duplicates;
  reordered += o.reordered;
  invalid += o.invalid;
  late += o.late;
  send_failed += o.send_failed;
  refused += o.refused;
  return *this;
}

PingProtocol::PingProtocol(const PingPlan& plan, PingResult& result, LoadStart& start)
    : plan_(plan), result_(result), start_(start), period_ns_(1e9 / plan.rate), payload_(plan.size) {
  const std::uint64_t window = std::min<std::uint64_t>(std::bit_ceil(std::max<std::uint64_t>(plan.count, 64)), max_window);
  window_mask_ = window - 1;
  answered_.assign(window / 64, 0);
  // A filler that makes the datagram recognisable in a packet capture; nobody checks it.
  for (std::size_t i = ping_header_size; i < payload_.size(); ++i) payload_[i] = static_cast<std::byte>('a' + i % 26);
  write_ping_header(payload_, PingHeader{plan.token, 0, 0});
}

void PingProtocol::on_start(Transport& transport) {
  // Latency counts from the schedule, so a late wake-up of this sender is measured as latency.
  // The kernel lets a normal thread's timers fire up to 50 us late (timer slack); ask for 1 ns on
  // this worker thread, which only this protocol uses (salvo ping runs one worker). Best effort.
  prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
  start_.enlist(0, *this, transport);
}

void PingProtocol::begin(Transport& transport, std::chrono::steady_clock::time_point epoch) {
  start_ns_ = static_cast<std::uint64_t>(std::chrono::nanoseconds(epoch.time_since_epoch()).count());
  transport.request_writable(true);
}

void PingProtocol::on_stop() { start_.withdraw(0, *this); }

void PingProtocol::on_writable(Transport& transport) {
  if (stopped_) return;
  const std::uint64_t now = monotonic_ns();
  if (lingering_) {
    // Deferred to the end of the linger; an earlier call (the queue drained) just waits again.
    if (now >= linger_end_ns_) {
      finish(transport);
    } else {
      transport.defer_writable(as_time_point(linger_end_ns_));
    }
    return;
  }
  const std::size_t room = std::min(transport.send_queue_room(payload_.size()), max_burst);
  std::size_t queued = 0;
  while (next_ < plan_.count && queued < room) {
    const std::uint64_t due = intended_ns(next_);
    if (due > now) break;
    stamp_ping_payload(payload_, next_, due);
    const SendResult r = transport.send(payload_, plan_.to);
    if (r == SendResult::queue_full) break;  // not consumed: retried when there is room
    // This sequence number's window slot now belongs to it, no longer to next_ - window.
    answered_[(next_ & window_mask_) >> 6] &= ~(std::uint64_t{1} << (next_ & 63));
    if (r == SendResult::queued) {
      ++result_.counts.sent;
    } else {
      ++result_.counts.send_failed;
    }
    ++next_;
    ++queued;
  }
  if (queued != 0 && next_ == queued) start_.sending(0);  // the first datagrams of the run
  if (next_ == plan_.count) {
    lingering_ = true;
    result_.all_sent = true;
    std::chrono::nanoseconds linger;
    if (plan_.linger) {
      linger = *plan_.linger;
    } else {
      const std::chrono::nanoseconds seen(result_.latency.max() * auto_linger_factor);
      linger = std::clamp(seen, min_auto_linger, max_auto_linger);
    }
    result_.linger = linger;
    linger_end_ns_ = now + static_cast<std::uint64_t>(linger.count());
    if (result_.counts.received == result_.counts.sent) {
      finish(transport);  // everything answered already (or nothing could be sent)
      return;
    }
    transport.defer_writable(as_time_point(linger_end_ns_));
  } else if (queued == room) {
    transport.defer_writable(as_time_point(now));  // more is due: come back after this flush
  } else {
    transport.defer_writable(as_time_point(intended_ns(next_)));
  }
}

void PingProtocol::on_datagrams(std::span<const Datagram> batch, Transport& transport) {
  if (stopped_) return;
  const std::uint64_t now = monotonic_ns();  // one clock read per batch
  PingCounts& c = result_.counts;
  for (const Datagram& d : batch) {
    if (d.truncated || d.payload.size() != plan_.size) {
      ++c.invalid;
      continue;
    }
    const std::optional<PingHeader> h = parse_ping_header(d.payload);
    if (!h || h->token != plan_.token || h->sequence >= next_ || h->intended_ns != intended_ns(h->sequence)) {
      ++c.invalid;
      continue;
    }
    const std::uint64_t seq = h->sequence;
    if (next_ - seq > window_mask_ + 1) {
      ++c.late;
      continue;
    }
    std::uint64_t& word = answered_[(seq & window_mask_) >> 6];
    const std::uint64_t bit = std::uint64_t{1} << (seq & 63);
    if ((word & bit) != 0) {
      ++c.duplicates;
      continue;
    }
    word |= bit;
    ++c.received;
    if (seq < next_expected_) {
      ++c.reordered;
    } else {
      next_expected_ = seq + 1;
    }
    result_.latency.record(now >= h->intended_ns ? now - h->intended_ns : 0);
  }
  if (lingering_ && c.received == c.sent) finish(transport);
}

void PingProtocol::on_refused(const Address&, Transport&) { ++result_.counts.refused; }

void PingProtocol::finish(Transport& transport) noexcept {
  stopped_ = true;
  transport.request_writable(false);
  transport.stop_listening();
}

}  // namespace salvo::cli
