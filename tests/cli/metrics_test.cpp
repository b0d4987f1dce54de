// `salvo sink|echo --metrics FILE`, run as a child process on every backend: the file appears at
// once, every read of it parses strictly (never a partial file), it follows the traffic while the
// server runs, and after exit it holds exactly the counters the --json report gives. A path that
// cannot be written is a one-line usage error before anything starts. Where python3 has
// prometheus_client, the official parser reads the file too and finds the same samples.
//
// Hostile files (issue 21): what another user of FILE's directory may plant at FILE or at the
// temporary name the writer used to take (FILE.tmp.<pid>) is never written through and never
// blocks the writer; a FIFO, device, socket or directory as FILE is refused at start.
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/cli_test_support.hpp"
#include "support/process.hpp"
#include "support/prometheus_parser.hpp"
#include "support/temp_dir.hpp"
#include "support/test_support.hpp"

namespace salvo::test {
namespace {

const std::string salvo_bin = SALVO_CLI_PATH;
using Labels = std::map<std::string, std::string>;

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// A counter summed over the workers the file lists (0..workers-1).
std::uint64_t total(const PromDocument& doc, const std::string& counter, const Labels& constant, unsigned workers) {
  std::uint64_t sum = 0;
  for (unsigned w = 0; w < workers; ++w) {
    Labels labels = constant;
    labels["worker"] = std::to_string(w);
    sum += doc.value("salvo_" + counter + "_total", labels);
  }
  return sum;
}

// The final file against the --json report: every counter of every worker, their sums, and the
// histogram's cumulative buckets.
void expect_file_equals_json(const PromDocument& doc, const nlohmann::json& j, const Labels& constant) {
  const auto& per_worker = j.at("per_worker");
  const unsigned workers = j.at("workers").get<unsigned>();
  ASSERT_EQ(per_worker.size(), workers);
  std::size_t compared = 0;
  for (const auto& [name, value] : j.at("counters").items()) {
    if (name == "rx_batch_sizes") continue;
    for (unsigned w = 0; w < workers; ++w) {
      Labels labels = constant;
      labels["worker"] = std::to_string(w);
      EXPECT_EQ(doc.value("salvo_" + name + "_total", labels), per_worker[w].at(name).get<std::uint64_t>())
          << name << " worker " << w;
    }
    EXPECT_EQ(total(doc, name, constant, workers), value.get<std::uint64_t>()) << name;
    ++compared;
  }
  EXPECT_EQ(compared + 1, doc.families.size()) << "every counter family, plus the histogram";
  for (unsigned w = 0; w < workers; ++w) {
    Labels labels = constant;
    labels["worker"] = std::to_string(w);
    std::uint64_t cumulative = 0;
    for (const auto& bucket : per_worker[w].at("rx_batch_sizes")) {
      cumulative += bucket.at("batches").get<std::uint64_t>();
      Labels with_le = labels;
      with_le["le"] = bucket.at("max").is_null() ? "+Inf" : std::to_string(bucket["max"].get<std::uint64_t>());
      EXPECT_EQ(doc.value("salvo_rx_batch_size_bucket", with_le), cumulative) << with_le["le"] << " worker " << w;
    }
    EXPECT_EQ(doc.value("salvo_rx_batch_size_count", labels), cumulative);
    EXPECT_EQ(cumulative, per_worker[w].at("rx_batches").get<std::uint64_t>());
  }
}

class MetricsCli : public testing::TestWithParam<BackendKind> {};

TEST_P(MetricsCli, SinkFileFollowsTheTrafficAndEndsAsTheJsonReport) {
  const std::string backend(to_string(GetParam()));
  TempDir dir;
  const std::string path = dir.file("salvo.prom");
  Child sink({salvo_bin, "sink", "--bind", "127.0.0.1:0", "--workers", "2", "--metrics", path, "--json", "--backend",
              backend});
  ASSERT_TRUE(sink.wait_for_stderr(")\n", 20s)) << sink.err_so_far();
  const Address where = listening_address(sink.err_so_far());
  const Labels constant = {{"command", "sink"}, {"backend", backend}};

  // The first file is written as the server starts.
  ASSERT_TRUE(wait_until([&] { return read_file(path).has_value(); }, 2s)) << sink.err_so_far();
  PromDocument doc = parse_prometheus_strict(*read_file(path));
  EXPECT_EQ(total(doc, "received", constant, 2), 0u);

  // 100 datagrams fit in the socket's default receive queue, so none can be dropped.
  constexpr std::uint64_t count = 100;
  UdpSocket client(addr("127.0.0.1:0"));
  for (std::uint64_t i = 0; i < count; ++i) ASSERT_TRUE(client.send_to(make_payload(i, 48), where));
  // Rewritten every second: once the sink is idle the file shows every datagram. Each read must
  // parse whole (a partial file would throw).
  std::uint64_t seen = 0;
  EXPECT_TRUE(wait_until(
      [&] {
        doc = parse_prometheus_strict(*read_file(path));
        seen = total(doc, "received", constant, 2);
        return seen == count;
      },
      5s))
      << "the file says " << seen << " received";
  EXPECT_EQ(total(doc, "received_bytes", constant, 2), count * 48);
  EXPECT_EQ(total(doc, "delivered", constant, 2), count);
  EXPECT_EQ(total(doc, "kernel_drops", constant, 2), 0u);

  sink.send_signal(SIGTERM);
  const auto r = sink.finish(20s);
  ASSERT_TRUE(r.exited) << show(r);
  ASSERT_EQ(r.exit_code, 0) << show(r);
  const nlohmann::json j = parse_json_line(r.out);
  EXPECT_EQ(j.at("received").get<std::uint64_t>(), count);
  const auto final_text = read_file(path);
  ASSERT_TRUE(final_text.has_value());
  expect_file_equals_json(parse_prometheus_strict(*final_text), j, constant);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"salvo.prom"}) << "no temporary file left behind";
}

TEST_P(MetricsCli, EchoFileCountsTheRepliesAndEndsAsTheJsonReport) {
  const std::string backend(to_string(GetParam()));
  TempDir dir;
  const std::string path = dir.file("echo.prom");
  Child echo({salvo_bin, "echo", "--bind", "127.0.0.1:0", "--metrics", path, "--json", "--backend", backend});
  ASSERT_TRUE(echo.wait_for_stderr(")\n", 20s)) << echo.err_so_far();
  const Address where = listening_address(echo.err_so_far());
  UdpSocket client(addr("127.0.0.1:0"));
  for (std::uint64_t i = 0; i < 20; ++i) {
    ASSERT_TRUE(client.send_to(make_payload(i, 30), where));
    ASSERT_TRUE(client.receive(5s).has_value()) << "no echo for " << i;
  }
  echo.send_signal(SIGINT);
  const auto r = echo.finish(20s);
  ASSERT_TRUE(r.exited) << show(r);
  ASSERT_EQ(r.exit_code, 0) << show(r);
  const nlohmann::json j = parse_json_line(r.out);
  const PromDocument doc = parse_prometheus_strict(*read_file(path));
  const Labels constant = {{"command", "echo"}, {"backend", backend}};
  expect_file_equals_json(doc, j, constant);
  EXPECT_EQ(total(doc, "sent", constant, 1), 20u);
  EXPECT_EQ(total(doc, "sent_bytes", constant, 1), 20u * 30);
  EXPECT_EQ(total(doc, "received", constant, 1), 20u);
}

INSTANTIATE_TEST_SUITE_P(Backends, MetricsCli, testing::ValuesIn(available_backends()), backend_test_name);

TEST(MetricsCliUsage, UnwritablePathsAreOneLineUsageErrorsBeforeAnythingStarts) {
  TempDir dir;
  std::ofstream(dir.file("plain")) << "x";
  const std::vector<std::string> bad = {dir.file("missing/salvo.prom"), dir.file("plain/salvo.prom"), dir.path()};
  for (const char* command : {"sink", "echo"}) {
    for (const std::string& path : bad) {
      SCOPED_TRACE(std::string(command) + " --metrics " + path);
      const auto r = run_process({salvo_bin, command, "--bind", "127.0.0.1:0", "--metrics", path, "--json"}, 20s);
      ASSERT_TRUE(r.exited) << show(r);
      EXPECT_EQ(r.exit_code, 2) << show(r);
      const auto lines = lines_of(r.err);
      ASSERT_EQ(lines.size(), 1u) << r.err;
      EXPECT_EQ(lines[0].rfind("salvo: --metrics " + path + ": ", 0), 0u) << lines[0];
      EXPECT_TRUE(r.out.empty()) << r.out;
    }
  }
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"plain"});
}

// The type of what is at `path` (S_IFREG, S_IFLNK, S_IFIFO, ...), not following a symlink; 0 when
// nothing is there.
mode_t type_of(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 ? (st.st_mode & S_IFMT) : 0;
}

std::string link_target(const std::string& path) {
  std::string target(4096, '\0');
  const ssize_t n = ::readlink(path.c_str(), target.data(), target.size());
  return n < 0 ? std::string() : target.substr(0, static_cast<std::size_t>(n));
}

// A one-worker epoll sink writing `path`, for the hostile-file tests.
std::vector<std::string> sink_argv(const std::string& path) {
  return {salvo_bin, "sink", "--bind", "127.0.0.1:0", "--workers", "1", "--metrics", path, "--json", "--backend", "epoll"};
}

const Labels epoll_sink = {{"command", "sink"}, {"backend", "epoll"}};

// What FILE says the sink received, once FILE is a regular file (before the first write it may be
// whatever the test planted there).
std::optional<std::uint64_t> received_in(const std::string& path) {
  if (type_of(path) != S_IFREG) return std::nullopt;
  const auto text = read_file(path);
  if (!text) return std::nullopt;
  return total(parse_prometheus_strict(*text), "received", epoll_sink, 1);
}

// Sends `count` datagrams and waits until FILE counts them: proof that writes went on after
// whatever the test did before calling this.
void expect_file_catches_up(const std::string& path, const Address& where, std::uint64_t count) {
  UdpSocket client(addr("127.0.0.1:0"));
  for (std::uint64_t i = 0; i < count; ++i) ASSERT_TRUE(client.send_to(make_payload(i, 32), where));
  EXPECT_TRUE(wait_until([&] { return received_in(path) == count; }, 10s)) << "the writer stopped writing";
}

TEST(MetricsCliHostile, SymlinksAtTheFileAndAtTheOldTemporaryNameLeaveTheirTargetAlone) {
  TempDir dir;
  const std::string path = dir.file("salvo.prom");
  const std::string victim = dir.file("victim");
  std::ofstream(victim) << "precious\n";
  ASSERT_EQ(::symlink(victim.c_str(), path.c_str()), 0);
  Child sink(sink_argv(path));
  ASSERT_TRUE(sink.wait_for_stderr(")\n", 20s)) << sink.err_so_far();
  // The name the writer used to take, known to anyone who can see the pid: a link planted there
  // was opened with O_TRUNC and written through.
  const std::string old_temporary = path + ".tmp." + std::to_string(sink.pid());
  ASSERT_EQ(::symlink(victim.c_str(), old_temporary.c_str()), 0);
  expect_file_catches_up(path, listening_address(sink.err_so_far()), 10);

  sink.send_signal(SIGTERM);
  const auto r = sink.finish(20s);
  ASSERT_TRUE(r.exited) << show(r);
  ASSERT_EQ(r.exit_code, 0) << show(r);
  EXPECT_EQ(read_file(victim), "precious\n");
  // The link at FILE was replaced by the file itself; the planted one is still there, untouched.
  ASSERT_EQ(type_of(path), S_IFREG);
  expect_file_equals_json(parse_prometheus_strict(*read_file(path)), parse_json_line(r.out), epoll_sink);
  EXPECT_EQ(link_target(old_temporary), victim);
  EXPECT_EQ(dir.entries(),
            (std::vector<std::string>{"salvo.prom", "salvo.prom.tmp." + std::to_string(sink.pid()), "victim"}));
}

TEST(MetricsCliHostile, AFifoAtTheOldTemporaryNameCannotBlockTheWriter) {
  TempDir dir;
  const std::string path = dir.file("salvo.prom");
  Child sink(sink_argv(path));
  ASSERT_TRUE(sink.wait_for_stderr(")\n", 20s)) << sink.err_so_far();
  // Opening a FIFO for writing waits for a reader: the writer thread stuck there forever, and the
  // process with it (it joins the writer at exit).
  const std::string old_temporary = path + ".tmp." + std::to_string(sink.pid());
  ASSERT_EQ(::mkfifo(old_temporary.c_str(), 0666), 0) << std::strerror(errno);
  expect_file_catches_up(path, listening_address(sink.err_so_far()), 10);

  sink.send_signal(SIGTERM);
  const auto r = sink.finish(20s);
  ASSERT_TRUE(r.exited) << show(r);
  EXPECT_EQ(r.exit_code, 0) << show(r);
  EXPECT_EQ(type_of(old_temporary), S_IFIFO);
  EXPECT_EQ(received_in(path).value_or(0), 10u);
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"salvo.prom", "salvo.prom.tmp." + std::to_string(sink.pid())}));
}

TEST(MetricsCliHostile, AFifoMovedToTheFileWhileRunningIsLeftAloneAndTheServerExits) {
  TempDir dir;
  const std::string path = dir.file("salvo.prom");
  Child sink(sink_argv(path));
  ASSERT_TRUE(sink.wait_for_stderr(")\n", 20s)) << sink.err_so_far();
  ASSERT_TRUE(wait_until([&] { return type_of(path) == S_IFREG; }, 10s)) << "the first write";
  // Past the start-up check, renamed into place so that FILE is never missing meanwhile. The next
  // periodic write meets it and says so. (A write already past its own look at FILE when the FIFO
  // came still replaces it, and then no write reports anything: plant another. Writes are one at
  // a time, so once one has reported the FIFO, none can replace it.)
  const std::string refused = "salvo: --metrics " + path + ": is a FIFO (named pipe), not a regular file; not replaced";
  const std::string pipe = dir.file("pipe");
  bool reported = false;
  for (int attempt = 0; attempt < 3 && !reported; ++attempt) {
    ASSERT_EQ(::mkfifo(pipe.c_str(), 0666), 0) << std::strerror(errno);
    ASSERT_EQ(::rename(pipe.c_str(), path.c_str()), 0) << std::strerror(errno);
    reported = sink.wait_for_stderr(refused + "\n", 10s);
  }
  ASSERT_TRUE(reported) << sink.err_so_far();

  sink.send_signal(SIGTERM);
  const auto r = sink.finish(20s);
  ASSERT_TRUE(r.exited) << show(r);
  EXPECT_EQ(r.exit_code, 0) << show(r);
  EXPECT_EQ(type_of(path), S_IFIFO) << "replaced";
  // Reported once, however many writes met it, the final one included; then that the final
  // values are missing.
  EXPECT_EQ(count_lines(r.err, refused), 1u) << r.err;
  std::size_t final_lines = 0;
  for (const std::string& line : lines_of(r.err)) {
    if (line.rfind("salvo: --metrics " + path + ": the final values were not written (", 0) == 0) ++final_lines;
  }
  EXPECT_EQ(final_lines, 1u) << r.err;
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"salvo.prom"}) << "no temporary file left behind";
}

// A listening Unix socket at `path`, closed (the name stays) when it goes.
class UnixSocketFile {
 public:
  explicit UnixSocketFile(const std::string& path) : fd_(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    if (fd_ < 0 || path.size() >= sizeof a.sun_path) return;
    std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
    bound_ = ::bind(fd_, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0;
  }
  ~UnixSocketFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  UnixSocketFile(const UnixSocketFile&) = delete;
  UnixSocketFile& operator=(const UnixSocketFile&) = delete;
  bool bound() const noexcept { return bound_; }

 private:
  int fd_;
  bool bound_ = false;
};

TEST(MetricsCliHostile, AFifoDeviceSocketOrDirectoryAsTheFileIsRefusedAtStartInOneLine) {
  TempDir dir;
  const std::string fifo = dir.file("fifo.prom");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0666), 0) << std::strerror(errno);
  const std::string socket = dir.file("socket.prom");
  UnixSocketFile listening(socket);
  ASSERT_TRUE(listening.bound()) << socket;
  const std::string directory = dir.file("directory.prom");
  ASSERT_EQ(::mkdir(directory.c_str(), 0755), 0);
  // A device node of our own where we may make one (root): were the check ever to let a device
  // through, the writer would rename a file over it, and that must not be the machine's
  // /dev/null. Without that right, /dev/null is safe to name as long as /dev is not ours to write.
  std::string device = dir.file("null.prom");
  if (::mknod(device.c_str(), S_IFCHR | 0666, ::makedev(1, 3)) != 0) device = ::access("/dev", W_OK) != 0 ? "/dev/null" : "";

  std::vector<std::pair<std::string, std::string>> cases = {
      {fifo, "is a FIFO (named pipe), not a regular file"},
      {socket, "is a socket, not a regular file"},
      {directory, "is a directory (expected a file name, e.g. " + directory + "/salvo.prom)"},
  };
  if (device.empty()) {
    std::printf("[ note ] no device case: cannot make a device node, and /dev is writable\n");
  } else {
    cases.emplace_back(device, "is a character device, not a regular file");
  }
  for (const char* command : {"sink", "echo"}) {
    for (const auto& [path, what] : cases) {
      SCOPED_TRACE(std::string(command) + " --metrics " + path);
      const mode_t before = type_of(path);
      // Bounded: a FIFO opened for writing would wait for a reader instead of exiting.
      const auto r = run_process({salvo_bin, command, "--bind", "127.0.0.1:0", "--metrics", path, "--json"}, 20s);
      ASSERT_TRUE(r.exited) << show(r);
      EXPECT_EQ(r.exit_code, 2) << show(r);
      EXPECT_EQ(lines_of(r.err), std::vector<std::string>{"salvo: --metrics " + path + ": " + what});
      EXPECT_TRUE(r.out.empty()) << r.out;
      EXPECT_EQ(type_of(path), before) << "left as it was";
    }
  }
  std::vector<std::string> expected = {"directory.prom", "fifo.prom", "socket.prom"};
  if (device == dir.file("null.prom")) expected.insert(expected.begin() + 2, "null.prom");
  EXPECT_EQ(dir.entries(), expected) << "no temporary file left behind";
}

TEST(MetricsCliHostile, ADirectoryWithoutWritePermissionIsRefusedAtStartInOneLine) {
  TempDir dir;
  const std::string locked = dir.file("locked");
  ASSERT_EQ(::mkdir(locked.c_str(), 0555), 0);
  if (::access(locked.c_str(), W_OK) == 0) GTEST_SKIP() << "permissions do not bind this user (root)";
  const std::string path = locked + "/salvo.prom";
  const auto r = run_process({salvo_bin, "sink", "--bind", "127.0.0.1:0", "--metrics", path, "--json"}, 20s);
  ASSERT_TRUE(r.exited) << show(r);
  EXPECT_EQ(r.exit_code, 2) << show(r);
  EXPECT_EQ(lines_of(r.err),
            std::vector<std::string>{"salvo: --metrics " + path + ": cannot create files in " + locked +
                                     ": Permission denied"});
  EXPECT_TRUE(r.out.empty()) << r.out;
}

// The first python3 (on PATH, then /usr/bin) that can import prometheus_client, or "".
const std::string& python_with_prometheus_client() {
  static const std::string found = [] {
    std::vector<std::string> candidates;
    if (const char* path = std::getenv("PATH")) {
      std::stringstream dirs(path);
      for (std::string d; std::getline(dirs, d, ':');) {
        if (!d.empty()) candidates.push_back(d + "/python3");
      }
    }
    candidates.push_back("/usr/bin/python3");
    for (const std::string& python : candidates) {
      if (::access(python.c_str(), X_OK) != 0) continue;
      const auto r = run_process({python, "-c", "import prometheus_client.parser"}, 20s);
      if (r.exited && r.exit_code == 0) return python;
    }
    return std::string();
  }();
  return found;
}

TEST(MetricsCliPrometheusClient, TheOfficialParserReadsTheSameSamples) {
  const std::string& python = python_with_prometheus_client();
  if (python.empty()) GTEST_SKIP() << "no python3 with prometheus_client (apt-get install python3-prometheus-client)";
  TempDir dir;
  const std::string path = dir.file("salvo.prom");
  Child sink({salvo_bin, "sink", "--bind", "127.0.0.1:0", "--workers", "2", "--metrics", path, "--json", "--backend",
              "epoll"});
  ASSERT_TRUE(sink.wait_for_stderr(")\n", 20s)) << sink.err_so_far();
  const Address where = listening_address(sink.err_so_far());
  const Labels constant = {{"command", "sink"}, {"backend", "epoll"}};
  UdpSocket client(addr("127.0.0.1:0"));
  for (std::uint64_t i = 0; i < 30; ++i) ASSERT_TRUE(client.send_to(make_payload(i, 20), where));
  ASSERT_TRUE(wait_until(
      [&] {
        const auto text = read_file(path);
        return text && total(parse_prometheus_strict(*text), "received", constant, 2) == 30;
      },
      5s));
  sink.send_signal(SIGTERM);
  const auto r = sink.finish(20s);
  ASSERT_TRUE(r.exited && r.exit_code == 0) << show(r);
  const PromDocument ours = parse_prometheus_strict(*read_file(path));
  EXPECT_EQ(total(ours, "received", constant, 2), 30u);

  const char* script =
      "import json, sys\n"
      "from prometheus_client.parser import text_string_to_metric_families\n"
      "out = []\n"
      "for f in text_string_to_metric_families(open(sys.argv[1]).read()):\n"
      "    out.append({'name': f.name, 'type': f.type, 'help': f.documentation,\n"
      "                'samples': [[s.name, s.labels, s.value] for s in f.samples]})\n"
      "print(json.dumps(out))\n";
  const auto parsed = run_process({python, "-c", script, path}, 30s);
  ASSERT_TRUE(parsed.exited && parsed.exit_code == 0) << show(parsed);
  const nlohmann::json theirs = nlohmann::json::parse(parsed.out);

  ASSERT_EQ(theirs.size(), ours.families.size());
  std::size_t samples = 0;
  for (std::size_t i = 0; i < ours.families.size(); ++i) {
    const PromFamily& mine = ours.families[i];
    const nlohmann::json& family = theirs[i];
    EXPECT_EQ(family.at("type"), mine.type) << mine.name;
    EXPECT_EQ(family.at("help"), mine.help) << mine.name;
    // prometheus_client names a counter family without its _total suffix.
    const std::string expected_name =
        mine.type == "counter" && mine.name.ends_with("_total") ? mine.name.substr(0, mine.name.size() - 6) : mine.name;
    EXPECT_EQ(family.at("name"), expected_name);
    ASSERT_EQ(family.at("samples").size(), mine.samples.size()) << mine.name;
    for (std::size_t s = 0; s < mine.samples.size(); ++s) {
      const nlohmann::json& sample = family["samples"][s];
      EXPECT_EQ(sample[0], mine.samples[s].name);
      EXPECT_EQ(sample[1].get<Labels>(), mine.samples[s].labels) << mine.samples[s].name;
      EXPECT_EQ(sample[2].get<double>(), std::stod(mine.samples[s].value)) << mine.samples[s].name;
      ++samples;
    }
  }
  EXPECT_GT(samples, 0u);
}

}  // namespace
}  // namespace salvo::test
