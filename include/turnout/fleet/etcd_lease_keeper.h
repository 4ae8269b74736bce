// EtcdLeaseKeeper: keeps one etcd lease alive with a keep-alive every third of its TTL, through
// the client's unary connection (one at a time). The lease is reported lost when etcd says it is
// gone (TTL 0), or when no keep-alive has been answered for a whole TTL (etcd has then let it
// expire, or will before anyone can tell) — the fleet's instance record goes with it, so its
// owner re-grants and re-writes. Transient failures in between are reported and retried.
//
// Lifetime: owned by its user; close() (or the destructor) stops it without further callbacks
// and without revoking the lease (revoke with EtcdClient::lease_revoke to drop it at once). Its
// timer is freed in its close callback; an answer still in flight is awaited by a small core
// object, never by the keeper. Close it before its client. Main loop only.
#pragma once

#include <cstdint>

#include "turnout/fleet/etcd_status.h"

namespace turnout {

class EtcdClient;

class EtcdLeaseHandler {
 public:
  virtual ~EtcdLeaseHandler() = default;
  // A keep-alive was answered: the lease has `ttl` seconds again.
  virtual void on_lease_kept(int64_t ttl) {}
  // A keep-alive failed (timeout, reset, etcd down); the next tick tries again.
  virtual void on_lease_keepalive_failed(const EtcdStatus& status) {}
  // The lease is gone (LeaseExpired, or Timeout after a whole TTL without an answer). The keeper
  // has stopped.
  virtual void on_lease_lost(const EtcdStatus& status) = 0;
};

class EtcdLeaseKeeper {
 public:
  // Starts ticking at once (use EtcdClient::keep_alive).
  EtcdLeaseKeeper(EtcdClient& client, int64_t id, int64_t ttl_seconds, EtcdLeaseHandler* handler);
  ~EtcdLeaseKeeper();
  EtcdLeaseKeeper(const EtcdLeaseKeeper&) = delete;
  EtcdLeaseKeeper& operator=(const EtcdLeaseKeeper&) = delete;

  void close();
  bool active() const;
  int64_t id() const { return id_; }

 private:
  struct Core;
  Core* core_;   // the timer and the state callbacks reach; frees itself once closed and idle
  int64_t id_;
};

}  // namespace turnout
