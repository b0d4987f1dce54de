// The salvo command and the descriptor limit (RLIMIT_NOFILE): every socket is a descriptor, and
// blast --flows, several workers and impair's clients need many, more than a shell's usual soft
// limit of 1024. The command raises its soft limit to the hard one at start-up, and running out
// anyway is a setup error (exit code 2) whose one line names the limit, as the library's message
// does (salvo::describe_descriptor_limit).
#pragma once

#include <cstdint>
#include <optional>

#include "salvo/error.hpp"

namespace salvo::cli {

// Raises the soft RLIMIT_NOFILE to the hard limit. Quietly: a process that may not raise it runs
// with what it has, and says so only if it runs out.
void raise_descriptor_limit() noexcept;

// True when `e` is EMFILE or ENFILE: the process, or the system, has no descriptor left.
bool out_of_descriptors(const Error& e) noexcept;

// The soft RLIMIT_NOFILE; nothing when it is unlimited or cannot be read.
std::optional<std::uint64_t> descriptor_limit() noexcept;

// How many descriptors this process has open now (the entries of /proc/self/fd); nothing when
// that cannot be read.
std::optional<std::uint64_t> open_descriptor_count() noexcept;

// A failed Engine::start as one line, "salvo: <message>". Exit code 2 when the descriptors ran out
// (a setup problem the user fixes with ulimit -n, as for a failed listen), 1 otherwise.
int start_failed(const Error& e);

}  // namespace salvo::cli
