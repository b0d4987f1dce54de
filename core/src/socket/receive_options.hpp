// The socket options behind EngineOptions' receive metadata (gro, receive_destination,
// receive_traffic_class, timestamps): each makes the kernel attach one control message per
// datagram, which datapath/cmsg.cpp decodes.
#pragma once

#include "salvo/engine.hpp"
#include "salvo/error.hpp"

namespace salvo::detail {

// Turns on the control messages behind the receive metadata `options` ask for (UDP_GRO,
// IP_PKTINFO / IPV6_RECVPKTINFO, IP_RECVTOS / IPV6_RECVTCLASS, SO_TIMESTAMPNS / SO_TIMESTAMPING).
// `ipv6`: the socket is AF_INET6. Errors name the option.
Result<void> enable_receive_metadata(int fd, bool ipv6, const EngineOptions& options);

}  // namespace salvo::detail
