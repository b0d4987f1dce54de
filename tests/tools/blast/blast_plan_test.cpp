// salvo blast's flag arithmetic in-process: --rate and --size-range parsing, exact splits of a
// count over flows and workers, send queue sizing, and the progress line's format.
#include <gtest/gtest.h>

#include "blast/blast_plan.hpp"
#include "blast/progress.hpp"

namespace salvo::cli {
namespace {

TEST(BlastPlan, ParsesRates) {
  EXPECT_EQ(parse_rate("max").value(), 0u);
  EXPECT_EQ(parse_rate("1").value(), 1u);
  EXPECT_EQ(parse_rate("100000").value(), 100000u);
  for (const char* bad : {"", "abc", "0", "-5", "1.5", "10k", " 10", "10 ", "+10", "1000000001", "99999999999999999999"}) {
    auto r = parse_rate(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().message.rfind(std::string("--rate ") + bad, 0), 0u) << r.error().message;
  }
  EXPECT_NE(parse_rate("-5").error().message.find("negative"), std::string::npos);
  EXPECT_NE(parse_rate("0").error().message.find("at least 1"), std::string::npos);
}

TEST(BlastPlan, ParsesSizeRanges) {
  auto r = parse_size_range("10-20");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->min, 10u);
  EXPECT_EQ(r->max, 20u);
  EXPECT_EQ(parse_size_range("0-65527").value().max, 65527u);
  EXPECT_EQ(parse_size_range("64-64").value().min, 64u);
  for (const char* bad : {"10-5", "10", "-", "a-b", "-5-10", "10-", "10-65528", "1-2-3"}) {
    auto e = parse_size_range(bad);
    ASSERT_FALSE(e.ok()) << bad;
    EXPECT_NE(e.error().message.find(bad), std::string::npos) << e.error().message;
  }
  EXPECT_NE(parse_size_range("10-5").error().message.find("MIN is larger than MAX"), std::string::npos);
}

TEST(BlastPlan, CountsSplitExactlyOverFlowsAndWorkers) {
  EXPECT_EQ(sender_count(1001, 1, 2, 0, 0), 501u);
  EXPECT_EQ(sender_count(1001, 1, 2, 0, 1), 500u);
  for (std::uint64_t count : {1u, 7u, 1001u, 8000u, 123457u}) {
    for (std::uint64_t flows : {1u, 3u, 8u}) {
      for (std::uint64_t workers : {1u, 2u, 5u}) {
        std::uint64_t total = 0;
        for (std::uint64_t f = 0; f < flows; ++f) {
          std::uint64_t flow_total = 0;
          for (std::uint64_t w = 0; w < workers; ++w) flow_total += sender_count(count, flows, workers, f, w);
          EXPECT_EQ(flow_total, share_of(count, flows, f));
          total += flow_total;
        }
        EXPECT_EQ(total, count) << count << " over " << flows << " flows and " << workers << " workers";
      }
    }
  }
  // Divisible counts are equal per flow.
  for (std::uint64_t f = 0; f < 8; ++f) EXPECT_EQ(share_of(8000, 8, f), 1000u);
}

TEST(BlastPlan, SendQueuesHoldTheirEntriesAtTheLargestSize) {
  for (std::size_t sockets : {1u, 8u, 100u, 1024u}) {
    for (std::size_t size : {0u, 1u, 64u, 1400u, 9000u, 65527u}) {
      const SendQueueSize q = blast_send_queue(sockets, size);
      SCOPED_TRACE(std::to_string(sockets) + " sockets, size " + std::to_string(size));
      EXPECT_EQ(q.entries & (q.entries - 1), 0u) << "a power of two";
      EXPECT_GE(q.entries, 1u);
      EXPECT_LE(q.entries, 1024u);
      EXPECT_GE(std::uint64_t{q.bytes}, std::uint64_t{q.entries + 1} * std::max<std::size_t>(size, 1));
      EXPECT_LE(std::uint64_t{q.bytes} * sockets, std::max<std::uint64_t>(256u << 20, 2ull * 65527 * sockets));
    }
  }
  EXPECT_EQ(blast_send_queue(1, 64).entries, 1024u);
  EXPECT_EQ(blast_send_queue(1024, 64).entries, 16u);
}

TEST(Progress, LineFormat) {
  EXPECT_EQ(format_progress_line("blast", 1.0, 2.0, 10000, 640000, 0),
            "salvo blast: 1.00-2.00 s  sent 10000 datagrams  10000 pps  5.12 Mbit/s  errors 0");
  EXPECT_EQ(format_progress_line("blast", 2.0, 2.5, 500, 32000, 3),
            "salvo blast: 2.00-2.50 s  sent 500 datagrams  1000 pps  0.51 Mbit/s  errors 3");
}

TEST(Progress, ErrorsAreTheSendSideDrops) {
  Counters c;
  c.dropped_send_queue_full = 1;
  c.dropped_send_error = 2;
  c.send_rejected = 4;
  c.dropped_truncated = 100;  // a receive-side drop: not a send error
  EXPECT_EQ(send_errors(c), 7u);
}

}  // namespace
}  // namespace salvo::cli
