#include "turnout/net/event_queue.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

namespace turnout {

EventQueue::~EventQueue() {
  if (efd_ >= 0 && !open_) ::close(efd_);  // init() failed after eventfd(): nothing polls it
}

int EventQueue::init(uv_loop_t* loop) {
  efd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (efd_ < 0) return uv_translate_sys_error(errno);
  int rc = uv_poll_init(loop, &poll_, efd_);
  if (rc != 0) return rc;
  poll_.data = this;
  rc = uv_poll_start(&poll_, UV_READABLE, &EventQueue::on_readable);
  if (rc != 0) {
    // The handle exists: it must be closed through libuv, and the fd after it.
    open_ = true;
    close();
    return rc;
  }
  open_ = true;
  return 0;
}

void EventQueue::post(Event ev) {
  // The eventfd is written under the lock: the event just queued can be drained, and the queue
  // closed by its owner (a worker's last event is the one that stops it), as soon as the lock
  // is released, and on_close() closes the fd under the same lock. A write outside it could hit
  // a closed descriptor, or a number the owning thread had already reused for something else.
  std::lock_guard lock(mu_);
  if (efd_ < 0) return;  // closed: nothing will run it
  events_.push_back(std::move(ev));
  if (wake_pending_) return;
  wake_pending_ = true;
  // Only fails at a counter of 2^64-2 (impossible: the loop reads it back to 0).
  uint64_t one = 1;
  ssize_t n;
  do {
    n = ::write(efd_, &one, sizeof one);
  } while (n < 0 && errno == EINTR);
}

void EventQueue::drain() {
  for (;;) {
    std::deque<Event> batch;
    {
      std::lock_guard lock(mu_);
      batch.swap(events_);
      // Posts from here on write the eventfd again, so none waits for a wake-up already spent.
      wake_pending_ = false;
    }
    if (batch.empty()) return;
    for (auto& ev : batch) ev();
  }
}

void EventQueue::on_readable(uv_poll_t* h, int /*status*/, int /*events*/) {
  auto* q = static_cast<EventQueue*>(h->data);
  uint64_t count;
  // Reset the counter first: a post after this read wakes the loop again.
  while (::read(q->efd_, &count, sizeof count) < 0 && errno == EINTR) {
  }
  q->drain();
}

void EventQueue::close(std::function<void()> on_closed) {
  if (!open_) return;
  open_ = false;
  on_closed_ = std::move(on_closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&poll_), &EventQueue::on_close);
}

void EventQueue::on_close(uv_handle_t* h) {
  auto* q = static_cast<EventQueue*>(h->data);
  // libuv no longer watches the fd: now it may go (under the lock post() writes it with).
  {
    std::lock_guard lock(q->mu_);
    ::close(q->efd_);
    q->efd_ = -1;
  }
  if (q->on_closed_) q->on_closed_();
}

}  // namespace turnout
