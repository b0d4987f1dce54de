#include "common/report.hpp"

#include <sys/resource.h>

#include <cstdio>

#include "common/start_at.hpp"

namespace salvo::cli {

nlohmann::json counters_json(const Counters& c) {
  nlohmann::json j = nlohmann::json::object();
#define SALVO_JSON_FIELD(name, help) j[#name] = c.name;
  SALVO_COUNTERS(SALVO_JSON_FIELD)
#undef SALVO_JSON_FIELD
  // The batch-size histogram, one entry per power-of-two bucket, not cumulative: batches of
  // min..max datagrams (max null for the last, open-ended bucket). The batches sum to rx_batches.
  nlohmann::json buckets = nlohmann::json::array();
  for (std::size_t k = 0; k < batch_size_buckets; ++k) {
    const bool last = k + 1 == batch_size_buckets;
    buckets.push_back({{"min", batch_size_bucket_floor(k)},
                       {"max", last ? nlohmann::json(nullptr) : nlohmann::json(batch_size_bucket_floor(k + 1) - 1)},
                       {"batches", c.rx_batch_sizes[k]}});
  }
  j["rx_batch_sizes"] = std::move(buckets);
  return j;
}

nlohmann::json session_json(const char* command, const Engine& engine, const SessionResult& session) {
  const Counters c = engine.counters();
  nlohmann::json j;
  j["command"] = command;
  j["backend"] = std::string(to_string(engine.backend().kind));
  j["backend_reason"] = engine.backend().reason;
  j["workers"] = engine.options().workers;
  j["elapsed_s"] = session.elapsed.count();
  j["interrupted"] = session.interrupted;
  j["received"] = c.received;
  j["bytes"] = c.received_bytes;
  j["delivered"] = c.delivered;
  j["dropped"] = {{"truncated", c.dropped_truncated},
                  {"send_queue_full", c.dropped_send_queue_full},
                  {"send_error", c.dropped_send_error}};
  j["kernel_drops"] = c.kernel_drops;
  j["sent"] = c.sent;
  j["sent_bytes"] = c.sent_bytes;
  // Process CPU time: with the workers pinned this is what serving cost (the controlling thread
  // sleeps in sigtimedwait). Divide by received for CPU per datagram.
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  j["cpu_user_s"] = static_cast<double>(usage.ru_utime.tv_sec) + static_cast<double>(usage.ru_utime.tv_usec) / 1e6;
  j["cpu_system_s"] = static_cast<double>(usage.ru_stime.tv_sec) + static_cast<double>(usage.ru_stime.tv_usec) / 1e6;
  j["counters"] = counters_json(c);
  nlohmann::json per_worker = nlohmann::json::array();
  for (const Counters& w : engine.worker_counters()) per_worker.push_back(counters_json(w));
  j["per_worker"] = std::move(per_worker);
  return j;
}

void add_instance_json(nlohmann::json& j, const RunInstance& instance, nlohmann::json load) {
  // Both forms from the same microsecond, so that a reader rounding the seconds to microseconds
  // (salvo merge) gets the very time the text says.
  const auto to_us = [](std::int64_t ns) { return ns - ns % 1000; };
  j["host"] = instance.host;
  j["label"] = instance.label;
  j["start"] = format_rfc3339_us(instance.start_unix_ns);
  j["start_unix_s"] = unix_seconds(to_us(instance.start_unix_ns));
  j["end"] = format_rfc3339_us(instance.end_unix_ns);
  j["end_unix_s"] = unix_seconds(to_us(instance.end_unix_ns));
  j["load"] = std::move(load);
}

void print_summary(const char* command, const Engine& engine, const SessionResult& session) {
  const Counters c = engine.counters();
  const double s = session.elapsed.count() > 0 ? session.elapsed.count() : 1;
  std::fprintf(stderr, "salvo %s: backend %s (%s), %u worker(s), %.3f s%s\n", command,
               std::string(to_string(engine.backend().kind)).c_str(), engine.backend().reason.c_str(),
               engine.options().workers, session.elapsed.count(), session.interrupted ? ", interrupted" : "");
  std::fprintf(stderr,
               "  received %llu (%llu bytes, %.0f/s), delivered %llu, dropped: truncated %llu; "
               "kernel drops %llu\n",
               static_cast<unsigned long long>(c.received), static_cast<unsigned long long>(c.received_bytes),
               static_cast<double>(c.received) / s, static_cast<unsigned long long>(c.delivered),
               static_cast<unsigned long long>(c.dropped_truncated),
               static_cast<unsigned long long>(c.kernel_drops));
  std::fprintf(stderr,
               "  sent %llu (%llu bytes, %.0f/s), dropped: send queue full %llu, send error %llu; "
               "send syscalls %llu, EAGAIN %llu\n",
               static_cast<unsigned long long>(c.sent), static_cast<unsigned long long>(c.sent_bytes),
               static_cast<double>(c.sent) / s, static_cast<unsigned long long>(c.dropped_send_queue_full),
               static_cast<unsigned long long>(c.dropped_send_error),
               static_cast<unsigned long long>(c.tx_syscalls), static_cast<unsigned long long>(c.eagain));
  // Only when GSO did something: most runs of the receiving commands never send a run.
  if (c.gso_sends != 0 || c.gso_fallbacks != 0) {
    std::fprintf(stderr, "  GSO: %llu messages carried %llu of the datagrams sent; %llu socket(s) fell back to plain sends\n",
                 static_cast<unsigned long long>(c.gso_sends), static_cast<unsigned long long>(c.gso_segments),
                 static_cast<unsigned long long>(c.gso_fallbacks));
  }
  if (c.gro_receives != 0) {
    std::fprintf(stderr, "  GRO: %llu receives carried %llu of the datagrams received\n",
                 static_cast<unsigned long long>(c.gro_receives), static_cast<unsigned long long>(c.gro_segments));
  }
  // What the latency budget did: how many datagrams each wake-up served, and the holds it chose.
  if (c.wakeups != 0) {
    std::fprintf(stderr, "  wake-ups: %llu (%.2f datagrams each); held for the latency budget: %llu (mean %.1f us)\n",
                 static_cast<unsigned long long>(c.wakeups), static_cast<double>(c.received) / static_cast<double>(c.wakeups),
                 static_cast<unsigned long long>(c.batch_waits),
                 c.batch_waits == 0 ? 0.0 : static_cast<double>(c.batch_wait_us) / static_cast<double>(c.batch_waits));
  }
}

}  // namespace salvo::cli
