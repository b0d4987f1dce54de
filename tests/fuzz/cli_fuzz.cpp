// Fuzz target: the salvo command line. The input is split at NUL bytes into argv words (the one
// byte a real argument cannot hold) and parsed by the very app main() builds (tools/common/app.hpp),
// without running the chosen command: no socket is opened, no file touched. The flags' checks run
// on the way (addresses, rates, ranges). Whatever the words, parsing ends in success with exactly
// one known subcommand chosen, or in a CLI::ParseError that main() turns into a usage message;
// any other exception would escape main() and end the program with std::terminate.
#include <CLI/CLI.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include "common/app.hpp"
#include "fuzz_check.hpp"

namespace {

// More words than any real command line needs; bounds the time one input can take.
constexpr std::size_t max_words = 64;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::string> words{"salvo"};
  std::string word;
  for (std::size_t i = 0; i < size && words.size() <= max_words; ++i) {
    if (data[i] == 0) {
      words.push_back(std::move(word));
      word.clear();
    } else {
      word.push_back(static_cast<char>(data[i]));
    }
  }
  if (size > 0 && words.size() <= max_words) words.push_back(std::move(word));
  std::vector<char*> argv;
  for (std::string& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);

  // One app for all inputs, as CLI11 supports (parse() clears the previous parse's results first):
  // building the app allocates thousands of times, which under ASan cost ~4 ms, two hundred times
  // the parse itself. Nothing the parse decides depends on the bound variables' earlier values.
  static CLI::App app{"salvo", "salvo"};
  static const auto commands = salvo::cli::add_all_commands(app);
  try {
    salvo::cli::parse_command_line(app, static_cast<int>(words.size()), argv.data());
  } catch (const CLI::Success& e) {  // --help and friends: main() prints help and exits 0
    FUZZ_CHECK(e.get_exit_code() == 0);
    return 0;
  } catch (const CLI::ParseError& e) {
    FUZZ_CHECK(e.get_exit_code() != 0 && e.what()[0] != '\0');
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "exception other than CLI::ParseError: %s\n", e.what());
    std::abort();
  }
  const auto chosen = app.get_subcommands();
  FUZZ_CHECK(chosen.size() == 1 && commands.count(chosen.front()->get_name()) == 1);
  return 0;
}
