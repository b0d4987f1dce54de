#include "common/hgrm.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <memory>

namespace salvo::cli {
namespace {

constexpr double ns_per_unit = 1000.0;  // the table is in microseconds
constexpr long ticks_per_half_distance = 5;  // HdrHistogram's default

// HdrHistogram's percentile steps: 5 ticks between 0 and 50 %, 5 more between 50 and 75 %, and
// so on, each half of the remaining distance to 100 % getting as many ticks as the one before.
double next_level(double level) {
  const double halvings = std::log(100.0 / (100.0 - level)) / std::log(2.0);
  const long k = std::min(static_cast<long>(halvings), 60L);  // level < 100 keeps this small
  const long ticks = ticks_per_half_distance << (k + 1);
  return level + 100.0 / static_cast<double>(ticks);
}

__attribute__((format(printf, 2, 3))) void append(std::string& out, const char* format, ...) {
  char line[160];
  va_list args;
  va_start(args, format);
  const int n = std::vsnprintf(line, sizeof line, format, args);
  va_end(args);
  if (n > 0) out.append(line, static_cast<std::size_t>(std::min<int>(n, sizeof line - 1)));
}

}  // namespace

std::string format_hgrm(const LatencyHistogram& h, const std::string& comment) {
  std::string out;
  for (std::size_t start = 0; start < comment.size();) {
    const std::size_t end = std::min(comment.find('\n', start), comment.size());
    out += "# ";
    out.append(comment, start, end - start);
    out += '\n';
    start = end + 1;
  }
  append(out, "%12s %14s %10s %14s\n\n", "Value", "Percentile", "TotalCount", "1/(1-Percentile)");

  const std::uint64_t total = h.total();
  auto row = [&](std::uint64_t value_ns, double level, std::uint64_t cumulative) {
    append(out, "%12.3f %2.12f %10llu %14.2f\n", static_cast<double>(value_ns) / ns_per_unit, level / 100.0,
           static_cast<unsigned long long>(cumulative), 1.0 / (1.0 - level / 100.0));
  };
  if (total != 0) {
    double level = 0.0;
    std::uint64_t cumulative = 0;
    std::uint64_t value = 0;
    h.for_each_bucket([&](std::size_t i, std::uint64_t count) {
      cumulative += count;
      value = std::clamp(LatencyHistogram::highest_equivalent(i), h.min(), h.max());
      const double here = 100.0 * static_cast<double>(cumulative) / static_cast<double>(total);
      if (cumulative == total) {
        // The last bucket reports its level once; the 100 % line follows.
        if (here >= level) row(value, level, cumulative);
        return false;
      }
      while (here >= level) {
        row(value, level, cumulative);
        level = next_level(level);
      }
      return true;
    });
    append(out, "%12.3f %2.12f %10llu\n", static_cast<double>(value) / ns_per_unit, 1.0,
           static_cast<unsigned long long>(total));
  }
  append(out, "#[Mean    = %12.3f, StdDeviation   = %12.3f]\n", h.mean() / ns_per_unit, h.stddev() / ns_per_unit);
  append(out, "#[Max     = %12.3f, Total count    = %12llu]\n", static_cast<double>(h.max()) / ns_per_unit,
         static_cast<unsigned long long>(total));
  append(out, "#[Buckets = %12u, SubBuckets     = %12llu]\n", LatencyHistogram::bucket_count,
         static_cast<unsigned long long>(LatencyHistogram::sub_bucket_count));
  return out;
}

Result<void> write_hgrm_file(const std::string& path, const LatencyHistogram& h, const std::string& comment) {
  const std::string text = format_hgrm(h, comment);
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "w"), &std::fclose);
  if (!file) return Error::from_errno(errno, "--hgrm " + path);
  if (std::fwrite(text.data(), 1, text.size(), file.get()) != text.size()) {
    return Error::from_errno(errno, "--hgrm " + path);
  }
  if (std::fclose(file.release()) != 0) return Error::from_errno(errno, "--hgrm " + path);
  return {};
}

}  // namespace salvo::cli
