// EventQueue: how other threads hand work to a loop (a worker's inbox, the main loop's inbox).
// A mutex-guarded deque of closures plus an eventfd the loop polls; wake-ups coalesce (only the
// post that finds no wake-up pending writes the eventfd), so each wake-up drains everything
// queued. Any thread may post(); the closures run on the owning loop's thread.
//
// Why not uv_async_t: libuv 1.44's uv_async_send marks the handle busy, writes its eventfd, then
// marks it done. When the loop thread shares a CPU with the sender, the write wakes it before the
// sender finishes; the loop then spins and sched_yield()s in uv__async_spin until the sender runs
// again. With turnout pinned to one CPU that spin was a quarter of the main thread's time during
// a stream of route changes (each change is a post to every worker and an ack back).
//
// Lifetime: a post() may race with close(): the last event a worker gets is the one that closes
// its queue, so the eventfd is written and closed under the lock, and a post after the close
// callback is dropped. The object must outlive every poster and its close callback; `on_closed`
// is invoked from it.
#pragma once

#include <uv.h>

#include <deque>
#include <functional>
#include <mutex>

namespace turnout {

class EventQueue {
 public:
  using Event = std::function<void()>;

  EventQueue() = default;
  ~EventQueue();
  EventQueue(const EventQueue&) = delete;
  EventQueue& operator=(const EventQueue&) = delete;

  // Returns 0 or a libuv error code.
  int init(uv_loop_t* loop);
  void post(Event ev);  // any thread
  void close(std::function<void()> on_closed = {});
  // Runs everything queued now (owning thread). Used at shutdown after posters stopped.
  void drain();

 private:
  static void on_readable(uv_poll_t* h, int status, int events);
  static void on_close(uv_handle_t* h);

  int efd_ = -1;               // guarded by mu_ once open: the eventfd; closed in the close callback
  uv_poll_t poll_{};           // watches efd_ on the owning loop
  std::mutex mu_;
  std::deque<Event> events_;   // guarded by mu_
  bool wake_pending_ = false;  // guarded by mu_: efd_ was written and not yet drained
  bool open_ = false;          // owning thread only
  std::function<void()> on_closed_;
};

}  // namespace turnout
