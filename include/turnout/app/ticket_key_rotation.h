// TicketKeyRotation: the process's TLS session ticket keys over time. It makes the ring at start
// (or adopts the one an upgrading predecessor handed over, keeping its schedule), puts a new
// encrypting key in every TicketKeyRing::kRotation on a main-loop timer, and retries a minute
// later if the random generator failed. The ring is shared with every server TLS context; this
// class is its only writer.
//
// Owned by ProxyServer; main thread only. The timer is closed by close() in the server's
// shutdown order, and the object outlives the loop.
#pragma once

#include <uv.h>

#include <cstdint>
#include <string>

#include "turnout/tls/ticket_key_ring.h"

namespace turnout {

class TicketKeyRotation {
 public:
  TicketKeyRotation() = default;
  TicketKeyRotation(const TicketKeyRotation&) = delete;
  TicketKeyRotation& operator=(const TicketKeyRotation&) = delete;

  // Before any TLS context is made: the ring from `handed_over` (an upgrade's hand-off, may be
  // empty) or a fresh one. Without a ring (the generator failed) each context keeps OpenSSL's
  // own keys and resumes only on itself; that is logged.
  void start_ring(std::string handed_over);
  // Once the loop runs: arms the rotation timer.
  void start_timer(uv_loop_t* loop);
  // Stops and closes the timer (shutdown).
  void close();

  const TicketKeyRingPtr& ring() const { return ring_; }
  // The keys for a successor's hand-off ("" without a ring).
  std::string encode() const { return ring_ ? ring_->encode() : std::string(); }

 private:
  friend struct TicketKeyRotationCallbacks;
  void rotate();
  uint64_t delay_ms() const;  // until the encrypting key is due, within one interval

  TicketKeyRingPtr ring_;
  uv_timer_t timer_{};
  bool timer_started_ = false;
};

}  // namespace turnout
