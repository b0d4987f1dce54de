// What the examples share besides salvo itself: stopping cleanly on SIGINT/SIGTERM or when a
// protocol decides the program is done, printing payloads and addresses the way the Twisted seeds'
// Python prints them (repr of bytes, address tuples), and reading the few flags they take.
//
// Threading: StopSignal is made on the main thread before Engine::start (so that the worker threads
// inherit the blocked signals); request_stop() may be called from any thread, protocol hooks
// included; wait() is for the main thread. The printing helpers write through stdio, which locks
// per call, so workers and the main thread may print at the same time.
#pragma once

#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

#include <salvo/salvo.hpp>

namespace examples {

// Ends the program's wait on SIGINT, SIGTERM or request_stop(), whichever comes first. The signals
// are blocked and read from a signalfd, so no handler runs on some random worker thread.
class StopSignal {
 public:
  StopSignal() {
    sigemptyset(&signals_);
    sigaddset(&signals_, SIGINT);
    sigaddset(&signals_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals_, nullptr);
    signal_fd_ = ::signalfd(-1, &signals_, SFD_CLOEXEC);
    wake_fd_ = ::eventfd(0, EFD_CLOEXEC);
    if (signal_fd_ < 0 || wake_fd_ < 0) {
      std::fprintf(stderr, "cannot watch for signals: %s\n", std::strerror(errno));
      std::exit(1);
    }
  }
  ~StopSignal() {
    ::close(signal_fd_);
    ::close(wake_fd_);
  }
  StopSignal(const StopSignal&) = delete;
  StopSignal& operator=(const StopSignal&) = delete;

  // Wakes wait() as if a signal had come (the program decided it is done). Any thread; one write.
  void request_stop() noexcept {
    const std::uint64_t one = 1;
    [[maybe_unused]] const ssize_t written = ::write(wake_fd_, &one, sizeof one);
  }

  // Blocks until a stop signal or request_stop(); returns the signal number, or 0 for request_stop.
  int wait() noexcept {
    for (;;) {
      pollfd fds[2] = {{signal_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        return SIGTERM;  // cannot wait any more: stop rather than hang
      }
      if (fds[0].revents != 0) {
        signalfd_siginfo info{};
        if (::read(signal_fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
          return static_cast<int>(info.ssi_signo);
        }
      }
      if (fds[1].revents != 0) return 0;
    }
  }

 private:
  sigset_t signals_;
  int signal_fd_ = -1;
  int wake_fd_ = -1;
};

// Prints `payload` as Python 3's repr(bytes) does (b'hello', b"it's", b'\x00\n'), so that the output
// reads like the seeds'. Writes straight to `out`: no allocation.
inline void print_bytes_repr(std::FILE* out, std::span<const std::byte> payload) {
  bool has_single = false;
  bool has_double = false;
  for (std::byte b : payload) {
    has_single = has_single || b == std::byte{'\''};
    has_double = has_double || b == std::byte{'"'};
  }
  const char quote = has_single && !has_double ? '"' : '\'';
  std::fputc('b', out);
  std::fputc(quote, out);
  for (std::byte b : payload) {
    const auto c = static_cast<unsigned char>(b);
    if (c == '\\' || c == static_cast<unsigned char>(quote)) {
      std::fputc('\\', out);
      std::fputc(c, out);
    } else if (c == '\t') {
      std::fputs("\\t", out);
    } else if (c == '\n') {
      std::fputs("\\n", out);
    } else if (c == '\r') {
      std::fputs("\\r", out);
    } else if (c < 0x20 || c >= 0x7f) {
      std::fprintf(out, "\\x%02x", c);
    } else {
      std::fputc(c, out);
    }
  }
  std::fputc(quote, out);
}

// Prints `address` as the Python tuple Twisted hands to datagramReceived: ('127.0.0.1', 9999).
inline void print_address_tuple(std::FILE* out, const salvo::Address& address) {
  char text[salvo::Address::max_text];
  const std::size_t length = address.format(text, sizeof text);
  std::string_view host(text, length);
  const std::size_t colon = host.rfind(':');
  if (colon != std::string_view::npos) host = host.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  std::fprintf(out, "('%.*s', %u)", static_cast<int>(host.size()), host.data(), address.port());
}

inline std::span<const std::byte> bytes_of(std::string_view text) noexcept {
  return std::as_bytes(std::span<const char>(text.data(), text.size()));
}

inline bool payload_equals(std::span<const std::byte> payload, std::string_view text) noexcept {
  return payload.size() == text.size() &&
         (text.empty() || std::memcmp(payload.data(), text.data(), text.size()) == 0);
}

// Usage errors: one line on stderr naming the problem, exit code 2.
[[noreturn]] inline void usage_error(const char* program, const std::string& what) {
  std::fprintf(stderr, "%s: %s\n", program, what.c_str());
  std::exit(2);
}

// A numeric "IP:PORT" or exit 2 naming the bad text.
inline salvo::Address parse_address_or_exit(const char* program, std::string_view text) {
  auto address = salvo::Address::parse(text);
  if (!address) usage_error(program, address.error().message);
  return *address;
}

// A whole number in [low, high] for `flag`, or exit 2.
inline std::uint64_t parse_count_or_exit(const char* program, const char* flag, std::string_view text,
                                         std::uint64_t low, std::uint64_t high) {
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value < low || value > high) {
    usage_error(program, std::string(flag) + " wants a whole number from " + std::to_string(low) + " to " +
                             std::to_string(high) + ", not '" + std::string(text) + "'");
  }
  return value;
}

// Seconds (fractions allowed) in [low, high] for `flag`, or exit 2.
inline double parse_seconds_or_exit(const char* program, const char* flag, std::string_view text, double low,
                                    double high) {
  const std::string copy(text);
  char* end = nullptr;
  errno = 0;
  const double value = std::strtod(copy.c_str(), &end);
  if (copy.empty() || errno != 0 || *end != '\0' || !(value >= low && value <= high)) {
    char range[96];
    std::snprintf(range, sizeof range, " wants seconds from %g to %g, not '", low, high);
    usage_error(program, std::string(flag) + range + copy + "'");
  }
  return value;
}

// Walks argv: positional arguments and "--flag value" pairs. A flag that wants a value and has none
// is a usage error.
class Arguments {
 public:
  Arguments(const char* program, int argc, char** argv) : program_(program), argc_(argc), argv_(argv) {}
  bool done() const noexcept { return next_ >= argc_; }
  std::string_view take() noexcept { return argv_[next_++]; }
  std::string_view value_for(std::string_view flag) {
    if (done()) usage_error(program_, std::string(flag) + " needs a value");
    return take();
  }
  [[noreturn]] void unknown(std::string_view argument) const {
    usage_error(program_, "unknown argument '" + std::string(argument) + "' (try --help)");
  }

 private:
  const char* program_;
  int argc_;
  char** argv_;
  int next_ = 1;
};

// Says on stderr which backend runs and why ("epoll: forced by SALVO_BACKEND=epoll").
inline void announce_backend(const char* program, const salvo::Engine& engine) {
  std::fprintf(stderr, "%s: backend %s\n", program, engine.backend().reason.c_str());
}

}  // namespace examples
