#include <doctest/doctest.h>

#include <thread>
#include <vector>

#include "turnout/common/block_cache.h"

using namespace turnout;

namespace {
using Cache = ThreadBlockCache<200>;  // a size no other test uses
}

TEST_CASE("thread block cache: a block given back is the next one taken") {
  void* a = Cache::take();
  Cache::give(a);
  if (Cache::kMaxBlocks == 0) {  // AddressSanitizer build: caching is off so it sees every free
    CHECK(Cache::cached() == 0);
    return;
  }
  CHECK(Cache::cached() == 1);
  void* b = Cache::take();
  CHECK(b == a);
  CHECK(Cache::cached() == 0);
  Cache::give(b);
}

TEST_CASE("thread block cache: keeps at most kMaxBlocks per thread, each thread its own") {
  std::vector<void*> blocks;
  for (size_t i = 0; i < Cache::kMaxBlocks + 40; ++i) blocks.push_back(Cache::take());
  for (void* p : blocks) Cache::give(p);
  CHECK(Cache::cached() == Cache::kMaxBlocks);  // the other 40 went back to the allocator

  size_t other_thread_sees = 99;
  std::thread t([&] { other_thread_sees = Cache::cached(); });
  t.join();
  CHECK(other_thread_sees == 0);
}
