#include "common/descriptor_limit.hpp"

#include <sys/resource.h>

#include <cstdio>

namespace salvo::cli {

void raise_descriptor_limit() noexcept {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == limit.rlim_max) return;
  limit.rlim_cur = limit.rlim_max;
  (void)::setrlimit(RLIMIT_NOFILE, &limit);
}

bool out_of_descriptors(const Error& e) noexcept {
  return e.code == std::errc::too_many_files_open || e.code == std::errc::too_many_files_open_in_system;
}

int start_failed(const Error& e) {
  std::fprintf(stderr, "salvo: %s\n", e.message.c_str());
  return out_of_descriptors(e) ? 2 : 1;
}

}  // namespace salvo::cli
