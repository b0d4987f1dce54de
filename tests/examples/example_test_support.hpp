// What the example tests share: where the example programs and the Python peers are (compile
// definitions from tests/examples/CMakeLists.txt), and a fixture that runs each test once per
// backend by setting SALVO_BACKEND in the examples' environment.
#pragma once

#include <string>

#include "examples/example_process.hpp"
#include "support/test_support.hpp"

namespace salvo::test {

inline const std::string echo_server_bin = SALVO_EXAMPLE_ECHO_SERVER;
inline const std::string helloer_bin = SALVO_EXAMPLE_HELLOER;
inline const std::string multicast_pong_bin = SALVO_EXAMPLE_MULTICAST_PONG;
inline const std::string multicast_ping_bin = SALVO_EXAMPLE_MULTICAST_PING;
inline const std::string chat_relay_bin = SALVO_EXAMPLE_CHAT_RELAY;
inline const std::string ticker_bin = SALVO_EXAMPLE_TICKER;
inline const std::string python3_bin = SALVO_PYTHON3;        // "" when CMake found none
inline const std::string interop_dir = SALVO_INTEROP_DIR;    // tests/interop

class ExampleTest : public testing::TestWithParam<BackendKind> {
 protected:
  // The examples call Engine::create({}): SALVO_BACKEND decides their backend.
  Environment backend_env() const { return {{"SALVO_BACKEND", std::string(to_string(GetParam()))}}; }
  // The line each example prints on stderr at start names the backend and why.
  std::string backend_line() const {
    const std::string kind(to_string(GetParam()));
    return "backend " + kind + ": forced by SALVO_BACKEND=" + kind;
  }
};

// "127.0.0.1:40000" out of a line "<prefix>127.0.0.1:40000 <anything>".
inline Address address_after(const std::string& line, const std::string& prefix) {
  const std::string rest = line.substr(prefix.size());
  return addr(rest.substr(0, rest.find(' ')));
}

}  // namespace salvo::test
