// ThreadBlockCache<kBytes>: a bounded per-thread free list of memory blocks of one size, for
// objects a worker creates and destroys at request rate (an Exchange per request, a queue's first
// block). Taking and giving back is a vector push/pop instead of malloc/free; at most kMaxBlocks
// are kept per thread (beyond that, blocks go back to the allocator), and a thread's blocks are
// freed when it exits. A block may be given back on another thread than the one it came from;
// it then simply joins that thread's list.
//
// Under AddressSanitizer the cache is off (every take is operator new, every give operator
// delete), so a use after free of a recycled object is still caught.
#pragma once

#include <cstddef>
#include <new>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#define TURNOUT_BLOCK_CACHE_ENABLED 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TURNOUT_BLOCK_CACHE_ENABLED 0
#endif
#endif
#ifndef TURNOUT_BLOCK_CACHE_ENABLED
#define TURNOUT_BLOCK_CACHE_ENABLED 1
#endif

namespace turnout {

template <size_t kBytes>
class ThreadBlockCache {
 public:
  static constexpr size_t kMaxBlocks = TURNOUT_BLOCK_CACHE_ENABLED ? 256 : 0;

  static void* take() {
    auto& blocks = list().blocks;
    if (blocks.empty()) return ::operator new(kBytes);
    void* p = blocks.back();
    blocks.pop_back();
    return p;
  }
  static void give(void* p) {
    auto& blocks = list().blocks;
    if (blocks.size() < kMaxBlocks) {
      blocks.push_back(p);
      return;
    }
    ::operator delete(p);
  }
  // Blocks kept by the calling thread (for tests).
  static size_t cached() { return list().blocks.size(); }

 private:
  struct List {
    std::vector<void*> blocks;
    ~List() {
      for (void* p : blocks) ::operator delete(p);
    }
  };
  static List& list() {
    thread_local List l;
    return l;
  }
};

}  // namespace turnout
