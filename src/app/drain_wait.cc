#include "turnout/app/drain_wait.h"

namespace turnout {

DrainWait::DrainWait(Scope scope, std::string host, std::string app, uint64_t deadline_ms,
                     std::function<void(uint64_t)> done)
    : scope_(scope), host_(std::move(host)), app_(std::move(app)), done_(std::move(done)), deadline_ms_(deadline_ms) {}

void DrainWait::start(Scope scope, std::string host, std::string app, uint64_t timeout_ms,
                      std::function<void(uint64_t)> done) {
  auto* w = new DrainWait(scope, std::move(host), std::move(app), uv_now(scope.loop) + timeout_ms, std::move(done));
  uv_timer_init(scope.loop, &w->timer_);
  w->timer_.data = w;
  w->poll();
}

void DrainWait::poll() {
  outstanding_ = scope_.workers->size();
  found_ = 0;
  for (auto& worker : *scope_.workers) {
    worker->post([this](Worker& wk) {
      size_t n = wk.in_flight(host_, app_);
      scope_.inbox->post([this, n] {
        found_ += n;
        if (--outstanding_ > 0) return;
        bool stopping = *scope_.stopping;
        bool timed_out = uv_now(scope_.loop) >= deadline_ms_;
        if (found_ == 0 || stopping || timed_out) {
          done_(stopping ? 0 : found_);
          uv_close(reinterpret_cast<uv_handle_t*>(&timer_),
                   [](uv_handle_t* h) { delete static_cast<DrainWait*>(h->data); });
          return;
        }
        uv_timer_start(
            &timer_, [](uv_timer_t* t) { static_cast<DrainWait*>(t->data)->poll(); }, 10, 0);
      });
    });
  }
}

}  // namespace turnout
