#include "turnout/app/table_publisher.h"

#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <vector>

#include "turnout/app/rollback_source.h"
#include "turnout/route/route_builder.h"

using namespace turnout;

namespace {

// Stands in for the workers: records what was delivered; the test acknowledges by hand, in
// whatever order it wants, the way the workers' inbox posts would.
struct FakeWorkers final : TableSubscribers {
  size_t n;
  std::vector<RouteTablePtr> delivered;
  explicit FakeWorkers(size_t count) : n(count) {}
  size_t subscriber_count() const override { return n; }
  void deliver(const RouteTablePtr& table) override { delivered.push_back(table); }
};

// What a commit answered, if it answered yet.
struct Answer {
  bool called = false;
  std::optional<uint64_t> version;
  Error error;
  TableCommitter::Done done() {
    return [this](Result<uint64_t> r) {
      CHECK_FALSE(called);  // answered exactly once
      called = true;
      if (r) version = *r;
      else error = r.error();
    };
  }
};

RouteTablePtr first_table() {
  Config config;
  config.apps["web"] = AppSpec{{{"127.0.0.1:9001", 1}}, std::nullopt};
  config.routes["one.example"] = {{"web", 1}};
  auto table = build_table(config, 1);
  REQUIRE(table.ok());
  return *table;
}

std::deque<KeptVersion> history_of(const RouteTablePtr& t) { return {KeptVersion{t, HistoryEntry{t->version()}}}; }

// A table source that maps `host` to the app "web".
TableCommitter::Build map_host(std::string host) {
  return [host](const RouteTable& live, uint64_t v) -> Result<TableProposal> {
    Change c;
    c.op = Change::Op::Map;
    c.app = "web";
    c.host = host;
    c.weight = 1;
    std::vector<Change> changes{c};
    auto next = apply_changes(live, changes, v);
    if (!next) return next.error();
    TableProposal p;
    p.table = *next;
    p.summary = "map web " + host;
    p.back = live.version();
    return p;
  };
}

}  // namespace

TEST_CASE("a change is answered only once every worker adopted it") {
  FakeWorkers workers(3);
  TablePublisher pub(workers);
  pub.start(first_table(), history_of(first_table()), nullptr);

  Answer a;
  pub.commit(std::nullopt, map_host("two.example"), a.done());
  REQUIRE(workers.delivered.size() == 1);
  CHECK(workers.delivered[0]->version() == 2);
  CHECK(pub.current()->version() == 2);
  pub.on_ack(0, 2);
  pub.on_ack(2, 2);
  CHECK_FALSE(a.called);  // worker 1 still serves version 1
  pub.on_ack(1, 2);
  REQUIRE(a.called);
  CHECK(a.version == 2);

  SUBCASE("a later acknowledgement covers the versions before it") {
    Answer b, c;
    pub.commit(std::nullopt, map_host("three.example"), b.done());
    pub.commit(std::nullopt, map_host("four.example"), c.done());
    for (unsigned w = 0; w < 3; ++w) pub.on_ack(w, 4);  // each worker adopted 4 directly
    CHECK(b.version == 3);
    CHECK(c.version == 4);
  }
}

TEST_CASE("a failing durable write changes nothing") {
  FakeWorkers workers(2);
  TablePublisher pub(workers);
  RouteTablePtr first = first_table();
  // A state file in a directory that does not exist: every write fails.
  pub.start(first, history_of(first), std::make_unique<StateStore>("/nonexistent-turnout-dir/state.json"));
  bool adopted = false;
  Answer a;
  pub.commit(std::nullopt, [&](const RouteTable& live, uint64_t v) -> Result<TableProposal> {
    auto p = map_host("two.example")(live, v);
    p->durable = [](StateStore& store, const HistoryEntry& entry) {
      Config config;
      auto t = build_table(config, entry.version);
      return store.reset(*t, "hash", entry);
    };
    p->on_durable = [&] { adopted = true; };
    return p;
  }, a.done());
  REQUIRE(a.called);  // at once, not after acknowledgements
  CHECK_FALSE(a.version);
  CHECK(a.error.kind == ErrorKind::Internal);
  CHECK(a.error.message.rfind("state file: ", 0) == 0);
  CHECK(pub.current() == first);
  CHECK(pub.kept().size() == 1);
  CHECK(pub.changes_applied() == 0);
  CHECK(workers.delivered.empty());
  CHECK_FALSE(adopted);

  // The next change (here with nothing to write) gets the version the failed one would have had.
  Answer b;
  pub.commit(std::nullopt, map_host("two.example"), b.done());
  pub.on_ack(0, 2);
  pub.on_ack(1, 2);
  CHECK(b.version == 2);
}

TEST_CASE("if-match and a closed gate refuse before anything is built") {
  FakeWorkers workers(1);
  TablePublisher pub(workers);
  pub.start(first_table(), history_of(first_table()), nullptr);
  bool built = false;
  auto build = [&](const RouteTable& live, uint64_t v) {
    built = true;
    return map_host("two.example")(live, v);
  };
  Answer a;
  pub.commit(7, build, a.done());
  REQUIRE(a.called);
  CHECK(a.error.kind == ErrorKind::Conflict);
  CHECK(a.error.message == "table is at version 1, not 7");

  std::optional<Error> closed = make_error(ErrorKind::Unavailable, "turnout is shutting down");
  pub.set_gate([&] { return closed; });
  Answer b;
  pub.commit(1, build, b.done());
  CHECK(b.error.kind == ErrorKind::Unavailable);
  CHECK_FALSE(built);
  CHECK(workers.delivered.empty());

  closed.reset();
  Answer c;
  pub.commit(1, build, c.done());  // if-match equal to the current version
  CHECK(built);
  pub.on_ack(0, 2);
  CHECK(c.version == 2);
}

TEST_CASE("rollback walks the undo stack and keeps the history in order") {
  FakeWorkers workers(0);  // no workers: answered at once
  TablePublisher pub(workers);
  pub.start(first_table(), history_of(first_table()), nullptr);
  Answer v2, v3;
  pub.commit(std::nullopt, map_host("two.example"), v2.done());
  pub.commit(std::nullopt, map_host("three.example"), v3.done());
  REQUIRE(v3.version == 3);
  CHECK(pub.current()->route_count() == 3);

  Answer r1;
  pub.commit(std::nullopt, rollback_source(pub, std::nullopt), r1.done());
  CHECK(r1.version == 4);
  CHECK(pub.current()->route_count() == 2);  // the table of version 2
  CHECK(pub.kept().back().entry.summary == "rollback to 2");
  CHECK(pub.kept().back().entry.restores == 2);

  Answer r2;
  pub.commit(std::nullopt, rollback_source(pub, std::nullopt), r2.done());
  CHECK(r2.version == 5);
  CHECK(pub.current()->route_count() == 1);  // version 1's table

  Answer r3;
  pub.commit(std::nullopt, rollback_source(pub, std::nullopt), r3.done());
  CHECK(r3.error.kind == ErrorKind::NotFound);  // version 1 is the bottom of this undo stack

  Answer never;
  pub.commit(std::nullopt, rollback_source(pub, 9), never.done());
  CHECK(never.error.kind == ErrorKind::NotFound);
  CHECK(never.error.message == "version 9 was never issued (current is 5)");

  std::vector<uint64_t> versions;
  for (const KeptVersion& k : pub.kept()) versions.push_back(k.entry.version);
  CHECK(versions == std::vector<uint64_t>{1, 2, 3, 4, 5});

  // Past kKeep versions, the oldest leave the history: 410 for them.
  for (size_t i = 0; i < TablePublisher::kKeep; ++i) {
    Answer x;
    pub.commit(std::nullopt, map_host("h" + std::to_string(i) + ".example"), x.done());
    REQUIRE(x.version);
  }
  CHECK(pub.kept().size() == TablePublisher::kKeep);
  CHECK(pub.kept().front().entry.version == 6);
  Answer gone;
  pub.commit(std::nullopt, rollback_source(pub, 3), gone.done());
  CHECK(gone.error.kind == ErrorKind::Gone);
  CHECK(gone.error.message == "version 3 is no longer kept (oldest kept is 6)");
}
