// FleetTableSource: the table source of fleet mode (DESIGN.md "Fleet"). The table lives in etcd
// under a prefix (fleet/fleet_table_codec.h); every instance of the fleet reads it, watches it,
// and writes its own admin changes there as transactions. Nothing reaches the workers except
// through TablePublisher: a watched transaction becomes one published version, never half a
// batch, and local changes are published only when they come back through the watch, so every
// instance applies every version in the same order.
//
//   start:   read the prefix; an empty one is seeded from this instance's table in one
//            create-if-absent transaction; else etcd's table wins. Then watch from the read's
//            revision + 1.
//   change:  build on the current table (the shared checks run as for a local change), write the
//            touched keys and `version` N+1 in one transaction that holds only while `version` is
//            still the one applied here (else 409); answer once the watch brought it back and
//            every worker adopted it. Changes from this instance run one at a time, in order.
//   faults:  etcd unreachable or the watch broken: the last table goes on serving, changes get
//            503, status says "disconnected"; retries with backoff (0.1 s doubling to 5 s) and
//            resynchronises from one read. A watch canceled by compaction resynchronises the same
//            way. Nothing is dropped from the table because etcd cannot be reached.
//
// Owner: app/ProxyServer, on the main loop; close() before the loop's last run.
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <vector>
#include <memory>
#include <optional>
#include <string>

#include "turnout/app/table_publisher.h"
#include "turnout/config/config.h"
#include "turnout/fleet/etcd_client.h"
#include "turnout/fleet/etcd_lease_keeper.h"
#include "turnout/fleet/etcd_watch.h"
#include "turnout/fleet/fleet_table_codec.h"

namespace turnout {

class FleetTableSource final : public TableCommitter, private EtcdWatchHandler, private EtcdLeaseHandler {
 public:
  static constexpr int64_t kInstanceTtlSeconds = 10;  // the instance record's lease

  // One live instance of the fleet, as its `instances/<name>` record says.
  struct Instance {
    uint64_t version = 0;  // the table version it has applied
    std::string addr;      // its admin address
  };
  using Laggards = std::vector<std::pair<std::string, uint64_t>>;  // name, version applied

  // `admin_addr`: what this instance's record gives as its address.
  FleetTableSource(uv_loop_t* loop, TablePublisher& publisher, EtcdSourceSpec spec, std::string config_hash,
                   std::string config_path, std::string admin_addr);
  ~FleetTableSource() override;

  // Resolves the endpoints; an error stops the start.
  Result<void> open();
  // The first read (and seed), then the watch; asynchronous.
  void start();
  // Shutting down: revokes the instance record's lease, so the fleet stops counting this
  // instance at once; the table goes on being watched and served until close().
  void leave();
  // Ends the watch, the client and the retry timer; queued changes are answered 503.
  void close();

  bool connected() const { return connected_; }
  const std::string& last_error() const { return last_error_; }
  const EtcdSourceSpec& spec() const { return spec_; }
  int64_t revision() const { return revision_; }  // the etcd revision applied up to
  uint64_t resyncs() const { return resyncs_; }
  // The live instances (their records, kept up to date by the watch).
  const std::map<std::string, Instance>& instances() const { return instances_; }
  // Calls `done({})` once every live instance has applied `version` (or left the fleet), or
  // `done(laggards)` when `timeout_ms` passes first.
  void wait_fleet(uint64_t version, uint64_t timeout_ms, std::function<void(Laggards)> done);

  // TableCommitter
  RouteTablePtr current() const override { return publisher_.current(); }
  const std::deque<KeptVersion>& kept() const override { return publisher_.kept(); }
  void commit(std::optional<uint64_t> if_match, Build build, Done done) override;

 private:
  struct Queued {
    std::optional<uint64_t> if_match;
    Build build;
    Done done;
  };
  struct Waiter {
    uint64_t version;  // written to etcd; answered once applied here
    Done done;
    bool committed = false;  // etcd answered the transaction: it holds
  };
  struct FleetWait {
    uint64_t version;
    uint64_t deadline_ms;  // uv_now
    std::function<void(Laggards)> done;
  };

  void sync();
  void on_read(EtcdResult<RangeResult>&& read);
  void seed();
  void seed_in_chunks(std::vector<TxnOp> puts);
  void write_seed_part(std::shared_ptr<std::vector<TxnOp>> puts, size_t from, std::string claim_key, std::string claim);
  void seeded(const RouteTablePtr& table, int64_t revision);
  HistoryEntry seed_entry(const RouteTable& table) const;
  void adopt(FleetSnapshot&& snap, int64_t read_revision);
  void watch_from(int64_t revision);
  void apply_txn(std::vector<WatchEvent>&& events);
  void published(uint64_t version);
  void lost(const std::string& why);  // disconnected: retry later
  void resync(const std::string& why);
  void run_next();
  void finish_in_flight();
  void answer_waiter(Result<uint64_t> r);

  void register_instance();
  void put_instance_record();
  void instance_event(const WatchEvent& e);
  Laggards laggards(uint64_t version) const;
  void check_fleet_waits();
  static void on_wait_timer(uv_timer_t* t);

  // EtcdLeaseHandler
  void on_lease_keepalive_failed(const EtcdStatus& status) override;
  void on_lease_lost(const EtcdStatus& status) override;

  // EtcdWatchHandler
  void on_watch_created(int64_t revision) override;
  void on_watch_events(int64_t revision, std::vector<WatchEvent>&& events) override;
  void on_watch_progress(int64_t revision) override;
  void on_watch_canceled(int64_t compact_revision, const std::string& reason) override;
  void on_watch_failed(const EtcdStatus& status) override;

  static void on_retry_timer(uv_timer_t* t);

  uv_loop_t* loop_;
  TablePublisher& publisher_;
  EtcdSourceSpec spec_;
  FleetKeys keys_;
  std::string config_hash_;
  std::string config_path_;
  std::unique_ptr<EtcdClient> client_;
  std::unique_ptr<EtcdWatch> watch_;
  std::unique_ptr<EtcdWatch> retired_watch_;  // closed inside its own callback; freed later
  uv_timer_t retry_timer_{};
  bool timer_open_ = false;
  bool closed_ = false;
  bool leaving_ = false;            // leave() ran: no instance record any more
  bool syncing_ = false;            // a read (or seed) is under way
  bool connected_ = false;          // synced and watching
  bool from_etcd_ = false;          // the current table is etcd's (not only this instance's own)
  uint64_t backoff_ms_ = 0;
  std::string last_error_;
  int64_t revision_ = 0;            // etcd revision applied up to
  int64_t version_mod_revision_ = 0;  // mod_revision of `version` as applied here
  uint64_t applied_version_ = 0;    // highest version published here and adopted by every worker
  uint64_t resyncs_ = 0;
  std::deque<Queued> queue_;        // this instance's changes, in order
  bool in_flight_ = false;          // the front change is being written or waited for
  std::optional<Waiter> waiter_;
  std::string admin_addr_;
  int64_t lease_id_ = 0;            // the instance record's lease (0: none yet)
  bool granting_ = false;
  std::unique_ptr<EtcdLeaseKeeper> keeper_;
  std::unique_ptr<EtcdLeaseKeeper> retired_keeper_;  // stopped inside its own callback
  std::map<std::string, Instance> instances_;
  std::deque<FleetWait> fleet_waits_;
  uv_timer_t wait_timer_{};
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // guards client callbacks after close
};

}  // namespace turnout
