#include <charconv>
#include <string>
#include <thread>

#include "salvo/engine.hpp"

namespace salvo {
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
