// Backend selection when io_uring is forbidden, as Docker's default seccomp profile forbids it:
// `auto` must choose epoll and say why, every time; asking for io_uring explicitly must be a
// one-line usage error. The `salvo` child runs under tests/support/without_io_uring.cpp, which
// makes io_uring_setup/enter/register fail with EPERM before exec, so the probe in the child runs
// against the filter (the probe result is cached per process, so this cannot be tested in-process).
#include <nlohmann/json.hpp>

#include "support/process.hpp"
#include "support/test_support.hpp"

namespace salvo::test {
namespace {

// The filter only means something where io_uring works (this build has the backend and this
// kernel allows it), and it is written for x86-64 system call numbers.
#define SALVO_REQUIRE_FILTERABLE_IO_URING()                                                        \
  do {                                                                                             \
    if (!backend_available(BackendKind::io_uring)) GTEST_SKIP() << "io_uring does not run here anyway"; \
    if (!kFilterArch) GTEST_SKIP() << "the seccomp filter is written for x86-64";                  \
  } while (false)

#if defined(__x86_64__)
constexpr bool kFilterArch = true;
#else
constexpr bool kFilterArch = false;
#endif

ProcessResult salvo_without_io_uring(std::vector<std::string> args) {
  args.insert(args.begin(), SALVO_CLI_PATH);
  args.insert(args.begin(), SALVO_WITHOUT_IO_URING_PATH);
  return run_process(args, 20s);
}

TEST(BackendFallback, AutoChoosesEpollEveryTimeWhenIoUringIsForbidden) {
  SALVO_REQUIRE_FILTERABLE_IO_URING();
  for (int run = 0; run < 3; ++run) {
    const auto r = salvo_without_io_uring({"sink", "--bind", "127.0.0.1:0", "--duration", "0.1", "--json"});
    ASSERT_TRUE(r.exited && r.exit_code == 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j.at("backend"), "epoll");
    const std::string reason = j.at("backend_reason");
    EXPECT_NE(reason.find("auto"), std::string::npos) << reason;
    EXPECT_NE(reason.find("EPERM"), std::string::npos) << reason;
  }
}

TEST(BackendFallback, ExplicitIoUringIsAOneLineUsageError) {
  SALVO_REQUIRE_FILTERABLE_IO_URING();
  const auto r = salvo_without_io_uring({"sink", "--backend", "io_uring", "--bind", "127.0.0.1:0", "--duration", "0.1"});
  ASSERT_TRUE(r.exited) << r.err;
  EXPECT_EQ(r.exit_code, 2);
  const auto lines = lines_of(r.err);
  ASSERT_EQ(lines.size(), 1u) << r.err;
  EXPECT_NE(lines[0].find("io_uring backend unavailable"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("EPERM"), std::string::npos) << lines[0];
}

TEST(BackendFallback, ForcedEpollServesEvenWhereIoUringWorks) {
  // The counterpart without the filter: SALVO_BACKEND is not set here, --backend epoll is.
  const auto r = run_process({SALVO_CLI_PATH, "sink", "--backend", "epoll", "--bind", "127.0.0.1:0", "--duration", "0.1", "--json"}, 20s);
  ASSERT_TRUE(r.exited && r.exit_code == 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out).at("backend"), "epoll");
}

}  // namespace
}  // namespace salvo::test
