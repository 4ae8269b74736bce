#include "turnout/common/buffer.h"

namespace turnout {

ChunkPool::~ChunkPool() {
  for (Chunk* c : free_) delete c;
}

Chunk* ChunkPool::acquire() {
  Chunk* c;
  if (!free_.empty()) {
    c = free_.back();
    free_.pop_back();
  } else {
    c = new Chunk;
    c->pool = this;
  }
  c->refs = 0;
  ++in_use_;
  return c;
}

void ChunkPool::release(Chunk* c) {
  --in_use_;
  if (free_.size() < max_free_) {
    free_.push_back(c);
  } else {
    delete c;
  }
}

}  // namespace turnout
