// A worker thread that cannot be created (a pids cgroup or RLIMIT_NPROC at its limit) is an error
// the command reports in one line, exit 1, on each backend: not std::terminate's abort. The `salvo`
// child runs under tests/support/without_threads.cpp, where creating a thread fails with EAGAIN.
// Before the fix the command aborted (exit 134, "terminate called after throwing std::system_error").
#include "support/process.hpp"
#include "support/test_support.hpp"

namespace salvo::test {
namespace {

class ThreadFailure : public testing::TestWithParam<BackendKind> {};

TEST_P(ThreadFailure, IsAOneLineErrorNotAnAbort) {
#if !defined(__x86_64__)
  GTEST_SKIP() << "the seccomp filter is written for x86-64";
#endif
  for (const char* workers : {"1", "3"}) {
    SCOPED_TRACE(std::string("workers ") + workers);
    const auto r = run_process({SALVO_WITHOUT_THREADS_PATH, SALVO_CLI_PATH, "sink", "--bind", "127.0.0.1:0", "--backend",
                                std::string(to_string(GetParam())), "--workers", workers, "--duration", "0.1"},
                               20s);
    ASSERT_TRUE(r.exited) << "ended by a signal: " << r.err;
    EXPECT_EQ(r.exit_code, 1) << r.err;
    const auto lines = lines_of(r.err);
    ASSERT_EQ(lines.size(), 1u) << r.err;
    EXPECT_NE(lines[0].find("cannot create the thread of worker 0"), std::string::npos) << lines[0];
    EXPECT_NE(lines[0].find("Resource temporarily unavailable"), std::string::npos) << lines[0];  // EAGAIN
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, ThreadFailure, testing::ValuesIn(available_backends()), backend_test_name);

}  // namespace
}  // namespace salvo::test
