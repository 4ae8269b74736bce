// The client against an etcd that dies or hangs: every failure is reported promptly, nothing
// waits forever, and the client works again once etcd does.
#include <doctest/doctest.h>

#include "fleet/etcd_fixture.h"
#include "turnout/fleet/etcd_lease_keeper.h"
#include "turnout/fleet/etcd_watch.h"

using namespace turnout;
using namespace turnout::test;

namespace {

struct FailRecorder : EtcdWatchHandler {
  bool created = false;
  size_t events = 0;
  std::optional<EtcdStatus> failed;
  void on_watch_created(int64_t) override { created = true; }
  void on_watch_events(int64_t, std::vector<WatchEvent>&& e) override { events += e.size(); }
  void on_watch_canceled(int64_t, const std::string&) override {}
  void on_watch_failed(const EtcdStatus& s) override { failed = s; }
};

WatchOptions watch_all(uint64_t idle_timeout_ms = 0) {
  WatchOptions o;
  o.key = "/t/";
  o.range_end = prefix_range_end("/t/");
  o.idle_timeout_ms = idle_timeout_ms;
  return o;
}

}  // namespace

TEST_CASE("etcd killed mid-watch: the watch fails at once, and new requests fail to connect") {
  EtcdFixture f;
  FailRecorder rec;
  auto w = f.client->watch(watch_all(), &rec);
  REQUIRE(f.run_until([&] { return rec.created; }));
  REQUIRE(f.put("/t/a", "1").ok());
  REQUIRE(f.run_until([&] { return rec.events == 1; }));
  f.etcd.kill();
  uint64_t t0 = uv_now(&f.loop);
  REQUIRE(f.run_until([&] { return rec.failed.has_value(); }, 2000));
  CHECK(uv_now(&f.loop) - t0 < 1500);  // a reset, well before the 5 s deadline
  CHECK(rec.failed->code == EtcdErrc::Reset);
  CHECK_FALSE(w->active());

  auto r = f.put("/t/b", "1");
  CHECK(r.status.code == EtcdErrc::ConnectFailed);
  CHECK(r.status.message.find("refused") != std::string::npos);
}

TEST_CASE("etcd killed mid-request: the request fails at once with a reset") {
  EtcdFixture f;
  REQUIRE(f.put("/t/a", "1").ok());  // the connection is up
  f.etcd.stop();                     // the next request is written but never answered...
  bool got = false;
  EtcdResult<PutResult> r;
  f.client->put("/t/b", "1", [&](EtcdResult<PutResult>&& x) {
    r = std::move(x);
    got = true;
  });
  f.run_for(100);
  CHECK_FALSE(got);
  f.etcd.kill();                     // ...and etcd dies with it in flight
  uint64_t t0 = uv_now(&f.loop);
  REQUIRE(f.run_until([&] { return got; }, 2000));
  CHECK(uv_now(&f.loop) - t0 < 1500);  // a reset, well before the 5 s deadline
  CHECK(r.status.code == EtcdErrc::Reset);
}

TEST_CASE("a stopped etcd: the request deadline fires, the watch's idle limit too; both recover after SIGCONT") {
  EtcdFixture f(600);  // 600 ms request deadline
  FailRecorder rec;
  auto w = f.client->watch(watch_all(1500), &rec);  // etcd's progress interval is 1 s
  REQUIRE(f.run_until([&] { return rec.created; }));
  REQUIRE(f.put("/t/a", "1").ok());

  f.etcd.stop();
  std::vector<EtcdResult<PutResult>> got;
  uint64_t t0 = uv_now(&f.loop);
  for (int i = 0; i < 2; ++i)  // one in flight, one queued behind it: both time out
    f.client->put("/t/b", "1", [&](EtcdResult<PutResult>&& x) { got.push_back(std::move(x)); });
  REQUIRE(f.run_until([&] { return got.size() == 2; }, 3000));
  uint64_t took = uv_now(&f.loop) - t0;
  CHECK(took >= 550);
  CHECK(took < 3000);  // slack for a loaded (sanitized) run
  CHECK(got[0].status.code == EtcdErrc::Timeout);
  CHECK(got[1].status.code == EtcdErrc::Timeout);

  REQUIRE(f.run_until([&] { return rec.failed.has_value(); }, 3000));
  CHECK(rec.failed->code == EtcdErrc::Timeout);
  CHECK(rec.failed->message.find("no data") != std::string::npos);

  f.etcd.cont();
  auto r = f.put("/t/c", "1");
  CHECK(r.ok());
  FailRecorder again;
  auto w2 = f.client->watch(watch_all(1500), &again);
  CHECK(f.run_until([&] { return again.created; }));
  w2->close();
  w->close();
}

TEST_CASE("a stopped etcd: the lease keeper reports the lease lost once a whole TTL went unanswered") {
  EtcdFixture f;
  auto g = f.wait_for<LeaseGrant>([&](auto cb) { f.client->lease_grant(2, cb); });
  REQUIRE(g.ok());
  struct Lost : EtcdLeaseHandler {
    int failures = 0;
    std::optional<EtcdStatus> lost;
    void on_lease_keepalive_failed(const EtcdStatus&) override { ++failures; }
    void on_lease_lost(const EtcdStatus& s) override { lost = s; }
  } rec;
  auto keeper = f.client->keep_alive(g.value.id, g.value.ttl, &rec);
  f.etcd.stop();
  uint64_t t0 = uv_now(&f.loop);
  REQUIRE(f.run_until([&] { return rec.lost.has_value(); }, 5000));
  uint64_t took = uv_now(&f.loop) - t0;
  CHECK(took >= 1900);  // not before the TTL has run out
  CHECK(took < 6000);
  CHECK(rec.lost->code == EtcdErrc::Timeout);
  CHECK(rec.failures >= 1);
  CHECK_FALSE(keeper->active());
  f.etcd.cont();
}

TEST_CASE("etcd restarted on the same port and data dir: the client goes on, keys and revision survive") {
  EtcdFixture f;
  auto before = f.put("/t/a", "1");
  REQUIRE(before.ok());
  f.etcd.restart();
  // The loop runs (as turnout's always does): the client sees its idle connection closed by the
  // restart, and the next request connects afresh to the same endpoint.
  f.run_for(100);
  auto got = f.get("/t/a");
  INFO(got.status.message);
  REQUIRE(got.ok());
  REQUIRE(got.value.kvs.size() == 1);
  CHECK(got.value.kvs[0].value == "1");
  CHECK(got.value.revision == before.value.revision);
  auto after = f.put("/t/b", "2");
  REQUIRE(after.ok());
  CHECK(after.value.revision == before.value.revision + 1);
}
