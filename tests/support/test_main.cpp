// main() for every salvo test executable. SALVO_BACKEND would override the backend each test
// asks for, so it is removed before gtest computes the backend list and registers the
// parameterized tests (tests that exercise the variable set it themselves, in scope).
#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>

int main(int argc, char** argv) {
  ::unsetenv("SALVO_BACKEND");
  std::signal(SIGPIPE, SIG_IGN);  // a child process that dies must fail a test, not end the run
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
