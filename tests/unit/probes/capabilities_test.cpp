// salvo::probe_capabilities: consistent with what the rest of salvo does on this machine (the
// backend Engine::create picks, the backends the test suite can run, IPv6 loopback), with the
// kernel and the process (uname, the affinity mask, the THP setting), and with the same socket
// options set here independently. Every feature has a reason exactly when it is unavailable.
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <thread>

#include "support/test_support.hpp"

namespace salvo::test {
namespace {

const std::vector<std::string> socket_feature_names = {
    "ecn_ipv4",     "pktinfo_ipv4",     "timestamp_ns",   "timestamping_rx_software",
    "ipv6_loopback", "ecn_ipv6",        "pktinfo_ipv6",   "udp_gso",
    "udp_gro",      "reuseport",        "reuseport_cbpf", "recverr_ipv4",
    "recverr_ipv6", "busy_poll",        "prefer_busy_poll", "meminfo"};

std::vector<const Feature*> all_features(const Capabilities& c) {
  std::vector<const Feature*> out = {&c.io_uring.usable, &c.io_uring.multishot_recvmsg,
                                     &c.io_uring.provided_buffer_ring, &c.thp};
  for (const auto* list : {&c.socket, &c.io_uring.setup_flags, &c.io_uring.kernel_features, &c.io_uring.opcodes}) {
    for (const Feature& f : *list) out.push_back(&f);
  }
  return out;
}

// Whether a plain UDP socket accepts `value` for an option, tried here without salvo.
bool socket_accepts(int level, int option, int value) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  const bool ok = ::setsockopt(fd, level, option, &value, sizeof value) == 0;
  ::close(fd);
  return ok;
}

const Feature& must_find(const Capabilities& c, const std::string& name) {
  const Feature* f = c.find(name);
  if (f == nullptr) throw std::runtime_error("no feature " + name);
  return *f;
}

TEST(Capabilities, KernelReleaseIsUnames) {
  utsname names{};
  ASSERT_EQ(::uname(&names), 0);
  EXPECT_EQ(probe_capabilities().kernel_release, names.release);
}

TEST(Capabilities, BackendIsTheOneEngineCreatePicks) {
  EnvGuard unset("SALVO_BACKEND", nullptr);
  const Capabilities caps = probe_capabilities();
  ASSERT_TRUE(caps.backend.ok) << caps.backend.reason;
  EXPECT_FALSE(caps.backend.env_set);
  auto engine = make_engine({});
  EXPECT_EQ(caps.backend.kind, engine->backend().kind);
  EXPECT_EQ(caps.backend.reason, engine->backend().reason);
  EXPECT_NE(caps.backend.reason.find("auto"), std::string::npos) << caps.backend.reason;
  // The automatic choice is io_uring exactly when the suite can run io_uring.
  EXPECT_EQ(caps.backend.kind == BackendKind::io_uring, backend_available(BackendKind::io_uring));
}

TEST(Capabilities, SalvoBackendEnvironmentIsReportedAndObeyed) {
  {
    EnvGuard forced("SALVO_BACKEND", "epoll");
    const Capabilities caps = probe_capabilities();
    ASSERT_TRUE(caps.backend.ok) << caps.backend.reason;
    EXPECT_EQ(caps.backend.kind, BackendKind::epoll);
    EXPECT_TRUE(caps.backend.env_set);
    EXPECT_EQ(caps.backend.env, "epoll");
    EXPECT_NE(caps.backend.reason.find("SALVO_BACKEND=epoll"), std::string::npos) << caps.backend.reason;
    EXPECT_EQ(make_engine({})->backend().kind, BackendKind::epoll);
  }
  {
    EnvGuard bogus("SALVO_BACKEND", "bogus");
    const Capabilities caps = probe_capabilities();
    EXPECT_FALSE(caps.backend.ok);
    EXPECT_EQ(caps.backend.env, "bogus");
    auto engine = Engine::create({});
    ASSERT_FALSE(engine);
    EXPECT_EQ(caps.backend.reason, engine.error().message);
  }
}

TEST(Capabilities, EveryFeatureHasAReasonExactlyWhenUnavailable) {
  const Capabilities caps = probe_capabilities();
  for (const Feature* f : all_features(caps)) {
    EXPECT_FALSE(f->name.empty());
    if (f->available) {
      EXPECT_TRUE(f->reason.empty()) << f->name << ": " << f->reason;
    } else {
      EXPECT_FALSE(f->reason.empty()) << f->name << " is unavailable without a reason";
    }
  }
}

TEST(Capabilities, NamesAreUniqueAndTheSocketListIsTheDocumentedOne) {
  const Capabilities caps = probe_capabilities();
  std::set<std::string> names;
  for (const Feature* f : all_features(caps)) EXPECT_TRUE(names.insert(f->name).second) << "twice: " << f->name;
  std::vector<std::string> socket;
  for (const Feature& f : caps.socket) socket.push_back(f.name);
  EXPECT_EQ(socket, socket_feature_names);
  for (const std::string& n : socket_feature_names) EXPECT_EQ(caps.find(n), &must_find(caps, n));
  EXPECT_EQ(caps.find("no_such_feature"), nullptr);
}

TEST(Capabilities, IoUringPartAgreesWithTheBackend) {
  const Capabilities caps = probe_capabilities();
  const bool runs = backend_available(BackendKind::io_uring);
  EXPECT_EQ(caps.io_uring.usable.available, runs) << caps.io_uring.usable.reason;
  if (!caps.io_uring.built) {
    EXPECT_EQ(caps.liburing_version, "none");
    EXPECT_FALSE(runs);
    EXPECT_TRUE(caps.io_uring.setup_flags.empty());
    EXPECT_TRUE(caps.io_uring.opcodes.empty());
    return;
  }
  EXPECT_NE(caps.liburing_version, "none");
  EXPECT_EQ(caps.io_uring.setup_flags.size(), 8u);
  EXPECT_EQ(caps.io_uring.opcodes.size(), 14u);
  if (!runs) return;
  // What the backend's probe needed, and what it reported using, must show up as available.
  EXPECT_TRUE(caps.io_uring.multishot_recvmsg.available);
  EXPECT_TRUE(caps.io_uring.provided_buffer_ring.available) << caps.io_uring.provided_buffer_ring.reason;
  for (const char* op : {"RECVMSG", "SENDMSG", "READ", "ASYNC_CANCEL"}) {
    EXPECT_TRUE(must_find(caps, op).available) << op << ": " << must_find(caps, op).reason;
  }
  for (const char* flag : {"SINGLE_ISSUER", "DEFER_TASKRUN", "COOP_TASKRUN"}) {
    if (caps.io_uring.usable.detail.find(flag) != std::string::npos) {
      EXPECT_TRUE(must_find(caps, flag).available) << flag << ": " << must_find(caps, flag).reason;
    }
  }
  // salvo's rings are created with CQSIZE, CLAMP and SUBMIT_ALL whatever else they get.
  for (const char* flag : {"CQSIZE", "CLAMP", "SUBMIT_ALL"}) EXPECT_TRUE(must_find(caps, flag).available) << flag;
}

TEST(Capabilities, SocketFeaturesAgreeWithTheSameOptionsSetHere) {
  const Capabilities caps = probe_capabilities();
  EXPECT_EQ(must_find(caps, "ipv6_loopback").available, ipv6_loopback_available());
  EXPECT_EQ(must_find(caps, "udp_gro").available, socket_accepts(IPPROTO_UDP, UDP_GRO, 1));
  EXPECT_EQ(must_find(caps, "busy_poll").available, socket_accepts(SOL_SOCKET, SO_BUSY_POLL, 50));
  if (!socket_accepts(IPPROTO_UDP, UDP_SEGMENT, 100)) {
    EXPECT_FALSE(must_find(caps, "udp_gso").available);
  }
  if (!socket_accepts(SOL_SOCKET, SO_TIMESTAMPNS, 1)) {
    EXPECT_FALSE(must_find(caps, "timestamp_ns").available);
  }
  if (!socket_accepts(IPPROTO_IP, IP_PKTINFO, 1)) {
    EXPECT_FALSE(must_find(caps, "pktinfo_ipv4").available);
  }
  // Multi-worker engines join an SO_REUSEPORT group, and the suite's two-worker tests pass only
  // where that works; kernel drops are read with SO_MEMINFO.
  EXPECT_TRUE(must_find(caps, "reuseport").available) << must_find(caps, "reuseport").reason;
  EXPECT_TRUE(must_find(caps, "meminfo").available) << must_find(caps, "meminfo").reason;
  if (!ipv6_loopback_available()) {
    for (const char* n : {"ecn_ipv6", "pktinfo_ipv6", "recverr_ipv6"}) EXPECT_FALSE(must_find(caps, n).available) << n;
  }
}

TEST(Capabilities, CpusAreThisProcesssAffinityAndTheOnlineSet) {
  const Capabilities caps = probe_capabilities();
  cpu_set_t set;
  CPU_ZERO(&set);
  ASSERT_EQ(::sched_getaffinity(0, sizeof set, &set), 0);
  EXPECT_EQ(caps.cpus.allowed, static_cast<unsigned>(CPU_COUNT(&set)));
  EXPECT_EQ(caps.cpus.online, static_cast<unsigned>(::sysconf(_SC_NPROCESSORS_ONLN)));
  EXPECT_LE(caps.cpus.allowed, caps.cpus.online);
  // The list names exactly the CPUs of the mask.
  auto cpus = parse_cpu_list(caps.cpus.allowed_list);
  ASSERT_TRUE(cpus) << caps.cpus.allowed_list;
  EXPECT_EQ(cpus->size(), caps.cpus.allowed);
  for (int cpu : *cpus) EXPECT_TRUE(CPU_ISSET(cpu, &set)) << cpu;
  EXPECT_EQ(cpus->front(), allowed_cpu());
}

TEST(Capabilities, ThpModeIsTheSystemSetting) {
  const Capabilities caps = probe_capabilities();
  std::ifstream in("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string line;
  if (!std::getline(in, line)) {
    EXPECT_TRUE(caps.thp_mode.empty());
    EXPECT_FALSE(caps.thp.available);
    return;
  }
  const auto open = line.find('[');
  ASSERT_NE(open, std::string::npos) << line;
  EXPECT_EQ(caps.thp_mode, line.substr(open + 1, line.find(']') - open - 1));
  if (caps.thp_mode == "never") {
    EXPECT_FALSE(caps.thp.available);
  }
}

TEST(Capabilities, ConcurrentCallsAgree) {
  const Capabilities first = probe_capabilities();
  std::vector<Capabilities> results(4);
  std::vector<std::thread> threads;
  for (auto& r : results) threads.emplace_back([&r] { r = probe_capabilities(); });
  for (auto& t : threads) t.join();
  for (const Capabilities& r : results) {
    EXPECT_EQ(r.backend.kind, first.backend.kind);
    EXPECT_EQ(r.backend.reason, first.backend.reason);
    EXPECT_EQ(r.kernel_release, first.kernel_release);
    const auto a = all_features(first);
    const auto b = all_features(r);
    ASSERT_EQ(a.size(), b.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i]->name, b[i]->name);
      // Whether a trial pool gets huge pages depends on free memory at that moment: not compared.
      if (a[i]->name == "thp") continue;
      EXPECT_EQ(a[i]->available, b[i]->available) << a[i]->name << ": " << a[i]->reason << " / " << b[i]->reason;
    }
  }
}

}  // namespace
}  // namespace salvo::test
