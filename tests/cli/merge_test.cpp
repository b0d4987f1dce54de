// `salvo merge` on hostile input (issue 21), as a child process; its table and --mix (issue 22). Each field merge reads, missing,
// of the wrong type or out of range, is refused with exit code 2, nothing on stdout and exactly one
// stderr line naming the file and the field; so are files too large, too deeply nested or not
// reports at all, and counts whose sum over the files is too large. Valid files merge into exactly
// the expected report: counts summed, buckets added, percentiles and moments recomputed, the run
// parameters kept only where the files agree. No test here depends on timing: the runs only read
// files, and the time-outs are there to end a hang, not to measure anything.
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/cli_test_support.hpp"
#include "support/process.hpp"
#include "support/test_support.hpp"

namespace salvo::test {
namespace {

std::string temp_path(const std::string& name) {
  return testing::TempDir() + "salvo_merge_test_" + std::to_string(::getpid()) + "_" + name;
}

// Writes `text` to a fresh temporary file; returns its path.
std::string write_file(const std::string& name, const std::string& text) {
  const std::string path = temp_path(name);
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

// A small valid report as `salvo ping --json` writes it, with the fields merge does not read
// (latency_ns, the session's) shortened to a few.
nlohmann::json report_a() {
  return nlohmann::json::parse(R"({
    "command": "ping", "backend": "epoll", "workers": 1, "to": "127.0.0.1:9000", "size": 64, "rate": 1000.0,
    "ping": {"sent": 10, "received": 2, "lost": 8, "duplicates": 1, "reordered": 0, "invalid": 0, "late": 0,
             "send_failed": 0, "refused": 0,
             "latency_ns": {"min": 100, "p50": 100, "max": 200},
             "histogram": {"unit": "ns", "significant_digits": 3, "highest_trackable": 3600000000000,
                           "total": 2, "clamped": 0, "min": 100, "max": 200, "buckets": [[100, 1], [200, 1]]}}})");
}

nlohmann::json report_b() {
  return nlohmann::json::parse(R"({
    "command": "ping", "to": "127.0.0.1:9000", "size": 64, "rate": 2000.0,
    "ping": {"sent": 5, "received": 3, "lost": 2, "duplicates": 0, "reordered": 1, "invalid": 2, "late": 1,
             "send_failed": 3, "refused": 4,
             "histogram": {"unit": "ns", "significant_digits": 3, "highest_trackable": 3600000000000,
                           "total": 3, "clamped": 0, "min": 200, "max": 1500, "buckets": [[200, 2], [1500, 1]]}}})");
}

// Exit code 2, nothing on stdout, and stderr exactly "salvo: merge: <file>: <why>\n".
void expect_refused(const ProcessResult& r, const std::string& file, const std::string& why) {
  ASSERT_TRUE(r.exited) << show(r);
  EXPECT_EQ(r.exit_code, 2) << show(r);
  EXPECT_EQ(r.err, "salvo: merge: " + file + ": " + why + "\n");
  EXPECT_EQ(r.out, "");
}

// One broken file: report_a() edited (or, with `raw`, that text instead) and the reason expected.
struct BadFile {
  const char* name;
  void (*edit)(nlohmann::json& report);
  const char* why;
  const char* raw = nullptr;
};
void PrintTo(const BadFile& c, std::ostream* os) { *os << c.name; }

nlohmann::json& histogram(nlohmann::json& report) { return report["ping"]["histogram"]; }

const std::vector<BadFile> bad_files = {
    // issue 21: this one ended in an uncaught nlohmann::json::type_error (abort, exit 134)
    {"UnitIsANumber", [](nlohmann::json& r) { histogram(r)["unit"] = 1000; },
     R"("ping.histogram.unit" must be "ns", not 1000)"},
    {"UnitIsAnotherUnit", [](nlohmann::json& r) { histogram(r)["unit"] = "us"; },
     R"("ping.histogram.unit" must be "ns", not "us")"},
    {"UnitIsNull", [](nlohmann::json& r) { histogram(r)["unit"] = nullptr; },
     R"("ping.histogram.unit" must be "ns", not null)"},
    {"UnitIsMissing", [](nlohmann::json& r) { histogram(r).erase("unit"); }, R"("ping.histogram.unit" is missing)"},
    {"UnitIsALongString", [](nlohmann::json& r) { histogram(r)["unit"] = std::string(10000, 'n'); },
     R"("ping.histogram.unit" must be "ns", not a string of 10000 bytes)"},
    {"SentIsAString", [](nlohmann::json& r) { r["ping"]["sent"] = "10"; },
     R"("ping.sent" must be an integer from 0 to 1000000000000000, not "10")"},
    {"SentIsNegative", [](nlohmann::json& r) { r["ping"]["sent"] = -1; },
     R"("ping.sent" must be an integer from 0 to 1000000000000000, not -1)"},
    {"SentHasAFraction", [](nlohmann::json& r) { r["ping"]["sent"] = 10.5; },
     R"("ping.sent" must be an integer from 0 to 1000000000000000, not 10.5)"},
    {"SentAboveTheLimit", [](nlohmann::json& r) { r["ping"]["sent"] = 1'000'000'000'000'001; },
     R"("ping.sent" must be an integer from 0 to 1000000000000000, not 1000000000000001)"},
    {"SentAbove64Bits", nullptr,
     R"("ping.sent" must be an integer from 0 to 1000000000000000, not 1.8446744073709552e+19)",
     R"({"command": "ping", "ping": {"sent": 18446744073709551616}})"},
    {"RefusedIsABoolean", [](nlohmann::json& r) { r["ping"]["refused"] = true; },
     R"("ping.refused" must be an integer from 0 to 1000000000000000, not true)"},
    {"ReceivedIsMissing", [](nlohmann::json& r) { r["ping"].erase("received"); }, R"("ping.received" is missing)"},
    {"LostDisagrees", [](nlohmann::json& r) { r["ping"]["lost"] = 7; }, R"("ping.lost" must equal sent - received)"},
    {"PingIsAnArray", [](nlohmann::json& r) { r["ping"] = {1, 2}; },
     R"("ping" must be an object, not an array of 2 elements)"},
    {"HistogramIsMissing", [](nlohmann::json& r) { r["ping"].erase("histogram"); },
     R"("ping.histogram" is missing)"},
    {"OtherLayout", [](nlohmann::json& r) { histogram(r)["significant_digits"] = 2; },
     R"("ping.histogram.significant_digits" must be 3, not 2)"},
    {"BucketsAreAnObject", [](nlohmann::json& r) { histogram(r)["buckets"] = nlohmann::json::object(); },
     R"("ping.histogram.buckets" must be an array, not an object)"},
    {"BucketIsNotAPair", [](nlohmann::json& r) { histogram(r)["buckets"][1] = {200}; },
     R"("ping.histogram.buckets[1]" must be a [value, count] pair, not an array of 1 element)"},
    {"BucketCountIsAString", [](nlohmann::json& r) { histogram(r)["buckets"][0][1] = "1"; },
     R"("ping.histogram.buckets[0][1]" must be an integer from 0 to 1000000000000000, not "1")"},
    {"BucketValueAboveOneHour", [](nlohmann::json& r) { histogram(r)["buckets"][1][0] = 3'600'000'000'001; },
     R"("ping.histogram.buckets[1][0]" must be an integer from 0 to 3600000000000, not 3600000000001)"},
    {"TotalDisagreesWithBuckets", [](nlohmann::json& r) { histogram(r)["total"] = 3; },
     "ping.histogram: bucket counts add up to 2, not total 3"},
    {"ToIsANumber", [](nlohmann::json& r) { r["to"] = 9000; },
     R"("to" must be a printable string of at most 255 bytes, not 9000)"},
    // Found by the merge_input fuzz target: a 262-byte "to" was accepted, became the merge's
    // "load.to", and the merge could not be merged again (a load member is at most 255 bytes).
    {"ToIsLongerThan255Bytes", [](nlohmann::json& r) { r["to"] = std::string(256, 'a'); },
     R"("to" must be a printable string of at most 255 bytes, not a string of 256 bytes)"},
    {"ToHasANewline", [](nlohmann::json& r) { r["to"] = "127.0.0.1:9000\n"; },
     R"("to" must be a printable string of at most 255 bytes, not a string of 15 bytes)"},
    {"SizeIsTooSmall", [](nlohmann::json& r) { r["size"] = 8; },
     R"("size" must be an integer from 32 to 65527, not 8)"},
    {"RateIsAString", [](nlohmann::json& r) { r["rate"] = "max"; }, R"("rate" must be a number above 0, not "max")"},
    // A blast report has the session's counts at the top; a ping report relabelled has not.
    {"CommandIsBlastWithoutItsCounts", [](nlohmann::json& r) { r["command"] = "blast"; }, R"("sent" is missing)"},
    {"CommandIsImpair", [](nlohmann::json& r) { r["command"] = "impair"; },
     R"(not a salvo report ("command" must be "blast", "sink", "echo" or "ping", not "impair"))"},
    {"CommandHasANewline", [](nlohmann::json& r) { r["command"] = "ping\nping"; },
     R"(not a salvo report ("command" must be "blast", "sink", "echo" or "ping", not a string of 9 bytes))"},
    {"CommandIsMissing", [](nlohmann::json& r) { r.erase("command"); }, R"(not a salvo report ("command" is missing))"},
    {"CommandIsMixed", [](nlohmann::json& r) { r["command"] = "mixed"; },
     "a merge of mixed reports cannot be merged again; merge its files"},
    {"TopLevelIsAnArray", nullptr, "not a salvo report (the file holds an array of 1 element, not an object)", "[{}]"},
    {"NotJson", nullptr, "not JSON (expected the output of salvo blast, sink, echo or ping --json)", "this is not JSON {"},
    {"Empty", nullptr, "not JSON (expected the output of salvo blast, sink, echo or ping --json)", ""},
    // Where and when (issue 22): optional, but checked when present.
    {"LabelHasASpace", [](nlohmann::json& r) { r["label"] = "host 1"; },
     R"("label" must be 1 to 64 printable characters without a space, not "host 1")"},
    {"LabelIsEmpty", [](nlohmann::json& r) { r["label"] = ""; },
     R"("label" must be 1 to 64 printable characters without a space, not "")"},
    {"HostIsANumber", [](nlohmann::json& r) { r["host"] = 7; },
     R"("host" must be a printable string of at most 255 bytes, not 7)"},
    {"StartIsNegative", [](nlohmann::json& r) { r["start_unix_s"] = -1; },
     R"("start_unix_s" must be Unix seconds from 0 to 9000000000, not -1)"},
    {"StartIsPast2255", [](nlohmann::json& r) { r["start_unix_s"] = 17096565600.25; },
     R"("start_unix_s" must be Unix seconds from 0 to 9000000000, not 17096565600.25)"},
    {"EndIsAString", [](nlohmann::json& r) { r["end_unix_s"] = "2026-12-06T14:00:00Z"; },
     R"("end_unix_s" must be Unix seconds from 0 to 9000000000, not "2026-12-06T14:00:00Z")"},
    {"ElapsedIsHuge", [](nlohmann::json& r) { r["elapsed_s"] = 1e300; },
     R"("elapsed_s" must be a number from 0 to 1000000000000000, not 1e+300)"},
    {"LoadIsAnArray", [](nlohmann::json& r) { r["load"] = {1}; }, R"("load" must be an object, not an array of 1 element)"},
    {"LoadHoldsAnObject", [](nlohmann::json& r) { r["load"] = {{"rate", {{"pps", 1}}}}; },
     R"("load.rate" must be a number, a boolean, null or a printable string, not an object)"},
    // Found by the merge_input fuzz target: the name was shown as it was, newlines and all, and the
    // message said the value (a number) was wrong.
    {"LoadMemberNameHasANewline", [](nlohmann::json& r) { r["load"] = {{"size\nmax", 64}}; },
     R"("load" has a member named by a string of 8 bytes, not by printable text of at most 255 bytes)"},
    {"LoadMemberNameIsLongerThan255Bytes", [](nlohmann::json& r) { r["load"] = {{std::string(256, 'k'), 64}}; },
     R"("load" has a member named by a string of 256 bytes, not by printable text of at most 255 bytes)"},
    {"LoadHasTooManyMembers",
     [](nlohmann::json& r) {
       for (int i = 0; i < 33; ++i) r["load"]["k" + std::to_string(i)] = i;
     },
     R"("load" has 33 members, more than 32)"},
    {"SentBytesIsNegative", [](nlohmann::json& r) { r["sent_bytes"] = -5; },
     R"("sent_bytes" must be an integer from 0 to 1000000000000000, not -5)"},
};

class MergeBadFile : public testing::TestWithParam<BadFile> {};

TEST_P(MergeBadFile, IsRefusedWithOneLineNamingTheFileAndTheField) {
  const BadFile& c = GetParam();
  std::string text = c.raw != nullptr ? std::string(c.raw) : std::string();
  if (c.raw == nullptr) {
    nlohmann::json report = report_a();
    c.edit(report);
    text = report.dump();
  }
  const std::string file = write_file(std::string(c.name) + ".json", text);
  expect_refused(run_salvo({"merge", file}), file, c.why);
  std::remove(file.c_str());
}

INSTANTIATE_TEST_SUITE_P(Cases, MergeBadFile, testing::ValuesIn(bad_files),
                         [](const testing::TestParamInfo<BadFile>& p) { return std::string(p.param.name); });

TEST(MergeInput, ABadSecondFileIsNamed) {
  nlohmann::json b = report_b();
  histogram(b)["unit"] = 1000;
  const std::string first = write_file("good.json", report_a().dump());
  const std::string second = write_file("bad.json", b.dump());
  expect_refused(run_salvo({"merge", first, second}), second, R"("ping.histogram.unit" must be "ns", not 1000)");
  std::remove(first.c_str());
  std::remove(second.c_str());
}

// Each file is within the limit; their sum is not.
TEST(MergeInput, ACountSummedAboveTheLimitIsRefused) {
  nlohmann::json r = report_a();
  r["ping"]["sent"] = 600'000'000'000'000;
  r["ping"]["lost"] = 600'000'000'000'000 - 2;
  const std::string first = write_file("first.json", r.dump());
  const std::string second = write_file("second.json", r.dump());
  expect_refused(run_salvo({"merge", first, second}), second,
                 R"("ping.sent": the sum over the files exceeds 1000000000000000)");
  std::remove(first.c_str());
  std::remove(second.c_str());
}

TEST(MergeInput, AFileAbove16MiBIsRefusedUnread) {
  const std::string file = temp_path("huge.json");
  std::ofstream(file).close();
  std::filesystem::resize_file(file, (std::uintmax_t{16} << 20) + 1);  // sparse: costs no disk
  expect_refused(run_salvo({"merge", file}), file, "larger than 16 MiB: not a salvo report");
  std::remove(file.c_str());
}

TEST(MergeInput, DeepNestingIsRefusedBeforeParsing) {
  const std::string file = write_file("deep.json", std::string(1'000'000, '['));
  expect_refused(run_salvo({"merge", file}), file, "nested more than 64 levels deep: not a salvo report");
  std::remove(file.c_str());
}

TEST(MergeInput, ADirectoryIsRefused) {
  const std::string dir = temp_path("dir.json");
  std::filesystem::create_directory(dir);
  expect_refused(run_salvo({"merge", dir}), dir, "Is a directory");
  std::filesystem::remove(dir);
}

// Runs of different loads are refused unless --mix: the message names the field and both values.
TEST(MergeInput, DifferentLoadsAreRefusedUnlessMixed) {
  const std::string a = write_file("a.json", report_a().dump());
  const std::string b = write_file("b.json", report_b().dump());
  expect_refused(run_salvo({"merge", a, b}), b,
                 R"("load.rate" is 2000.0, but )" + a + "'s is 1000.0; merge runs of one load, or give --mix");
  nlohmann::json with_load = report_b();
  with_load["load"] = {{"to", "127.0.0.1:9000"}, {"size", 64}, {"rate", 1000.0}, {"count", 5}};
  const std::string c = write_file("c.json", with_load.dump());
  expect_refused(run_salvo({"merge", a, c}), c,
                 R"("load.count" is 5, but )" + a + "'s is absent; merge runs of one load, or give --mix");
  for (const std::string& f : {a, b, c}) std::remove(f.c_str());
}

// Without --json the table goes to stdout: a row per file (named by the file when it has no
// label), the total, then the latency summary.
TEST(MergeInput, TheTableHasARowPerInstanceAndATotal) {
  nlohmann::json a = report_a();
  a["label"] = "east-1";
  a["host"] = "loadgen-a";
  a["start_unix_s"] = 1796565600.25;
  a["end_unix_s"] = 1796565602.25;
  a["elapsed_s"] = 2.0;
  nlohmann::json b = report_b();
  b["start_unix_s"] = 1796565600.2515;
  b["end_unix_s"] = 1796565601.2515;
  b["elapsed_s"] = 1.0;
  const std::string fa = write_file("ta.json", a.dump());
  const std::string fb = write_file("tb.json", b.dump());
  const auto r = run_salvo({"merge", fa, fb, "--mix"});
  ASSERT_TRUE(r.exited) << show(r);
  ASSERT_EQ(r.exit_code, 0) << show(r);
  const std::vector<std::string> lines = lines_of(r.out);
  ASSERT_GE(lines.size(), 5u) << r.out;
  const std::size_t w = fb.size();  // the widest instance name
  auto pad = [](const std::string& text, std::size_t width) { return text + std::string(width - text.size(), ' '); };
  EXPECT_EQ(lines[0], pad("instance", w) + "  kind  host       start (UTC)                  seconds  sent  sent/s  "
                                           "received  received/s  kernel drops");
  EXPECT_EQ(lines[1], pad("east-1", w) + "  ping  loadgen-a  2026-12-06T14:00:00.250000Z    2.000    10       5  "
                                         "       2           1             0");
  EXPECT_EQ(lines[2], fb + "  ping  -          2026-12-06T14:00:00.251500Z    1.000     5       5  "
                           "       3           3             0");
  EXPECT_EQ(lines[3], pad("total", w) + "  ping  -          2026-12-06T14:00:00.250000Z    2.000    15      10  "
                                        "       5           4             0");
  EXPECT_EQ(lines[4], "starts spread over 1.500 ms");
  EXPECT_EQ(lines[5].rfind("salvo ping 2 merged runs: sent 15, received 5", 0), 0u) << lines[5];
  EXPECT_EQ(r.err, "");
  std::remove(fa.c_str());
  std::remove(fb.c_str());
}

TEST(MergeInput, TwoValidFilesMergeExactly) {
  const std::string a = write_file("a.json", report_a().dump());
  const std::string b = write_file("b.json", report_b().dump());
  const std::string hgrm = temp_path("merged.hgrm");
  const auto r = run_salvo({"merge", a, b, "--hgrm", hgrm, "--mix", "--json"});
  ASSERT_TRUE(r.exited) << show(r);
  ASSERT_EQ(r.exit_code, 0) << show(r);
  // Samples 100; 200, 200, 200; 1500 (each below 2048, so each its own bucket): p50 is the 3rd of
  // 5, p90 and above the 5th; mean (100 + 600 + 1500) / 5; "rate" differs, so it is left out.
  nlohmann::json expected = nlohmann::json::parse(R"({
    "command": "ping", "merged_from": [], "to": "127.0.0.1:9000", "size": 64,
    "ping": {"sent": 15, "received": 5, "lost": 10, "duplicates": 1, "reordered": 1, "invalid": 2, "late": 1,
             "send_failed": 3, "refused": 4,
             "latency_ns": {"min": 100, "p50": 200, "p90": 1500, "p99": 1500, "p99_9": 1500, "p99_99": 1500,
                            "max": 1500, "mean": 440.0, "stddev": 0.0, "clamped": 0},
             "histogram": {"unit": "ns", "significant_digits": 3, "highest_trackable": 3600000000000,
                           "total": 5, "clamped": 0, "min": 100, "max": 1500,
                           "buckets": [[100, 1], [200, 3], [1500, 1]]}}})");
  expected["merged_from"] = nlohmann::json::array({a, b});
  // sqrt((340^2 + 3 * 240^2 + 1060^2) / 5): every step exact in doubles up to the root.
  expected["ping"]["latency_ns"]["stddev"] = std::sqrt(282400.0);
  // The instances and the totals of their counts (these reports have no times, bytes or rates).
  nlohmann::json row = {{"file", a},           {"kind", "ping"}, {"label", nullptr},   {"host", nullptr},
                        {"elapsed_s", nullptr}, {"sent", 10},     {"sent_bytes", 0},    {"sent_per_s", 0.0},
                        {"received", 2},       {"bytes", 0},     {"received_per_s", 0.0}, {"kernel_drops", 0}};
  expected["instances"].push_back(row);
  row["file"] = b;
  row["sent"] = 5;
  row["received"] = 3;
  expected["instances"].push_back(row);
  const nlohmann::json totals = {{"sent", 15},       {"sent_bytes", 0},   {"received", 5},         {"bytes", 0},
                                 {"kernel_drops", 0}, {"sent_per_s", 0.0}, {"received_per_s", 0.0}};
  for (const auto& [key, value] : totals.items()) expected[key] = value;
  EXPECT_EQ(json_of(r), expected) << r.out;
  ASSERT_NE(r.err.find("salvo ping 2 merged runs"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.substr(r.err.find("salvo ping 2 merged runs")),
            "salvo ping 2 merged runs: sent 15, received 5, lost 10 (66.667%), duplicates 1, reordered 1, invalid 2, "
            "late 1\n"
            "  send failures 3, ICMP port unreachable 4\n"
            "  latency from the scheduled send time, us: min 0.100 p50 0.200 p90 1.500 p99 1.500 p99.9 1.500 "
            "p99.99 1.500 max 1.500 (mean 0.440, stddev 0.531)\n");
  std::ifstream in(hgrm);
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  EXPECT_NE(text.find("\n#[Max     =        1.500, Total count    =            5]\n"), std::string::npos) << text;
  for (const std::string& f : {a, b, hgrm}) std::remove(f.c_str());
}

// JSON text must be UTF-8 and a file name need not be: such a name goes into "merged_from" with
// U+FFFD for its bad byte, where it used to end salvo with an uncaught type_error.
TEST(MergeInput, AFileNameThatIsNotUtf8IsPrintedWithAReplacementCharacter) {
  const std::string file = write_file("run-\xff.json", report_a().dump());
  const auto r = run_salvo({"merge", file, "--json"});
  ASSERT_TRUE(r.exited) << show(r);
  ASSERT_EQ(r.exit_code, 0) << show(r);
  std::string shown = file;
  shown.replace(shown.find('\xff'), 1, "\xef\xbf\xbd");
  EXPECT_EQ(json_of(r)["merged_from"], nlohmann::json::array({shown}));
  std::remove(file.c_str());
}

// At the count limit the .hgrm writer still ends: all samples but one in the first bucket is its
// hardest case (merge_input.hpp, max_merge_count).
TEST(MergeInput, AHistogramAtTheCountLimitIsWrittenAsHgrm) {
  nlohmann::json r = report_a();
  r["ping"]["sent"] = 1'000'000'000'000'000;
  r["ping"]["received"] = 1'000'000'000'000'000;
  r["ping"]["lost"] = 0;
  histogram(r)["total"] = 1'000'000'000'000'000;
  histogram(r)["buckets"][0][1] = 999'999'999'999'999;
  const std::string file = write_file("limit.json", r.dump());
  const std::string hgrm = temp_path("limit.hgrm");
  const auto m = run_salvo({"merge", file, "--hgrm", hgrm, "--json"});
  ASSERT_TRUE(m.exited) << show(m);
  ASSERT_EQ(m.exit_code, 0) << show(m);
  EXPECT_EQ(json_of(m)["ping"]["received"], 1'000'000'000'000'000u);
  std::ifstream in(hgrm);
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  EXPECT_NE(text.find("\n#[Max     =        0.200, Total count    = 1000000000000000]\n"), std::string::npos) << text;
  std::remove(file.c_str());
  std::remove(hgrm.c_str());
}

}  // namespace
}  // namespace salvo::test
