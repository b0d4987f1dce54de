#include "impair/impair_proxy.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace salvo::cli {
namespace {

using Clock = std::chrono::steady_clock;

// One socket's hooks, forwarded to the proxy with the socket's index.
class ImpairSocket final : public Protocol {
 public:
  ImpairSocket(ImpairProxy& proxy, std::uint32_t index) : proxy_(proxy), index_(index) {}
  void on_start(Transport& t) override { proxy_.attach(index_, t); }
  void on_datagrams(std::span<const Datagram> batch, Transport& t) override { proxy_.receive(index_, batch, t); }
  void on_writable(Transport& t) override { proxy_.writable(index_, t); }
  void on_stop() override { proxy_.detach(index_); }

 private:
  ImpairProxy& proxy_;
  std::uint32_t index_;
};

std::optional<TokenBucket> make_limiter(const ImpairConfig& c) {
  if (c.rate == 0) return std::nullopt;
  // A policer: up to `depth` datagrams pass back to back, then one per 1/rate. The default depth
  // (10 ms worth) lets ordinary request bursts through while holding the average to the rate.
  const std::uint64_t depth = c.burst != 0 ? c.burst : std::max<std::uint64_t>(1, c.rate / 100);
  // Anchored `depth` tokens in the past, so the bucket starts full: the first burst passes.
  const auto full = std::chrono::nanoseconds(static_cast<std::int64_t>(depth * 1'000'000'000 / c.rate) + 1);
  return TokenBucket(Rate{c.rate, 1}, depth, Clock::now() - full);
}

// How long LoopWatch remembers: a second, plus the longest the proxy itself may hold a datagram
// each way (delay, jitter, a reorder hold), so that the proxy's own delay never outlasts it.
std::chrono::nanoseconds loop_window(const ImpairConfig& c) {
  return std::chrono::seconds(1) + 2 * (c.settings.delay + c.settings.jitter + c.reorder_hold);
}

}  // namespace

ImpairProxy::ImpairProxy(const ImpairConfig& config)
    : config_(config),
      upstream_local_(config.to.is_v4() ? Address::ipv4_any(0) : Address::ipv6_any(0)),
      clients_(config.max_clients, config.idle_timeout),
      dirs_{DirectionState{ImpairmentModel::for_direction(config.settings, config.seed, Direction::client_to_server),
                           make_limiter(config), {}, {}, none, {}},
            DirectionState{ImpairmentModel::for_direction(config.settings, config.seed, Direction::server_to_client),
                           make_limiter(config), {}, {}, none, {}}},
      sockets_(1),
      upstream_(config.max_clients, none),
      loops_(config.max_clients, loop_window(config)),
      slots_(config.queue_slots),
      slot_bytes_(std::make_unique<std::byte[]>(std::size_t{config.queue_slots} * config.slot_size)) {
  for (std::uint32_t i = config.queue_slots; i > 0; --i) {
    slots_[i - 1].next = free_head_;
    free_head_ = i - 1;
  }
  clients_.on_expire([this](std::uint32_t client) { client_expired(client); });
}

ImpairProxy::~ImpairProxy() = default;

Result<Address> ImpairProxy::listen_on(Engine& engine) {
  if (engine.options().workers != 1) {
    return Error::make(Errc::bad_option, "impair runs on one worker (decisions follow the arrival order)");
  }
  return engine.listen(config_.listen, [this](unsigned) { return std::make_unique<ImpairSocket>(*this, 0); });
}

void ImpairProxy::attach(std::uint32_t socket, Transport& transport) noexcept {
  sockets_[socket].transport = &transport;
  if (socket != 0) return;
  // Expiry also runs without traffic, so that an idle client's descriptor is back before the next
  // new client needs it, not only when a datagram arrives. Each batch expires too; should the
  // timer table be full, that alone remains.
  const auto period = std::clamp<std::chrono::nanoseconds>(config_.idle_timeout, std::chrono::milliseconds(1),
                                                           std::chrono::seconds(1));
  (void)transport.call_every(period, [this] { clients_.expire(Clock::now()); });
}

void ImpairProxy::detach(std::uint32_t socket) noexcept {
  ProxySocket& s = sockets_[socket];
  s.transport = nullptr;
  // An upstream socket given back (its client expired) is free for the next client once nothing
  // of it is left; one that stopped with its client (the engine stopping) keeps what it holds for
  // finish() to count.
  if (socket != 0 && s.client == none && s.fifo.head == none) free_sockets_.push_back(socket);
}

std::uint32_t ImpairProxy::open_upstream(std::uint32_t client, Transport& listen) noexcept {
  std::uint32_t socket;
  if (free_sockets_.empty()) {
    socket = static_cast<std::uint32_t>(sockets_.size());
    sockets_.emplace_back();
  } else {
    socket = free_sockets_.back();
    free_sockets_.pop_back();
  }
  sockets_[socket].client = client;
  // Its on_start (attach) runs inside open: it can carry the datagram that brought its client.
  auto opened = listen.reactor().open(upstream_local_, std::make_unique<ImpairSocket>(*this, socket));
  if (!opened) {
    sockets_[socket].client = none;
    free_sockets_.push_back(socket);
    if (!told_no_upstream_) {
      told_no_upstream_ = true;
      const Address* peer = clients_.client_of(client);
      std::fprintf(stderr,
                   "salvo impair: no upstream socket for a new client (%s): %s; clients without one are refused "
                   "and their datagrams counted as dropped_no_upstream\n",
                   peer != nullptr ? peer->to_string().c_str() : "?", opened.error().message.c_str());
    }
    return none;
  }
  upstream_[client] = socket;
  return socket;
}

std::uint32_t ImpairProxy::upstream_for(const Address& peer, time_point now, Transport& listen,
                                        DirectionState& st) noexcept {
  const std::uint32_t client = clients_.admit(peer, now);
  if (client == ClientTable::none) {
    ++st.counters.dropped_unroutable;
    return none;
  }
  if (upstream_[client] != none) return upstream_[client];
  // Admitted just now: a new client, whose socket is opened here.
  loops_.reset(client);
  const std::uint32_t socket = open_upstream(client, listen);
  if (socket == none) {
    clients_.withdraw(client);
    ++st.counters.dropped_no_upstream;
  }
  return socket;
}

void ImpairProxy::client_expired(std::uint32_t client) noexcept {
  const std::uint32_t socket = upstream_[client];
  upstream_[client] = none;
  if (socket == none) return;
  // Replies that still come to its socket have nobody to go to (unroutable) from now on.
  sockets_[socket].client = none;
  close_if_done(socket);
}

void ImpairProxy::close_if_done(std::uint32_t socket) noexcept {
  const ProxySocket& s = sockets_[socket];
  if (socket == 0 || s.client != none || s.transport == nullptr || s.fifo.head != none) return;
  for (const DirectionState& st : dirs_) {
    if (st.held != none && slots_[st.held].socket == socket) return;
  }
  s.transport->stop_listening();  // on_stop (detach) follows once its send queue is flushed
}

void ImpairProxy::receive(std::uint32_t socket, std::span<const Datagram> batch, Transport& transport) noexcept {
  const time_point now = Clock::now();  // once per batch: arrival time of all of it
  clients_.expire(now);
  const Direction dir = socket == 0 ? Direction::client_to_server : Direction::server_to_client;
  DirectionState& st = state_of(dir);
  for (const Datagram& d : batch) {
    ++st.counters.in;
    ImpairmentDecision decision = st.model.next();  // drawn first, whatever happens next
    std::uint32_t out_socket;
    std::uint32_t client = none;
    Address to;
    if (dir == Direction::client_to_server) {
      out_socket = upstream_for(d.peer, now, transport, st);
      if (out_socket == none) continue;
      to = config_.to;
      client = sockets_[out_socket].client;
      loops_.received(client, d.payload, now);  // sent back what it was delivered: looping
    } else {
      client = sockets_[socket].client;
      const Address* peer = client == none ? nullptr : clients_.client_of(client);
      if (peer == nullptr || !(d.peer == config_.to)) {
        ++st.counters.dropped_unroutable;
        continue;
      }
      clients_.touch(client, now);
      out_socket = 0;
      to = *peer;
    }
    if (st.limiter && !st.limiter->try_take_one(now)) {
      ++st.counters.dropped_rate;
      continue;
    }
    if (decision.lose) {
      ++st.counters.dropped_loss;
      continue;
    }
    if (dir == Direction::server_to_client) loops_.delivering(client, d.payload, now);
    if (decision.duplicate && loops_.looping(client, now)) {
      decision.duplicate = false;  // a copy made in a loop would go round it for good
      ++st.counters.dup_withheld;
    }
    forward(st, out_socket, to, d.payload, decision, now);
  }
}

void ImpairProxy::forward(DirectionState& st, std::uint32_t socket, const Address& to,
                          std::span<const std::byte> payload, const ImpairmentDecision& decision,
                          time_point now) noexcept {
  const std::uint8_t copies = decision.duplicate ? 2 : 1;
  // Never before the datagram ahead of it in this direction: FIFO queues stay time-ordered.
  const time_point release = std::max(now + decision.delay, st.last_release);
  st.last_release = release;
  if (release > now) ++st.counters.delayed;

  if (decision.reorder) {
    const std::uint32_t slot = take_slot(socket, to, payload, copies, release);
    if (slot == none) {
      ++st.counters.dropped_overflow;
      return;
    }
    if (st.held != none) release_held(st, /*overtaken=*/false);  // one held at a time
    st.held = slot;
    st.held_deadline = release + config_.reorder_hold;
    arm(socket);
    return;
  }

  Transport* t = sockets_[socket].transport;
  if (t != nullptr && sockets_[socket].fifo.head == none && release <= now && t->send_queue_room(payload.size()) >= copies) {
    // Due now and nothing queued ahead of it on this socket: straight into the send queue.
    for (std::uint8_t c = 0; c < copies; ++c) {
      const SendResult r = t->send(payload, to);
      if (r != SendResult::queued) {
        if (c == 0) ++st.counters.dropped_send;
        break;
      }
      if (c == 0) {
        ++st.counters.forwarded;
      } else {
        ++st.counters.duplicated;
      }
    }
  } else {
    const std::uint32_t slot = take_slot(socket, to, payload, copies, release);
    if (slot == none) {
      ++st.counters.dropped_overflow;
      return;  // a held datagram stays held: this one never left, so it overtook nothing
    }
    push(slot);
    arm(socket);
  }
  if (st.held != none) release_held(st, /*overtaken=*/true);
}

std::uint32_t ImpairProxy::take_slot(std::uint32_t socket, const Address& to, std::span<const std::byte> payload,
                                     std::uint8_t copies, time_point release) noexcept {
  if (free_head_ == none) return none;
  const std::uint32_t i = free_head_;
  Slot& s = slots_[i];
  free_head_ = s.next;
  s.release = release;
  s.to = to;
  s.length = static_cast<std::uint32_t>(std::min<std::size_t>(payload.size(), config_.slot_size));
  s.next = none;
  s.socket = socket;
  s.copies_left = copies;
  s.sent_any = false;
  s.overtaken = false;
  if (s.length != 0) std::memcpy(slot_bytes_.get() + std::size_t{i} * config_.slot_size, payload.data(), s.length);
  return i;
}

void ImpairProxy::free_slot(std::uint32_t slot) noexcept {
  slots_[slot].next = free_head_;
  free_head_ = slot;
}

void ImpairProxy::push(std::uint32_t slot) noexcept {
  Fifo& f = sockets_[slots_[slot].socket].fifo;
  slots_[slot].next = none;
  if (f.tail == none) {
    f.head = f.tail = slot;
  } else {
    slots_[f.tail].next = slot;
    f.tail = slot;
  }
}

void ImpairProxy::release_held(DirectionState& st, bool overtaken) noexcept {
  const std::uint32_t slot = st.held;
  st.held = none;
  Slot& s = slots_[slot];
  s.overtaken = overtaken;
  // It leaves right behind the datagram that overtook it (or now, when its hold ran out).
  s.release = std::max(s.release, st.last_release);
  st.last_release = s.release;
  push(slot);
  arm(s.socket);
}

void ImpairProxy::arm(std::uint32_t socket) noexcept {
  Transport* t = sockets_[socket].transport;
  if (t == nullptr) return;
  time_point due = time_point::max();
  const Fifo& f = sockets_[socket].fifo;
  if (f.head != none) due = slots_[f.head].release;
  const DirectionState& st = state_of(direction_of(socket));
  if (st.held != none && slots_[st.held].socket == socket) due = std::min(due, st.held_deadline);
  if (due == time_point::max()) {
    t->request_writable(false);
    return;
  }
  t->request_writable(true);
  t->defer_writable(due);
}

bool ImpairProxy::send_copy(DirectionState& st, Transport& t, Slot& s) noexcept {
  const std::size_t index = static_cast<std::size_t>(&s - slots_.data());
  const std::span<const std::byte> payload(slot_bytes_.get() + index * config_.slot_size, s.length);
  if (t.send(payload, s.to) != SendResult::queued) {
    if (!s.sent_any) ++st.counters.dropped_send;
    return false;
  }
  if (!s.sent_any) {
    ++st.counters.forwarded;
    if (s.overtaken) ++st.counters.reordered;
    s.sent_any = true;
  } else {
    ++st.counters.duplicated;
  }
  --s.copies_left;
  return true;
}

void ImpairProxy::writable(std::uint32_t socket, Transport& t) noexcept {
  const time_point now = Clock::now();
  DirectionState& st = state_of(direction_of(socket));
  if (st.held != none && slots_[st.held].socket == socket && now >= st.held_deadline) {
    release_held(st, /*overtaken=*/false);  // no next datagram came in time
  }
  Fifo& f = sockets_[socket].fifo;
  bool short_of_bytes = false;
  while (f.head != none && slots_[f.head].release <= now) {
    const std::uint32_t head = f.head;
    Slot& s = slots_[head];
    if (t.send_queue_room(s.length) == 0) {
      short_of_bytes = t.send_queue_room(0) != 0;
      break;
    }
    const bool ok = send_copy(st, t, s);
    if (ok && s.copies_left != 0) continue;  // the duplicate, if there is room
    f.head = s.next;
    if (f.head == none) f.tail = none;
    free_slot(head);
  }
  if (short_of_bytes) {
    // Entries are free but the byte ring is not (io_uring sends still in flight): the engine only
    // offers on_writable again for free entries, so look again shortly.
    t.request_writable(true);
    t.defer_writable(now + std::chrono::microseconds(50));
    return;
  }
  arm(socket);
  close_if_done(socket);  // an expired client's socket, now that its last datagram has left
}

void ImpairProxy::finish() {
  for (std::size_t socket = 0; socket < sockets_.size(); ++socket) {
    DirectionState& st = state_of(direction_of(static_cast<std::uint32_t>(socket)));
    Fifo& f = sockets_[socket].fifo;
    for (std::uint32_t i = f.head; i != none; i = slots_[i].next) {
      if (!slots_[i].sent_any) ++st.counters.dropped_at_exit;
    }
    f = Fifo{};
  }
  for (DirectionState& st : dirs_) {
    if (st.held != none) ++st.counters.dropped_at_exit;
    st.held = none;
  }
}

}  // namespace salvo::cli
