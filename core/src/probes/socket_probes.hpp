// The socket half of probe_capabilities(): each socket feature tried on real UDP sockets bound to
// loopback (socket_probes.cpp lists what is tried and how).
#pragma once

#include <vector>

#include "salvo/capabilities.hpp"

namespace salvo::detail {

std::vector<Feature> probe_socket_features();

}  // namespace salvo::detail
