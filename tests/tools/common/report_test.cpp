// The JSON report of counters (tools/common/report.cpp): every counter and the batch-size histogram, for
// the engine and per worker, equal to the Counters they came from; and the Prometheus text of the
// same per-worker counters carries the same numbers.
#include <limits>
#include <nlohmann/json.hpp>

#include "common/report.hpp"
#include "support/prometheus_parser.hpp"
#include "support/test_support.hpp"

namespace salvo::test {
namespace {

// Checks `j` (one counters_json object) against `c`, field by field.
void expect_counters_json(const nlohmann::json& j, const Counters& c, const std::string& where) {
  std::size_t fields = 0;
#define SALVO_TEST_JSON_FIELD(name, help)                                                \
  ++fields;                                                                              \
  ASSERT_TRUE(j.contains(#name)) << where << ": no " #name;                              \
  EXPECT_TRUE(j[#name].is_number_unsigned()) << where << ": " #name;                     \
  EXPECT_EQ(j[#name].get<std::uint64_t>(), c.name) << where << ": " #name;
  SALVO_COUNTERS(SALVO_TEST_JSON_FIELD)
#undef SALVO_TEST_JSON_FIELD
  EXPECT_EQ(j.size(), fields + 1) << where << ": the counters and rx_batch_sizes, nothing else: " << j.dump();
  ASSERT_TRUE(j.contains("rx_batch_sizes") && j["rx_batch_sizes"].is_array()) << where;
  const nlohmann::json& buckets = j["rx_batch_sizes"];
  ASSERT_EQ(buckets.size(), batch_size_buckets) << where;
  for (std::size_t k = 0; k < batch_size_buckets; ++k) {
    EXPECT_EQ(buckets[k]["min"].get<std::uint64_t>(), std::uint64_t{1} << k) << where << " bucket " << k;
    if (k + 1 == batch_size_buckets) {
      EXPECT_TRUE(buckets[k]["max"].is_null()) << where << ": the last bucket is open-ended";
    } else {
      EXPECT_EQ(buckets[k]["max"].get<std::uint64_t>(), (std::uint64_t{1} << (k + 1)) - 1) << where << " bucket " << k;
    }
    EXPECT_EQ(buckets[k]["batches"].get<std::uint64_t>(), c.rx_batch_sizes[k]) << where << " bucket " << k;
  }
}

TEST(CountersJson, EveryCounterAndBucketExactly) {
  Counters c;
  std::uint64_t v = 0;
#define SALVO_TEST_SET(name, help) c.name = (++v) * 1'000'000'007ULL;
  SALVO_COUNTERS(SALVO_TEST_SET)
#undef SALVO_TEST_SET
  c.sent = std::numeric_limits<std::uint64_t>::max();
  for (std::size_t k = 0; k < batch_size_buckets; ++k) c.rx_batch_sizes[k] = 3 * k + 1;
  // Through text and back, as a reader of --json gets it.
  const nlohmann::json j = nlohmann::json::parse(cli::counters_json(c).dump());
  expect_counters_json(j, c, "counters");
}

class SessionJson : public testing::TestWithParam<BackendKind> {};

TEST_P(SessionJson, CountersAndPerWorkerAreTheEngines) {
  EngineOptions o;
  o.backend = GetParam();
  o.workers = 2;
  o.socket_receive_buffer = 1 << 20;
  auto engine = make_engine(o);
  Recorder recorder;
  const Address server = must_listen(*engine, addr("127.0.0.1:0"), recording_factory(recorder, {}, Record::nothing));
  must_start(*engine);
  // Several senders, so that the SO_REUSEPORT group is likely to spread them over both workers.
  constexpr std::uint64_t per_client = 50;
  std::vector<std::unique_ptr<UdpSocket>> clients;
  for (int i = 0; i < 8; ++i) clients.push_back(std::make_unique<UdpSocket>(addr("127.0.0.1:0")));
  std::uint64_t seq = 0;
  for (auto& client : clients) {
    for (std::uint64_t i = 0; i < per_client; ++i) ASSERT_TRUE(client->send_to(make_payload(seq++, 40), server));
  }
  ASSERT_TRUE(wait_until([&] { const Counters c = engine->counters(); return c.received + c.kernel_drops == seq; }, 5s))
      << describe(engine->counters());
  stop_and_wait(*engine);

  cli::SessionResult session;
  session.elapsed = std::chrono::milliseconds(1500);
  const nlohmann::json j = nlohmann::json::parse(cli::session_json("sink", *engine, session).dump());
  const Counters total = engine->counters();
  const std::vector<Counters> workers = engine->worker_counters();
  ASSERT_EQ(workers.size(), 2u);
  EXPECT_EQ(total.received + total.kernel_drops, seq);

  expect_counters_json(j.at("counters"), total, "counters");
  ASSERT_EQ(j.at("per_worker").size(), 2u);
  for (std::size_t w = 0; w < workers.size(); ++w) expect_counters_json(j["per_worker"][w], workers[w], "worker " + std::to_string(w));

  // The fields that were there before, unchanged.
  EXPECT_EQ(j["command"], "sink");
  EXPECT_EQ(j["backend"], std::string(to_string(GetParam())));
  EXPECT_EQ(j["backend_reason"], engine->backend().reason);
  EXPECT_EQ(j["workers"].get<unsigned>(), 2u);
  EXPECT_DOUBLE_EQ(j["elapsed_s"].get<double>(), 1.5);
  EXPECT_EQ(j["interrupted"], false);
  EXPECT_EQ(j["received"].get<std::uint64_t>(), total.received);
  EXPECT_EQ(j["bytes"].get<std::uint64_t>(), total.received_bytes);
  EXPECT_EQ(j["delivered"].get<std::uint64_t>(), total.delivered);
  EXPECT_EQ(j["dropped"]["truncated"].get<std::uint64_t>(), total.dropped_truncated);
  EXPECT_EQ(j["dropped"]["send_queue_full"].get<std::uint64_t>(), total.dropped_send_queue_full);
  EXPECT_EQ(j["dropped"]["send_error"].get<std::uint64_t>(), total.dropped_send_error);
  EXPECT_EQ(j["kernel_drops"].get<std::uint64_t>(), total.kernel_drops);
  EXPECT_EQ(j["sent"].get<std::uint64_t>(), total.sent);
  EXPECT_EQ(j["sent_bytes"].get<std::uint64_t>(), total.sent_bytes);
  EXPECT_TRUE(j["cpu_user_s"].is_number());
  EXPECT_TRUE(j["cpu_system_s"].is_number());

  // The Prometheus text of the same counters says the same, worker by worker.
  const PromDocument doc = parse_prometheus_strict(prometheus_text(workers));
  for (std::size_t w = 0; w < workers.size(); ++w) {
    const std::map<std::string, std::string> labels = {{"worker", std::to_string(w)}};
    for (const auto& [name, value] : j["per_worker"][w].items()) {
      if (name == "rx_batch_sizes") continue;
      EXPECT_EQ(doc.value("salvo_" + name + "_total", labels), value.get<std::uint64_t>()) << name << " worker " << w;
    }
    EXPECT_EQ(doc.value("salvo_rx_batch_size_count", labels), workers[w].rx_batches) << "worker " << w;
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, SessionJson, testing::ValuesIn(available_backends()), backend_test_name);

}  // namespace
}  // namespace salvo::test
