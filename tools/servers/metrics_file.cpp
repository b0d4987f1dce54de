#include "servers/metrics_file.hpp"

#include <sys/stat.h>

#include <cstdio>
#include <system_error>

#include "salvo/metrics.hpp"
#include "servers/replace_file.hpp"

namespace salvo::cli {

Result<void> check_metrics_path(const std::string& path) {
  if (path.empty()) return {};
  auto fail = [&](const std::string& why) { return Error::make(Errc::bad_option, "--metrics " + path + ": " + why); };
  struct stat st {};
  if (path.back() == '/' || (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))) {
    return fail("is a directory (expected a file name, e.g. " + (path.back() == '/' ? path : path + "/") + "salvo.prom)");
  }
  // A FIFO, device or socket would be replaced by the first write: refuse it now, in so many words.
  if (std::string why = unreplaceable_reason(path); !why.empty()) return fail(why);
  // The real test: what the writer will do, a temporary file in the same directory.
  if (std::string why = try_create_beside(path); !why.empty()) return fail(why);
  return {};
}

MetricsFileWriter::MetricsFileWriter(std::string path, std::function<std::string()> render,
                                     std::chrono::milliseconds interval)
    : path_(std::move(path)), render_(std::move(render)), interval_(interval) {}

Result<std::unique_ptr<MetricsFileWriter>> MetricsFileWriter::start(std::string path, std::function<std::string()> render,
                                                                    std::chrono::milliseconds interval) {
  std::unique_ptr<MetricsFileWriter> writer(new MetricsFileWriter(std::move(path), std::move(render), interval));
  try {
    writer->thread_ = std::thread([w = writer.get()] { w->run(); });
  } catch (const std::system_error& e) {
    // No thread: no final write either (finish() would write once, as if the run had begun).
    writer->finished_ = true;
    return Error::from_errno(e.code().value(), "--metrics " + writer->path_ + ": cannot create the writer's thread");
  }
  return writer;
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
  if (!write(/*last=*/true).empty()) {
    std::lock_guard lock(write_mutex_);
    std::fprintf(stderr, "salvo: --metrics %s: the final values were not written (%llu failed writes in a row)\n",
                 path_.c_str(), static_cast<unsigned long long>(failed_in_a_row_));
  }
}

std::string MetricsFileWriter::write_now() { return write(/*last=*/false); }

std::string MetricsFileWriter::write(bool last) {
  std::lock_guard lock(write_mutex_);
  // Only the last write syncs the directory: every earlier rename is superseded within an
  // interval, and after a crash either name holds a whole file (replace_file fsyncs the data
  // first), so a directory fsync (a journal commit) every second would buy nothing. The last
  // values are the ones that stay; they are made durable.
  const std::string error = replace_file(path_, render_(), /*sync_directory=*/last);
  if (error.empty()) {
    if (failed_in_a_row_ > 0) {
      std::fprintf(stderr, "salvo: --metrics %s: written again after %llu failed writes\n", path_.c_str(),
                   static_cast<unsigned long long>(failed_in_a_row_));
    }
    failed_in_a_row_ = 0;
    return error;
  }
  // Reported once per run of failures (a full disk fails every second, and may fail in write one
  // time and fsync the next): the count says how many, the recovery line when it ends.
  if (failed_in_a_row_ == 0) std::fprintf(stderr, "salvo: --metrics %s: %s\n", path_.c_str(), error.c_str());
  ++failed_in_a_row_;
  ++failed_writes_;
  return error;
}

std::uint64_t MetricsFileWriter::failed_writes() const {
  std::lock_guard lock(write_mutex_);
  return failed_writes_;
}

Result<std::unique_ptr<MetricsFileWriter>> start_metrics_file(const std::string& path, const Engine& engine,
                                                              const char* command) {
  if (path.empty()) return std::unique_ptr<MetricsFileWriter>();
  PrometheusOptions options;
  options.labels = {{"command", command}, {"backend", std::string(to_string(engine.backend().kind))}};
  return MetricsFileWriter::start(path,
                                  [&engine, options] { return prometheus_text(engine.worker_counters(), options); });
}

}  // namespace salvo::cli
