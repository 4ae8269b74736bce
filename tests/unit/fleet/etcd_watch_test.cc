// EtcdWatch against a real etcd: events in order, transactions as one group, progress,
// compaction.
#include <doctest/doctest.h>

#include "fleet/etcd_fixture.h"
#include "turnout/fleet/etcd_watch.h"

using namespace turnout;
using namespace turnout::test;

namespace {

// Records everything a watch reports.
struct Recorder : EtcdWatchHandler {
  int64_t created = 0;
  std::vector<std::pair<int64_t, std::vector<WatchEvent>>> groups;  // (response revision, events)
  std::vector<int64_t> progress;
  bool canceled = false;
  int64_t compact_revision = 0;
  std::optional<EtcdStatus> failed;

  void on_watch_created(int64_t revision) override { created = revision; }
  void on_watch_events(int64_t revision, std::vector<WatchEvent>&& events) override {
    groups.emplace_back(revision, std::move(events));
  }
  void on_watch_progress(int64_t revision) override { progress.push_back(revision); }
  void on_watch_canceled(int64_t compact, const std::string&) override {
    canceled = true;
    compact_revision = compact;
  }
  void on_watch_failed(const EtcdStatus& s) override { failed = s; }
  size_t event_count() const {
    size_t n = 0;
    for (auto& g : groups) n += g.second.size();
    return n;
  }
};

WatchOptions prefix_watch(const std::string& prefix, int64_t start = 0) {
  WatchOptions o;
  o.key = prefix;
  o.range_end = prefix_range_end(prefix);
  o.start_revision = start;
  return o;
}

}  // namespace

TEST_CASE("a watch delivers puts and deletes in order with their revisions") {
  EtcdFixture f;
  Recorder rec;
  auto w = f.client->watch(prefix_watch("/t/"), &rec);
  REQUIRE(f.run_until([&] { return rec.created != 0; }));
  auto a = f.put("/t/a", "1");
  auto b = f.put("/t/b", "2");
  REQUIRE(f.put("/u/other", "x").ok());  // outside the prefix: not seen
  auto a2 = f.put("/t/a", "3");
  auto del = f.wait_for<DeleteResult>([&](auto cb) { f.client->delete_range("/t/b", {}, cb); });
  REQUIRE(del.ok());
  REQUIRE(f.run_until([&] { return rec.event_count() == 4; }));
  std::vector<WatchEvent> all;
  for (auto& g : rec.groups)
    for (auto& e : g.second) all.push_back(e);
  CHECK(all[0].type == WatchEvent::Type::Put);
  CHECK(all[0].kv.key == "/t/a");
  CHECK(all[0].kv.value == "1");
  CHECK(all[0].kv.mod_revision == a.value.revision);
  CHECK(all[1].kv.key == "/t/b");
  CHECK(all[1].kv.mod_revision == b.value.revision);
  CHECK(all[2].kv.value == "3");
  CHECK(all[2].kv.mod_revision == a2.value.revision);
  CHECK(all[2].kv.version == 2);
  CHECK(all[3].type == WatchEvent::Type::Delete);
  CHECK(all[3].kv.key == "/t/b");
  CHECK(all[3].kv.mod_revision == del.value.revision);
  CHECK(w->revision() == del.value.revision);
  CHECK(w->active());
  CHECK_FALSE(rec.failed.has_value());
  w->close();
}

TEST_CASE("a transaction's writes arrive as one group at one revision") {
  EtcdFixture f;
  auto start = f.put("/t/version", "1");
  Recorder rec;
  auto w = f.client->watch(prefix_watch("/t/", start.value.revision + 1), &rec);
  REQUIRE(f.run_until([&] { return rec.created != 0; }));
  TxnRequest t;
  t.compare.push_back(Compare::value_is("/t/version", Compare::Op::Equal, "1"));
  t.success = {TxnOp::put("/t/version", "2"), TxnOp::put("/t/apps/a", "A"), TxnOp::put("/t/routes/x", "X"),
               TxnOp::del("/t/routes/old")};
  auto r = f.txn(t);
  REQUIRE(r.value.succeeded);
  REQUIRE(f.put("/t/after", "1").ok());
  REQUIRE(f.run_until([&] { return rec.event_count() == 4; }));
  // The txn's three puts (the delete of a missing key writes nothing) in one group. A group
  // may also carry a later revision (etcd batches what a slow reader has not taken yet), so the
  // txn's events are picked by revision: all of them in the first group, none split off.
  REQUIRE(rec.groups.size() >= 1);
  std::vector<WatchEvent> g;
  for (auto& e : rec.groups[0].second)
    if (e.kv.mod_revision == r.value.revision) g.push_back(e);
  REQUIRE(g.size() == 3);
  for (size_t i = 1; i < rec.groups.size(); ++i)
    for (auto& e : rec.groups[i].second) CHECK(e.kv.mod_revision != r.value.revision);
  CHECK(g[0].kv.key == "/t/version");
  CHECK(g[1].kv.key == "/t/apps/a");
  CHECK(g[2].kv.key == "/t/routes/x");
  w->close();
}

TEST_CASE("a watch from before the replayed history gets every write since, grouped by revision") {
  EtcdFixture f;
  auto first = f.put("/t/a", "1");
  REQUIRE(f.put("/t/b", "2").ok());
  Recorder rec;
  auto w = f.client->watch(prefix_watch("/t/", first.value.revision), &rec);
  REQUIRE(f.run_until([&] { return rec.event_count() == 2; }));
  std::vector<int64_t> revs;
  for (auto& g : rec.groups)
    for (auto& e : g.second) revs.push_back(e.kv.mod_revision);
  CHECK(revs == std::vector<int64_t>{first.value.revision, first.value.revision + 1});
}

TEST_CASE("a watch from a compacted revision is canceled with the compact revision") {
  EtcdFixture f;
  auto first = f.put("/t/a", "1");
  REQUIRE(f.put("/t/a", "2").ok());
  auto last = f.put("/t/a", "3");
  auto c = f.wait_for<PutResult>([&](auto cb) { f.client->compact(last.value.revision, cb); });
  REQUIRE(c.ok());
  Recorder rec;
  auto w = f.client->watch(prefix_watch("/t/", first.value.revision), &rec);
  REQUIRE(f.run_until([&] { return rec.canceled || rec.failed; }));
  CHECK(rec.canceled);
  CHECK(rec.compact_revision == last.value.revision);
  CHECK(rec.groups.empty());
  CHECK_FALSE(w->active());
}

TEST_CASE("an idle watch gets progress notifications with the current revision") {
  EtcdFixture f;  // etcd runs with a 1 s progress interval
  auto p = f.put("/u/elsewhere", "1");
  Recorder rec;
  auto w = f.client->watch(prefix_watch("/t/"), &rec);
  REQUIRE(f.run_until([&] { return !rec.progress.empty(); }, 4000));
  CHECK(rec.progress[0] >= p.value.revision);
  CHECK(rec.groups.empty());
  CHECK(w->revision() >= p.value.revision);
}

TEST_CASE("a handler may close its watch from inside a callback") {
  EtcdFixture f;
  struct Closer : Recorder {
    EtcdWatch* w = nullptr;
    void on_watch_events(int64_t revision, std::vector<WatchEvent>&& events) override {
      Recorder::on_watch_events(revision, std::move(events));
      w->close();
    }
  } rec;
  auto w = f.client->watch(prefix_watch("/t/"), &rec);
  rec.w = w.get();
  REQUIRE(f.run_until([&] { return rec.created != 0; }));
  REQUIRE(f.put("/t/a", "1").ok());
  REQUIRE(f.put("/t/b", "1").ok());
  REQUIRE(f.run_until([&] { return !rec.groups.empty(); }));
  f.run_for(200);
  CHECK(rec.groups.size() == 1);  // nothing after close
  CHECK_FALSE(rec.failed.has_value());
  CHECK_FALSE(w->active());
}
