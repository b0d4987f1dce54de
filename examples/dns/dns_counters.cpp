#include "dns_counters.hpp"

namespace dns {

DnsStats& DnsStats::operator+=(const DnsStats& other) noexcept {
#define SALVO_DNS_SUM(name, help) name += other.name;
  SALVO_DNS_COUNTERS(SALVO_DNS_SUM)
#undef SALVO_DNS_SUM
  return *this;
}

void DnsCounters::count_answer(Rcode rcode, bool was_truncated) noexcept {
  switch (rcode) {
    case Rcode::noerror: add(noerror); break;
    case Rcode::nxdomain: add(nxdomain); break;
    case Rcode::servfail: add(servfail); break;
    case Rcode::formerr: add(formerr); break;
    case Rcode::notimp: add(notimp); break;
    case Rcode::refused: add(refused); break;
    case Rcode::badvers: add(badvers); break;
    default: add(other_rcode); break;
  }
  if (was_truncated) add(truncated);
}

DnsStats DnsCounters::snapshot() const noexcept {
  DnsStats s;
#define SALVO_DNS_READ(name, help) s.name = name.load(std::memory_order_relaxed);
  SALVO_DNS_COUNTERS(SALVO_DNS_READ)
#undef SALVO_DNS_READ
  return s;
}

std::string dns_prometheus_text(const std::vector<DnsStats>& per_worker) {
  std::string out;
#define SALVO_DNS_PROM(name, help)                                                        \
  out += "# HELP dns_" #name "_total " help "\n# TYPE dns_" #name "_total counter\n";     \
  for (std::size_t w = 0; w < per_worker.size(); ++w) {                                   \
    out += "dns_" #name "_total{worker=\"" + std::to_string(w) + "\"} " +                 \
           std::to_string(per_worker[w].name) + "\n";                                     \
  }
  SALVO_DNS_COUNTERS(SALVO_DNS_PROM)
#undef SALVO_DNS_PROM
  return out;
}

}  // namespace dns
