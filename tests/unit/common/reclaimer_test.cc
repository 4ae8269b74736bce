#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

#include "turnout/common/reclaimer.h"

using namespace turnout;

namespace {

// Records which thread freed it.
struct Tracked {
  std::atomic<std::thread::id>* freed_on;
  explicit Tracked(std::atomic<std::thread::id>* f) : freed_on(f) {}
  ~Tracked() { freed_on->store(std::this_thread::get_id()); }
};

}  // namespace

TEST_CASE("Reclaimer: the last reference is dropped on its own thread, not the caller's") {
  std::atomic<std::thread::id> freed_on{};
  Reclaimer r;
  r.retire(std::make_shared<const Tracked>(&freed_on));
  for (int i = 0; i < 2000 && r.dropped() < 1; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  REQUIRE(r.dropped() == 1);
  CHECK(freed_on.load() != std::thread::id{});
  CHECK(freed_on.load() != std::this_thread::get_id());
}

TEST_CASE("Reclaimer: an object still referenced elsewhere survives its retirement") {
  std::atomic<std::thread::id> freed_on{};
  auto kept = std::make_shared<const Tracked>(&freed_on);
  {
    Reclaimer r;
    r.retire(kept);
    r.retire(nullptr);  // ignored
  }  // the destructor drops everything queued and joins
  CHECK(freed_on.load() == std::thread::id{});
  kept.reset();
  CHECK(freed_on.load() == std::this_thread::get_id());
}

TEST_CASE("Reclaimer: whatever is queued at destruction is freed before the destructor returns") {
  std::atomic<std::thread::id> a{}, b{};
  {
    Reclaimer r;
    r.retire(std::make_shared<const Tracked>(&a));
    r.retire(std::make_shared<const Tracked>(&b));
  }
  CHECK(a.load() != std::thread::id{});
  CHECK(b.load() != std::thread::id{});
}
