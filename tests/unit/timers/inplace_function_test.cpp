// InplaceFunction: callables of every size up to the capacity are stored and called; moves carry
// the callable and leave the source empty; every constructed callable is destroyed exactly once.
// (Callables that are too large, over-aligned or throwing on move are compile-time errors, not
// tested here.)
#include "salvo/inplace_function.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace salvo {
namespace {

// Counts its constructions and destructions through a shared tally.
struct Tally {
  int constructed = 0;
  int destroyed = 0;
  int calls = 0;
};

struct Counted {
  Tally* tally;
  explicit Counted(Tally* t) : tally(t) { ++tally->constructed; }
  Counted(const Counted& o) : tally(o.tally) { ++tally->constructed; }
  Counted(Counted&& o) noexcept : tally(o.tally) { ++tally->constructed; }
  Counted& operator=(const Counted&) = delete;
  ~Counted() { ++tally->destroyed; }
  int operator()(int x) {
    ++tally->calls;
    return x + 1;
  }
};

TEST(InplaceFunction, EmptyByDefaultAndFromNullptr) {
  InplaceFunction<void()> a;
  InplaceFunction<void()> b = nullptr;
  void (*null_pointer)() = nullptr;
  InplaceFunction<void()> c = null_pointer;
  EXPECT_FALSE(a);
  EXPECT_FALSE(b);
  EXPECT_FALSE(c);
}

TEST(InplaceFunction, CallsWithArgumentsAndResult) {
  int base = 10;
  InplaceFunction<int(int, const std::string&)> f = [&base](int x, const std::string& s) {
    return base + x + static_cast<int>(s.size());
  };
  ASSERT_TRUE(f);
  EXPECT_EQ(f(5, "abc"), 18);
  base = 0;
  EXPECT_EQ(f(1, ""), 1);
}

TEST(InplaceFunction, PlainFunctionPointer) {
  InplaceFunction<int(int)> f = +[](int x) { return x * 2; };
  ASSERT_TRUE(f);
  EXPECT_EQ(f(21), 42);
}

TEST(InplaceFunction, MutableStateIsKeptBetweenCalls) {
  InplaceFunction<int()> f = [n = 0]() mutable { return ++n; };
  EXPECT_EQ(f(), 1);
  EXPECT_EQ(f(), 2);
  InplaceFunction<int()> g = std::move(f);
  EXPECT_EQ(g(), 3);  // the state moved with it
}

template <std::size_t N>
void check_capture_of_size() {
  std::array<unsigned char, N> bytes{};
  for (std::size_t i = 0; i < N; ++i) bytes[i] = static_cast<unsigned char>(i + 1);
  InplaceFunction<std::size_t(), 48> f = [bytes]() {
    std::size_t sum = 0;
    for (unsigned char b : bytes) sum += b;
    return sum;
  };
  EXPECT_EQ(f(), N * (N + 1) / 2) << "capture of " << N << " bytes";
}

TEST(InplaceFunction, CapturesUpToCapacity) {
  check_capture_of_size<1>();
  check_capture_of_size<8>();
  check_capture_of_size<17>();
  check_capture_of_size<47>();
  check_capture_of_size<48>();  // exactly the capacity
  // What fits is decided at compile time, by the callable's size.
  static_assert(std::is_constructible_v<InplaceFunction<void(), 48>, decltype([a = std::array<char, 48>{}] { (void)a; })>);
  static_assert(std::is_constructible_v<InplaceFunction<void(), 64>, decltype([a = std::array<char, 64>{}] { (void)a; })>);
}

TEST(InplaceFunction, LargerCapacityHoldsMore) {
  std::array<std::uint64_t, 16> words{};
  words[15] = 7;
  InplaceFunction<std::uint64_t(), 128> f = [words] { return words[15]; };
  EXPECT_EQ(f(), 7u);
}

TEST(InplaceFunction, MoveOnlyCaptures) {
  auto owned = std::make_unique<int>(5);
  InplaceFunction<int()> f = [p = std::move(owned)] { return *p; };
  EXPECT_EQ(f(), 5);
  static_assert(!std::is_copy_constructible_v<InplaceFunction<int()>>);
  static_assert(!std::is_copy_assignable_v<InplaceFunction<int()>>);
  static_assert(std::is_nothrow_move_constructible_v<InplaceFunction<int()>>);
  static_assert(std::is_nothrow_move_assignable_v<InplaceFunction<int()>>);
}

TEST(InplaceFunction, MoveConstructionEmptiesTheSource) {
  Tally tally;
  {
    InplaceFunction<int(int)> a = Counted(&tally);
    InplaceFunction<int(int)> b = std::move(a);
    EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): the moved-from state is specified
    ASSERT_TRUE(b);
    EXPECT_EQ(b(1), 2);
    EXPECT_EQ(tally.constructed - tally.destroyed, 1);  // exactly one live callable
  }
  EXPECT_EQ(tally.constructed, tally.destroyed);
  EXPECT_EQ(tally.calls, 1);
}

TEST(InplaceFunction, MoveAssignmentDestroysTheOldCallable) {
  Tally first;
  Tally second;
  {
    InplaceFunction<int(int)> a = Counted(&first);
    InplaceFunction<int(int)> b = Counted(&second);
    a = std::move(b);
    EXPECT_EQ(first.constructed, first.destroyed);  // a's own callable is gone
    EXPECT_EQ(second.constructed - second.destroyed, 1);
    EXPECT_FALSE(b);  // NOLINT(bugprone-use-after-move)
    EXPECT_EQ(a(1), 2);
    EXPECT_EQ(second.calls, 1);

    InplaceFunction<int(int)>& same = a;  // through a reference: a direct self-move draws a warning
    a = std::move(same);                   // self-move keeps the callable
    ASSERT_TRUE(a);
    EXPECT_EQ(second.constructed - second.destroyed, 1);

    InplaceFunction<int(int)> empty;
    a = std::move(empty);
    EXPECT_FALSE(a);
    EXPECT_EQ(second.constructed, second.destroyed);
  }
  EXPECT_EQ(first.constructed, first.destroyed);
  EXPECT_EQ(second.constructed, second.destroyed);
}

TEST(InplaceFunction, ResetAndNullAssignmentDestroy) {
  Tally tally;
  InplaceFunction<int(int)> f = Counted(&tally);
  f.reset();
  EXPECT_FALSE(f);
  EXPECT_EQ(tally.constructed, tally.destroyed);
  f.reset();  // twice is harmless
  EXPECT_EQ(tally.constructed, tally.destroyed);

  f = Counted(&tally);
  EXPECT_EQ(tally.constructed - tally.destroyed, 1);
  f = nullptr;
  EXPECT_FALSE(f);
  EXPECT_EQ(tally.constructed, tally.destroyed);
}

TEST(InplaceFunction, DestructorDestroysTheCallable) {
  Tally tally;
  { InplaceFunction<int(int)> f = Counted(&tally); }
  EXPECT_GT(tally.constructed, 0);
  EXPECT_EQ(tally.constructed, tally.destroyed);

  auto shared = std::make_shared<int>(1);
  {
    InplaceFunction<void()> g = [shared] {};
    EXPECT_EQ(shared.use_count(), 2);
  }
  EXPECT_EQ(shared.use_count(), 1);
}

TEST(InplaceFunction, StoresInsideTheObject) {
  // The callable lives in the object's own storage: its size is the capacity plus two pointers.
  static_assert(sizeof(InplaceFunction<void(), 48>) <= 48 + 2 * sizeof(void*) + alignof(std::max_align_t));
  std::array<char, 40> payload{};
  payload[39] = 'z';
  InplaceFunction<char()> f = [payload] { return payload[39]; };
  const auto* object = reinterpret_cast<const char*>(&f);
  EXPECT_NE(std::string_view(object, sizeof f).find('z'), std::string_view::npos);
  EXPECT_EQ(f(), 'z');
}

}  // namespace
}  // namespace salvo
