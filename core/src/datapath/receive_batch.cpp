#include "datapath/receive_batch.hpp"

#include "datapath/cmsg.hpp"

namespace salvo::detail {

void ReceiveBatch::init(const EngineOptions& options, std::size_t control_space) {
  entries_.assign(options.batch_size, Datagram{});
  // A receive that brings no datagram to the batch (truncated and dropped, unparsable) still holds
  // its buffer, so holds can outnumber datagrams: full() ends a batch when either runs out.
  held_.assign(options.batch_size, 0);
  control_space_ = control_space;
  deliver_truncated_ = options.deliver_truncated;
  clear();
}

void ReceiveBatch::accept_with_control(const SocketState& s, std::span<const std::byte> payload, const Address& peer,
                                       bool truncated, const void* control, std::size_t control_length) noexcept {
  const ControlInfo info = parse_control(control, control_length);
  std::uint64_t datagrams = 1;
  if (info.gro_segment_size != 0 && !truncated && payload.size() > info.gro_segment_size) {
    datagrams = SegmentRange(payload, info.gro_segment_size).size();
    ++gro_receives_;
    gro_segments_ += datagrams;
  }
  Datagram* d = add(payload, peer, truncated, datagrams);
  if (d == nullptr) return;
  apply_control(info, s.local.port(), s.ipv6, *d);
  if (datagrams == 1) d->segment_size = 0;  // one datagram, however the kernel labelled it
}

void ReceiveBatch::count_truncated(LiveCounters& c) const noexcept {
  c.truncated.add(truncated_);
  if (!deliver_truncated_) c.dropped_truncated.add(truncated_);
}

}  // namespace salvo::detail
