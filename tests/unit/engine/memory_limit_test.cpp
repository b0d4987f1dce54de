// usable_memory(): the machine's memory or its memory cgroup's limit, which Engine::create checks
// the receive buffers against; parse_cgroup_limit() reads both cgroup versions' files.
#include <gtest/gtest.h>

#include "engine/memory_limit.hpp"

namespace salvo::detail {
namespace {

TEST(MemoryLimit, ReadsCgroupLimitsAndTakesNoLimitForNone) {
  EXPECT_EQ(parse_cgroup_limit("max"), 0u);                   // cgroup v2 without a limit
  EXPECT_EQ(parse_cgroup_limit("9223372036854771712"), 0u);   // cgroup v1 without a limit
  EXPECT_EQ(parse_cgroup_limit(""), 0u);
  EXPECT_EQ(parse_cgroup_limit("12abc"), 0u);
  EXPECT_EQ(parse_cgroup_limit("536870912"), 536870912u);
  EXPECT_EQ(parse_cgroup_limit("536870912\n"), 536870912u);
}

TEST(MemoryLimit, NamesWhereTheFigureComesFrom) {
  const MemoryLimit here = usable_memory();
  ASSERT_GT(here.bytes, 0u);
  EXPECT_TRUE(here.source == "physical memory" || here.source.rfind("memory cgroup ", 0) == 0) << here.source;
}

}  // namespace
}  // namespace salvo::detail
