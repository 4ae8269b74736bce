// Fixed 64 KiB chunks from a per-worker free list: every socket read lands in one, and body
// bytes are forwarded by reference (ChunkRef) instead of copied, so a proxied body is never
// copied and a read never calls malloc once the pool is warm.
//
// Ownership: a Chunk is reference counted (single-threaded: all refs live on the owning
// worker's loop). The last ChunkRef returns it to its pool. The pool keeps at most
// `max_free` chunks; above that they go back to the allocator, so memory stays bounded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace turnout {

class ChunkPool;

struct Chunk {
  static constexpr size_t kSize = 64 * 1024;
  uint32_t refs = 0;        // live ChunkRefs (plus the read in progress)
  ChunkPool* pool = nullptr;  // where it returns when refs reaches 0
  alignas(16) char data[kSize];

  // The chunk whose data[] contains `p` (uv read callbacks only give back the base pointer).
  static Chunk* from_data(char* p) {
    return reinterpret_cast<Chunk*>(p - offsetof(Chunk, data));
  }
};

class ChunkRef {
 public:
  ChunkRef() = default;
  explicit ChunkRef(Chunk* c) : c_(c) {
    if (c_) ++c_->refs;
  }
  ChunkRef(const ChunkRef& o) : ChunkRef(o.c_) {}
  ChunkRef(ChunkRef&& o) noexcept : c_(std::exchange(o.c_, nullptr)) {}
  ChunkRef& operator=(ChunkRef o) noexcept {
    std::swap(c_, o.c_);
    return *this;
  }
  ~ChunkRef() { reset(); }
  void reset();
  Chunk* get() const { return c_; }
  char* data() const { return c_->data; }
  explicit operator bool() const { return c_ != nullptr; }

 private:
  Chunk* c_ = nullptr;
};

class ChunkPool {
 public:
  // 256 idle chunks = 16 MiB per worker at most.
  explicit ChunkPool(size_t max_free = 256) : max_free_(max_free) {}
  ~ChunkPool();
  ChunkPool(const ChunkPool&) = delete;
  ChunkPool& operator=(const ChunkPool&) = delete;

  // A chunk with refs == 0; wrap it in a ChunkRef at once.
  Chunk* acquire();
  // Called by ChunkRef when the last reference goes.
  void release(Chunk* c);

  size_t in_use() const { return in_use_; }
  size_t free_count() const { return free_.size(); }

 private:
  std::vector<Chunk*> free_;  // idle chunks, reused LIFO (cache warm)
  size_t max_free_;           // cap on idle chunks kept
  size_t in_use_ = 0;         // chunks handed out and not yet released
};

inline void ChunkRef::reset() {
  if (c_ && --c_->refs == 0) c_->pool->release(c_);
  c_ = nullptr;
}

}  // namespace turnout
