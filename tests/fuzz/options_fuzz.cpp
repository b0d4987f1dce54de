// Fuzz target: the parsers of option text outside CLI11's own checks: parse_cpu_list (--cpus),
// parse_backend_kind (--backend, SALVO_BACKEND), and salvo blast's parse_rate (--rate) and
// parse_size_range (--size-range). Byte 0 picks the parser, the rest is the text. Each accepted
// value is in its documented range, prints as text that parses back to the same value, and came
// from text made only of the characters the syntax allows; each refusal names the option.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <thread>

#include "blast/blast_plan.hpp"
#include "fuzz_check.hpp"
#include "salvo/engine.hpp"

namespace {

bool only(std::string_view text, std::string_view allowed) {
  return text.find_first_not_of(allowed) == std::string_view::npos;
}

bool mentions(const salvo::Error& e, std::string_view what) {
  return e.message.find(what) != std::string::npos;
}

void cpu_list(std::string_view text) {
  auto cpus = salvo::parse_cpu_list(text);
  if (!cpus) {
    FUZZ_CHECK(mentions(cpus.error(), "bad CPU list"));
    return;
  }
  FUZZ_CHECK(!cpus->empty() && !text.empty() && only(text, "0123456789,-"));
  const int available = static_cast<int>(std::thread::hardware_concurrency());
  std::string joined;
  for (int cpu : *cpus) {
    FUZZ_CHECK(cpu >= 0 && cpu <= 9999 && (available <= 0 || cpu < available));
    if (!joined.empty()) joined += ',';
    joined += std::to_string(cpu);
  }
  auto again = salvo::parse_cpu_list(joined);
  FUZZ_CHECK(again && *again == *cpus);
}

void backend_kind(std::string_view text) {
  auto kind = salvo::parse_backend_kind(text);
  FUZZ_CHECK(kind.ok() == (text == "auto" || text == "io_uring" || text == "uring" || text == "epoll"));
  if (!kind) {
    FUZZ_CHECK(mentions(kind.error(), "unknown backend"));
    return;
  }
  auto again = salvo::parse_backend_kind(salvo::to_string(*kind));
  FUZZ_CHECK(again && *again == *kind);
}

void blast_rate(std::string_view text) {
  auto rate = salvo::cli::parse_rate(text);
  if (!rate) {
    FUZZ_CHECK(mentions(rate.error(), "--rate"));
    return;
  }
  if (*rate == 0) {
    FUZZ_CHECK(text == "max");
    return;
  }
  FUZZ_CHECK(*rate <= 1'000'000'000 && !text.empty() && only(text, "0123456789"));
  auto again = salvo::cli::parse_rate(std::to_string(*rate));
  FUZZ_CHECK(again && *again == *rate);
}

void size_range(std::string_view text) {
  auto range = salvo::cli::parse_size_range(text);
  if (!range) {
    FUZZ_CHECK(mentions(range.error(), "--size-range"));
    return;
  }
  FUZZ_CHECK(range->min <= range->max && range->max <= 65527 && only(text, "0123456789-"));
  auto again = salvo::cli::parse_size_range(std::to_string(range->min) + "-" + std::to_string(range->max));
  FUZZ_CHECK(again && again->min == range->min && again->max == range->max);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0: cpu_list(text); break;
    case 1: backend_kind(text); break;
    case 2: blast_rate(text); break;
    default: size_range(text); break;
  }
  return 0;
}
