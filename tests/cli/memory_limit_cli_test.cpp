// The salvo command short of memory: it runs on what it can get, or fails in one line with the
// reason, and is never killed (by the OOM killer or anything else).
//  - RLIMIT_MEMLOCK at 64 KiB (with_rlimit), for auto and every backend: echo answers 100 clients'
//    datagrams exactly (io_uring since Linux 5.12 charges its rings to the memory cgroup, not to
//    the locked-memory limit; a kernel that does charge it makes auto fall back to epoll at start).
//  - RLIMIT_AS at 2 GiB: receive buffers asking for 2 GiB are a usage error naming RLIMIT_AS and
//    the options to lower (exit 2), checked before anything is mapped; the defaults run; at 256
//    MiB, below a worker's send pool reservation (1 GiB of address space), that is the one line.
//  - a cgroup v2 child with memory.max at 64 MiB (created under /sys/fs/cgroup when its memory
//    controller is there and the tree is writable, skipped with the reason otherwise; removed
//    after): 2 GiB of receive buffers are refused naming the cgroup (exit 2), the defaults serve.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/cli_test_support.hpp"
#include "support/process.hpp"
#include "support/test_support.hpp"

namespace salvo::test {
namespace {

// `prefix` (a wrapper and its arguments) + salvo echo on loopback with `extra` flags: 100
// datagrams each come back, SIGINT ends it, exit 0, and its JSON counts exactly 100 each way.
// Returns the start line's backend reason.
std::string echo_answers_exactly(std::vector<std::string> prefix, const std::vector<std::string>& extra) {
  std::vector<std::string> argv = std::move(prefix);
  for (const char* a : {SALVO_CLI_PATH, "echo", "--bind", "127.0.0.1:0", "--duration", "60", "--json"}) argv.push_back(a);
  argv.insert(argv.end(), extra.begin(), extra.end());
  Child echo(argv);
  if (!echo.wait_for_stderr(")\n", 20s)) {
    ADD_FAILURE() << "no start line: " << echo.err_so_far();
    return {};
  }
  const Address where = listening_address(echo.err_so_far());
  UdpSocket client(addr("127.0.0.1:0"), 1 << 20);
  for (std::uint64_t i = 0; i < 100; ++i) {
    EXPECT_TRUE(client.send_to(make_payload(i, 64), where));
    auto reply = client.receive(10s);
    if (!reply) {
      ADD_FAILURE() << "no echo for " << i;
      break;
    }
    EXPECT_EQ(payload_seq(reply->payload), i);
  }
  echo.send_signal(SIGINT);
  const ProcessResult r = echo.finish(20s);
  EXPECT_TRUE(r.exited && r.exit_code == 0) << show(r);
  if (!r.exited || r.exit_code != 0) return {};
  const nlohmann::json j = json_of(r);
  EXPECT_EQ(j["received"].get<std::uint64_t>(), 100u) << j.dump();
  EXPECT_EQ(j["sent"].get<std::uint64_t>(), 100u) << j.dump();
  const std::string& err = r.err;
  const std::size_t open = err.find(" (") + 2;
  return err.substr(open, err.find(")\n") - open);
}

std::vector<std::string> with_rlimit(const char* resource, const std::string& bytes) {
  return {SALVO_WITH_RLIMIT_PATH, resource, bytes, bytes};
}

TEST(MemoryLimitCli, EchoUnderA64KiBMemlockLimitAnswersEveryDatagram) {
  const std::string reason = echo_answers_exactly(with_rlimit("memlock", "65536"), {});
  EXPECT_FALSE(reason.empty());
  std::printf("[ figure ] memlock 64 KiB, auto: %s\n", reason.c_str());
  for (BackendKind kind : available_backends()) {
    SCOPED_TRACE(to_string(kind));
    echo_answers_exactly(with_rlimit("memlock", "65536"), {"--backend", std::string(to_string(kind))});
  }
}

constexpr const char* big_buffers[] = {"--workers", "1", "--buffers", "32768", "--buffer-size", "65536"};

const std::string two_gib = std::to_string(std::uint64_t{2} << 30);

// AddressSanitizer reserves terabytes of address space for its shadow memory when a program
// starts, so an ASan-built salvo cannot start under any RLIMIT_AS these tests would set, and its
// shadow and quarantine would weigh on a small memory cgroup.
#ifdef __SANITIZE_ADDRESS__
#define SALVO_SKIP_UNDER_ASAN() \
  GTEST_SKIP() << "an AddressSanitizer build: its shadow memory needs more than these limits allow"
#else
#define SALVO_SKIP_UNDER_ASAN() (void)0
#endif

TEST(MemoryLimitCli, BuffersBeyondTheAddressSpaceLimitAreOneLineNamingIt) {
  SALVO_SKIP_UNDER_ASAN();
  std::vector<std::string> argv = with_rlimit("as", two_gib);
  for (const char* a : {SALVO_CLI_PATH, "sink", "--bind", "127.0.0.1:0", "--duration", "5"}) argv.push_back(a);
  argv.insert(argv.end(), std::begin(big_buffers), std::end(big_buffers));
  const ProcessResult r = run_process(argv, 30s);
  expect_usage_error(r, {"receive buffers would take 2048 MiB", "1 workers x 32768 buffers x 65536 bytes",
                         "more than half of the 2048 MiB this process may use (RLIMIT_AS)",
                         "lower workers, buffer_count or buffer_size"});
}

TEST(MemoryLimitCli, EchoUnderA2GiBAddressSpaceLimitAnswersEveryDatagram) {
  SALVO_SKIP_UNDER_ASAN();
  for (BackendKind kind : available_backends()) {
    SCOPED_TRACE(to_string(kind));
    echo_answers_exactly(with_rlimit("as", two_gib), {"--backend", std::string(to_string(kind))});
  }
}

// Each worker reserves address space for its send pool (1 GiB by default, touched only as used):
// under a smaller address-space limit that is the one line, not a crash.
TEST(MemoryLimitCli, AnAddressSpaceBelowTheSendPoolIsOneLineNamingIt) {
  SALVO_SKIP_UNDER_ASAN();
  std::vector<std::string> argv = with_rlimit("as", std::to_string(256u << 20));
  for (const char* a : {SALVO_CLI_PATH, "echo", "--bind", "127.0.0.1:0", "--duration", "5"}) argv.push_back(a);
  const ProcessResult r = run_process(argv, 30s);
  expect_usage_error(r, {"reserve the send pool of worker 0 (", "MiB of address space", "Cannot allocate memory"});
}

// A child of the root memory cgroup with its limit set, removed with the test: cgroup v2's
// memory.max, or where the memory controller is mounted as cgroup v1 (as on this VM), its
// memory.limit_in_bytes. The engine reads either (core/src/engine/memory_limit.cpp).
class MemoryCgroup {
 public:
  explicit MemoryCgroup(std::uint64_t max_bytes) {
    std::ifstream controllers("/sys/fs/cgroup/cgroup.controllers");
    std::string list;
    std::getline(controllers, list);
    const bool v2 = controllers && (" " + list + " ").find(" memory ") != std::string::npos;
    const bool v1 = !v2 && ::access("/sys/fs/cgroup/memory/memory.limit_in_bytes", W_OK) == 0;
    if (!v2 && !v1) {
      why_not_ = "no cgroup v2 memory controller at /sys/fs/cgroup (cgroup.controllers: \"" + list +
                 "\") and no cgroup v1 one at /sys/fs/cgroup/memory";
      return;
    }
    v1_ = v1;
    path_ = std::string(v1 ? "/sys/fs/cgroup/memory" : "/sys/fs/cgroup") + "/salvo-test-" + std::to_string(::getpid());
    if (::mkdir(path_.c_str(), 0755) != 0) {
      why_not_ = "cannot create " + path_ + ": " + std::strerror(errno);
      path_.clear();
      return;
    }
    if (v1) {
      if (!write("memory.limit_in_bytes", std::to_string(max_bytes))) why_not_ = "cannot set " + path_ + "/memory.limit_in_bytes";
      return;
    }
    if (!write("memory.max", std::to_string(max_bytes))) {
      why_not_ = "cannot set " + path_ + "/memory.max (is memory in the root's cgroup.subtree_control?)";
      return;
    }
    (void)write("memory.swap.max", "0");  // absent without swap accounting: then nothing to turn off
  }
  ~MemoryCgroup() {
    if (!path_.empty()) ::rmdir(path_.c_str());
  }
  MemoryCgroup(const MemoryCgroup&) = delete;
  MemoryCgroup& operator=(const MemoryCgroup&) = delete;

  const std::string& why_not() const { return why_not_; }
  const std::string& path() const { return path_; }
  // The OOM kills the cgroup has seen (memory.events; v1: memory.oom_control).
  std::uint64_t oom_kills() const {
    std::ifstream events(path_ + (v1_ ? "/memory.oom_control" : "/memory.events"));
    std::string key;
    std::uint64_t value = 0;
    while (events >> key >> value) {
      if (key == "oom_kill") return value;
    }
    return 0;
  }

 private:
  bool write(const char* file, const std::string& value) {
    std::ofstream out(path_ + "/" + file);
    out << value << "\n";
    out.flush();
    return static_cast<bool>(out);
  }
  std::string path_;
  std::string why_not_;
  bool v1_ = false;
};

TEST(MemoryLimitCli, InACgroupBelowTheBuffersSalvoRefusesInOneLineAndServesWithTheDefaults) {
  SALVO_SKIP_UNDER_ASAN();  // its shadow and quarantine count against memory.max as well
  MemoryCgroup cgroup(64u << 20);
  if (!cgroup.why_not().empty()) GTEST_SKIP() << cgroup.why_not();
  std::vector<std::string> argv = {SALVO_IN_CGROUP_PATH, cgroup.path(), SALVO_CLI_PATH, "sink", "--bind", "127.0.0.1:0",
                                   "--duration", "5"};
  argv.insert(argv.end(), std::begin(big_buffers), std::end(big_buffers));
  const ProcessResult r = run_process(argv, 30s);
  expect_usage_error(r, {"receive buffers would take 2048 MiB", "more than half of the 64 MiB this process may use",
                         "memory cgroup /salvo-test-"});
  echo_answers_exactly({SALVO_IN_CGROUP_PATH, cgroup.path()}, {});
  EXPECT_EQ(cgroup.oom_kills(), 0u);
}

}  // namespace
}  // namespace salvo::test
