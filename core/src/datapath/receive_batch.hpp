// ReceiveBatch: the datagrams one receive pass brought for one socket, as views into the worker's
// buffer pool, with the counts that go with them, until the worker hands them to the protocol.
//
// The one owner of a received batch: a backend adds each datagram it reaped (accept), the worker
// counts the batch into the socket's counters and calls on_datagrams (Worker::deliver), then the
// batch is empty again. Buffer slots the backend must give back after the batch (io_uring's
// provided buffers, whether their datagram was delivered or dropped) are noted here too.
// Owned and used by one worker thread; sized once, never allocates while running.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "engine/live_counters.hpp"
#include "salvo/address.hpp"
#include "salvo/datagram.hpp"
#include "salvo/engine.hpp"
#include "socket/socket_state.hpp"

namespace salvo::detail {

class ReceiveBatch {
 public:
  // `capacity`: datagrams per batch (EngineOptions::batch_size); `control_space`: bytes of control
  // data each receive makes room for (0: no per-datagram metadata asked for).
  void init(const EngineOptions& options, std::size_t control_space);
  // What init allocates for `batch_size` entries, in bytes.
  static std::uint64_t table_bytes(std::uint32_t batch_size) noexcept {
    return std::uint64_t{batch_size} * (sizeof(Datagram) + sizeof(std::uint32_t));
  }

  std::uint32_t capacity() const noexcept { return static_cast<std::uint32_t>(entries_.size()); }
  std::uint32_t size() const noexcept { return size_; }
  // No room for another receive: every entry, or every slot to give back, is taken.
  bool full() const noexcept { return size_ == entries_.size() || held_count_ == held_.size(); }
  bool empty() const noexcept { return size_ == 0 && received_ == 0; }
  // Datagrams received into this batch so far: a GRO payload counts the datagrams it carries.
  std::uint64_t received() const noexcept { return received_; }
  std::size_t control_space() const noexcept { return control_space_; }

  // Counts one datagram socket `s` received and, unless it is truncated and options say to drop
  // such, adds it. `control` / `control_length`: what the kernel wrote into the control area
  // (ignored when no metadata was asked for); the metadata fields are filled from it, and a GRO
  // payload counts as the datagrams it carries.
  void accept(const SocketState& s, std::span<const std::byte> payload, const Address& peer, bool truncated,
              const void* control, std::size_t control_length) noexcept {
    if (control_space_ == 0) {
      (void)add(payload, peer, truncated, 1);
      return;
    }
    accept_with_control(s, payload, peer, truncated, control, control_length);
  }

  // A buffer slot to give back once the batch is delivered.
  void hold(std::uint32_t slot) noexcept { held_[held_count_++] = slot; }
  std::span<const std::uint32_t> held() const noexcept { return {held_.data(), held_count_}; }

  std::span<const Datagram> datagrams() const noexcept { return {entries_.data(), size_}; }

  // Adds what the batch received to `counters`; true when it holds datagrams to deliver.
  bool count_into(LiveCounters& c) const noexcept {
    if (received_ != 0) {
      c.received.add(received_);
      c.received_bytes.add(received_bytes_);
      if (truncated_ != 0) count_truncated(c);
    }
    if (gro_receives_ != 0) {
      c.gro_receives.add(gro_receives_);
      c.gro_segments.add(gro_segments_);
    }
    if (size_ == 0) return false;
    c.delivered.add(delivered_);
    c.delivered_bytes.add(delivered_bytes_);
    c.rx_batches.add(1);
    c.rx_batch_sizes[batch_size_bucket(size_)].add(1);
    return true;
  }

  void clear() noexcept {
    size_ = 0;
    held_count_ = 0;
    received_ = received_bytes_ = delivered_ = delivered_bytes_ = truncated_ = 0;
    gro_receives_ = gro_segments_ = 0;
  }

 private:
  Datagram* add(std::span<const std::byte> payload, const Address& peer, bool truncated,
                std::uint64_t datagrams) noexcept {
    received_ += datagrams;
    received_bytes_ += payload.size();
    if (truncated) {
      truncated_ += datagrams;
      if (!deliver_truncated_) return nullptr;
    }
    delivered_ += datagrams;
    delivered_bytes_ += payload.size();
    Datagram& d = entries_[size_++];
    d.payload = payload;
    d.peer = peer;
    d.truncated = truncated;
    return &d;
  }
  void count_truncated(LiveCounters& c) const noexcept;
  void accept_with_control(const SocketState& s, std::span<const std::byte> payload, const Address& peer,
                           bool truncated, const void* control, std::size_t control_length) noexcept;

  std::vector<Datagram> entries_;
  std::vector<std::uint32_t> held_;  // as many as entries: a batch ends when either is full
  std::uint32_t size_ = 0;
  std::size_t held_count_ = 0;
  std::size_t control_space_ = 0;
  bool deliver_truncated_ = false;
  std::uint64_t received_ = 0;
  std::uint64_t received_bytes_ = 0;
  std::uint64_t delivered_ = 0;  // datagrams in the batch: GRO entries count their segments
  std::uint64_t delivered_bytes_ = 0;
  std::uint64_t truncated_ = 0;
  std::uint64_t gro_receives_ = 0;
  std::uint64_t gro_segments_ = 0;
};

}  // namespace salvo::detail
