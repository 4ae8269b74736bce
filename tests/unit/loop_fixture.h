// LoopFixture: a private uv loop for a unit test. run() spins it until nothing is left to do;
// the destructor checks uv_loop_close() == 0, so a test that leaks a handle fails.
#pragma once

#include <doctest/doctest.h>
#include <uv.h>

namespace turnout::test {

struct LoopFixture {
  uv_loop_t loop{};
  LoopFixture() { uv_loop_init(&loop); }
  ~LoopFixture() {
    uv_run(&loop, UV_RUN_DEFAULT);  // let pending close callbacks run
    CHECK(uv_loop_close(&loop) == 0);
  }
  void run() { uv_run(&loop, UV_RUN_DEFAULT); }
};

}  // namespace turnout::test
