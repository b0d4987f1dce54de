// Names for the DNS codec's unit tests, built label by label from dotted text ("www.example.com",
// no trailing dot, no escapes), failing the test when a label is refused.
#pragma once

#include <gtest/gtest.h>

#include <string_view>

#include "dns_name.hpp"

namespace dns::test {

inline Name name_of(std::string_view dotted) {
  Name n;
  std::size_t start = 0;
  while (start < dotted.size()) {
    std::size_t dot = dotted.find('.', start);
    if (dot == std::string_view::npos) dot = dotted.size();
    EXPECT_TRUE(n.append_label(dotted.substr(start, dot - start)));
    start = dot + 1;
  }
  return n;
}

}  // namespace dns::test
