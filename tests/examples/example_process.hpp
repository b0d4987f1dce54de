// An example program (or a Python peer) run as a child process for the example tests: a
// support/process.hpp Child, with extra environment variables (SALVO_BACKEND) and waits on its
// stdout, since the examples print what the seeds print on stdout.
#pragma once

#include <string>

#include "support/process.hpp"

namespace salvo::test {

using ExampleProcess = Child;

// How a finished child ended and what it printed, for failure messages.
std::string describe(const ProcessResult& r);

}  // namespace salvo::test
