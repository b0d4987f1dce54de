#include "servers/sink_metadata.hpp"

#include <time.h>

#include <algorithm>
#include <cstdio>

namespace salvo::cli {
namespace {

std::int64_t realtime_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

class MetadataSink final : public Protocol {
 public:
  explicit MetadataSink(SinkMetadataStats& stats) : stats_(stats) {}
  void on_datagrams(std::span<const Datagram> batch, Transport&) override { stats_.record(batch, realtime_ns()); }

 private:
  SinkMetadataStats& stats_;
};

void add_destination(SinkMetadataStats& s, const Address& a, std::uint32_t interface_index, std::uint64_t n) {
  for (auto& d : s.destinations) {
    if (d.address == a && d.interface_index == interface_index) {
      d.datagrams += n;
      return;
    }
  }
  if (s.destinations.size() < SinkMetadataStats::max_destinations) {
    s.destinations.push_back({a, interface_index, n});
  } else {
    s.other_destinations += n;
  }
}

const char* const ecn_names[] = {"not_ect", "ect1", "ect0", "ce"};

}  // namespace

void SinkMetadataStats::record(std::span<const Datagram> batch, std::int64_t now_ns) noexcept {
  for (const Datagram& d : batch) {
    const std::uint64_t n = segments(d).size();
    if (d.traffic_class >= 0) ecn[static_cast<std::size_t>(d.ecn())] += n;
    if (d.destination.family() != Address::Family::none) add_destination(*this, d.destination, d.interface_index, n);
    if (d.timestamp_ns != 0) {
      const std::int64_t delay = now_ns - d.timestamp_ns;
      delay_min_ns = stamped == 0 ? delay : std::min(delay_min_ns, delay);
      delay_max_ns = stamped == 0 ? delay : std::max(delay_max_ns, delay);
      delay_sum_ns += static_cast<long double>(delay) * static_cast<long double>(n);
      stamped += n;
    }
  }
}

SinkMetadataStats& SinkMetadataStats::operator+=(const SinkMetadataStats& o) {
  for (std::size_t i = 0; i < ecn.size(); ++i) ecn[i] += o.ecn[i];
  for (const auto& d : o.destinations) add_destination(*this, d.address, d.interface_index, d.datagrams);
  other_destinations += o.other_destinations;
  if (o.stamped != 0) {
    delay_min_ns = stamped == 0 ? o.delay_min_ns : std::min(delay_min_ns, o.delay_min_ns);
    delay_max_ns = stamped == 0 ? o.delay_max_ns : std::max(delay_max_ns, o.delay_max_ns);
    delay_sum_ns += o.delay_sum_ns;
    stamped += o.stamped;
  }
  return *this;
}

nlohmann::json sink_metadata_json(const SinkMetadataStats& s) {
  nlohmann::json j;
  for (std::size_t i = 0; i < s.ecn.size(); ++i) j["ecn"][ecn_names[i]] = s.ecn[i];
  j["destinations"] = nlohmann::json::array();
  for (const auto& d : s.destinations) {
    j["destinations"].push_back({{"address", d.address.to_string()}, {"interface", d.interface_index}, {"datagrams", d.datagrams}});
  }
  j["other_destinations"] = s.other_destinations;
  j["timestamped"] = s.stamped;
  if (s.stamped != 0) {
    j["kernel_to_hook_us"] = {{"min", s.delay_min_ns / 1e3},
                              {"mean", static_cast<double>(s.delay_sum_ns / s.stamped) / 1e3},
                              {"max", s.delay_max_ns / 1e3}};
  }
  return j;
}

std::string sink_metadata_line(const SinkMetadataStats& s) {
  char line[256];
  std::snprintf(line, sizeof line, "  ecn: not-ect %llu, ect(1) %llu, ect(0) %llu, ce %llu; %zu destination(s)",
                static_cast<unsigned long long>(s.ecn[0]), static_cast<unsigned long long>(s.ecn[1]),
                static_cast<unsigned long long>(s.ecn[2]), static_cast<unsigned long long>(s.ecn[3]),
                s.destinations.size() + (s.other_destinations != 0 ? 1 : 0));
  std::string out = line;
  if (s.stamped != 0) {
    std::snprintf(line, sizeof line, "; kernel stamp to hook: min %.1f us, mean %.1f us, max %.1f us", s.delay_min_ns / 1e3,
                  static_cast<double>(s.delay_sum_ns / s.stamped) / 1e3, s.delay_max_ns / 1e3);
    out += line;
  }
  return out;
}

std::unique_ptr<Protocol> make_metadata_sink(SinkMetadataStats& stats) { return std::make_unique<MetadataSink>(stats); }

}  // namespace salvo::cli
