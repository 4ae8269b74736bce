// The table as etcd keys: seeding, deltas, reading back, and watched transactions as changes.
#include "turnout/fleet/fleet_table_codec.h"

#include <doctest/doctest.h>

#include <map>

using namespace turnout;

namespace {

RouteTablePtr table_of(uint64_t version) {
  Config config;
  config.apps["blue"] = AppSpec{{{"127.0.0.1:9001", 1}, {"127.0.0.1:9002", 2}}, HealthSpec{}};
  config.apps["green"] = AppSpec{{{"127.0.0.1:9101", 1}}, std::nullopt};
  config.routes["example.com"] = {{"blue", 1}};
  config.routes["*.example.org"] = {{"blue", 1}, {"green", 3}};
  config.default_app = "blue";
  auto t = build_table(config, version);
  REQUIRE(t.ok());
  return *t;
}

// What etcd would hold after `ops` on `store` (puts and deletes only).
void run(std::map<std::string, std::string>& store, const std::vector<TxnOp>& ops) {
  for (const TxnOp& op : ops) {
    if (op.kind == TxnOp::Kind::Put) store[op.key] = op.value;
    if (op.kind == TxnOp::Kind::Delete) store.erase(op.key);
  }
}

std::vector<KeyValue> kvs_of(const std::map<std::string, std::string>& store, int64_t revision) {
  std::vector<KeyValue> out;
  for (const auto& [k, v] : store) out.push_back(KeyValue{k, v, 1, revision, 1, 0});
  return out;
}

std::vector<WatchEvent> events_of(const std::vector<TxnOp>& ops, int64_t revision) {
  std::vector<WatchEvent> out;
  for (const TxnOp& op : ops) {
    WatchEvent e;
    e.type = op.kind == TxnOp::Kind::Put ? WatchEvent::Type::Put : WatchEvent::Type::Delete;
    e.kv.key = op.key;
    e.kv.value = op.value;
    e.kv.mod_revision = revision;
    out.push_back(std::move(e));
  }
  return out;
}

Change map(std::string app, std::string host, uint32_t weight = 1) {
  Change c;
  c.op = Change::Op::Map;
  c.app = std::move(app);
  c.host = std::move(host);
  c.weight = weight;
  return c;
}

}  // namespace

TEST_CASE("a seeded prefix reads back as the same table, versioned by its version key") {
  FleetKeys keys("/t/");
  auto table = table_of(7);
  std::map<std::string, std::string> store;
  run(store, table_puts(keys, *table));
  CHECK(store.count("/t/apps/blue") == 1);
  CHECK(store.count("/t/routes/*.example.org") == 1);
  CHECK(store.at("/t/default_app") == "\"blue\"");
  // Without the version key the prefix is not a turnout table yet.
  auto unseeded = table_from_kvs(keys, kvs_of(store, 5));
  REQUIRE(unseeded.ok());
  CHECK(unseeded->empty);

  HistoryEntry entry{7, 1000, "seeded", 0, 0};
  store["/t/version"] = encode_fleet_version(entry, "edge-1");
  store["/t/instances/edge-1"] = R"({"version": 7})";  // not part of the table
  store["/t/unrelated"] = "not json";                  // not turnout's: left alone
  auto snap = table_from_kvs(keys, kvs_of(store, 5));
  REQUIRE(snap.ok());
  REQUIRE_FALSE(snap->empty);
  CHECK(snap->entry.version == 7);
  CHECK(snap->entry.summary == "seeded");
  CHECK(snap->version_mod_revision == 5);
  CHECK(snap->table->version() == 7);
  CHECK(same_table_content(*table, *snap->table));
  CHECK(snap->table->find_app("blue")->health.has_value());
}

TEST_CASE("a change writes only the keys it touches, and its events rebuild the same table") {
  FleetKeys keys("/t/");
  auto before = table_of(1);
  std::vector<Change> changes = {map("green", "example.com", 4), map("green", "new.example.net")};
  auto after = apply_changes(*before, changes, 2);
  REQUIRE(after.ok());
  auto ops = table_delta(keys, *before, **after, &changes);
  REQUIRE(ops.size() == 2);  // two routes; no app, no default
  std::map<std::string, std::string> store;
  run(store, ops);
  CHECK(store.count("/t/routes/example.com") == 1);
  CHECK(store.count("/t/routes/new.example.net") == 1);

  // The whole-table comparison finds the same writes.
  auto compared = table_delta(keys, *before, **after, nullptr);
  CHECK(compared.size() == 2);

  // A watcher turns the transaction into changes that rebuild the table.
  auto with_version = ops;
  with_version.push_back(TxnOp::put(keys.version(), encode_fleet_version(HistoryEntry{2, 5, "map", 1, 0}, "edge-1")));
  auto txn = txn_from_events(keys, events_of(with_version, 9));
  REQUIRE(txn.ok());
  REQUIRE(txn->entry);
  CHECK(txn->entry->version == 2);
  CHECK(txn->entry->back == 1);
  CHECK(txn->version_mod_revision == 9);
  auto rebuilt = apply_changes(*before, txn->changes, 2);
  REQUIRE(rebuilt.ok());
  CHECK(same_table_content(**after, **rebuilt));
}

TEST_CASE("deleting an app after unmapping it: the events apply in an order that works") {
  FleetKeys keys("/t/");
  auto before = table_of(1);
  Change unmap;
  unmap.op = Change::Op::Unmap;
  unmap.app = "green";
  unmap.host = "*.example.org";
  Change del;
  del.op = Change::Op::DeleteApp;
  del.app = "green";
  Change add;
  add.op = Change::Op::PutApp;
  add.app = "canary";
  add.servers = {{"127.0.0.1:9201", 1}};
  std::vector<Change> changes = {unmap, del, add, map("canary", "example.com")};
  auto after = apply_changes(*before, changes, 2);
  REQUIRE(after.ok());
  auto ops = table_delta(keys, *before, **after, &changes);
  ops.push_back(TxnOp::put(keys.version(), encode_fleet_version(HistoryEntry{2, 5, "batch", 1, 0}, "e")));
  // etcd reports a transaction's events in the order of its operations; the watcher must not
  // depend on it: reversed here.
  auto events = events_of(ops, 3);
  std::reverse(events.begin(), events.end());
  auto txn = txn_from_events(keys, events);
  REQUIRE(txn.ok());
  auto rebuilt = apply_changes(*before, txn->changes, 2);
  REQUIRE_MESSAGE(rebuilt.ok(), (rebuilt.ok() ? "" : rebuilt.error().message));
  CHECK(same_table_content(**after, **rebuilt));
  CHECK((*rebuilt)->find_app("green") == nullptr);
}

TEST_CASE("writes that do not move the version are not turnout changes") {
  FleetKeys keys("/t/");
  std::vector<TxnOp> ops = {TxnOp::put("/t/routes/x.com", R"({"blue": 1})")};
  auto txn = txn_from_events(keys, events_of(ops, 4));
  REQUIRE(txn.ok());
  CHECK_FALSE(txn->entry);
  CHECK(txn->changes.size() == 1);
  auto instance = txn_from_events(keys, events_of({TxnOp::put("/t/instances/e", "{}")}, 5));
  REQUIRE(instance.ok());
  CHECK(instance->changes.empty());
  CHECK(instance->instance_events == 1);
}

TEST_CASE("malformed values are errors, never throws") {
  FleetKeys keys("/t/");
  for (const char* bad : {"{", "[]", R"({"servers": "x"})", R"({"servers": [{"addr": 5}]})"}) {
    CAPTURE(bad);
    auto txn = txn_from_events(keys, events_of({TxnOp::put("/t/apps/a", bad)}, 2));
    CHECK_FALSE(txn.ok());
  }
  CHECK_FALSE(txn_from_events(keys, events_of({TxnOp::put("/t/routes/a.com", R"({"a": 0})")}, 2)).ok());
  CHECK_FALSE(txn_from_events(keys, events_of({TxnOp::put("/t/version", R"({"version": 0})")}, 2)).ok());
  CHECK_FALSE(txn_from_events(keys, events_of({TxnOp::del("/t/version")}, 2)).ok());
  CHECK_FALSE(txn_from_events(keys, events_of({TxnOp::put("/t/default_app", "5")}, 2)).ok());
  std::vector<KeyValue> kvs = {KeyValue{"/t/version", "nope", 1, 1, 1, 0}};
  CHECK_FALSE(table_from_kvs(keys, kvs).ok());
  kvs = {KeyValue{"/t/version", R"({"version": 3})", 1, 1, 1, 0},
         KeyValue{"/t/routes/a.com", R"({"ghost": 1})", 1, 1, 1, 0}};
  auto dangling = table_from_kvs(keys, kvs);
  REQUIRE_FALSE(dangling.ok());
  CHECK(dangling.error().message.find("ghost") != std::string::npos);
}

TEST_CASE("path route keys round-trip through etcd keys: everything after routes/ is the key") {
  FleetKeys keys("/t/");
  auto before = table_of(1);
  std::vector<Change> changes = {map("green", "example.com/api"), map("green", "*.example.org/static/v1"),
                                 map("blue", "example.com/a%2Fb")};
  auto after = apply_changes(*before, changes, 2);
  REQUIRE(after.ok());
  std::map<std::string, std::string> store;
  run(store, table_puts(keys, **after));
  CHECK(store.count("/t/routes/example.com/api") == 1);
  CHECK(store.count("/t/routes/*.example.org/static/v1") == 1);
  CHECK(store.count("/t/routes/example.com/a%2Fb") == 1);
  store["/t/version"] = encode_fleet_version(HistoryEntry{2, 1000, "seeded", 0, 0}, "edge-1");
  auto snap = table_from_kvs(keys, kvs_of(store, 5));
  REQUIRE(snap.ok());
  CHECK(same_table_content(**after, *snap->table));
  CHECK(snap->table->lookup("example.com", "/api/x")->host == "example.com/api");
  CHECK(snap->table->lookup("a.example.org", "/static/v1/x.css")->host == "*.example.org/static/v1");

  // Unmapping a path route deletes its key; the watcher's events rebuild the same table.
  std::vector<Change> unmap = {Change{.op = Change::Op::Unmap, .host = "example.com/api", .app = "green"}};
  auto later = apply_changes(**after, unmap, 3);
  REQUIRE(later.ok());
  auto ops = table_delta(keys, **after, **later, &unmap);
  REQUIRE(ops.size() == 1);
  CHECK(ops[0].kind == TxnOp::Kind::Delete);
  CHECK(ops[0].key == "/t/routes/example.com/api");
  ops.push_back(TxnOp::put(keys.version(), encode_fleet_version(HistoryEntry{3, 5, "unmap", 2, 0}, "edge-1")));
  auto txn = txn_from_events(keys, events_of(ops, 9));
  REQUIRE(txn.ok());
  auto rebuilt = apply_changes(**after, txn->changes, 3);
  REQUIRE(rebuilt.ok());
  CHECK(same_table_content(**later, **rebuilt));
  CHECK((*rebuilt)->lookup("example.com", "/api/x")->host == "example.com");
}

TEST_CASE("a rule added to a route is a change of its key, and the watcher rebuilds the rule") {
  FleetKeys keys("/t/");
  auto before = table_of(1);
  Change rule = map("green", "example.com", 2);
  rule.when = RouteWhen{RouteWhen::Kind::Cookie, "canary", "always"};
  std::vector<Change> changes = {rule};
  auto after = apply_changes(*before, changes, 2);
  REQUIRE(after.ok());
  CHECK_FALSE(same_table_content(*before, **after));
  auto ops = table_delta(keys, *before, **after, nullptr);
  REQUIRE(ops.size() == 1);
  CHECK(ops[0].key == "/t/routes/example.com");
  CHECK(ops[0].value.find("\"when\"") != std::string::npos);
  ops.push_back(TxnOp::put(keys.version(), encode_fleet_version(HistoryEntry{2, 5, "map", 1, 0}, "edge-1")));
  auto txn = txn_from_events(keys, events_of(ops, 9));
  REQUIRE(txn.ok());
  auto rebuilt = apply_changes(*before, txn->changes, 2);
  REQUIRE(rebuilt.ok());
  CHECK(same_table_content(**after, **rebuilt));
  const Route* r = (*rebuilt)->find_route("example.com");
  REQUIRE(r != nullptr);
  CHECK(r->has_rules);

  // The same app re-mapped under another rule only: the route differs again.
  Change other = rule;
  other.when.value = "sometimes";
  auto changed = apply_changes(**after, std::vector<Change>{other}, 3);
  REQUIRE(changed.ok());
  CHECK(table_delta(keys, **after, **changed, nullptr).size() == 1);
}
