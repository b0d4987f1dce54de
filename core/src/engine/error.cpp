#include "salvo/error.hpp"

#include <cstring>

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

Error Error::from_errno(int err, std::string what) {
  what += ": ";
  what += std::strerror(err);
  return Error{std::error_code(err, std::system_category()), std::move(what)};
}

Error Error::make(Errc e, std::string message) { return Error{make_error_code(e), std::move(message)}; }

}  // namespace salvo
