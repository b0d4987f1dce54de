// The process-wide allocation counter of salvo_allocation_tests, for its test files other than
// allocation_test.cpp (which replaces malloc and operator new and defines these).
#pragma once

#include <cstdint>

namespace salvo::test {

void start_counting_allocations();
std::uint64_t stop_counting_allocations();  // heap allocations in the whole process since the start

}  // namespace salvo::test
