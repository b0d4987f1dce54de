#include "servers/metrics_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "salvo/metrics.hpp"

namespace salvo::cli {
namespace {

std::string temporary_name(const std::string& path) { return path + ".tmp." + std::to_string(::getpid()); }

std::string directory_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// Writes all of `text` to `path` (created or truncated); empty or what failed.
std::string write_file(const std::string& path, const std::string& text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return "create " + path + ": " + std::strerror(errno);
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return "write " + path + ": " + std::strerror(err);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::close(fd) != 0) return "close " + path + ": " + std::strerror(errno);
  return {};
}

}  // namespace

Result<void> check_metrics_path(const std::string& path) {
  if (path.empty()) return {};
  auto fail = [&](const std::string& why) { return Error::make(Errc::bad_option, "--metrics " + path + ": " + why); };
  struct stat st {};
  if (path.back() == '/' || (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))) {
    return fail("is a directory (expected a file name, e.g. " + (path.back() == '/' ? path : path + "/") + "salvo.prom)");
  }
  // The real test: what the writer will do, a temporary file in the same directory.
  const std::string temporary = temporary_name(path);
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return fail("cannot create files in " + directory_of(path) + ": " + std::strerror(errno));
  ::close(fd);
  ::unlink(temporary.c_str());
  return {};
}

MetricsFileWriter::MetricsFileWriter(std::string path, std::function<std::string()> render,
                                     std::chrono::milliseconds interval)
    : path_(std::move(path)), temporary_(temporary_name(path_)), render_(std::move(render)), interval_(interval) {
  thread_ = std::thread([this] { run(); });
}

MetricsFileWriter::~MetricsFileWriter() { finish(); }

void MetricsFileWriter::run() {
  auto next = std::chrono::steady_clock::now();
  std::unique_lock lock(mutex_);
  while (!stop_) {
    if (wake_.wait_until(lock, next, [this] { return stop_; })) break;
    lock.unlock();
    write_now();
    lock.lock();
    // Keep to the schedule; after a stall (a slow disk) start afresh rather than catch up.
    const auto now = std::chrono::steady_clock::now();
    next += interval_;
    if (next <= now) next = now + interval_;
  }
}

void MetricsFileWriter::finish() {
  {
    std::lock_guard lock(mutex_);
    if (finished_) return;
    finished_ = true;
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  write_now();
}

std::string MetricsFileWriter::write_now() {
  std::lock_guard lock(write_mutex_);
  std::string error = write_file(temporary_, render_());
  if (error.empty() && ::rename(temporary_.c_str(), path_.c_str()) != 0) {
    error = "rename " + temporary_ + " to " + path_ + ": " + std::strerror(errno);
  }
  if (!error.empty()) {
    ::unlink(temporary_.c_str());
    if (error != last_error_) std::fprintf(stderr, "salvo: --metrics %s: %s\n", path_.c_str(), error.c_str());
  }
  last_error_ = error;
  return error;
}

std::unique_ptr<MetricsFileWriter> start_metrics_file(const std::string& path, const Engine& engine,
                                                      const char* command) {
  if (path.empty()) return nullptr;
  PrometheusOptions options;
  options.labels = {{"command", command}, {"backend", std::string(to_string(engine.backend().kind))}};
  return std::make_unique<MetricsFileWriter>(
      path, [&engine, options] { return prometheus_text(engine.worker_counters(), options); });
}

}  // namespace salvo::cli
