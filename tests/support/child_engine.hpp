// Engines inside a forked child (in_child.hpp), where gtest's assertions do not reach the test:
// an echo protocol, one datagram's round trip, and a whole create-listen-start-echo-stop run,
// each reporting through ChildChecks.
#pragma once

#include <cstdint>
#include <string>

#include "salvo/engine.hpp"
#include "support/in_child.hpp"

namespace salvo::test {

// A protocol that sends every datagram back to its sender.
ProtocolFactory child_echo_factory();

// One datagram with sequence number `seq` to `server` comes back within 10 s.
bool echoes(const Address& server, std::uint64_t seq);

// An engine with `options` is created, listens on 127.0.0.1:0, starts, echoes one datagram, stops
// and is destroyed. Returns its backend choice (empty when it did not get that far); what failed
// goes to `c`, prefixed with `what`.
BackendChoice serve_once(ChildChecks& c, const EngineOptions& options, const std::string& what);

}  // namespace salvo::test
