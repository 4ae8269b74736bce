// EtcdClient with etcd authentication: the token is fetched before the first request, carried by
// unary calls and watches, fetched again when etcd says it expired, and a wrong password is one
// clear error.
#include <doctest/doctest.h>

#include "fleet/etcd_fixture.h"
#include "turnout/fleet/etcd_watch.h"

using namespace turnout;
using namespace turnout::test;

namespace {

// Turns on etcd auth with user root / password `pw` through the gateway (no etcdctl needed).
void enable_auth(uint16_t port) {
  auto post = [&](const std::string& path, const std::string& body) {
    std::string out = http_post(port, path, body);
    REQUIRE_MESSAGE(out.find(" 200 ") != std::string::npos, path << ": " << out);
  };
  post("/v3/auth/user/add", R"({"name":"root","password":"pw"})");
  post("/v3/auth/role/add", R"({"name":"root"})");
  post("/v3/auth/user/grant", R"({"user":"root","role":"root"})");
  post("/v3/auth/enable", "{}");
}

struct Events : EtcdWatchHandler {
  std::vector<WatchEvent> events;
  bool created = false, ended = false;
  std::string why;
  void on_watch_created(int64_t) override { created = true; }
  void on_watch_events(int64_t, std::vector<WatchEvent>&& e) override {
    for (auto& x : e) events.push_back(std::move(x));
  }
  void on_watch_canceled(int64_t, const std::string& reason) override {
    ended = true;
    why = reason;
  }
  void on_watch_failed(const EtcdStatus& s) override {
    ended = true;
    why = s.describe();
  }
};

}  // namespace

TEST_CASE("with a user, requests and watches authenticate, and an expired token is renewed") {
  EtcdFixture f({"--auth-token-ttl=1"});
  enable_auth(f.etcd.port());
  // Without credentials etcd refuses.
  auto refused = f.put("/a/k", "v");
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status.code == EtcdErrc::Etcd);

  EtcdClientOptions o;
  o.endpoints = {f.etcd.endpoint()};
  o.user = "root";
  o.password = "pw";
  auto made = EtcdClient::create(&f.loop, o);
  REQUIRE(made.ok());
  f.client = std::move(*made);
  // Several requests before the first token: all held, then sent with it.
  int answered = 0;
  for (int i = 0; i < 3; ++i)
    f.client->put("/a/k" + std::to_string(i), "v", [&](EtcdResult<PutResult>&& r) {
      CHECK_MESSAGE(r.ok(), r.status.describe());
      ++answered;
    });
  REQUIRE(f.run_until([&] { return answered == 3; }));

  Events seen;
  WatchOptions w;
  w.key = "/a/";
  w.range_end = prefix_range_end("/a/");
  auto watch = f.client->watch(w, &seen);
  REQUIRE(f.run_until([&] { return seen.created || seen.ended; }));
  REQUIRE_MESSAGE(seen.created, seen.why);

  // The simple token expires after a second idle: the next request is refused as
  // "invalid auth token", and the client renews the token and sends it again.
  f.run_for(2500);
  auto again = f.put("/a/later", "v2");
  CHECK_MESSAGE(again.ok(), again.status.describe());
  REQUIRE(f.run_until([&] { return seen.events.size() >= 1 || seen.ended; }));
  watch->close();
  auto got = f.get("/a/later");
  REQUIRE(got.ok());
  REQUIRE(got.value.kvs.size() == 1);
  CHECK(got.value.kvs[0].value == "v2");
}

TEST_CASE("a wrong password is one clear error for every held request") {
  EtcdFixture f;
  enable_auth(f.etcd.port());
  EtcdClientOptions o;
  o.endpoints = {f.etcd.endpoint()};
  o.user = "root";
  o.password = "wrong";
  auto made = EtcdClient::create(&f.loop, o);
  REQUIRE(made.ok());
  f.client = std::move(*made);
  auto r = f.put("/a/k", "v");
  REQUIRE_FALSE(r.ok());
  CHECK(r.status.message.find("etcd authentication as root failed") != std::string::npos);
  CHECK(r.status.message.find("invalid user ID or password") != std::string::npos);
}
