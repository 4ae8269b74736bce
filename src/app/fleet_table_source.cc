#include "turnout/app/fleet_table_source.h"

#include <algorithm>
#include <chrono>

#include <nlohmann/json.hpp>

#include "turnout/common/log.h"
#include "turnout/state/state_store.h"

namespace turnout {

namespace {
constexpr uint64_t kBackoffFirstMs = 100;
constexpr uint64_t kBackoffMaxMs = 5000;
// etcd sends a progress notification every 10 minutes by default, and the watch's idle limit
// must lie above it; a hung etcd is noticed sooner by the requests' own deadlines.
constexpr uint64_t kWatchIdleMs = 11 * 60 * 1000;
// Operations per transaction when seeding in parts: below etcd's default --max-txn-ops (128).
constexpr size_t kTxnOps = 120;
constexpr int64_t kSeedClaimTtlSeconds = 60;  // a seeder that dies frees the prefix this soon
constexpr uint64_t kSeedWaitMs = 500;         // another instance seeds: read again this often

int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Error unavailable(const std::string& why) {
  return make_error(ErrorKind::Unavailable, "the table source (etcd) is unreachable: " + why +
                                                "; changes are refused until it reconnects, the current table goes on serving");
}
}  // namespace

FleetTableSource::FleetTableSource(uv_loop_t* loop, TablePublisher& publisher, EtcdSourceSpec spec,
                                   std::string config_hash, std::string config_path, std::string admin_addr)
    : loop_(loop),
      publisher_(publisher),
      spec_(std::move(spec)),
      keys_(spec_.prefix),
      config_hash_(std::move(config_hash)),
      config_path_(std::move(config_path)),
      admin_addr_(std::move(admin_addr)) {}

FleetTableSource::~FleetTableSource() { close(); }

Result<void> FleetTableSource::open() {
  EtcdClientOptions options;
  options.endpoints = spec_.endpoints;
  options.request_timeout_ms = static_cast<uint64_t>(spec_.request_timeout.count());
  options.connect_timeout_ms = std::min<uint64_t>(2000, options.request_timeout_ms);
  options.user = spec_.user;
  options.password = spec_.password;
  if (spec_.tls) {
    auto ctx = ClientTlsContext::create(spec_.tls_settings);
    if (!ctx) return make_error(ctx.error().kind, "table_source.etcd.tls: " + ctx.error().message);
    options.tls = std::move(*ctx);
    options.tls_server_name = spec_.tls_server_name;
  }
  auto client = EtcdClient::create(loop_, std::move(options));
  if (!client) return make_error(client.error().kind, "table_source.etcd: " + client.error().message);
  client_ = std::move(*client);
  uv_timer_init(loop_, &retry_timer_);
  retry_timer_.data = this;
  uv_timer_init(loop_, &wait_timer_);
  wait_timer_.data = this;
  timer_open_ = true;
  last_error_ = "not yet connected";
  return {};
}

void FleetTableSource::start() { sync(); }

void FleetTableSource::close() {
  if (closed_) return;
  closed_ = true;
  *alive_ = false;
  connected_ = false;
  if (watch_) watch_->close();
  if (retired_watch_) retired_watch_->close();
  watch_.reset();
  retired_watch_.reset();
  if (keeper_) keeper_->close();
  if (retired_keeper_) retired_keeper_->close();
  keeper_.reset();
  retired_keeper_.reset();
  if (client_) client_->close();
  client_.reset();
  if (timer_open_) {
    uv_close(reinterpret_cast<uv_handle_t*>(&retry_timer_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&wait_timer_), nullptr);
  }
  timer_open_ = false;
  std::deque<FleetWait> waits = std::move(fleet_waits_);
  for (FleetWait& w : waits) w.done(laggards(w.version));
  answer_waiter(make_error(ErrorKind::Unavailable, "turnout is shutting down"));
  std::deque<Queued> queued = std::move(queue_);
  for (Queued& q : queued)
    if (q.done) q.done(make_error(ErrorKind::Unavailable, "turnout is shutting down"));
}

// ---------------------------------------------------------------------------------------------
// Reading the table: at start, after a disconnection, after a compaction.

void FleetTableSource::sync() {
  if (closed_ || syncing_) return;
  syncing_ = true;
  // Never freed inside their own callbacks: this runs from the timer or start().
  retired_watch_.reset();
  retired_keeper_.reset();
  std::weak_ptr<bool> alive = alive_;
  client_->range_prefix(keys_.prefix(), [this, alive](EtcdResult<RangeResult>&& r) {
    if (alive.expired() || !*alive.lock()) return;
    on_read(std::move(r));
  });
}

void FleetTableSource::on_read(EtcdResult<RangeResult>&& read) {
  if (!read.ok()) {
    syncing_ = false;
    return lost(read.status.describe());
  }
  auto snap = table_from_kvs(keys_, read.value.kvs);
  if (!snap) {
    syncing_ = false;
    TLOG_ERROR("fleet: the table in etcd cannot be read; keeping the current table", "prefix={} error={}",
               log_quote(keys_.prefix()), log_quote(snap.error().message));
    return lost(snap.error().message);
  }
  instances_.clear();
  for (const KeyValue& kv : read.value.kvs)
    if (kv.key.compare(0, keys_.instances().size(), keys_.instances()) == 0) {
      WatchEvent e;
      e.kv = kv;
      instance_event(e);
    }
  if (snap->empty) return seed();
  adopt(std::move(*snap), read.value.revision);
}

void FleetTableSource::seed() {
  RouteTablePtr table = publisher_.current();
  std::vector<TxnOp> puts = table_puts(keys_, *table);
  if (puts.size() + 1 > kTxnOps) return seed_in_chunks(std::move(puts));
  // Create-if-absent: only while `version` does not exist; a racing instance that seeded first
  // wins, and its table comes back in the failure branch's read.
  TxnRequest txn;
  txn.compare.push_back(Compare::version(keys_.version(), Compare::Op::Equal, 0));
  txn.success = std::move(puts);
  txn.success.push_back(TxnOp::put(keys_.version(), encode_fleet_version(seed_entry(*table), spec_.instance)));
  txn.failure.push_back(TxnOp::range(keys_.prefix(), prefix_range_end(keys_.prefix())));
  std::weak_ptr<bool> alive = alive_;
  client_->txn(txn, [this, alive, table](EtcdResult<TxnResult>&& r) {
    if (alive.expired() || !*alive.lock()) return;
    if (!r.ok()) {
      syncing_ = false;
      return lost("seeding the table: " + r.status.describe());
    }
    if (r.value.succeeded) return seeded(table, r.value.revision);
    if (r.value.responses.empty()) {
      syncing_ = false;
      return lost("seeding the table: etcd answered the failure branch without its read");
    }
    auto snap = table_from_kvs(keys_, r.value.responses.front().range.kvs);
    if (!snap || snap->empty) {
      syncing_ = false;
      return lost(snap ? std::string("the prefix emptied while seeding") : snap.error().message);
    }
    adopt(std::move(*snap), r.value.revision);
  });
}

HistoryEntry FleetTableSource::seed_entry(const RouteTable& table) const {
  return HistoryEntry{table.version(), unix_ms(), "seeded from " + config_path_ + " by " + spec_.instance, 0, 0};
}

void FleetTableSource::seeded(const RouteTablePtr& table, int64_t revision) {
  TLOG_INFO("fleet: seeded an empty prefix with this instance's table", "prefix={} version={} routes={} revision={}",
            log_quote(keys_.prefix()), table->version(), table->route_count(), revision);
  FleetSnapshot snap;
  snap.table = table;
  snap.entry = HistoryEntry{table->version(), 0, "", 0, 0};
  snap.version_mod_revision = revision;
  from_etcd_ = true;  // etcd holds exactly this table now
  adopt(std::move(snap), revision);
}

// A table too large for one transaction (etcd allows --max-txn-ops, 128 by default): claim the
// prefix with a key on a lease, clear what a seeder that died half-way left, write the objects in
// transactions that each hold only while the claim is still ours, then create `version` and drop
// the claim in one last transaction. Watchers ignore the objects until `version` appears.
void FleetTableSource::seed_in_chunks(std::vector<TxnOp> puts) {
  const std::string claim_key = keys_.prefix() + "seeding";
  const std::string claim = spec_.instance + "/" + std::to_string(unix_ms());
  std::weak_ptr<bool> alive = alive_;
  client_->lease_grant(kSeedClaimTtlSeconds, [this, alive, claim_key, claim, puts = std::move(puts)](
                                                 EtcdResult<LeaseGrant>&& lease) mutable {
    if (alive.expired() || !*alive.lock()) return;
    if (!lease.ok()) {
      syncing_ = false;
      return lost("seeding the table: " + lease.status.describe());
    }
    TxnRequest txn;
    txn.compare.push_back(Compare::version(keys_.version(), Compare::Op::Equal, 0));
    txn.compare.push_back(Compare::version(claim_key, Compare::Op::Equal, 0));
    txn.success.push_back(TxnOp::put(claim_key, claim, lease.value.id));
    for (const char* sub : {"apps/", "routes/", "certificates/"}) {
      std::string from = keys_.prefix() + sub;
      txn.success.push_back(TxnOp::del(from, prefix_range_end(from)));
    }
    txn.success.push_back(TxnOp::del(keys_.default_app()));
    txn.success.push_back(TxnOp::del(keys_.default_certificate()));
    client_->txn(txn, [this, alive, claim_key, claim, puts = std::move(puts)](EtcdResult<TxnResult>&& r) mutable {
      if (alive.expired() || !*alive.lock()) return;
      if (!r.ok() || !r.value.succeeded) {
        // Seeded meanwhile, or another instance is seeding: read again shortly.
        syncing_ = false;
        if (!r.ok()) return lost("seeding the table: " + r.status.describe());
        TLOG_INFO("fleet: another instance is seeding the prefix; waiting for it", "prefix={}", log_quote(keys_.prefix()));
        last_error_ = "waiting for another instance to seed the prefix";
        uv_timer_start(&retry_timer_, on_retry_timer, kSeedWaitMs, 0);
        return;
      }
      TLOG_INFO("fleet: seeding a large table in parts", "prefix={} keys={}", log_quote(keys_.prefix()), puts.size());
      write_seed_part(std::make_shared<std::vector<TxnOp>>(std::move(puts)), 0, claim_key, claim);
    });
  });
}

void FleetTableSource::write_seed_part(std::shared_ptr<std::vector<TxnOp>> puts, size_t from, std::string claim_key,
                                       std::string claim) {
  RouteTablePtr table = publisher_.current();
  TxnRequest txn;
  txn.compare.push_back(Compare::value_is(claim_key, Compare::Op::Equal, claim));
  const bool last = from >= puts->size();
  if (last) {
    txn.compare.push_back(Compare::version(keys_.version(), Compare::Op::Equal, 0));
    txn.success.push_back(TxnOp::put(keys_.version(), encode_fleet_version(seed_entry(*table), spec_.instance)));
    txn.success.push_back(TxnOp::del(claim_key));
  } else {
    size_t to = std::min(puts->size(), from + kTxnOps);
    for (size_t i = from; i < to; ++i) txn.success.push_back(std::move((*puts)[i]));
    from = to;
  }
  std::weak_ptr<bool> alive = alive_;
  client_->txn(txn, [this, alive, puts, from, last, claim_key, claim, table](EtcdResult<TxnResult>&& r) {
    if (alive.expired() || !*alive.lock()) return;
    if (!r.ok() || !r.value.succeeded) {
      syncing_ = false;
      return lost(!r.ok() ? "seeding the table: " + r.status.describe()
                          : std::string("seeding the table: the claim on the prefix expired; starting again"));
    }
    if (!last) return write_seed_part(puts, from, claim_key, claim);
    seeded(table, r.value.revision);
  });
}

void FleetTableSource::adopt(FleetSnapshot&& snap, int64_t read_revision) {
  syncing_ = false;
  RouteTablePtr current = publisher_.current();
  const uint64_t v = snap.entry.version;
  auto done = [this, alive = std::weak_ptr<bool>(alive_)](Result<uint64_t> r) {
    if (alive.expired() || !*alive.lock()) return;
    if (r) published(*r);
  };
  if (snap.table == current) {
    // Seeded from this very table.
  } else if (from_etcd_ && v > current->version()) {
    // Missed changes (disconnected, compacted): one version that jumps to etcd's.
    TLOG_INFO("fleet: caught up from a fresh read", "from={} to={}", current->version(), v);
    TableProposal p;
    p.table = snap.table;
    p.durable = [table = snap.table](StateStore& store, const HistoryEntry& entry) { return store.append_table(table, entry); };
    if (snap.entry.summary.empty()) snap.entry.summary = "caught up from etcd";
    publisher_.publish(std::move(p), snap.entry, done);
  } else if (v == current->version() && same_table_content(*current, *snap.table)) {
    // Already this table (restart from the state file, reconnect with nothing missed).
  } else {
    // This instance's table is not etcd's (another config, an older state, etcd restored from a
    // backup): etcd wins, and the history starts again from its version.
    TLOG_WARN("fleet: adopting etcd's table over this instance's", "local_version={} etcd_version={} routes={}",
              current->version(), v, snap.table->route_count());
    if (snap.entry.summary.empty()) snap.entry.summary = "adopted from etcd";
    publisher_.replace(snap.table, snap.entry, config_hash_, done);
  }
  from_etcd_ = true;
  version_mod_revision_ = snap.version_mod_revision;
  revision_ = read_revision;
  watch_from(read_revision + 1);
}

void FleetTableSource::watch_from(int64_t revision) {
  if (watch_) {
    watch_->close();
    retired_watch_ = std::move(watch_);
  }
  WatchOptions w;
  w.key = keys_.prefix();
  w.range_end = prefix_range_end(keys_.prefix());
  w.start_revision = revision;
  w.progress_notify = true;
  w.idle_timeout_ms = kWatchIdleMs;
  watch_ = client_->watch(w, this);
}

void FleetTableSource::on_watch_created(int64_t revision) {
  if (!connected_) TLOG_INFO("fleet: connected; watching the table", "prefix={} revision={} version={}",
                             log_quote(keys_.prefix()), revision_, publisher_.current()->version());
  connected_ = true;
  backoff_ms_ = 0;
  last_error_.clear();
  if (lease_id_ == 0) register_instance();
  else put_instance_record();
  run_next();
}

void FleetTableSource::on_watch_progress(int64_t revision) { revision_ = std::max(revision_, revision); }

void FleetTableSource::on_watch_canceled(int64_t compact_revision, const std::string& reason) {
  if (compact_revision > 0) {
    TLOG_WARN("fleet: the watch's revision was compacted; resynchronising", "compact_revision={}", compact_revision);
    return resync("compacted at revision " + std::to_string(compact_revision));
  }
  lost("etcd canceled the watch: " + reason);
}

void FleetTableSource::on_watch_failed(const EtcdStatus& status) { lost("watch: " + status.describe()); }

void FleetTableSource::on_watch_events(int64_t revision, std::vector<WatchEvent>&& events) {
  // One response may carry several transactions (a replay): each is applied as its own version.
  size_t i = 0;
  while (i < events.size() && !closed_) {
    size_t j = i + 1;
    while (j < events.size() && events[j].kv.mod_revision == events[i].kv.mod_revision) ++j;
    int64_t txn_revision = events[i].kv.mod_revision;
    std::vector<WatchEvent> txn(std::make_move_iterator(events.begin() + static_cast<std::ptrdiff_t>(i)),
                                std::make_move_iterator(events.begin() + static_cast<std::ptrdiff_t>(j)));
    i = j;
    if (txn_revision <= revision_) continue;  // already read
    for (const WatchEvent& e : txn)
      if (e.kv.key.compare(0, keys_.instances().size(), keys_.instances()) == 0) instance_event(e);
    revision_ = txn_revision;
    apply_txn(std::move(txn));
    if (!watch_) return;  // resynchronising: the watch was retired
  }
  // Not `revision`: while etcd catches a watcher up, a response's header revision may lie past
  // events still to come in later responses.
}

void FleetTableSource::apply_txn(std::vector<WatchEvent>&& events) {
  auto txn = txn_from_events(keys_, events);
  if (!txn) {
    TLOG_ERROR("fleet: a change in etcd cannot be read; resynchronising", "revision={} error={}", revision_,
               log_quote(txn.error().message));
    return resync(txn.error().message);
  }
  if (!txn->entry) {
    if (txn->changes.empty()) return;  // instances/ keys only
    TLOG_WARN("fleet: a write under the prefix that does not move its version is not a turnout change; ignored",
              "revision={} key={} keys={}", revision_, log_quote(events.front().kv.key), events.size());
    return;
  }
  RouteTablePtr current = publisher_.current();
  const uint64_t v = txn->entry->version;
  if (v != current->version() + 1) {
    TLOG_WARN("fleet: a change out of sequence; resynchronising", "version={} expected={}", v, current->version() + 1);
    return resync("version " + std::to_string(v) + " after " + std::to_string(current->version()));
  }
  auto next = apply_changes(*current, txn->changes, v);
  if (!next) {
    TLOG_ERROR("fleet: a change in etcd does not apply; resynchronising", "version={} error={}", v,
               log_quote(next.error().message));
    return resync(next.error().message);
  }
  version_mod_revision_ = txn->version_mod_revision;
  TableProposal p;
  p.table = *next;
  p.durable = [table = *next, changes = std::move(txn->changes)](StateStore& store, const HistoryEntry& entry) {
    return store.append(table, changes, entry);
  };
  publisher_.publish(std::move(p), *txn->entry, [this, alive = std::weak_ptr<bool>(alive_)](Result<uint64_t> r) {
    if (alive.expired() || !*alive.lock()) return;
    if (r) published(*r);
    else TLOG_ERROR("fleet: a change from etcd was not applied", "error={}", log_quote(r.error().message));
  });
}

void FleetTableSource::published(uint64_t version) {
  applied_version_ = version;  // in order (acknowledgements are); lower only after a replace
  put_instance_record();
  // Only once etcd said the transaction held: version N may have been another instance's change
  // (ours then fails its compare, and is answered 409 by the transaction's callback).
  if (waiter_ && waiter_->committed && applied_version_ >= waiter_->version) {
    answer_waiter(waiter_->version);
    finish_in_flight();
  }
}

void FleetTableSource::lost(const std::string& why) {
  if (closed_) return;
  if (connected_ || last_error_ != why)
    TLOG_ERROR("fleet: etcd unreachable; serving the last table, refusing changes", "error={}", log_quote(why));
  connected_ = false;
  last_error_ = why;
  if (watch_) {
    watch_->close();
    retired_watch_ = std::move(watch_);
  }
  if (waiter_) {
    answer_waiter(make_error(
        ErrorKind::Unavailable,
        waiter_->committed
            ? "the change was committed in etcd as version " + std::to_string(waiter_->version) +
                  " but etcd went away before this instance applied it (" + why +
                  "); it is applied once etcd is reachable again"
            : "etcd went away while the change was written (" + why +
                  "); it may have been applied as version " + std::to_string(waiter_->version) +
                  ": check the version before retrying"));
    finish_in_flight();
  }
  // Waiting changes cannot be written now.
  std::deque<Queued> queued = std::move(queue_);
  for (Queued& q : queued)
    if (q.done) q.done(unavailable(why));
  backoff_ms_ = backoff_ms_ == 0 ? kBackoffFirstMs : std::min(kBackoffMaxMs, backoff_ms_ * 2);
  uv_timer_start(&retry_timer_, on_retry_timer, backoff_ms_, 0);
}

void FleetTableSource::resync(const std::string& why) {
  if (closed_) return;
  ++resyncs_;
  if (watch_) {
    watch_->close();
    retired_watch_ = std::move(watch_);
  }
  last_error_ = why;
  uv_timer_start(&retry_timer_, on_retry_timer, 0, 0);
}

void FleetTableSource::on_retry_timer(uv_timer_t* t) { static_cast<FleetTableSource*>(t->data)->sync(); }

// ---------------------------------------------------------------------------------------------
// The instance record: `instances/<name>` on a lease, holding the version applied here.

void FleetTableSource::register_instance() {
  if (granting_ || closed_ || leaving_) return;
  granting_ = true;
  std::weak_ptr<bool> alive = alive_;
  client_->lease_grant(kInstanceTtlSeconds, [this, alive](EtcdResult<LeaseGrant>&& r) {
    if (alive.expired() || !*alive.lock()) return;
    granting_ = false;
    if (!r.ok()) return lost("granting the instance lease: " + r.status.describe());
    if (leaving_) {  // granted after leave(): give it back at once
      client_->lease_revoke(r.value.id, [](EtcdResult<PutResult>&&) {});
      return;
    }
    lease_id_ = r.value.id;
    if (keeper_) {
      keeper_->close();
      retired_keeper_ = std::move(keeper_);
    }
    keeper_ = client_->keep_alive(lease_id_, r.value.ttl, this);
    put_instance_record();
  });
}

void FleetTableSource::put_instance_record() {
  if (lease_id_ == 0 || closed_ || !connected_) return;
  nlohmann::json j = {{"version", applied_version_ ? applied_version_ : publisher_.current()->version()},
                      {"addr", admin_addr_}};
  client_->put(keys_.instance(spec_.instance), j.dump(), [](EtcdResult<PutResult>&&) {}, lease_id_);
}

void FleetTableSource::instance_event(const WatchEvent& e) {
  std::string name = e.kv.key.substr(keys_.instances().size());
  if (e.type == WatchEvent::Type::Delete) {
    instances_.erase(name);
  } else {
    nlohmann::json j = nlohmann::json::parse(e.kv.value, nullptr, false);
    Instance inst;
    if (j.is_object()) {
      if (auto v = j.find("version"); v != j.end() && v->is_number_unsigned()) inst.version = v->get<uint64_t>();
      if (auto a = j.find("addr"); a != j.end() && a->is_string()) inst.addr = a->get<std::string>();
    }
    instances_[name] = std::move(inst);
  }
  check_fleet_waits();
}

void FleetTableSource::leave() {
  if (leaving_ || closed_) return;
  leaving_ = true;
  if (keeper_) {
    keeper_->close();
    retired_keeper_ = std::move(keeper_);
  }
  // The record goes now rather than when its lease runs out, so a fleet wait on another instance
  // stops waiting for this one. Sent while the drain still runs the loop; an answer that never
  // comes costs nothing (the lease then expires on its own).
  if (lease_id_ != 0 && client_) client_->lease_revoke(lease_id_, [](EtcdResult<PutResult>&&) {});
  lease_id_ = 0;
}

void FleetTableSource::on_lease_keepalive_failed(const EtcdStatus& status) {
  if (connected_) lost("keeping the instance lease: " + status.describe());
}

void FleetTableSource::on_lease_lost(const EtcdStatus& status) {
  lease_id_ = 0;
  if (keeper_) {
    keeper_->close();
    retired_keeper_ = std::move(keeper_);
  }
  // A new lease and record on the next connection.
  lost("the instance lease expired: " + status.describe());
}

FleetTableSource::Laggards FleetTableSource::laggards(uint64_t version) const {
  Laggards out;
  for (const auto& [name, inst] : instances_)
    if (inst.version < version) out.emplace_back(name, inst.version);
  return out;
}

void FleetTableSource::wait_fleet(uint64_t version, uint64_t timeout_ms, std::function<void(Laggards)> done) {
  if (closed_) return done(laggards(version));
  fleet_waits_.push_back(FleetWait{version, uv_now(loop_) + timeout_ms, std::move(done)});
  check_fleet_waits();
}

void FleetTableSource::check_fleet_waits() {
  if (fleet_waits_.empty()) return;
  const uint64_t now = uv_now(loop_);
  std::deque<FleetWait> waiting;
  std::vector<std::pair<std::function<void(Laggards)>, Laggards>> answers;
  for (FleetWait& w : fleet_waits_) {
    Laggards late = laggards(w.version);
    if (late.empty() || now >= w.deadline_ms)
      answers.emplace_back(std::move(w.done), std::move(late));
    else
      waiting.push_back(std::move(w));
  }
  fleet_waits_ = std::move(waiting);
  if (!fleet_waits_.empty() && timer_open_) {
    uint64_t next = fleet_waits_.front().deadline_ms;
    for (const FleetWait& w : fleet_waits_) next = std::min(next, w.deadline_ms);
    uv_timer_start(&wait_timer_, on_wait_timer, next > now ? next - now : 0, 0);
  }
  for (auto& [done, late] : answers) done(std::move(late));
}

void FleetTableSource::on_wait_timer(uv_timer_t* t) { static_cast<FleetTableSource*>(t->data)->check_fleet_waits(); }

// ---------------------------------------------------------------------------------------------
// This instance's changes.

void FleetTableSource::commit(std::optional<uint64_t> if_match, Build build, Done done) {
  if (closed_) return done(make_error(ErrorKind::Unavailable, "turnout is shutting down"));
  if (!connected_) return done(unavailable(last_error_));
  queue_.push_back(Queued{if_match, std::move(build), std::move(done)});
  run_next();
}

void FleetTableSource::run_next() {
  while (!in_flight_ && !queue_.empty() && connected_ && !closed_) {
    Queued q = std::move(queue_.front());
    queue_.pop_front();
    if (std::optional<Error> closed = publisher_.refusal()) {
      q.done(*closed);
      continue;
    }
    RouteTablePtr current = publisher_.current();
    if (q.if_match && *q.if_match != current->version()) {
      q.done(make_error(ErrorKind::Conflict, fmt::format("table is at version {}, not {}", current->version(), *q.if_match)));
      continue;
    }
    const uint64_t v = current->version() + 1;
    Result<TableProposal> proposal = q.build(*current, v);
    if (!proposal) {
      q.done(proposal.error());
      continue;
    }
    HistoryEntry entry{v, unix_ms(), std::move(proposal->summary), proposal->back, proposal->restores};
    TxnRequest txn;
    txn.compare.push_back(Compare::mod_revision(keys_.version(), Compare::Op::Equal, version_mod_revision_));
    txn.success = table_delta(keys_, *current, *proposal->table, proposal->changes ? &*proposal->changes : nullptr);
    txn.success.push_back(TxnOp::put(keys_.version(), encode_fleet_version(entry, spec_.instance)));
    // The change is answered by the watch; what `on_durable` does (a reload adopting its config)
    // is this instance's own business, done once etcd took the change.
    std::function<void()> on_durable = std::move(proposal->on_durable);
    in_flight_ = true;
    waiter_ = Waiter{v, std::move(q.done)};
    std::weak_ptr<bool> alive = alive_;
    client_->txn(txn, [this, alive, v, on_durable](EtcdResult<TxnResult>&& r) {
      if (alive.expired() || !*alive.lock()) return;
      if (!waiter_ || waiter_->version != v) return;  // answered already (etcd went away)
      if (!r.ok()) {
        const bool maybe = r.status.code == EtcdErrc::Reset || r.status.code == EtcdErrc::Timeout;
        std::string why = r.status.describe();
        answer_waiter(r.status.code == EtcdErrc::Etcd
                          ? make_error(ErrorKind::Invalid, "etcd refused the change: " + why)
                          : make_error(ErrorKind::Unavailable,
                                       "etcd did not answer the change (" + why + ")" +
                                           (maybe ? "; it may have been applied: check the version before retrying" : "")));
        finish_in_flight();
        if (r.status.code != EtcdErrc::Etcd) lost(why);
        return;
      }
      if (!r.value.succeeded) {
        answer_waiter(make_error(ErrorKind::Conflict,
                                 fmt::format("the table changed on another instance while this change was written "
                                             "(version {} is taken); nothing was changed — retry on the new table", v)));
        return finish_in_flight();
      }
      waiter_->committed = true;
      if (on_durable) on_durable();
      if (applied_version_ >= v) {  // the watch was faster than the answer
        answer_waiter(v);
        finish_in_flight();
      }
    });
  }
}

void FleetTableSource::answer_waiter(Result<uint64_t> r) {
  if (!waiter_) return;
  Done done = std::move(waiter_->done);
  waiter_.reset();
  if (done) done(std::move(r));
}

void FleetTableSource::finish_in_flight() {
  in_flight_ = false;
  run_next();
}

}  // namespace turnout
