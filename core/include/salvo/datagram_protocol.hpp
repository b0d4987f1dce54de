// DatagramProtocol: one call per datagram, for code ported from Twisted's datagramReceived or from
// a plain recvfrom loop. It is an adapter over the batch interface: salvo still reads and sends in
// batches underneath (replies made in on_datagram are flushed together when the batch ends), only
// the hook is per datagram. Threading and lifetime are Protocol's.
#pragma once

#include <span>

#include "salvo/protocol.hpp"
#include "salvo/transport.hpp"

namespace salvo {

class DatagramProtocol : public Protocol {
 public:
  // One received datagram (Twisted: datagramReceived(data, addr)). The payload view is valid until
  // this returns. Datagrams that arrived truncated (only with EngineOptions::deliver_truncated)
  // come here too; check is_truncated() when that matters.
  virtual void on_datagram(std::span<const std::byte> payload, const Address& peer, Transport& transport) = 0;

  // The datagram being handled was truncated to the buffer size.
  bool is_truncated() const noexcept { return current_truncated_; }

  void on_datagrams(std::span<const Datagram> batch, Transport& transport) final {
    for (const Datagram& d : batch) {
      current_truncated_ = d.truncated;
      on_datagram(d.payload, d.peer, transport);
    }
    current_truncated_ = false;
  }

 private:
  bool current_truncated_ = false;
};

}  // namespace salvo
