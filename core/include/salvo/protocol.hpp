// Protocol: what a service implements, after Twisted's DatagramProtocol but batch-native.
//
// Threading: every hook of one Protocol instance runs on the one worker thread that owns its
// socket, never concurrently. A hook must not block: it holds up every socket of its worker.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <span>
#include <system_error>

#include "salvo/datagram.hpp"

namespace salvo {

class Transport;

class Protocol {
 public:
  virtual ~Protocol() = default;

  // The socket is bound and the worker is running (Twisted: startProtocol).
  virtual void on_start(Transport& /*transport*/) {}

  // A batch of received datagrams (Twisted: datagramReceived, one call per batch). The views are
  // valid until this returns. Sends made here are flushed together when the batch ends.
  virtual void on_datagrams(std::span<const Datagram> batch, Transport& transport) = 0;

  // The send queue has room again; called while the protocol asked for it with
  // Transport::request_writable(true). A load generator refills the queue here.
  virtual void on_writable(Transport& /*transport*/) {}

  // ICMP port unreachable: `peer` refused a datagram this socket sent (Twisted: connectionRefused,
  // which only connected sockets get; salvo reads the socket's error queue, so unconnected
  // sockets hear of it too, with the peer). peer is Family::none if the kernel did not say.
  virtual void on_refused(const Address& /*peer*/, Transport& /*transport*/) {}

  // ICMP host/network unreachable (or prohibited) for a datagram sent to `peer`.
  virtual void on_unreachable(const Address& /*peer*/, std::error_code /*why*/, Transport& /*transport*/) {}

  // The path to `peer` needs datagrams of at most `mtu` bytes (ICMP fragmentation needed / packet
  // too big, or the local interface's MTU with path MTU discovery on).
  virtual void on_path_mtu(const Address& /*peer*/, unsigned /*mtu*/, Transport& /*transport*/) {}

  // Any other asynchronous socket error. Reception continues.
  virtual void on_error(std::error_code /*error*/, Transport& /*transport*/) {}

  // The engine is draining (Engine::drain, or a service's first SIGTERM): this socket reads no
  // more, and has `left` until it is stopped. Timers, sends and on_writable keep working; call
  // transport.stop_listening() when the protocol has finished (answered what it owes, flushed its
  // state): the socket then closes and on_stop runs. The default finishes at once.
  virtual void on_draining(std::chrono::nanoseconds left, Transport& transport);

  // The socket is closed and will deliver nothing more; called exactly once (Twisted:
  // stopProtocol). The transport is no longer usable. The engine keeps the protocol object (so
  // that a program may read what it gathered) until a socket opened later on the same worker
  // takes its place, or the engine is destroyed; a socket closed while the engine serves (not
  // draining or stopping) beyond the worker's 64 warm slots may also have its slot, and this
  // object, given back once no socket needed the slot for EngineOptions::socket_slot_keep. For an
  // engine destroyed without ever being started, this runs on the destroying thread.
  virtual void on_stop() {}
};

// Makes one Protocol per worker: every worker owns its own instance, so a protocol needs no locks.
using ProtocolFactory = std::function<std::unique_ptr<Protocol>(unsigned worker_index)>;

}  // namespace salvo
