#include "turnout/app/ticket_key_rotation.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <chrono>

#include "turnout/common/log.h"

namespace turnout {

namespace {
constexpr uint64_t kRetryMs = 60 * 1000;  // after a failed rotation (CSPRNG failure)

int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

struct TicketKeyRotationCallbacks {
  static void on_timer(uv_timer_t* t) { static_cast<TicketKeyRotation*>(t->data)->rotate(); }
};

void TicketKeyRotation::start_ring(std::string handed_over) {
  if (!handed_over.empty()) {
    auto ring = TicketKeyRing::decode(handed_over);
    OPENSSL_cleanse(handed_over.data(), handed_over.size());
    if (ring) {
      ring_ = *ring;
      TLOG_INFO("upgrade: took over the TLS session ticket keys", "keys={}", ring_->size());
      return;
    }
    TLOG_WARN("upgrade: unusable TLS session ticket keys; earlier tickets get full handshakes", "error={}",
              log_quote(ring.error().message));
  }
  auto ring = TicketKeyRing::create(unix_ms());
  if (ring) {
    ring_ = *ring;
  } else {
    TLOG_ERROR("TLS session ticket keys", "error={}", log_quote(ring.error().message));
  }
}

void TicketKeyRotation::start_timer(uv_loop_t* loop) {
  uv_timer_init(loop, &timer_);
  timer_.data = this;
  timer_started_ = true;
  // Keys handed over keep their schedule: the current one is replaced when it would have been.
  if (ring_) uv_timer_start(&timer_, TicketKeyRotationCallbacks::on_timer, delay_ms(), 0);
}

void TicketKeyRotation::close() {
  if (!timer_started_) return;
  timer_started_ = false;
  uv_timer_stop(&timer_);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
}

void TicketKeyRotation::rotate() {
  // One writer, on the main loop; workers read the ring in their ticket callbacks.
  if (auto r = ring_->rotate(unix_ms()); !r) {
    TLOG_ERROR("TLS session ticket keys not rotated; retrying", "error={}", log_quote(r.error().message));
    uv_timer_start(&timer_, TicketKeyRotationCallbacks::on_timer, kRetryMs, 0);
    return;
  }
  uv_timer_start(&timer_, TicketKeyRotationCallbacks::on_timer, delay_ms(), 0);
}

uint64_t TicketKeyRotation::delay_ms() const {
  // Never negative, and never beyond one rotation interval even if the wall clock jumped back.
  int64_t interval = std::chrono::duration_cast<std::chrono::milliseconds>(TicketKeyRing::kRotation).count();
  return static_cast<uint64_t>(std::clamp<int64_t>(ring_->next_rotation_unix_ms() - unix_ms(), 0, interval));
}

}  // namespace turnout
