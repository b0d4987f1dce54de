// The small parsers behind command-line flags and EngineOptions: CPU lists and backend names,
// and Counters arithmetic.
#include <thread>

#include "support/test_support.hpp"

namespace salvo {
namespace {

int cpus_here() { return static_cast<int>(std::thread::hardware_concurrency()); }

TEST(CpuList, SingleListsAndRanges) {
  auto zero = parse_cpu_list("0");
  ASSERT_TRUE(zero.ok()) << zero.error().message;
  EXPECT_EQ(*zero, std::vector<int>{0});
  if (cpus_here() < 2) GTEST_SKIP() << "needs two CPUs";
  auto both = parse_cpu_list("0,1");
  ASSERT_TRUE(both.ok()) << both.error().message;
  EXPECT_EQ(*both, (std::vector<int>{0, 1}));
  auto range = parse_cpu_list("0-1");
  ASSERT_TRUE(range.ok()) << range.error().message;
  EXPECT_EQ(*range, (std::vector<int>{0, 1}));
  auto mixed = parse_cpu_list("1,0-1");
  ASSERT_TRUE(mixed.ok()) << mixed.error().message;
  EXPECT_EQ(*mixed, (std::vector<int>{1, 0, 1}));
  auto last = parse_cpu_list(std::to_string(cpus_here() - 1));
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(*last, std::vector<int>{cpus_here() - 1});
}

class CpuListBad : public testing::TestWithParam<const char*> {};

TEST_P(CpuListBad, IsRejected) {
  const std::string text = GetParam();
  auto r = parse_cpu_list(text);
  ASSERT_FALSE(r.ok()) << "'" << text << "' was accepted";
  EXPECT_EQ(r.error().code, make_error_code(Errc::bad_option));
  EXPECT_EQ(r.error().message.rfind("bad CPU list '", 0), 0u) << r.error().message;
}

INSTANTIATE_TEST_SUITE_P(Inputs, CpuListBad,
                         testing::Values("", "a", "0,", ",0", "0,,0", "1-0", "-1", "0-", "-", "0-a", " 0", "0 ",
                                         "9999", "0,9999", "0-9999", "99999", "1.5"),
                         [](const testing::TestParamInfo<const char*>& p) {
                           return "case" + std::to_string(p.index);
                         });

// The message must quote what the user wrote, whichever part of it was wrong (salvo --cpus 9999
// must not answer "bad CPU list ''").
TEST(CpuList, MessageQuotesTheWholeInput) {
  for (const std::string text : {"9999", "0,9999", "a", "0,a", "1-0"}) {
    auto r = parse_cpu_list(text);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_NE(r.error().message.find("'" + text + "'"), std::string::npos)
        << "input '" << text << "' gave: " << r.error().message;
  }
}

TEST(CpuList, OutOfRangeSaysWhichCpusExist) {
  auto r = parse_cpu_list(std::to_string(cpus_here()));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("0-" + std::to_string(cpus_here() - 1)), std::string::npos) << r.error().message;
}

TEST(BackendKindText, ParsesEveryName) {
  auto a = parse_backend_kind("auto");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, BackendKind::automatic);
  auto u = parse_backend_kind("io_uring");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(*u, BackendKind::io_uring);
  auto u2 = parse_backend_kind("uring");
  ASSERT_TRUE(u2.ok());
  EXPECT_EQ(*u2, BackendKind::io_uring);
  auto e = parse_backend_kind("epoll");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(*e, BackendKind::epoll);
  for (BackendKind k : {BackendKind::automatic, BackendKind::io_uring, BackendKind::epoll}) {
    auto back = parse_backend_kind(to_string(k));
    ASSERT_TRUE(back.ok()) << to_string(k);
    EXPECT_EQ(*back, k);
  }
  EXPECT_EQ(to_string(BackendKind::automatic), "auto");
  EXPECT_EQ(to_string(BackendKind::io_uring), "io_uring");
  EXPECT_EQ(to_string(BackendKind::epoll), "epoll");
}

TEST(BackendKindText, RejectsOthersNamingThem) {
  for (const char* bad : {"", "EPOLL", "Epoll", "io-uring", "select", "epoll ", "automatic"}) {
    auto r = parse_backend_kind(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, make_error_code(Errc::bad_option));
    EXPECT_NE(r.error().message.find(std::string("'") + bad + "'"), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find("epoll"), std::string::npos) << "should list the valid names";
  }
}

TEST(SendResultText, EveryValueHasText) {
  for (SendResult r : {SendResult::queued, SendResult::queue_full, SendResult::too_large,
                       SendResult::family_mismatch, SendResult::bad_address, SendResult::closed}) {
    EXPECT_FALSE(to_string(r).empty());
    EXPECT_NE(to_string(r), "unknown");
  }
  EXPECT_EQ(to_string(SendResult::queued), "queued");
}

TEST(CountersValue, StartsAtZero) {
  const Counters c;
#define SALVO_TEST_ZERO(name, help) EXPECT_EQ(c.name, 0u) << #name;
  SALVO_COUNTERS(SALVO_TEST_ZERO)
#undef SALVO_TEST_ZERO
  EXPECT_EQ(c.receive_drops(), 0u);
}

TEST(CountersValue, PlusEqualsAddsEveryField) {
  Counters a;
  Counters b;
  std::uint64_t i = 1;
#define SALVO_TEST_FILL(name, help) \
  a.name = i;                       \
  b.name = 1000 * i + (std::uint64_t{1} << 40); \
  ++i;
  SALVO_COUNTERS(SALVO_TEST_FILL)
#undef SALVO_TEST_FILL
  Counters& result = (a += b);
  EXPECT_EQ(&result, &a);
  i = 1;
#define SALVO_TEST_CHECK(name, help)                                   \
  EXPECT_EQ(a.name, i + 1000 * i + (std::uint64_t{1} << 40)) << #name; \
  EXPECT_EQ(b.name, 1000 * i + (std::uint64_t{1} << 40)) << #name;    \
  ++i;
  SALVO_COUNTERS(SALVO_TEST_CHECK)
#undef SALVO_TEST_CHECK
}

TEST(CountersValue, ReceiveDropsSumsTheReceiveSideReasons) {
  Counters c;
  c.received = 100;
  c.delivered = 90;
  c.dropped_truncated = 10;
  c.truncated = 12;  // flagged and delivered ones are not drops
  c.kernel_drops = 50;  // never read, so not part of received
  c.dropped_send_queue_full = 7;
  c.dropped_send_error = 3;
  EXPECT_EQ(c.receive_drops(), 10u);
  EXPECT_EQ(c.received, c.delivered + c.receive_drops());
}

TEST(LatencyBudgetText, ParsesEachForm) {
  using namespace std::chrono_literals;
  struct Case {
    const char* text;
    std::chrono::microseconds limit;
    bool adaptive;
  };
  for (const Case c : {Case{"0", 0us, false}, Case{"50", 50us, false}, Case{"10000", 10000us, false},
                       Case{"adaptive", 50us, true}, Case{"adaptive:100", 100us, true}, Case{"adaptive:1", 1us, true}}) {
    auto r = parse_latency_budget(c.text);
    ASSERT_TRUE(r.ok()) << c.text << ": " << r.error().message;
    EXPECT_EQ(r->limit, c.limit) << c.text;
    EXPECT_EQ(r->adaptive, c.adaptive) << c.text;
    // to_string writes what parses back to the same budget.
    auto again = parse_latency_budget(to_string(*r));
    ASSERT_TRUE(again.ok()) << to_string(*r);
    EXPECT_EQ(again->limit, c.limit);
    EXPECT_EQ(again->adaptive, c.adaptive);
  }
}

TEST(LatencyBudgetText, RejectsWhatIsNotABudget) {
  for (const char* text : {"", "-1", "10001", "50us", "adaptive:", "adaptive:0", "adaptive50", "adaptive:x", "fast", " 5",
                           "99999999999999999999"}) {
    auto r = parse_latency_budget(text);
    ASSERT_FALSE(r.ok()) << "'" << text << "' was accepted";
    EXPECT_EQ(r.error().code, make_error_code(Errc::bad_option));
    EXPECT_EQ(r.error().message.rfind("bad latency budget '", 0), 0u) << r.error().message;
  }
}

}  // namespace
}  // namespace salvo
