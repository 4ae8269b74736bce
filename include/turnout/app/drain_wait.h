// DrainWait: one `unmap --wait`. Every worker has adopted the table without the mapping (the
// caller waited for that), so no new request can start there; it polls the workers every 10 ms
// until no exchange routed by (host, app) is in flight, or the time is up.
//
// Owner: itself. start() allocates one; it frees itself in its timer's close callback, after
// calling `done`. Main loop thread; `workers`, `inbox` and `stopping` outlive it (the server's
// drain ends only after the workers answered, and it closes the loop afterwards).
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "turnout/app/worker.h"
#include "turnout/net/event_queue.h"

namespace turnout {

class DrainWait {
 public:
  struct Scope {
    uv_loop_t* loop;
    EventQueue* inbox;                                    // workers -> main
    const std::vector<std::unique_ptr<Worker>>* workers;
    const bool* stopping;                                 // true: answer 0 at the next round
  };
  // `done(0)` once drained (or stopping), `done(n)` with n still in flight at the deadline.
  static void start(Scope scope, std::string host, std::string app, uint64_t timeout_ms,
                    std::function<void(uint64_t)> done);

 private:
  DrainWait(Scope scope, std::string host, std::string app, uint64_t deadline_ms, std::function<void(uint64_t)> done);
  void poll();

  Scope scope_;
  std::string host_, app_;
  std::function<void(uint64_t)> done_;  // 0 = drained, n = still in flight at the deadline
  uint64_t deadline_ms_ = 0;            // uv_now() bound of the wait
  size_t outstanding_ = 0;              // workers not yet answered this round
  size_t found_ = 0;                    // in-flight exchanges found this round
  uv_timer_t timer_{};                  // re-polls; this object is freed in its close callback
};

}  // namespace turnout
