// --metrics FILE: the servers' counters in Prometheus text format, rewritten every second for
// node_exporter's textfile collector (point its --collector.textfile.directory at FILE's directory
// and name FILE *.prom).
//
// Each write goes to a new FILE.tmp.<random> in the same directory, is fsynced and then renamed
// over FILE (replace_file.hpp), so a reader sees the previous file or the next one, never a
// partial one, and FILE itself is never opened: a symlink planted at FILE is replaced, its target
// untouched; a FIFO there cannot block the writer. The writer runs on its own thread and only
// reads counters (Engine::worker_counters() is safe from any thread); workers never wait for it. A
// failed write (a full disk) is reported once, counted, and retried at the next interval; it never
// stops the server.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "salvo/engine.hpp"
#include "salvo/error.hpp"

namespace salvo::cli {

// Checks, before anything starts, that FILE can be written the way the writer will write it: FILE
// is absent, a regular file or a symlink (which will be replaced by the file, not followed; a
// symlink to a directory counts as the directory), not a directory, FIFO, device or socket; and a
// temporary file can be created in its directory (created and removed again here). An empty path
// (no --metrics) passes. The error is one line naming the path and what is wrong with it.
Result<void> check_metrics_path(const std::string& path);

class MetricsFileWriter {
 public:
  // Starts the writer's thread, which writes render() at once and then every `interval`. A thread
  // the system will not create (its thread or memory limits) is an error naming why, not an
  // exception.
  static Result<std::unique_ptr<MetricsFileWriter>> start(std::string path, std::function<std::string()> render,
                                                          std::chrono::milliseconds interval = std::chrono::seconds(1));
  ~MetricsFileWriter();  // finish()
  MetricsFileWriter(const MetricsFileWriter&) = delete;
  MetricsFileWriter& operator=(const MetricsFileWriter&) = delete;

  // Stops the thread and writes once more, so the file ends with the final values; says so on
  // stderr when that write failed. Idempotent.
  void finish();

  // Writes render() to the file now (temporary file + rename). Returns an empty string, or what
  // failed. A failure is also reported on stderr, once until a write succeeds again (which is
  // reported too, with the number of failed writes).
  std::string write_now();

  // Writes that failed since the start.
  std::uint64_t failed_writes() const;

 private:
  MetricsFileWriter(std::string path, std::function<std::string()> render, std::chrono::milliseconds interval);
  void run();
  std::string write(bool last);  // last: the final write, whose rename is made durable too

  std::string path_;
  std::function<std::string()> render_;
  std::chrono::milliseconds interval_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  bool finished_ = false;
  std::uint64_t failed_in_a_row_ = 0;  // guarded by write_mutex_; > 0: the failure is reported
  std::uint64_t failed_writes_ = 0;    // guarded by write_mutex_
  mutable std::mutex write_mutex_;
  std::thread thread_;
};

// The servers' writer: `engine`'s per-worker counters (salvo::prometheus_text) labelled with the
// command and the backend. nullptr when `path` is empty; an error when its thread cannot start.
// Call after Engine::start(); the engine must outlive the writer.
Result<std::unique_ptr<MetricsFileWriter>> start_metrics_file(const std::string& path, const Engine& engine,
                                                      const char* command);

}  // namespace salvo::cli
