#include "turnout/net/deadlines.h"

#include <cassert>

namespace turnout {

struct Deadline::List {
  Deadlines* owner = nullptr;  // cleared by close()
  uint64_t duration = 0;       // ms; every deadline in the list was armed with it
  Deadline* head = nullptr;    // earliest expiry
  Deadline* tail = nullptr;    // latest expiry (arming appends here)
  uv_timer_t timer{};          // due at head->at_ (or earlier: it then re-arms for the head)
  bool timer_running = false;
};

struct DeadlineCallbacks {
  static void on_timer(uv_timer_t* t) {
    auto* list = static_cast<Deadline::List*>(t->data);
    list->timer_running = false;
    if (list->owner != nullptr) list->owner->on_timer(list);
  }
  static void on_closed(uv_handle_t* h) { delete static_cast<Deadline::List*>(h->data); }
};

void Deadline::cancel() {
  if (list_ == nullptr) return;
  // The list's timer may stay set for this deadline: on_timer finds nothing due and re-arms.
  if (prev_) prev_->next_ = next_;
  else list_->head = next_;
  if (next_) next_->prev_ = prev_;
  else list_->tail = prev_;
  prev_ = next_ = nullptr;
  list_ = nullptr;
}

Deadlines::~Deadlines() { assert(closed_ || lists_.empty()); }

Deadline::List* Deadlines::list_for(uint64_t ms) {
  for (Deadline::List* l : lists_)
    if (l->duration == ms) return l;
  // A new duration. The few in use (request_header, client_idle, linger and drain grace for
  // clients; connect, upstream_response and upstream_idle for upstreams: at most 7) keep their
  // lists even while empty, so a connection arming them in turn allocates nothing; only when
  // reloads have changed the timeouts often are lists nobody is in dropped.
  if (lists_.size() >= kMaxLists) {
    for (auto it = lists_.begin(); it != lists_.end();) {
      Deadline::List* l = *it;
      if (l->head == nullptr) {
        l->owner = nullptr;
        uv_close(reinterpret_cast<uv_handle_t*>(&l->timer), DeadlineCallbacks::on_closed);
        it = lists_.erase(it);
      } else {
        ++it;
      }
    }
  }
  auto* l = new Deadline::List;
  l->owner = this;
  l->duration = ms;
  uv_timer_init(loop_, &l->timer);
  l->timer.data = l;
  lists_.push_back(l);
  return l;
}

void Deadlines::arm(Deadline& d, uint64_t ms) {
  d.cancel();
  if (closed_) return;
  Deadline::List* l = list_for(ms);
  d.list_ = l;
  d.at_ = uv_now(loop_) + ms;
  d.prev_ = l->tail;
  d.next_ = nullptr;
  if (l->tail) l->tail->next_ = &d;
  else l->head = &d;
  l->tail = &d;
  if (!l->timer_running) {
    // The list was idle (or its timer fired and found nothing): this deadline is the next due.
    l->timer_running = true;
    uv_timer_start(&l->timer, DeadlineCallbacks::on_timer, l->head->at_ - uv_now(loop_), 0);
  }
}

void Deadlines::on_timer(Deadline::List* l) {
  const uint64_t now = uv_now(loop_);
  // Expire in order. Each callback may arm or cancel any deadline, this list included: read the
  // head afresh every time.
  while (l->head != nullptr && l->head->at_ <= now) {
    Deadline* d = l->head;
    d->cancel();
    d->fn_(d);
    if (closed_) return;
  }
  if (l->head != nullptr && !l->timer_running) {
    l->timer_running = true;
    uv_timer_start(&l->timer, DeadlineCallbacks::on_timer, l->head->at_ - now, 0);
  }
}

void Deadlines::close() {
  if (closed_) return;
  closed_ = true;
  for (Deadline::List* l : lists_) {
    // Owners cancel their own deadlines; any still linked are detached so nothing dangles.
    for (Deadline* d = l->head; d != nullptr;) {
      Deadline* next = d->next_;
      d->prev_ = d->next_ = nullptr;
      d->list_ = nullptr;
      d = next;
    }
    l->head = l->tail = nullptr;
    l->owner = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&l->timer), DeadlineCallbacks::on_closed);
  }
  lists_.clear();
}

}  // namespace turnout
