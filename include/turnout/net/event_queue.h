// EventQueue: how other threads hand work to a loop (a worker's inbox, the main loop's inbox).
// A mutex-guarded deque of closures plus a uv_async_t; wake-ups coalesce, so each wake-up drains
// everything queued. Any thread may post(); the closures run on the owning loop's thread.
//
// Lifetime: close() (owning thread) only after every thread that posts has stopped posting
// (libuv #2226/#3626: uv_async_send racing a close). The object must outlive its close callback;
// `on_closed` is invoked from it.
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
  EventQueue(const EventQueue&) = delete;
  EventQueue& operator=(const EventQueue&) = delete;

  int init(uv_loop_t* loop);
  void post(Event ev);  // any thread
  void close(std::function<void()> on_closed = {});
  // Runs everything queued now (owning thread). Used at shutdown after posters stopped.
  void drain();

 private:
  static void on_async(uv_async_t* h);
  static void on_close(uv_handle_t* h);

  uv_async_t async_{};
  std::mutex mu_;
  std::deque<Event> events_;  // guarded by mu_
  bool open_ = false;         // owning thread only
  std::function<void()> on_closed_;
};

}  // namespace turnout
