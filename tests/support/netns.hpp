// Network namespaces for tests that need more than loopback (veth pairs, routers, firewall
// rules, multicast): traffic stays inside namespaces the test makes. They need root; callers skip
// with the returned reason when a namespace cannot be made.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace salvo::test {

// The path of a system tool (ip, nft), or "" when it is not installed.
std::string find_tool(const char* name);

// Runs a tool in the calling thread's network namespace; "" or what went wrong.
std::string run_tool(const std::string& path, const std::vector<std::string>& args);

// Runs `body` on a thread that first enters a fresh network namespace with `lo` up; the engine's
// worker threads it starts, and the sockets it opens, live there. Returns "" once body has run
// (rethrowing what it threw), or why the namespace could not be made (body not run).
std::string in_fresh_namespace(const std::function<void()>& body);

// in_fresh_namespace, with `lo` also multicast-capable and 224.0.0.0/4 routed through it with
// 127.0.0.1 as the source (so that a sender bound to 0.0.0.0 is seen as 127.0.0.1), for programs
// that send to a multicast group. Child processes body starts live in the namespace too (a child
// inherits its spawning thread's).
std::string in_multicast_namespace(const std::function<void()>& body);

// A token bucket on the calling thread's namespace's loopback (tc's tbf at 8 kbit/s): what a socket
// sends waits in the qdisc, charged to it, so its send buffer fills and stays full. Going, it
// deletes the qdisc and what it holds. Destroy it after the senders stop and before the receivers
// close: ICMP errors queued behind the bucket would fill the kernel's per-CPU ICMP socket, which
// every namespace shares (docs/reliability.md, "Stopping whatever the peers do").
class LoopbackTokenBucket {
 public:
  LoopbackTokenBucket();
  ~LoopbackTokenBucket();
  LoopbackTokenBucket(const LoopbackTokenBucket&) = delete;
  LoopbackTokenBucket& operator=(const LoopbackTokenBucket&) = delete;
  // "" once the qdisc is in place, or why not (`tc` missing, no tbf in this kernel).
  const std::string& why_not() const { return why_not_; }

 private:
  std::string tc_;
  std::string why_not_;
};

// A named namespace (`ip netns add`), deleted again when this goes.
class NamedNamespace {
 public:
  explicit NamedNamespace(std::string name);
  ~NamedNamespace();
  NamedNamespace(const NamedNamespace&) = delete;
  NamedNamespace& operator=(const NamedNamespace&) = delete;

  const std::string& name() const { return name_; }
  const std::string& error() const { return error_; }
  // `ip -n NAME ARGS...`.
  std::string ip(std::vector<std::string> args) const;
  // Runs fn on a thread inside this namespace (sockets it opens belong here); "" or why not.
  std::string run(const std::function<void()>& fn) const;

 private:
  std::string name_;
  std::string ip_;
  std::string error_;
};

}  // namespace salvo::test
