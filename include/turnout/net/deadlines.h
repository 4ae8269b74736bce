// Deadlines: timeouts for many objects that share a few durations — a worker's client
// connections (request_header, client_idle, linger, drain grace) and upstream connections
// (connect, upstream_response, upstream_idle). Deadlines of one duration are
// armed in time order, so each duration keeps an intrusive list sorted by expiry: arming is an
// append, cancelling an unlink (both O(1)), and one uv_timer per duration fires at the head.
//
// Why not a uv_timer_t per connection: 152 bytes in every connection (idle ones included) and a
// heap re-insertion on every request (uv_timer_start), where a list append costs a few stores.
//
// Owner: the worker's ProxyContext; loop thread only. A Deadline is embedded in its owner and
// unlinks itself when destroyed. close() stops every timer; the memory of the lists is freed in
// their close callbacks, so the loop must run once more before uv_loop_close().
#pragma once

#include <uv.h>

#include <cstdint>
#include <vector>

namespace turnout {

class Deadlines;

class Deadline {
 public:
  using Fn = void (*)(Deadline*);
  // `fn` runs on expiry, with the deadline already disarmed (it may re-arm itself).
  explicit Deadline(Fn fn) : fn_(fn) {}
  ~Deadline() { cancel(); }
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;

  bool armed() const { return list_ != nullptr; }
  void cancel();

  void* data = nullptr;  // the owner's, as in libuv handles

 private:
  friend class Deadlines;
  friend struct DeadlineCallbacks;
  struct List;
  Fn fn_;                     // what expiry calls
  Deadline* prev_ = nullptr;  // neighbours in list_, earlier and later expiry
  Deadline* next_ = nullptr;
  List* list_ = nullptr;      // the duration's list while armed
  uint64_t at_ = 0;           // expiry, loop time in ms
};

class Deadlines {
 public:
  explicit Deadlines(uv_loop_t* loop) : loop_(loop) {}
  ~Deadlines();  // close() must have run (and the loop after it)
  Deadlines(const Deadlines&) = delete;
  Deadlines& operator=(const Deadlines&) = delete;

  // (Re)arms `d` to expire `ms` milliseconds from the loop's current time.
  void arm(Deadline& d, uint64_t ms);
  // Cancels nothing itself (owners cancel); stops and closes every timer. Arming after close()
  // is ignored.
  void close();

  // Durations with a list (for tests). Empty lists stay until kMaxLists exist; then a new
  // duration drops every list nobody is in.
  size_t list_count() const { return lists_.size(); }
  static constexpr size_t kMaxLists = 16;  // room for the 7 in use and a reload's new ones

 private:
  friend class Deadline;
  friend struct DeadlineCallbacks;
  Deadline::List* list_for(uint64_t ms);
  void on_timer(Deadline::List* list);

  uv_loop_t* loop_;
  std::vector<Deadline::List*> lists_;  // one per duration; freed in their timers' close callbacks
  bool closed_ = false;
};

}  // namespace turnout
