#include "salvo/error.hpp"

#include <sys/resource.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace salvo {
namespace {

class SalvoCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "salvo"; }
  std::string message(int value) const override {
    switch (static_cast<Errc>(value)) {
      case Errc::bad_address: return "bad address";
      case Errc::bad_option: return "bad option";
      case Errc::backend_unavailable: return "backend unavailable";
      case Errc::invalid_state: return "invalid state";
      case Errc::family_mismatch: return "address family mismatch";
      case Errc::full: return "table full";
      case Errc::name_not_resolved: return "host name not resolved";
      case Errc::cancelled: return "cancelled";
    }
    return "unknown salvo error";
  }
};

}  // namespace

const std::error_category& salvo_category() noexcept {
  static const SalvoCategory category;
  return category;
}

std::error_code make_error_code(Errc e) noexcept { return {static_cast<int>(e), salvo_category()}; }

std::string describe_descriptor_limit(int err) {
  if (err == EMFILE) {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return "the descriptor limit RLIMIT_NOFILE was reached";
    auto shown = [](rlim_t v) { return v == RLIM_INFINITY ? std::string("unlimited") : std::to_string(v); };
    return "the descriptor limit RLIMIT_NOFILE is " + shown(limit.rlim_cur) + ", its hard limit " +
           shown(limit.rlim_max) + "; raise it with ulimit -n or setrlimit";
  }
  if (err == ENFILE) {
    std::ifstream f("/proc/sys/fs/file-max");
    unsigned long long max = 0;
    if (f >> max) return "the system-wide descriptor limit fs.file-max is " + std::to_string(max);
    return "the system-wide descriptor limit fs.file-max was reached";
  }
  return {};
}

Error Error::from_errno(int err, std::string what) {
  what += ": ";
  what += std::strerror(err);
  if (std::string limit = describe_descriptor_limit(err); !limit.empty()) what += " (" + limit + ")";
  return Error{std::error_code(err, std::system_category()), std::move(what)};
}

Error Error::make(Errc e, std::string message) { return Error{make_error_code(e), std::move(message)}; }

}  // namespace salvo
