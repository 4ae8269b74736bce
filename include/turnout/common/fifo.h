// Fifo<T>: a queue on a vector with a moving head, for the small queues every connection has (its
// unsent writes, its unparsed input).
//
// Memory: an empty Fifo owns nothing. Unlike libstdc++'s std::deque (a map and a 512-byte block
// from construction), and unlike a vector that keeps its capacity, it gives its storage back as
// soon as it empties — an idle keep-alive connection holds no queue storage at all. The first
// block (kFirstBlock elements, enough for a response head and body) comes from a per-thread
// ThreadBlockCache and returns there, so a connection that queues and drains a few items per
// request never calls malloc. Blocks grown beyond it go back to the allocator when it empties.
// Not thread-safe; a Fifo stays on the thread that uses it.
#pragma once

#include <cstddef>
#include <new>
#include <utility>
#include <vector>

#include "turnout/common/block_cache.h"

namespace turnout {

namespace fifo_detail {

// Vector allocator: blocks of exactly kBlock elements through ThreadBlockCache, others from the heap.
template <class T, size_t kBlock>
struct FirstBlockAllocator {
  using value_type = T;
  FirstBlockAllocator() = default;
  template <class U>
  FirstBlockAllocator(const FirstBlockAllocator<U, kBlock>&) {}  // NOLINT: rebinding
  template <class U>
  struct rebind {
    using other = FirstBlockAllocator<U, kBlock>;
  };
  T* allocate(size_t n) {
    if (n == kBlock) return static_cast<T*>(ThreadBlockCache<kBlock * sizeof(T)>::take());
    return static_cast<T*>(::operator new(n * sizeof(T)));
  }
  void deallocate(T* p, size_t n) {
    if (n == kBlock) return ThreadBlockCache<kBlock * sizeof(T)>::give(p);
    ::operator delete(p);
  }
  template <class U>
  bool operator==(const FirstBlockAllocator<U, kBlock>&) const { return true; }
};

}  // namespace fifo_detail

template <class T>
class Fifo {
 public:
  static constexpr size_t kFirstBlock = 4;
  using Allocator = fifo_detail::FirstBlockAllocator<T, kFirstBlock>;

  bool empty() const { return head_ == items_.size(); }
  size_t size() const { return items_.size() - head_; }
  // Storage held (elements), for tests: 0 whenever the queue is empty.
  size_t capacity() const { return items_.capacity(); }
  T& front() { return items_[head_]; }
  T& back() { return items_.back(); }
  T* begin() { return items_.data() + head_; }
  T* end() { return items_.data() + items_.size(); }

  void push_back(T&& v) {
    if (items_.capacity() == 0) items_.reserve(kFirstBlock);
    items_.push_back(std::move(v));
  }
  void pop_front() {
    items_[head_] = T();  // release what the element holds now, not at the next compaction
    if (++head_ == items_.size()) {
      clear();
    } else if (head_ >= 64 && head_ * 2 >= items_.size()) {
      items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
  }
  void clear() {
    std::vector<T, Allocator>().swap(items_);  // empty means no storage
    head_ = 0;
  }

 private:
  std::vector<T, Allocator> items_;  // live elements are [head_, size())
  size_t head_ = 0;
};

}  // namespace turnout
