// EtcdClient against a real etcd: reads, writes, transactions, errors, failover, close.
#include <doctest/doctest.h>

#include "fleet/etcd_fixture.h"

using namespace turnout;
using namespace turnout::test;

TEST_CASE("put, then range by prefix, returns the keys in order with their revisions") {
  EtcdFixture f;
  auto p1 = f.put("/t/apps/a", "{\"servers\":1}");
  REQUIRE(p1.ok());
  auto p2 = f.put("/t/apps/b", "B");
  REQUIRE(p2.ok());
  CHECK(p2.value.revision == p1.value.revision + 1);
  REQUIRE(f.put("/t0", "outside").ok());  // just past the prefix's range
  REQUIRE(f.put(std::string("/t/bin\0\xff", 8), std::string("\0\x01\xfe", 3)).ok());

  auto r = f.get_prefix("/t/");
  REQUIRE(r.ok());
  CHECK(r.value.revision == p2.value.revision + 2);
  REQUIRE(r.value.kvs.size() == 3);
  CHECK(r.value.kvs[0].key == "/t/apps/a");
  CHECK(r.value.kvs[0].value == "{\"servers\":1}");
  CHECK(r.value.kvs[0].mod_revision == p1.value.revision);
  CHECK(r.value.kvs[1].key == "/t/apps/b");
  CHECK(r.value.kvs[2].key == std::string("/t/bin\0\xff", 8));  // bytes survive base64 both ways
  CHECK(r.value.kvs[2].value == std::string("\0\x01\xfe", 3));

  auto missing = f.get("/t/none");
  REQUIRE(missing.ok());
  CHECK(missing.value.kvs.empty());

  auto d = f.wait_for<DeleteResult>([&](auto cb) { f.client->delete_range("/t/", prefix_range_end("/t/"), cb); });
  REQUIRE(d.ok());
  CHECK(d.value.deleted == 3);
  CHECK(f.get_prefix("/t/").value.kvs.empty());
  CHECK(f.get("/t0").value.kvs.size() == 1);
}

TEST_CASE("of two transactions racing on a version key, exactly one wins") {
  EtcdFixture f;
  REQUIRE(f.put("/t/version", "1").ok());
  auto other = f.make_client({f.etcd.endpoint()});
  // Both read version 1 and try to move it to 2 with their change; on two connections at once.
  auto change = [](const std::string& who) {
    TxnRequest t;
    t.compare.push_back(Compare::value_is("/t/version", Compare::Op::Equal, "1"));
    t.success.push_back(TxnOp::put("/t/version", "2"));
    t.success.push_back(TxnOp::put("/t/routes/x", who));
    t.failure.push_back(TxnOp::range("/t/version"));
    return t;
  };
  std::vector<EtcdResult<TxnResult>> got;
  f.client->txn(change("a"), [&](EtcdResult<TxnResult>&& r) { got.push_back(std::move(r)); });
  other->txn(change("b"), [&](EtcdResult<TxnResult>&& r) { got.push_back(std::move(r)); });
  REQUIRE(f.run_until([&] { return got.size() == 2; }));
  REQUIRE(got[0].ok());
  REQUIRE(got[1].ok());
  CHECK(got[0].value.succeeded != got[1].value.succeeded);
  const TxnResult& loser = got[0].value.succeeded ? got[1].value : got[0].value;
  REQUIRE(loser.responses.size() == 1);  // the failure branch's range: the version it lost to
  REQUIRE(loser.responses[0].range.kvs.size() == 1);
  CHECK(loser.responses[0].range.kvs[0].value == "2");
  CHECK(f.get("/t/version").value.kvs[0].value == "2");

  // Create-if-absent: version == 0 holds only for a key that does not exist.
  TxnRequest seed;
  seed.compare.push_back(Compare::version("/t/seeded", Compare::Op::Equal, 0));
  seed.success.push_back(TxnOp::put("/t/seeded", "yes"));
  CHECK(f.txn(seed).value.succeeded);
  CHECK_FALSE(f.txn(seed).value.succeeded);
  other->close();
}

TEST_CASE("etcd's own errors reach the caller with its message and code") {
  EtcdFixture f;
  auto r = f.put("/t/k", "v", 0x1234);  // no such lease
  CHECK(r.status.code == EtcdErrc::Etcd);
  CHECK(r.status.message.find("lease not found") != std::string::npos);
  CHECK(r.status.grpc_code == 5);
  CHECK(r.status.http_status == 404);

  auto k = f.wait_for<LeaseGrant>([&](auto cb) { f.client->lease_keepalive(0x1234, cb); });
  CHECK(k.status.code == EtcdErrc::LeaseExpired);

  // The connection is still good afterwards.
  CHECK(f.put("/t/k", "v").ok());
}

TEST_CASE("a dead endpoint is skipped for the next one; with none alive, the error says so") {
  EtcdFixture f;
  uint16_t dead = free_port();
  auto c = f.make_client({"http://127.0.0.1:" + std::to_string(dead), f.etcd.endpoint()});
  bool got = false;
  EtcdResult<PutResult> r;
  c->put("/t/failover", "1", [&](EtcdResult<PutResult>&& x) {
    r = std::move(x);
    got = true;
  });
  REQUIRE(f.run_until([&] { return got; }));
  CHECK(r.ok());
  CHECK(r.status.endpoint == "127.0.0.1:" + std::to_string(f.etcd.port()));
  CHECK(c->current_endpoint() == 1);

  auto none = f.make_client({"127.0.0.1:" + std::to_string(dead), "127.0.0.1:" + std::to_string(free_port())});
  got = false;
  none->put("/t/failover", "1", [&](EtcdResult<PutResult>&& x) {
    r = std::move(x);
    got = true;
  });
  REQUIRE(f.run_until([&] { return got; }, 3000));
  CHECK(r.status.code == EtcdErrc::ConnectFailed);
  CHECK(r.status.message.find("no etcd endpoint") != std::string::npos);
  c->close();
  none->close();
}

TEST_CASE("closing the client cancels what is pending and leaves no handle behind") {
  EtcdFixture f;
  std::vector<EtcdErrc> codes;
  for (int i = 0; i < 3; ++i)
    f.client->put("/t/k" + std::to_string(i), "v", [&](EtcdResult<PutResult>&& r) { codes.push_back(r.status.code); });
  f.client->close();
  CHECK(codes == std::vector<EtcdErrc>(3, EtcdErrc::Canceled));
  f.client->range("/t/k0", {}, [&](EtcdResult<RangeResult>&& r) { codes.push_back(r.status.code); });
  CHECK(codes.size() == 4);
  CHECK(codes.back() == EtcdErrc::Canceled);
  // ~EtcdFixture runs the loop and checks uv_loop_close() == 0.
}

TEST_CASE("endpoints are checked when the client is made") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  CHECK_FALSE(EtcdClient::create(&loop, EtcdClientOptions{}).ok());
  EtcdClientOptions tls;
  tls.endpoints = {"https://127.0.0.1:2379"};
  auto made = EtcdClient::create(&loop, tls);
  REQUIRE(made.ok());
  CHECK((*made)->tls() != nullptr);  // the system store, verified
  CHECK((*made)->tls_names() == std::vector<std::string>{"127.0.0.1"});
  made->reset();
  EtcdClientOptions bad;
  bad.endpoints = {"http://127.0.0.1"};
  CHECK_FALSE(EtcdClient::create(&loop, bad).ok());
  CHECK(uv_loop_close(&loop) == 0);
}
