// FUZZ_CHECK: the property checks of the fuzz targets. A failed check prints where and aborts, which
// libFuzzer reports as a crash (and saves the input) and which fails a corpus replay test: a
// violated property is as much a finding as a memory error, and must not depend on NDEBUG.
#pragma once

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(condition)                                                                   \
  do {                                                                                          \
    if (!(condition)) {                                                                         \
      std::fprintf(stderr, "%s:%d: property violated: %s\n", __FILE__, __LINE__, #condition);   \
      std::abort();                                                                             \
    }                                                                                           \
  } while (false)
