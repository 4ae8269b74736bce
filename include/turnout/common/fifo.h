// Fifo<T>: a queue on a vector with a moving head. Unlike libstdc++'s std::deque, which allocates
// its map and a 512-byte block as soon as it is constructed, an empty Fifo owns no memory — it
// sits in every connection, and most connections are idle most of the time. Not thread-safe.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace turnout {

template <class T>
class Fifo {
 public:
  bool empty() const { return head_ == items_.size(); }
  size_t size() const { return items_.size() - head_; }
  T& front() { return items_[head_]; }
  T& back() { return items_.back(); }
  T* begin() { return items_.data() + head_; }
  T* end() { return items_.data() + items_.size(); }

  void push_back(T&& v) { items_.push_back(std::move(v)); }
  void pop_front() {
    items_[head_] = T();  // release what the element holds now, not at the next compaction
    if (++head_ == items_.size()) {
      items_.clear();
      head_ = 0;
    } else if (head_ >= 64 && head_ * 2 >= items_.size()) {
      items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
  }
  void clear() {
    items_.clear();
    head_ = 0;
  }

 private:
  std::vector<T> items_;  // live elements are [head_, size())
  size_t head_ = 0;
};

}  // namespace turnout
