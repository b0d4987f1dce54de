// --metrics FILE's writer (tools/servers/metrics_file.hpp), in-process: bad paths are refused before
// anything starts, a reader never sees a partial file however often it looks, the writer keeps to
// its interval, reports a failed write once and recovers (a full disk too), and ends with the final
// values. A writer whose thread the system will not create is an error naming why, not an
// exception.
#include <sys/resource.h>
#include <sys/stat.h>

#include <atomic>
#include <csignal>
#include <fstream>
#include <sstream>
#include <thread>

#include "servers/metrics_file.hpp"
#include "support/in_child.hpp"
#include "support/process.hpp"
#include "support/prometheus_parser.hpp"
#include "support/seccomp_filters.hpp"
#include "support/temp_dir.hpp"
#include "support/test_support.hpp"

namespace salvo::test {
namespace {

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(MetricsPath, EmptyMeansNoFileAndPasses) { EXPECT_TRUE(cli::check_metrics_path("")); }

TEST(MetricsPath, AWritableDirectoryPassesAndIsLeftAsItWas) {
  TempDir dir;
  EXPECT_TRUE(cli::check_metrics_path(dir.file("salvo.prom")));
  EXPECT_TRUE(dir.entries().empty()) << "the trial file must be removed";
  // An existing file is fine too: it will be replaced.
  std::ofstream(dir.file("old.prom")) << "old\n";
  EXPECT_TRUE(cli::check_metrics_path(dir.file("old.prom")));
  EXPECT_EQ(read_file(dir.file("old.prom")), "old\n");
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"old.prom"});
}

TEST(MetricsPath, BadPathsAreOneLineErrorsNamingThePath) {
  TempDir dir;
  std::ofstream(dir.file("plain")) << "x";
  ASSERT_EQ(::mkdir(dir.file("sub").c_str(), 0755), 0);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {dir.file("missing/salvo.prom"), "No such file or directory"},
      {dir.file("plain/salvo.prom"), "Not a directory"},
      {dir.file("sub"), "is a directory"},
      {dir.file("sub/"), "is a directory"},
  };
  for (const auto& [path, why] : cases) {
    const auto checked = cli::check_metrics_path(path);
    ASSERT_FALSE(checked) << path;
    const std::string& message = checked.error().message;
    EXPECT_EQ(message.rfind("--metrics " + path + ": ", 0), 0u) << message;
    EXPECT_NE(message.find(why), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
}

// A document whose completeness can be checked: "begin N", many lines, "end N".
std::string document(std::uint64_t n) {
  std::string text = "begin " + std::to_string(n) + "\n";
  for (int i = 0; i < 4000; ++i) text += std::to_string(n) + " filler line to make the file large\n";
  return text + "end " + std::to_string(n) + "\n";
}

TEST(MetricsFileWriter, ReadersNeverSeeAPartialFile) {
  TempDir dir;
  const std::string path = dir.file("salvo.prom");
  std::atomic<std::uint64_t> renders{0};
  auto started = cli::MetricsFileWriter::start(path, [&] { return document(++renders); }, std::chrono::milliseconds(2));
  ASSERT_TRUE(started) << started.error().message;
  cli::MetricsFileWriter& writer = **started;

  std::uint64_t complete_reads = 0;
  std::uint64_t distinct = 0;
  std::string last;
  Deadline deadline(10s);
  while (!deadline.expired() && (renders.load() < 50 || complete_reads < 50)) {
    const auto text = read_file(path);
    if (!text) continue;  // not written yet
    const std::string first_line = text->substr(0, text->find('\n'));
    ASSERT_EQ(first_line.rfind("begin ", 0), 0u) << "partial file (" << text->size() << " bytes)";
    const std::uint64_t n = std::stoull(first_line.substr(6));
    ASSERT_EQ(*text, document(n)) << "a read saw a mix or a partial write of document " << n;
    ++complete_reads;
    if (*text != last) ++distinct;
    last = *text;
  }
  EXPECT_GE(renders.load(), 50u);
  EXPECT_GE(complete_reads, 50u);
  EXPECT_GE(distinct, 2u) << "the reader saw the file change";
  writer.finish();
  // The final write is the last render; nothing but the file is left in the directory.
  EXPECT_EQ(read_file(path), document(renders.load()));
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"salvo.prom"});
}

TEST(MetricsFileWriter, WritesAtOnceThenEveryIntervalAndOnceMoreAtFinish) {
  TempDir dir;
  const std::string path = dir.file("salvo.prom");
  std::atomic<int> renders{0};
  const auto start = Clock::now();
  auto started = cli::MetricsFileWriter::start(
      path, [&] { return "n " + std::to_string(++renders) + "\n"; }, std::chrono::milliseconds(100));
  ASSERT_TRUE(started) << started.error().message;
  std::unique_ptr<cli::MetricsFileWriter> writer = std::move(*started);
  ASSERT_TRUE(wait_until([&] { return read_file(path).has_value(); }, 2s)) << "the first write comes at once";
  ASSERT_TRUE(wait_until([&] { return renders.load() >= 4; }, 5s)) << renders.load();
  writer->finish();
  const int at_finish = renders.load();
  const auto elapsed = Clock::now() - start;
  // One write at start, one per interval, one at finish: never more (the writer does not spin).
  EXPECT_LE(at_finish, 1 + static_cast<int>(elapsed / std::chrono::milliseconds(100)) + 1);
  EXPECT_EQ(read_file(path), "n " + std::to_string(at_finish) + "\n");
  writer->finish();  // idempotent: no further write
  writer.reset();
  EXPECT_EQ(renders.load(), at_finish);
}

TEST(MetricsFileWriter, AFailedWriteIsReportedOnceAndTheNextGoodOneRecovers) {
  TempDir dir;
  const std::string sub = dir.file("sub");
  ASSERT_EQ(::mkdir(sub.c_str(), 0755), 0);
  const std::string path = sub + "/salvo.prom";
  auto started = cli::MetricsFileWriter::start(path, [] { return std::string("x 1\n"); }, std::chrono::hours(1));
  ASSERT_TRUE(started) << started.error().message;
  cli::MetricsFileWriter& writer = **started;
  ASSERT_TRUE(wait_until([&] { return read_file(path).has_value(); }, 2s));

  std::filesystem::remove_all(sub);
  testing::internal::CaptureStderr();
  const std::string first = writer.write_now();
  const std::string second = writer.write_now();
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(first.find(path), std::string::npos) << first;
  EXPECT_NE(first.find("No such file or directory"), std::string::npos) << first;
  EXPECT_EQ(second, first);
  EXPECT_EQ(lines_of(err).size(), 1u) << "reported once, not once per write: " << err;
  EXPECT_EQ(err.rfind("salvo: --metrics " + path + ": ", 0), 0u) << err;

  ASSERT_EQ(::mkdir(sub.c_str(), 0755), 0);
  EXPECT_EQ(writer.write_now(), "");
  EXPECT_EQ(read_file(path), "x 1\n");
  writer.finish();
}

// RLIMIT_FSIZE lowered for this process, SIGXFSZ ignored: a write past the limit fails with EFBIG,
// as one on a full disk fails with ENOSPC. Both restored when it goes.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    ::getrlimit(RLIMIT_FSIZE, &saved_);
    handler_ = std::signal(SIGXFSZ, SIG_IGN);
    rlimit lowered = saved_;
    lowered.rlim_cur = bytes;
    ok_ = ::setrlimit(RLIMIT_FSIZE, &lowered) == 0;
  }
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &saved_);
    std::signal(SIGXFSZ, handler_);
  }
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;
  bool ok() const noexcept { return ok_; }

 private:
  rlimit saved_{};
  void (*handler_)(int) = SIG_DFL;
  bool ok_ = false;
};

TEST(MetricsFileWriter, AFullDiskIsReportedOnceCountedAndSurvived) {
  TempDir dir;
  const std::string path = dir.file("salvo.prom");
  std::atomic<int> phase{0};  // 0: a small file; 1: one past the limit; 2: small again
  auto started = cli::MetricsFileWriter::start(
      path,
      [&] {
        const int p = phase.load();
        return p == 1 ? std::string(8192, '#') + "\n" : "x " + std::to_string(p) + "\n";
      },
      std::chrono::hours(1));
  ASSERT_TRUE(started) << started.error().message;
  cli::MetricsFileWriter& writer = **started;
  ASSERT_TRUE(wait_until([&] { return read_file(path).has_value(); }, 2s));

  phase = 1;
  std::vector<std::string> errors;
  testing::internal::CaptureStderr();  // to a file: one line, well under the limit
  {
    FileSizeLimit limit(4096);
    ASSERT_TRUE(limit.ok());
    for (int i = 0; i < 3; ++i) errors.push_back(writer.write_now());
  }
  const auto while_full = read_file(path);
  phase = 2;
  const std::string recovered = writer.write_now();
  const std::string err = testing::internal::GetCapturedStderr();

  const std::string expected = "write " + path + ".tmp.*: File too large";
  EXPECT_EQ(errors, (std::vector<std::string>{expected, expected, expected}));
  EXPECT_EQ(writer.failed_writes(), 3u);
  EXPECT_EQ(while_full, "x 0\n") << "the last good file stays while writes fail";
  EXPECT_EQ(recovered, "");
  EXPECT_EQ(lines_of(err), (std::vector<std::string>{"salvo: --metrics " + path + ": " + expected,
                                                     "salvo: --metrics " + path + ": written again after 3 failed writes"}));
  EXPECT_EQ(read_file(path), "x 2\n");
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"salvo.prom"}) << "the failed temporary files are removed";
  writer.finish();
  EXPECT_EQ(writer.failed_writes(), 3u);
}

TEST(MetricsFileWriter, AThreadThatCannotStartIsAnErrorNotAnException) {
  if (!seccomp_filters_apply) GTEST_SKIP() << "the seccomp filters are written for x86-64";
  TempDir dir;
  const std::string path = dir.file("salvo.prom");
  // In a child: the seccomp filter that refuses threads cannot be taken off again.
  const ChildOutcome outcome = run_in_child(
      [&path] {
        ChildChecks c;
        if (std::string why = install_seccomp_filter(no_threads_filter()); !why.empty()) return why;
        int renders = 0;
        auto started = cli::MetricsFileWriter::start(path, [&] { return "x " + std::to_string(++renders) + "\n"; });
        if (c.check(!started, "the writer started without a thread")) {
          c.check(started.error().code == std::errc::resource_unavailable_try_again, started.error().message);
          c.check(started.error().message ==
                      "--metrics " + path + ": cannot create the writer's thread: Resource temporarily unavailable",
                  started.error().message);
        }
        c.check(renders == 0, "a writer that never started rendered");
        return c.failures();
      },
      30s);
  EXPECT_TRUE(outcome.passed()) << outcome.describe();
  EXPECT_EQ(outcome.err, "");
  EXPECT_TRUE(dir.entries().empty()) << "a writer that never started wrote";
}

TEST(MetricsFileWriter, ServersWriteTheEnginesWorkersWithCommandAndBackendLabels) {
  auto none = cli::start_metrics_file("", *make_engine({}), "sink");
  ASSERT_TRUE(none);
  EXPECT_EQ(*none, nullptr);
  TempDir dir;
  const std::string path = dir.file("salvo.prom");
  for (BackendKind kind : available_backends()) {
    EngineOptions o;
    o.backend = kind;
    o.workers = 3;
    auto engine = make_engine(o);
    auto started = cli::start_metrics_file(path, *engine, "echo");
    ASSERT_TRUE(started) << started.error().message;
    std::unique_ptr<cli::MetricsFileWriter> writer = std::move(*started);
    ASSERT_NE(writer, nullptr);
    writer->finish();
    const PromDocument doc = parse_prometheus_strict(*read_file(path));
    for (int w = 0; w < 3; ++w) {
      EXPECT_EQ(doc.value("salvo_received_total",
                          {{"command", "echo"}, {"backend", std::string(to_string(kind))}, {"worker", std::to_string(w)}}),
                0u);
    }
  }
}

}  // namespace
}  // namespace salvo::test
