// InplaceFunction<R(Args...), Capacity>: a move-only, type-erased callable stored inside the object
// itself, never on the heap, so that code which must not allocate (a worker's timers) can still
// hold lambdas. A callable that is too big, too strictly aligned or not nothrow-movable is refused
// at compile time. Any thread may use one; it is not thread-safe by itself.
#pragma once

#include <cassert>
#include <cstddef>
#include <functional>
#include <new>
#include <type_traits>
#include <utility>

namespace salvo {

template <class Signature, std::size_t Capacity = 48>
class InplaceFunction;

template <class R, class... Args, std::size_t Capacity>
class InplaceFunction<R(Args...), Capacity> {
  static_assert(Capacity > 0, "InplaceFunction: Capacity must be at least one byte");

 public:
  InplaceFunction() noexcept = default;
  InplaceFunction(std::nullptr_t) noexcept {}  // NOLINT(google-explicit-constructor)

  template <class F, class D = std::decay_t<F>>
    requires(!std::is_same_v<D, InplaceFunction> && std::is_invocable_r_v<R, D&, Args...>)
  InplaceFunction(F&& f) {  // NOLINT(google-explicit-constructor)
    static_assert(sizeof(D) <= Capacity,
                  "InplaceFunction: the callable (a lambda's captures) is larger than Capacity; capture "
                  "less, e.g. a pointer to the state, or raise Capacity");
    static_assert(alignof(D) <= alignof(std::max_align_t),
                  "InplaceFunction: the callable needs a stricter alignment than std::max_align_t");
    static_assert(std::is_nothrow_move_constructible_v<D>,
                  "InplaceFunction: the callable must be nothrow move-constructible (moves happen in "
                  "noexcept code)");
    if constexpr (std::is_pointer_v<D> || std::is_member_pointer_v<D>) {
      if (f == nullptr) return;  // a null function pointer makes an empty InplaceFunction, as std::function
    }
    ::new (static_cast<void*>(storage_)) D(std::forward<F>(f));
    invoke_ = [](void* self, Args&&... args) -> R {
      return std::invoke(*static_cast<D*>(self), std::forward<Args>(args)...);
    };
    move_or_destroy_ = [](void* self, void* from) noexcept {
      if (from != nullptr) {
        ::new (self) D(std::move(*static_cast<D*>(from)));
        static_cast<D*>(from)->~D();
      } else {
        static_cast<D*>(self)->~D();
      }
    };
  }

  InplaceFunction(InplaceFunction&& other) noexcept { take(other); }
  InplaceFunction& operator=(InplaceFunction&& other) noexcept {
    if (this != &other) {
      reset();
      take(other);
    }
    return *this;
  }
  InplaceFunction& operator=(std::nullptr_t) noexcept {
    reset();
    return *this;
  }
  InplaceFunction(const InplaceFunction&) = delete;
  InplaceFunction& operator=(const InplaceFunction&) = delete;
  ~InplaceFunction() { reset(); }

  // Destroys the callable (and what it captured); the function is empty afterwards.
  void reset() noexcept {
    if (move_or_destroy_ != nullptr) move_or_destroy_(storage_, nullptr);
    invoke_ = nullptr;
    move_or_destroy_ = nullptr;
  }

  explicit operator bool() const noexcept { return invoke_ != nullptr; }

  // Calling an empty InplaceFunction is a bug (asserted), as calling a null function pointer.
  R operator()(Args... args) {
    assert(invoke_ != nullptr);
    return invoke_(storage_, std::forward<Args>(args)...);
  }

 private:
  // Moves other's callable into this (empty) object and leaves other empty.
  void take(InplaceFunction& other) noexcept {
    if (other.move_or_destroy_ == nullptr) return;
    other.move_or_destroy_(storage_, other.storage_);
    invoke_ = other.invoke_;
    move_or_destroy_ = other.move_or_destroy_;
    other.invoke_ = nullptr;
    other.move_or_destroy_ = nullptr;
  }

  alignas(std::max_align_t) unsigned char storage_[Capacity];
  R (*invoke_)(void*, Args&&...) = nullptr;
  // With `from`: move-constructs the callable at `self` from `from` and destroys `from`'s.
  // Without: destroys the callable at `self`.
  void (*move_or_destroy_)(void* self, void* from) noexcept = nullptr;
};

}  // namespace salvo
