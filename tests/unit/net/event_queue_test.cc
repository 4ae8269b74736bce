#include <doctest/doctest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "loop_fixture.h"
#include "turnout/net/event_queue.h"

using namespace turnout;

TEST_CASE("EventQueue: many threads posting while the loop drains: none lost, each thread's order kept") {
  test::LoopFixture f;
  EventQueue q;
  REQUIRE(q.init(&f.loop) == 0);
  constexpr int kThreads = 4;
  constexpr int kPosts = 20000;
  std::vector<int> next(kThreads, 0);  // loop thread only: the next sequence number expected
  int out_of_order = 0;
  int ran = 0;
  std::atomic<int> finished{0};
  std::vector<std::thread> posters;
  for (int t = 0; t < kThreads; ++t) {
    posters.emplace_back([&, t] {
      for (int i = 0; i < kPosts; ++i) {
        q.post([&, t, i] {
          if (next[t] != i) ++out_of_order;
          next[t] = i + 1;
          ++ran;
        });
        // Every so often let the loop catch up and empty the queue, so posts meet an idle
        // queue (a wake-up needed) as well as a busy one (coalesced).
        if (i % 1000 == 0) std::this_thread::yield();
      }
      // The last poster to finish closes the queue from the loop, after everything it queued.
      if (finished.fetch_add(1) + 1 == kThreads) q.post([&] { q.close(); });
    });
  }
  f.run();  // returns once the queue is closed: every post before the close ran
  for (auto& p : posters) p.join();
  CHECK(ran == kThreads * kPosts);
  CHECK(out_of_order == 0);
}
