// A receiving socket with its own thread, for CLI tests of senders (salvo blast) and of the
// proxy (salvo impair): it reads every datagram as it arrives and records where it came from, its
// size, the sequence number in its first 8 bytes and when it was read, so that the test can count
// rates, flows, sizes, duplicates and reordering afterwards. The kernel's drops on the socket are
// read too (SO_MEMINFO), so that a starved receiver shows up as such instead of as a sender bug.
//
// Threading: start in the constructor; count() and wait_*() from the test thread while it runs;
// records() only after stop().
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "support/test_support.hpp"

namespace salvo::test {

class UdpReceiver {
 public:
  struct Record {
    Clock::time_point at;
    std::uint16_t from_port = 0;
    std::uint32_t size = 0;
    std::uint64_t seq = 0;  // payload_seq(): 0 for payloads shorter than 8 bytes
  };

  // Binds `bind` with a 4 MiB receive buffer (the kernel doubles it), reserves room for
  // `expected` records, and starts reading.
  explicit UdpReceiver(const Address& bind, std::size_t expected = 1 << 16);
  ~UdpReceiver();
  UdpReceiver(const UdpReceiver&) = delete;
  UdpReceiver& operator=(const UdpReceiver&) = delete;

  const Address& local() const noexcept { return socket_.local(); }
  UdpSocket& socket() noexcept { return socket_; }  // for sending from the same port
  std::uint64_t count() const noexcept { return count_.load(std::memory_order_acquire); }
  // Datagrams the kernel dropped on this socket because its queue was full.
  std::uint64_t kernel_drops() const;

  // Until count() >= n, or the timeout; true when reached.
  bool wait_for_count(std::uint64_t n, milliseconds timeout) const;
  // Until nothing has arrived for `quiet` (after at least one datagram, or from now), or timeout.
  bool wait_quiet(milliseconds quiet, milliseconds timeout) const;

  // Stops the thread; then records() may be read.
  void stop();
  const std::vector<Record>& records() const noexcept { return records_; }

 private:
  void run();

  UdpSocket socket_;
  std::vector<Record> records_;
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::int64_t> last_arrival_ns_{0};
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

// Counts over a sequence of records of one sender: datagrams, distinct sequence numbers, extra
// copies, and datagrams that arrived after a higher sequence number had (counted once per
// sequence number, at its first arrival).
struct ArrivalOrder {
  std::uint64_t arrivals = 0;
  std::uint64_t distinct = 0;
  std::uint64_t duplicates = 0;
  std::uint64_t out_of_order = 0;
};
ArrivalOrder arrival_order(const std::vector<UdpReceiver::Record>& records);

}  // namespace salvo::test
