#include <doctest/doctest.h>

#include <memory>
#include <string>

#include "turnout/common/fifo.h"

using namespace turnout;

TEST_CASE("fifo: keeps order, and an emptied queue holds no storage") {
  Fifo<std::string> q;
  CHECK(q.empty());
  CHECK(q.capacity() == 0);
  for (int i = 0; i < 3; ++i) q.push_back(std::to_string(i));
  CHECK(q.size() == 3);
  CHECK(q.capacity() == Fifo<std::string>::kFirstBlock);
  for (int i = 0; i < 3; ++i) {
    CHECK(q.front() == std::to_string(i));
    q.pop_front();
  }
  CHECK(q.empty());
  CHECK(q.capacity() == 0);  // an idle connection's queue costs nothing

  // Grown far beyond the first block, then drained: everything is given back too.
  for (int i = 0; i < 1000; ++i) q.push_back(std::to_string(i));
  for (int i = 0; i < 1000; ++i) {
    REQUIRE(q.front() == std::to_string(i));
    q.pop_front();
  }
  CHECK(q.capacity() == 0);
  q.push_back("x");
  q.clear();
  CHECK(q.empty());
  CHECK(q.capacity() == 0);
}

TEST_CASE("fifo: the first block is reused from the thread's cache, not allocated again") {
  Fifo<int> a;
  a.push_back(1);
  const int* block = &a.front();
  a.pop_front();  // the block goes back to the cache
  Fifo<int> b;
  b.push_back(2);
  CHECK(b.front() == 2);
  // (An AddressSanitizer build turns the cache off, so that it sees every free.)
  if (ThreadBlockCache<Fifo<int>::kFirstBlock * sizeof(int)>::kMaxBlocks > 0) CHECK(&b.front() == block);
}

TEST_CASE("fifo: pop_front releases what the element holds at once") {
  auto held = std::make_shared<int>(7);
  Fifo<std::shared_ptr<int>> q;
  q.push_back(std::shared_ptr<int>(held));
  q.push_back(std::make_shared<int>(8));
  CHECK(held.use_count() == 2);
  q.pop_front();
  CHECK(held.use_count() == 1);
  CHECK(*q.front() == 8);
}
