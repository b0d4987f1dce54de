// The .hgrm text: HdrHistogram's header, columns and footer; percentile steps as HdrHistogram
// takes them; values in microseconds; the last line the exact maximum and the total count.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

#include "common/hgrm.hpp"

namespace salvo::cli {
namespace {

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

struct Row {
  double value = 0;
  double percentile = 0;
  unsigned long long count = 0;
  bool last = false;
};

// Parses "%12.3f %2.12f %10d %14.2f" (or the last line's three columns); fails the test otherwise.
Row parse_row(const std::string& line) {
  Row r;
  double inverse = 0;
  char extra = 0;
  const int n = std::sscanf(line.c_str(), "%lf %lf %llu %lf %c", &r.value, &r.percentile, &r.count, &inverse, &extra);
  EXPECT_TRUE(n == 4 || n == 3) << "not a data row: '" << line << "'";
  r.last = n == 3;
  if (n == 4) {
    EXPECT_NEAR(inverse, 1.0 / (1.0 - r.percentile), 0.01 + 1e-9 * inverse) << line;
  }
  return r;
}

LatencyHistogram one_to_a_thousand_microseconds() {
  LatencyHistogram h;
  for (std::uint64_t us = 1; us <= 1000; ++us) h.record(us * 1000);
  return h;
}

TEST(Hgrm, HeaderRowsAndFooterAsHdrHistogramPrintsThem) {
  const LatencyHistogram h = one_to_a_thousand_microseconds();
  const auto lines = split_lines(format_hgrm(h, "salvo test\nvalues in microseconds (us)"));
  ASSERT_GE(lines.size(), 10u);
  EXPECT_EQ(lines[0], "# salvo test");
  EXPECT_EQ(lines[1], "# values in microseconds (us)");
  EXPECT_EQ(lines[2], "       Value     Percentile TotalCount 1/(1-Percentile)");
  EXPECT_EQ(lines[3], "");
  EXPECT_EQ(lines[4], "       1.000 0.000000000000          1           1.00");
  // HdrHistogram's steps: 10 % apart up to 50 %, then 5 %, then 2.5 %, ...
  const std::vector<std::string> expected_percentiles = {"0.000000000000", "0.100000000000", "0.200000000000",
                                                         "0.300000000000", "0.400000000000", "0.500000000000",
                                                         "0.550000000000", "0.600000000000", "0.650000000000",
                                                         "0.700000000000", "0.750000000000", "0.775000000000"};
  for (std::size_t i = 0; i < expected_percentiles.size(); ++i) {
    EXPECT_EQ(lines[4 + i].substr(13, 14), expected_percentiles[i]) << lines[4 + i];
  }
  // The 50 % row: sample 500 (500 us) lies in a bucket 256 ns wide ending at 500.223 us.
  EXPECT_EQ(lines[9], "     500.223 0.500000000000        500           2.00");

  std::size_t footer = 0;
  while (footer < lines.size() && lines[footer].rfind("#[Mean", 0) != 0) ++footer;
  ASSERT_EQ(footer + 3, lines.size()) << "three footer lines at the end";
  EXPECT_EQ(lines[footer - 1], "    1000.000 1.000000000000       1000");
  EXPECT_EQ(lines[footer + 1], "#[Max     =     1000.000, Total count    =         1000]");
  EXPECT_EQ(lines[footer + 2], "#[Buckets =           32, SubBuckets     =         2048]");
  double mean = 0;
  double stddev = 0;
  ASSERT_EQ(std::sscanf(lines[footer].c_str(), "#[Mean    = %lf, StdDeviation   = %lf]", &mean, &stddev), 2)
      << lines[footer];
  EXPECT_NEAR(mean, 500.5, 0.5);
  EXPECT_NEAR(stddev, 288.7, 0.5);

  // Every row: monotone value, percentile and count; only the last has three columns.
  Row previous;
  for (std::size_t i = 4; i < footer; ++i) {
    const Row r = parse_row(lines[i]);
    EXPECT_GE(r.value, previous.value) << lines[i];
    EXPECT_GE(r.percentile, previous.percentile) << lines[i];
    EXPECT_GE(r.count, previous.count) << lines[i];
    EXPECT_EQ(r.last, i + 1 == footer) << lines[i];
    previous = r;
  }
  EXPECT_EQ(previous.count, 1000u);
  EXPECT_EQ(previous.percentile, 1.0);
}

TEST(Hgrm, OneSampleAndEmpty) {
  LatencyHistogram one;
  one.record(2'500'000);  // 2.5 ms, in a bucket 2048 ns wide: clamped to the exact max
  auto lines = split_lines(format_hgrm(one, ""));
  ASSERT_EQ(lines.size(), 7u);
  EXPECT_EQ(lines[0], "       Value     Percentile TotalCount 1/(1-Percentile)");
  EXPECT_EQ(lines[2], "    2500.000 0.000000000000          1           1.00");
  EXPECT_EQ(lines[3], "    2500.000 1.000000000000          1");
  EXPECT_EQ(lines[5], "#[Max     =     2500.000, Total count    =            1]");

  lines = split_lines(format_hgrm(LatencyHistogram(), "empty"));
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_EQ(lines[0], "# empty");
  EXPECT_EQ(lines[3].rfind("#[Mean    =        0.000", 0), 0u) << lines[3];
  EXPECT_EQ(lines[4], "#[Max     =        0.000, Total count    =            0]");
}

TEST(Hgrm, FileIsWrittenAndUnwritablePathIsAnError) {
  const std::string path = testing::TempDir() + "salvo_hgrm_test_" + std::to_string(::getpid()) + ".hgrm";
  const LatencyHistogram h = one_to_a_thousand_microseconds();
  ASSERT_TRUE(write_hgrm_file(path, h, "file").ok());
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), format_hgrm(h, "file"));
  std::remove(path.c_str());

  const auto bad = write_hgrm_file("/nonexistent-dir/x.hgrm", h, "");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("/nonexistent-dir/x.hgrm"), std::string::npos) << bad.error().message;
}

}  // namespace
}  // namespace salvo::cli
