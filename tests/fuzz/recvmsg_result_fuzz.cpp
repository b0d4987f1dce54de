// Fuzz target: detail::parse_recvmsg_result (io_uring/recvmsg_result.hpp), which splits the
// provided buffer of every multishot recvmsg completion into source address, control messages and
// payload, trusting nothing the io_uring_recvmsg_out header says. Input: bytes 0-1 are the
// template's name room (byte 0, as the backend's is at most a sockaddr_storage) and control room
// (byte 1, times 2: the backend's is at most max_control_space); the rest is the buffer, held in an
// exactly sized heap block so that ASan flags any read past it. The views must lie inside the
// buffer where the template put them, their lengths bounded by both the header and the room, the
// truncation flag exact; then the pieces go through what the backend does with them
// (Address::from_sockaddr, parse_control, apply_control) and every payload byte is read.
#include <liburing.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

#include "datapath/cmsg.hpp"
#include "fuzz_check.hpp"
#include "recvmsg_result.hpp"
#include "salvo/address.hpp"
#include "salvo/datagram.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::uint32_t name_room = data[0];
  const std::uint32_t control_room = 2u * data[1];
  const std::size_t length = size - 2;
  auto buffer = std::make_unique<std::byte[]>(length == 0 ? 1 : length);
  std::memcpy(buffer.get(), data + 2, length);
  const std::byte* begin = buffer.get();

  const auto r = salvo::detail::parse_recvmsg_result(begin, length, name_room, control_room);
  const std::size_t header = sizeof(io_uring_recvmsg_out);
  const bool fits = length >= header && length - header >= std::size_t{name_room} + control_room;
  FUZZ_CHECK(r.has_value() == fits);
  if (!r) return 0;

  io_uring_recvmsg_out out;
  std::memcpy(&out, begin, sizeof out);
  FUZZ_CHECK(r->name == begin + header);
  FUZZ_CHECK(r->name_length == std::min(out.namelen, name_room));
  FUZZ_CHECK(r->control == begin + header + name_room);
  FUZZ_CHECK(r->control_length == std::min(out.controllen, control_room));
  const std::byte* payload_at = begin + header + name_room + control_room;
  const std::size_t fit = static_cast<std::size_t>(begin + length - payload_at);
  FUZZ_CHECK(r->payload.data() == payload_at);
  FUZZ_CHECK(r->payload.size() == std::min<std::size_t>(out.payloadlen, fit));
  FUZZ_CHECK(r->truncated == ((out.flags & MSG_TRUNC) != 0 || out.payloadlen > fit));
  FUZZ_CHECK(r->control_truncated == ((out.flags & MSG_CTRUNC) != 0));

  // What the backend then does with the pieces; ASan and the checks above keep it inside the buffer.
  salvo::Datagram d;
  d.peer = salvo::Address::from_sockaddr(r->name, r->name_length);
  if (d.peer.family() != salvo::Address::Family::none) {
    auto reparsed = salvo::Address::parse(d.peer.to_string());
    FUZZ_CHECK(reparsed && *reparsed == d.peer);
  }
  const salvo::detail::ControlInfo info = salvo::detail::parse_control(r->control, r->control_length);
  salvo::detail::apply_control(info, d.peer.port(), d.peer.is_v6(), d);
  FUZZ_CHECK(info.has_destination == (d.destination.family() != salvo::Address::Family::none));
  d.payload = r->payload;
  volatile std::byte sink{};  // reads every payload byte, as a protocol would
  for (std::byte b : d.payload) sink = sink ^ b;
  return 0;
}
