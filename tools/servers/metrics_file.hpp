// --metrics FILE: the servers' counters in Prometheus text format, rewritten every second for
// node_exporter's textfile collector (point its --collector.textfile.directory at FILE's directory
// and name FILE *.prom).
//
// Each write goes to FILE.tmp.<pid> in the same directory and is then renamed over FILE, so a
// reader sees the previous file or the next one, never a partial one. The writer runs on its own
// thread and only reads counters (Engine::worker_counters() is safe from any thread); workers
// never wait for it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "salvo/engine.hpp"
#include "salvo/error.hpp"

namespace salvo::cli {

// Checks, before anything starts, that FILE can be written the way the writer will write it: a
// temporary file can be created in its directory (created and removed again here) and FILE is not
// a directory. An empty path (no --metrics) passes. The error is one line naming the path.
Result<void> check_metrics_path(const std::string& path);

class MetricsFileWriter {
 public:
  // Starts the thread, which writes render() at once and then every `interval`.
  MetricsFileWriter(std::string path, std::function<std::string()> render,
                    std::chrono::milliseconds interval = std::chrono::seconds(1));
  ~MetricsFileWriter();  // finish()
  MetricsFileWriter(const MetricsFileWriter&) = delete;
  MetricsFileWriter& operator=(const MetricsFileWriter&) = delete;

  // Stops the thread and writes once more, so the file ends with the final values. Idempotent.
  void finish();

  // Writes render() to the file now (temporary file + rename). Returns an empty string, or what
  // failed. A failure is also reported on stderr, once until a write succeeds again.
  std::string write_now();

 private:
  void run();

  std::string path_;
  std::string temporary_;
  std::function<std::string()> render_;
  std::chrono::milliseconds interval_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  bool finished_ = false;
  std::string last_error_;  // reported already; guarded by write_mutex_
  std::mutex write_mutex_;
  std::thread thread_;
};

// The servers' writer: `engine`'s per-worker counters (salvo::prometheus_text) labelled with the
// command and the backend. nullptr when `path` is empty. Call after Engine::start(); the engine
// must outlive the writer.
std::unique_ptr<MetricsFileWriter> start_metrics_file(const std::string& path, const Engine& engine,
                                                      const char* command);

}  // namespace salvo::cli
