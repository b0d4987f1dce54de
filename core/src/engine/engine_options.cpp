// The parsers of EngineOptions' values given as text (salvo/engine_options.hpp).
#include "salvo/engine_options.hpp"

#include <charconv>
#include <string>
#include <thread>

namespace salvo {

std::string_view to_string(BackendKind kind) noexcept {
  switch (kind) {
    case BackendKind::automatic: return "auto";
    case BackendKind::io_uring: return "io_uring";
    case BackendKind::epoll: return "epoll";
  }
  return "unknown";
}

Result<BackendKind> parse_backend_kind(std::string_view text) {
  if (text == "auto") return BackendKind::automatic;
  if (text == "io_uring" || text == "uring") return BackendKind::io_uring;
  if (text == "epoll") return BackendKind::epoll;
  return Error::make(Errc::bad_option,
                     "unknown backend '" + std::string(text) + "' (expected auto, io_uring or epoll)");
}

std::string_view to_string(EngineOptions::IoUringReceive kind) noexcept {
  switch (kind) {
    case EngineOptions::IoUringReceive::adaptive: return "adaptive";
    case EngineOptions::IoUringReceive::multishot: return "multishot";
    case EngineOptions::IoUringReceive::single_shot: return "single-shot";
  }
  return "unknown";
}

Result<EngineOptions::IoUringReceive> parse_io_uring_receive(std::string_view text) {
  for (auto kind : {EngineOptions::IoUringReceive::adaptive, EngineOptions::IoUringReceive::multishot,
                    EngineOptions::IoUringReceive::single_shot}) {
    if (text == to_string(kind)) return kind;
  }
  return Error::make(Errc::bad_option, "unknown io_uring receive kind '" + std::string(text) +
                                           "' (expected adaptive, multishot or single-shot)");
}

std::string to_string(const EngineOptions::LatencyBudget& budget) {
  if (budget.limit.count() == 0) return "0";
  if (!budget.adaptive) return std::to_string(budget.limit.count());
  return "adaptive:" + std::to_string(budget.limit.count());
}

Result<EngineOptions::LatencyBudget> parse_latency_budget(std::string_view whole) {
  auto bad = [whole](const char* why) {
    return Error::make(Errc::bad_option, "bad latency budget '" + std::string(whole) + "': " + why +
                                             " (expected microseconds 0-10000, adaptive, or adaptive:MICROSECONDS)");
  };
  EngineOptions::LatencyBudget budget;
  std::string_view text = whole;
  if (text.starts_with("adaptive")) {
    budget.adaptive = true;
    text.remove_prefix(8);
    if (text.empty()) {
      budget.limit = std::chrono::microseconds(50);
      return budget;
    }
    if (text.front() != ':') return bad("unknown mode");
    text.remove_prefix(1);
  }
  std::uint32_t us = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), us);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return bad("not a number");
  if (us > 10'000) return bad("more than 10000 us");
  if (budget.adaptive && us == 0) return bad("an adaptive budget needs a limit above 0");
  budget.limit = std::chrono::microseconds(us);
  return budget;
}

namespace {

bool parse_cpu(std::string_view text, int& cpu) {
  if (text.empty() || text.size() > 4) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), cpu);
  return ec == std::errc() && end == text.data() + text.size() && cpu >= 0;
}

}  // namespace

Result<std::vector<int>> parse_cpu_list(std::string_view whole) {
  auto bad = [whole](const char* why) {
    return Error::make(Errc::bad_option, "bad CPU list '" + std::string(whole) + "': " + why);
  };
  std::string_view text = whole;  // what is left to parse
  std::vector<int> cpus;
  if (text.empty()) return bad("empty");
  const int available = static_cast<int>(std::thread::hardware_concurrency());
  while (!text.empty()) {
    const auto comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    if (comma != std::string_view::npos && text.empty()) return bad("trailing comma");
    int first = 0;
    int last = 0;
    if (auto dash = item.find('-'); dash != std::string_view::npos) {
      if (!parse_cpu(item.substr(0, dash), first) || !parse_cpu(item.substr(dash + 1), last)) {
        return bad("expected numbers like 0,2-3");
      }
      if (last < first) return bad("range goes backwards");
    } else {
      if (!parse_cpu(item, first)) return bad("expected numbers like 0,2-3");
      last = first;
    }
    if (available > 0 && last >= available) {
      return bad(("this machine has CPUs 0-" + std::to_string(available - 1)).c_str());
    }
    for (int cpu = first; cpu <= last; ++cpu) cpus.push_back(cpu);
  }
  return cpus;
}

}  // namespace salvo
