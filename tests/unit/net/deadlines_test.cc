#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "loop_fixture.h"
#include "turnout/net/deadlines.h"

using namespace turnout;

namespace {

// A deadline that records when it expired, in order, into a shared log.
struct Timed {
  Deadline d;
  std::string name;
  std::vector<std::string>* log;
  Timed(std::string n, std::vector<std::string>* l) : d(&Timed::expired), name(std::move(n)), log(l) { d.data = this; }
  static void expired(Deadline* d) {
    auto* t = static_cast<Timed*>(d->data);
    t->log->push_back(t->name);
  }
};

}  // namespace

TEST_CASE("Deadlines: each expires after its own duration, in order, and the loop closes clean") {
  test::LoopFixture f;
  Deadlines deadlines(&f.loop);
  std::vector<std::string> log;
  Timed slow("slow", &log), fast("fast", &log), mid("mid", &log), cancelled("cancelled", &log);
  deadlines.arm(slow.d, 60);
  deadlines.arm(cancelled.d, 10);
  deadlines.arm(fast.d, 10);
  deadlines.arm(mid.d, 30);
  CHECK(slow.d.armed());
  cancelled.d.cancel();
  CHECK_FALSE(cancelled.d.armed());
  uint64_t start = uv_now(&f.loop);
  // The lists' timers are the only handles: each turn of the loop waits for the next expiry.
  while (log.size() < 3) uv_run(&f.loop, UV_RUN_ONCE);
  CHECK(log == std::vector<std::string>{"fast", "mid", "slow"});
  CHECK_FALSE(fast.d.armed());
  CHECK(uv_now(&f.loop) - start >= 60);  // nothing expired early
  deadlines.close();
}

TEST_CASE("Deadlines: re-arming moves a deadline to the back; an expiry may re-arm itself") {
  test::LoopFixture f;
  Deadlines deadlines(&f.loop);
  std::vector<std::string> log;
  Timed a("a", &log), b("b", &log);
  deadlines.arm(a.d, 20);
  deadlines.arm(b.d, 20);
  deadlines.arm(a.d, 20);  // a keep-alive request re-arms its idle timeout: now after b
  while (log.size() < 2) uv_run(&f.loop, UV_RUN_ONCE);
  CHECK(log == std::vector<std::string>{"b", "a"});

  // An expiry callback that re-arms (linger after a timeout, say) runs again later.
  struct Again {
    Deadline d{&Again::fire};
    Deadlines* owner;
    int fired = 0;
    static void fire(Deadline* d) {
      auto* self = static_cast<Again*>(d->data);
      if (++self->fired < 3) self->owner->arm(self->d, 5);
    }
  } again;
  again.d.data = &again;
  again.owner = &deadlines;
  deadlines.arm(again.d, 5);
  while (again.fired < 3) uv_run(&f.loop, UV_RUN_ONCE);
  CHECK(again.fired == 3);
  CHECK_FALSE(again.d.armed());
  deadlines.close();
}

TEST_CASE("Deadlines: empty lists stay for reuse up to a cap, then a new duration drops them; close detaches") {
  test::LoopFixture f;
  Deadlines deadlines(&f.loop);
  std::vector<std::string> log;
  Timed a("a", &log), b("b", &log);
  // A quiet connection arming its few durations in turn keeps reusing the same lists.
  for (int round = 0; round < 3; ++round) {
    deadlines.arm(a.d, 1000);
    deadlines.arm(a.d, 60000);
    deadlines.arm(a.d, 2000);
    a.d.cancel();
  }
  CHECK(deadlines.list_count() == 3);
  // Timeouts changed by many reloads: at the cap, the empty lists go when a new one is needed.
  for (uint64_t ms = 3000; deadlines.list_count() < Deadlines::kMaxLists; ms += 1000) {
    deadlines.arm(a.d, ms);
    a.d.cancel();
  }
  deadlines.arm(b.d, 500);
  CHECK(deadlines.list_count() == 1);
  deadlines.close();          // b is still armed: detached, never called
  CHECK_FALSE(b.d.armed());
  deadlines.arm(a.d, 10);     // ignored after close
  CHECK_FALSE(a.d.armed());
  f.run();
  CHECK(log.empty());
}
