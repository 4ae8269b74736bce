// The route table as etcd keys (DESIGN.md "Fleet"): under a prefix, `version` (the fleet version
// and the history entry of the change that made it), `default_app`, `default_certificate`,
// `apps/<app>`, `routes/<route key>` and `certificates/<name>`, each value the JSON the state
// file uses for that object (state/table_codec.h). `instances/<name>` keys live under the same
// prefix but are not part of the table.
//
// A change is written as one transaction that moves `version` from N to N+1 and writes only the
// keys it touched; a reader turns that transaction's events back into table changes
// (Change::Op::SetApp, SetRoute, ...), so applying it costs O(change) at any table size.
// Pure functions; main thread (they build tables).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "turnout/common/error.h"
#include "turnout/fleet/etcd_types.h"
#include "turnout/route/route_builder.h"
#include "turnout/route/route_table.h"
#include "turnout/state/history_entry.h"

namespace turnout {

class FleetKeys {
 public:
  explicit FleetKeys(std::string prefix) : prefix_(std::move(prefix)) {}
  const std::string& prefix() const { return prefix_; }
  std::string version() const { return prefix_ + "version"; }
  std::string default_app() const { return prefix_ + "default_app"; }
  std::string default_certificate() const { return prefix_ + "default_certificate"; }
  std::string app(std::string_view name) const { return prefix_ + "apps/" + std::string(name); }
  std::string route(std::string_view key) const { return prefix_ + "routes/" + std::string(key); }
  std::string certificate(std::string_view name) const { return prefix_ + "certificates/" + std::string(name); }
  std::string instances() const { return prefix_ + "instances/"; }
  std::string instance(std::string_view name) const { return instances() + std::string(name); }

 private:
  std::string prefix_;  // ends with '/'
};

// The `version` key's value: {"version", "unix_ms", "summary", "back", "restores", "instance"}.
std::string encode_fleet_version(const HistoryEntry& entry, std::string_view instance);
Result<HistoryEntry> decode_fleet_version(std::string_view value);

// Every key of `table` but `version`: what seeding an empty prefix writes.
std::vector<TxnOp> table_puts(const FleetKeys& keys, const RouteTable& table);

// The writes that turn `from` into `to`. With `changes` (the edits that made `to`), only the
// objects they name are looked at: O(change). Without, both tables are compared: O(table).
std::vector<TxnOp> table_delta(const FleetKeys& keys, const RouteTable& from, const RouteTable& to,
                               const std::vector<Change>* changes);

// A consistent read of the prefix as a table.
struct FleetSnapshot {
  RouteTablePtr table;            // versioned with the `version` key's number
  HistoryEntry entry;             // from the `version` key
  int64_t version_mod_revision = 0;  // the `version` key's mod_revision (what a change compares)
  bool empty = false;             // no `version` key: the prefix was never seeded (table null)
};
Result<FleetSnapshot> table_from_kvs(const FleetKeys& keys, const std::vector<KeyValue>& kvs);

// One transaction's events (all at one revision) as table changes.
struct FleetTxn {
  std::optional<HistoryEntry> entry;  // the moved `version` key; nullopt: not a turnout change
  int64_t version_mod_revision = 0;
  std::vector<Change> changes;        // in an order that applies: apps set, routes, default,
                                      // certificates, then apps deleted
  size_t instance_events = 0;         // events on instances/ keys (not part of the table)
};
Result<FleetTxn> txn_from_events(const FleetKeys& keys, const std::vector<WatchEvent>& events);

// True when both tables hold the same apps, routes, default app and certificates (versions
// aside). O(table).
bool same_table_content(const RouteTable& a, const RouteTable& b);

}  // namespace turnout
