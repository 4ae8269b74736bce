#include "turnout/net/event_queue.h"

namespace turnout {

int EventQueue::init(uv_loop_t* loop) {
  int rc = uv_async_init(loop, &async_, &EventQueue::on_async);
  if (rc == 0) {
    async_.data = this;
    open_ = true;
  }
  return rc;
}

void EventQueue::post(Event ev) {
  {
    std::lock_guard lock(mu_);
    events_.push_back(std::move(ev));
  }
  uv_async_send(&async_);
}

void EventQueue::drain() {
  for (;;) {
    std::deque<Event> batch;
    {
      std::lock_guard lock(mu_);
      batch.swap(events_);
    }
    if (batch.empty()) return;
    for (auto& ev : batch) ev();
  }
}

void EventQueue::on_async(uv_async_t* h) { static_cast<EventQueue*>(h->data)->drain(); }

void EventQueue::close(std::function<void()> on_closed) {
  if (!open_) return;
  open_ = false;
  on_closed_ = std::move(on_closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&async_), &EventQueue::on_close);
}

void EventQueue::on_close(uv_handle_t* h) {
  auto* q = static_cast<EventQueue*>(h->data);
  if (q->on_closed_) q->on_closed_();
}

}  // namespace turnout
