#include "examples/example_process.hpp"

namespace salvo::test {

std::string describe(const ProcessResult& r) {
  return "exit=" + std::to_string(r.exit_code) + " signal=" + std::to_string(r.signal) +
         (r.timed_out ? " TIMED OUT" : "") + "\nstderr:\n" + r.err + "\nstdout:\n" + r.out;
}

}  // namespace salvo::test
