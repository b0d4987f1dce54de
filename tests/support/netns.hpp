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

// A token bucket on the calling thread's namespace's loopback (`tc qdisc add dev lo root tbf rate
// 8kbit burst 1600`): one 1200-byte datagram leaves every 1.2 s and the rest waits in the qdisc,
// charged to its sender, so a socket's send buffer fills and stays full. When this goes the qdisc
// is deleted, dropping what it holds. That matters beyond the namespace: the kernel's ICMP sockets
// are per CPU and shared by every namespace, so ICMP errors queued here behind the bucket (a
// datagram released to a port closed meanwhile) would fill one and fail every ICMP error that CPU
// sends, in every namespace, for as long as the bucket takes to drain: minutes. Destroy it while
// the receiving sockets are still open and after the senders stopped.
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
