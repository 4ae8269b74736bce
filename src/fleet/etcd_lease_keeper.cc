#include "turnout/fleet/etcd_lease_keeper.h"

#include <uv.h>

#include <algorithm>
#include <utility>

#include "turnout/fleet/etcd_client.h"

namespace turnout {

// What the timer and the in-flight answer reach. Freed when both are done with it: the timer's
// close callback has run and no answer is awaited.
struct EtcdLeaseKeeper::Core {
  uv_timer_t timer;
  EtcdClient* client;
  int64_t id;
  uint64_t ttl_ms;
  uint64_t interval_ms;
  EtcdLeaseHandler* handler;  // null once closed or lost
  uint64_t last_kept = 0;     // loop time of the last answered keep-alive (or of the start)
  bool in_flight = false;     // a keep-alive is awaiting its answer
  bool timer_closed = false;  // the timer's close callback ran

  static void on_tick(uv_timer_t* t) { static_cast<Core*>(t->data)->tick(); }
  static void on_closed(uv_handle_t* h) {
    Core* c = static_cast<Core*>(h->data);
    c->timer_closed = true;
    c->maybe_free();
  }

  void tick() {
    if (handler == nullptr || in_flight) return;
    in_flight = true;
    client->lease_keepalive(
        id, [this](EtcdResult<LeaseGrant>&& r) { on_answer(std::move(r)); },
        std::min<uint64_t>(interval_ms, client->options().request_timeout_ms));
  }

  void on_answer(EtcdResult<LeaseGrant>&& r) {
    in_flight = false;
    if (handler != nullptr) {
      uint64_t now = uv_now(timer.loop);
      if (r.ok()) {
        last_kept = now;
        handler->on_lease_kept(r.value.ttl);
      } else if (r.status.code == EtcdErrc::LeaseExpired) {
        lost(r.status);
      } else if (now - last_kept >= ttl_ms) {
        EtcdStatus s = r.status;
        s.code = EtcdErrc::Timeout;
        s.message = "no keep-alive of lease " + std::to_string(id) + " answered within its TTL (last: " +
                    r.status.describe() + ")";
        lost(s);
      } else {
        handler->on_lease_keepalive_failed(r.status);
      }
    }
    maybe_free();
  }

  void lost(const EtcdStatus& s) {
    uv_timer_stop(&timer);
    if (EtcdLeaseHandler* h = std::exchange(handler, nullptr)) h->on_lease_lost(s);
  }

  void close() {
    handler = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&timer), on_closed);
  }

  void maybe_free() {
    if (timer_closed && !in_flight) delete this;
  }
};

EtcdLeaseKeeper::EtcdLeaseKeeper(EtcdClient& client, int64_t id, int64_t ttl_seconds, EtcdLeaseHandler* handler)
    : core_(new Core{}), id_(id) {
  core_->client = &client;
  core_->id = id;
  core_->ttl_ms = static_cast<uint64_t>(std::max<int64_t>(ttl_seconds, 1)) * 1000;
  core_->interval_ms = std::max<uint64_t>(core_->ttl_ms / 3, 100);
  core_->handler = handler;
  core_->last_kept = uv_now(client.loop());
  uv_timer_init(client.loop(), &core_->timer);
  core_->timer.data = core_;
  uv_timer_start(&core_->timer, Core::on_tick, core_->interval_ms, core_->interval_ms);
}

EtcdLeaseKeeper::~EtcdLeaseKeeper() { close(); }

void EtcdLeaseKeeper::close() {
  if (Core* c = std::exchange(core_, nullptr)) c->close();
}

bool EtcdLeaseKeeper::active() const { return core_ != nullptr && core_->handler != nullptr; }

}  // namespace turnout
