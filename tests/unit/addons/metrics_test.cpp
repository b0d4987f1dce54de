// salvo::prometheus_text: the text parses under a strict reading of exposition format 0.0.4
// (support/prometheus_parser.hpp), every counter of every worker comes back with exactly the value
// given, the batch-size histogram is cumulative with le = each bucket's largest batch size, and
// options are checked (check_prometheus_options) or repaired (prometheus_text).
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "support/prometheus_parser.hpp"
#include "support/test_support.hpp"

namespace salvo::test {
namespace {

using Labels = std::map<std::string, std::string>;

struct CounterInfo {
  const char* name;
  const char* help;
  std::uint64_t Counters::*field;
};

const std::vector<CounterInfo>& counter_infos() {
  static const std::vector<CounterInfo> infos = {
#define SALVO_TEST_COUNTER_INFO(name, help) {#name, help, &Counters::name},
      SALVO_COUNTERS(SALVO_TEST_COUNTER_INFO)
#undef SALVO_TEST_COUNTER_INFO
  };
  return infos;
}

// Distinct values everywhere, one of them the largest uint64 (which a double cannot hold: the
// text must carry it digit for digit).
std::vector<Counters> sample_counters(std::size_t workers) {
  std::vector<Counters> out(workers);
  for (std::size_t w = 0; w < workers; ++w) {
    std::uint64_t i = 0;
    for (const CounterInfo& c : counter_infos()) out[w].*c.field = (w + 1) * 1'000'003 + ++i * 7919;
    for (std::size_t k = 0; k < batch_size_buckets; ++k) out[w].rx_batch_sizes[k] = (k * 37 + w * 11) % 23 + k;
  }
  if (workers > 0) out[0].received = std::numeric_limits<std::uint64_t>::max();
  return out;
}

// The le label of bucket k: the largest batch size it holds; the last, open-ended one is +Inf.
std::string le_of(std::size_t k) {
  return k + 1 == batch_size_buckets ? "+Inf" : std::to_string((std::uint64_t{1} << (k + 1)) - 1);
}

void expect_exact(const std::vector<Counters>& given, const PromDocument& doc, const Labels& constant,
                  const std::string& prefix = "salvo_") {
  for (std::size_t w = 0; w < given.size(); ++w) {
    Labels labels = constant;
    labels["worker"] = std::to_string(w);
    for (const CounterInfo& c : counter_infos()) {
      EXPECT_EQ(doc.value(prefix + c.name + "_total", labels), given[w].*c.field) << c.name << " worker " << w;
    }
    std::uint64_t cumulative = 0;
    for (std::size_t k = 0; k < batch_size_buckets; ++k) {
      cumulative += given[w].rx_batch_sizes[k];
      Labels bucket = labels;
      bucket["le"] = le_of(k);
      EXPECT_EQ(doc.value(prefix + "rx_batch_size_bucket", bucket), cumulative) << "le=" << le_of(k) << " worker " << w;
    }
    EXPECT_EQ(doc.value(prefix + "rx_batch_size_count", labels), cumulative) << "worker " << w;
  }
}

TEST(PrometheusText, EveryCounterAndBucketOfEveryWorkerComesBackExactly) {
  const auto given = sample_counters(3);
  PrometheusOptions options;
  options.labels = {{"backend", "io_uring"}, {"command", "sink"}};
  const std::string text = prometheus_text(given, options);
  const PromDocument doc = parse_prometheus_strict(text);
  expect_exact(given, doc, {{"backend", "io_uring"}, {"command", "sink"}});

  // Exactly one family per counter plus the histogram, each with one sample per worker (the
  // histogram: 11 buckets and a count per worker); nothing else.
  EXPECT_EQ(doc.families.size(), counter_infos().size() + 1);
  for (const CounterInfo& c : counter_infos()) {
    const PromFamily* f = doc.family(std::string("salvo_") + c.name + "_total");
    ASSERT_NE(f, nullptr) << c.name;
    EXPECT_EQ(f->type, "counter");
    EXPECT_EQ(f->help, c.help);
    EXPECT_EQ(f->samples.size(), 3u);
  }
  const PromFamily* h = doc.family("salvo_rx_batch_size");
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->type, "histogram");
  EXPECT_EQ(h->samples.size(), 3 * (batch_size_buckets + 1));
  for (const PromSample& s : h->samples) EXPECT_NE(s.name, "salvo_rx_batch_size_sum") << "_sum is not known, so not written";
  // The largest uint64, digit for digit.
  EXPECT_NE(text.find("salvo_received_total{backend=\"io_uring\",command=\"sink\",worker=\"0\"} 18446744073709551615\n"),
            std::string::npos);
}

TEST(PrometheusText, OneWorkerNoLabels) {
  const auto given = sample_counters(1);
  const PromDocument doc = parse_prometheus_strict(prometheus_text(given));
  expect_exact(given, doc, {});
}

TEST(PrometheusText, NoWorkersGivesHeadersWithoutSamples) {
  const PromDocument doc = parse_prometheus_strict(prometheus_text({}));
  EXPECT_EQ(doc.families.size(), counter_infos().size() + 1);
  for (const PromFamily& f : doc.families) EXPECT_TRUE(f.samples.empty()) << f.name;
}

TEST(PrometheusText, HistogramBucketsFollowThePowerOfTwoLayout) {
  // One batch of each size 1..2048 lands in the buckets as batch_size_bucket() says; the le of a
  // bucket must cover every size counted in it and none counted in the next.
  Counters c;
  for (std::uint64_t n = 1; n <= 2048; ++n) ++c.rx_batch_sizes[batch_size_bucket(n)];
  const PromDocument doc = parse_prometheus_strict(prometheus_text({c}));
  for (std::size_t k = 0; k + 1 < batch_size_buckets; ++k) {
    const std::uint64_t le = (std::uint64_t{1} << (k + 1)) - 1;
    EXPECT_EQ(doc.value("salvo_rx_batch_size_bucket", {{"worker", "0"}, {"le", std::to_string(le)}}), le)
        << "batches of size <= " << le;
  }
  EXPECT_EQ(doc.value("salvo_rx_batch_size_bucket", {{"worker", "0"}, {"le", "+Inf"}}), 2048u);
  EXPECT_EQ(doc.value("salvo_rx_batch_size_count", {{"worker", "0"}}), 2048u);
}

TEST(PrometheusText, LabelValuesAreEscapedAndComeBackUnchanged) {
  PrometheusOptions options;
  const std::string tricky = "a \"quoted\" back\\slash\nnew line, {braces}=";
  options.labels = {{"note", tricky}};
  const auto given = sample_counters(2);
  const PromDocument doc = parse_prometheus_strict(prometheus_text(given, options));
  expect_exact(given, doc, {{"note", tricky}});
}

TEST(PrometheusText, PrefixIsPrepended) {
  PrometheusOptions options;
  options.prefix = "edge:udp_";
  const auto given = sample_counters(1);
  const PromDocument doc = parse_prometheus_strict(prometheus_text(given, options));
  expect_exact(given, doc, {}, "edge:udp_");
  EXPECT_EQ(doc.family("salvo_received_total"), nullptr);
}

TEST(PrometheusOptionsCheck, AcceptsValidOptions) {
  PrometheusOptions options;
  EXPECT_TRUE(check_prometheus_options(options));
  options.prefix = "";
  options.labels = {{"backend", "epoll"}, {"_x9", ""}, {"Command", "any \"text\"\n"}};
  EXPECT_TRUE(check_prometheus_options(options));
}

TEST(PrometheusOptionsCheck, RejectsEachBadOptionNamingIt) {
  struct Case {
    std::string prefix;
    std::vector<std::pair<std::string, std::string>> labels;
    std::string mention;
  };
  const std::vector<Case> cases = {
      {"1salvo_", {}, "1salvo_"},
      {"sal-vo_", {}, "sal-vo_"},
      {"salvo_", {{"", "x"}}, "''"},
      {"salvo_", {{"a-b", "x"}}, "a-b"},
      {"salvo_", {{"9x", "x"}}, "9x"},
      {"salvo_", {{"a:b", "x"}}, "a:b"},
      {"salvo_", {{"worker", "x"}}, "worker"},
      {"salvo_", {{"le", "x"}}, "le"},
      {"salvo_", {{"__name__", "x"}}, "__name__"},
      {"salvo_", {{"backend", "x"}, {"backend", "y"}}, "backend"},
  };
  for (const Case& c : cases) {
    PrometheusOptions options;
    options.prefix = c.prefix;
    options.labels = c.labels;
    const auto checked = check_prometheus_options(options);
    ASSERT_FALSE(checked) << c.mention;
    EXPECT_EQ(checked.error().code, make_error_code(Errc::bad_option));
    EXPECT_NE(checked.error().message.find(c.mention), std::string::npos) << checked.error().message;
    // And the text stays valid exposition format whatever the options.
    EXPECT_NO_THROW(parse_prometheus_strict(prometheus_text(sample_counters(2), options))) << c.mention;
  }
}

TEST(PrometheusText, BadOptionsAreRepairedNotWritten) {
  PrometheusOptions options;
  options.prefix = "9my-app.";
  options.labels = {{"worker", "w"}, {"le", "l"}, {"a-b", "1"}, {"a-b", "2"}, {"__x", "3"}};
  const auto given = sample_counters(1);
  const PromDocument doc = parse_prometheus_strict(prometheus_text(given, options));
  expect_exact(given, doc, {{"exported_worker", "w"}, {"exported_le", "l"}, {"a_b", "1"}, {"exported___x", "3"}},
               "_9my_app_");
}

// The parser must be able to say no, or the tests above prove nothing.
TEST(PrometheusParser, RejectsWhatTheFormatForbids) {
  const std::string ok =
      "# HELP m_total help\n# TYPE m_total counter\nm_total{worker=\"0\"} 1\n"
      "# HELP h histogram\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_count 2\n";
  ASSERT_NO_THROW(parse_prometheus_strict(ok));
  const std::vector<std::pair<const char*, std::string>> bad = {
      {"no newline at the end", "# HELP m x\n# TYPE m counter\nm 1"},
      {"sample before TYPE", "# HELP m x\nm 1\n# TYPE m counter\n"},
      {"sample without HELP", "# TYPE m counter\nm 1\n"},
      {"unknown sample", "# HELP m x\n# TYPE m counter\nn 1\n"},
      {"bad metric name", "# HELP 1m x\n# TYPE 1m counter\n1m 1\n"},
      {"bad label name", "# HELP m x\n# TYPE m counter\nm{a-b=\"1\"} 1\n"},
      {"unknown escape", "# HELP m x\n# TYPE m counter\nm{a=\"\\t\"} 1\n"},
      {"timestamp", "# HELP m x\n# TYPE m counter\nm 1 1700000000000\n"},
      {"two spaces", "# HELP m x\n# TYPE m counter\nm  1\n"},
      {"not a number", "# HELP m x\n# TYPE m counter\nm one\n"},
      {"duplicate sample", "# HELP m x\n# TYPE m counter\nm{a=\"1\"} 1\nm{a=\"1\"} 2\n"},
      {"duplicate label", "# HELP m x\n# TYPE m counter\nm{a=\"1\",a=\"2\"} 1\n"},
      {"interleaved", "# HELP m x\n# TYPE m counter\nm 1\n# HELP n x\n# TYPE n counter\nn 1\n# HELP m y\n"},
      {"empty line", "# HELP m x\n\n# TYPE m counter\nm 1\n"},
      {"other comment", "# a comment\n# HELP m x\n# TYPE m counter\nm 1\n"},
      {"decreasing buckets", "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 3\nh_bucket{le=\"+Inf\"} 2\nh_count 2\n"},
      {"+Inf != count", "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 3\n"},
      {"no +Inf bucket", "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_count 2\n"},
      {"le not increasing", "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"3\"} 1\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n"},
      {"bucket without le", "# HELP h x\n# TYPE h histogram\nh_bucket 1\nh_count 1\n"},
      {"no _count", "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\n"},
  };
  for (const auto& [what, text] : bad) EXPECT_THROW(parse_prometheus_strict(text), std::runtime_error) << what;
}

}  // namespace
}  // namespace salvo::test
