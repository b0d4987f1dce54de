// A network namespace in which multicast works on loopback, for tests that run programs sending
// to a multicast group: no traffic leaves the namespace, and the host's routes do not matter.
#pragma once

#include <functional>
#include <string>

namespace salvo::test {

// Runs `body` on a new thread that first enters a fresh network namespace (unshare(CLONE_NEWNET))
// with `lo` up and multicast-capable and 224.0.0.0/4 routed through it with 127.0.0.1 as the source
// (so that a sender bound to 0.0.0.0 is seen as 127.0.0.1). Sockets that body opens, and child
// processes it starts, live in that namespace (a child inherits its spawning thread's). Returns ""
// once body has run (rethrowing what it threw), or why the namespace could not be made (body not
// run): not root, no `ip` command, ...
std::string run_in_multicast_namespace(const std::function<void()>& body);

}  // namespace salvo::test
