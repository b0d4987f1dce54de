// The whole public API in one include.
#pragma once

#include "salvo/address.hpp"
#include "salvo/build_info.hpp"
#include "salvo/capabilities.hpp"
#include "salvo/counters.hpp"
#include "salvo/datagram.hpp"
#include "salvo/datagram_protocol.hpp"
#include "salvo/engine.hpp"
#include "salvo/engine_options.hpp"
#include "salvo/error.hpp"
#include "salvo/fake_transport.hpp"
#include "salvo/flood_guard.hpp"
#include "salvo/metrics.hpp"
#include "salvo/protocol.hpp"
#include "salvo/resolve.hpp"
#include "salvo/transport.hpp"
