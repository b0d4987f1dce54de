// Errors as values: every setup call that can fail returns Result<T>, carrying a std::error_code
// (for programs) and a message a person can act on (for logs and command-line output).
// The data path never throws and never allocates an Error; it reports through counters instead.
#pragma once

#include <cassert>
#include <string>
#include <system_error>
#include <utility>
#include <variant>

namespace salvo {

// salvo's own error conditions; operating-system failures keep their errno (std::system_category).
enum class Errc {
  bad_address = 1,      // text that is not "IP:PORT" / "[IPv6]:PORT", or a port out of range
  bad_option,           // an EngineOptions field or a command-line flag out of range
  backend_unavailable,  // the requested backend cannot run on this machine
  invalid_state,        // a call made at the wrong point of the lifecycle (listen after start, ...)
  family_mismatch,      // an IPv6 destination on an IPv4 socket
  full,                 // a table sized at start-up (a worker's timers) has no free entry
  name_not_resolved,    // the system resolver gave no address for a host name (salvo/resolve.hpp)
  cancelled,            // work dropped before it ran, e.g. a name lookup queued when its resolver shut down
};

const std::error_category& salvo_category() noexcept;
std::error_code make_error_code(Errc e) noexcept;

struct Error {
  std::error_code code;
  std::string message;  // complete sentence fragment naming what failed, e.g. "bind 127.0.0.1:9: ..."

  // "what: strerror(err)", and for EMFILE / ENFILE the limit that was reached (below).
  static Error from_errno(int err, std::string what);
  static Error make(Errc e, std::string message);
};

// For EMFILE: "the descriptor limit RLIMIT_NOFILE is 1024, its hard limit 4096; raise it with
// ulimit -n or setrlimit"; for ENFILE: the system-wide limit, fs.file-max, and its value; empty
// for any other errno. The values are read when it is called. Error::from_errno appends it, so
// that every socket, eventfd or ring that cannot be opened names the limit a person has to raise.
std::string describe_descriptor_limit(int err);

// Result<T>: a value or an Error. Deliberately small (C++20 has no std::expected).
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}          // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}      // NOLINT(google-explicit-constructor)

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & { assert(ok()); return std::get<0>(v_); }
  const T& value() const& { assert(ok()); return std::get<0>(v_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const { assert(!ok()); return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT(google-explicit-constructor)

  bool ok() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  const Error& error() const { assert(!ok_); return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

}  // namespace salvo

template <>
struct std::is_error_code_enum<salvo::Errc> : std::true_type {};
