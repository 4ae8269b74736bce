// Leases against a real etcd: a kept lease holds its key past the TTL; a stopped keeper lets it go.
#include <doctest/doctest.h>

#include "fleet/etcd_fixture.h"
#include "turnout/fleet/etcd_lease_keeper.h"

using namespace turnout;
using namespace turnout::test;

namespace {

struct LeaseRecorder : EtcdLeaseHandler {
  int kept = 0;
  std::optional<EtcdStatus> lost;
  void on_lease_kept(int64_t) override { ++kept; }
  void on_lease_lost(const EtcdStatus& s) override { lost = s; }
};

}  // namespace

TEST_CASE("a kept lease holds its key beyond the TTL; once the keeper stops, the key expires") {
  EtcdFixture f;
  auto g = f.wait_for<LeaseGrant>([&](auto cb) { f.client->lease_grant(2, cb); });
  REQUIRE(g.ok());
  REQUIRE(g.value.id != 0);
  CHECK(g.value.ttl == 2);
  REQUIRE(f.put("/t/instances/edge-1", "{\"version\":1}", g.value.id).ok());
  CHECK(f.get("/t/instances/edge-1").value.kvs.at(0).lease == g.value.id);

  LeaseRecorder rec;
  auto keeper = f.client->keep_alive(g.value.id, g.value.ttl, &rec);
  f.run_for(3500);  // well past the 2 s TTL
  CHECK(rec.kept >= 3);
  CHECK_FALSE(rec.lost.has_value());
  CHECK(f.get("/t/instances/edge-1").value.kvs.size() == 1);

  keeper->close();
  CHECK_FALSE(keeper->active());
  bool gone = false;
  auto until = uv_now(&f.loop) + 6000;
  while (!gone && uv_now(&f.loop) < until) {
    f.run_for(250);
    gone = f.get("/t/instances/edge-1").value.kvs.empty();
  }
  CHECK(gone);
  // A keep-alive of the expired lease says so.
  auto k = f.wait_for<LeaseGrant>([&](auto cb) { f.client->lease_keepalive(g.value.id, cb); });
  CHECK(k.status.code == EtcdErrc::LeaseExpired);
}

TEST_CASE("a revoked lease is reported lost by its keeper and its key is gone at once") {
  EtcdFixture f;
  auto g = f.wait_for<LeaseGrant>([&](auto cb) { f.client->lease_grant(3, cb); });
  REQUIRE(g.ok());
  REQUIRE(f.put("/t/instances/edge-2", "x", g.value.id).ok());
  LeaseRecorder rec;
  auto keeper = f.client->keep_alive(g.value.id, g.value.ttl, &rec);
  auto rv = f.wait_for<PutResult>([&](auto cb) { f.client->lease_revoke(g.value.id, cb); });
  REQUIRE(rv.ok());
  CHECK(f.get("/t/instances/edge-2").value.kvs.empty());
  REQUIRE(f.run_until([&] { return rec.lost.has_value(); }, 3000));
  CHECK(rec.lost->code == EtcdErrc::LeaseExpired);
  CHECK_FALSE(keeper->active());
}
