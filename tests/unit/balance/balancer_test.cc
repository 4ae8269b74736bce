#include "turnout/balance/balancer.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "turnout/route/route_builder.h"

using namespace turnout;

namespace {

struct AllUsable : ServerFilter {
  bool usable(const Server&) const override { return true; }
};

// Skips servers by address, like a worker skipping down or already-tried servers.
struct SkipSome : ServerFilter {
  std::set<std::string> down;
  bool usable(const Server& server) const override { return down.count(server.addr) == 0; }
};

std::string sequence(SmoothWrr& wrr, std::vector<uint32_t> weights, int n, std::vector<bool> eligible = {}) {
  if (eligible.empty()) eligible.assign(weights.size(), true);
  std::string out;
  for (int i = 0; i < n; ++i) {
    int index = wrr.next(weights, eligible);
    out += index < 0 ? '-' : static_cast<char>('a' + index);
  }
  return out;
}

ServerSpec server(int port, uint32_t weight = 1) { return ServerSpec{"127.0.0.1:" + std::to_string(port), weight}; }

RouteTablePtr table_of(const Config& config) {
  auto table = build_table(config, 1);
  REQUIRE_MESSAGE(table.ok(), (table.ok() ? "" : table.error().message));
  return *table;
}

// Counts picks as "app/port".
std::map<std::string, int> count_picks(Balancer& balancer, const RouteTable& table, std::string_view host, int n,
                                       const ServerFilter& filter) {
  std::map<std::string, int> counts;
  const Route* route = table.lookup(host);
  REQUIRE(route != nullptr);
  for (int i = 0; i < n; ++i) {
    auto pick = balancer.pick(table, *route, filter);
    REQUIRE(pick.app != nullptr);
    REQUIRE(pick.server != nullptr);
    counts[pick.app->name + "/" + std::to_string(pick.server->address.port())]++;
  }
  return counts;
}

}  // namespace

TEST_CASE("smooth WRR interleaves like nginx") {
  SmoothWrr wrr;
  CHECK(sequence(wrr, {5, 1, 1}, 7) == "aabacaa");
  CHECK(sequence(wrr, {5, 1, 1}, 7) == "aabacaa");  // and again in the next cycle
  SmoothWrr equal;
  CHECK(sequence(equal, {1, 1, 1}, 6) == "abcabc");
}

TEST_CASE("smooth WRR honours weights exactly over every cycle") {
  SmoothWrr wrr;
  for (int cycle = 0; cycle < 20; ++cycle) {
    std::string s = sequence(wrr, {1, 9}, 10);
    CHECK(std::count(s.begin(), s.end(), 'a') == 1);
    CHECK(std::count(s.begin(), s.end(), 'b') == 9);
  }
  SmoothWrr odd;
  std::string s = sequence(odd, {3, 5, 2}, 100);
  CHECK(std::count(s.begin(), s.end(), 'a') == 30);
  CHECK(std::count(s.begin(), s.end(), 'b') == 50);
  CHECK(std::count(s.begin(), s.end(), 'c') == 20);
}

TEST_CASE("smooth WRR skips ineligible items and returns -1 when none is left") {
  SmoothWrr wrr;
  CHECK(sequence(wrr, {1, 1, 1}, 4, {true, false, true}) == "acac");
  CHECK(sequence(wrr, {1, 1}, 3, {false, false}) == "---");
  wrr.reset();
  CHECK(sequence(wrr, {2, 1}, 3) == "aba");
}

TEST_CASE("one app, one server: the fast path picks it or nothing") {
  Config config;
  config.apps["solo"] = AppSpec{{server(9001)}, std::nullopt};
  config.apps["empty"] = AppSpec{{}, std::nullopt};
  config.routes["solo.com"] = {{"solo", 1}};
  config.routes["empty.com"] = {{"empty", 1}};
  auto table = table_of(config);
  Balancer balancer;
  AllUsable all;
  auto pick = balancer.pick(*table, *table->lookup("solo.com"), all);
  REQUIRE(pick.server != nullptr);
  CHECK(pick.app == table->find_app("solo"));
  CHECK(pick.server == &table->find_app("solo")->servers[0]);

  SkipSome down;
  down.down.insert("127.0.0.1:9001");
  auto none = balancer.pick(*table, *table->lookup("solo.com"), down);
  CHECK(none.app == nullptr);
  CHECK(none.server == nullptr);
  auto empty = balancer.pick(*table, *table->lookup("empty.com"), all);
  CHECK(empty.app == nullptr);
  CHECK(empty.server == nullptr);
}

TEST_CASE("servers within an app: weights honoured, down servers skipped") {
  Config config;
  config.apps["app"] = AppSpec{{server(1, 1), server(2, 9)}, std::nullopt};
  config.routes["a.com"] = {{"app", 1}};
  auto table = table_of(config);
  Balancer balancer;
  AllUsable all;
  for (int cycle = 0; cycle < 5; ++cycle) {
    auto counts = count_picks(balancer, *table, "a.com", 10, all);
    CHECK(counts["app/1"] == 1);
    CHECK(counts["app/2"] == 9);
  }
  SkipSome down;
  down.down.insert("127.0.0.1:2");
  auto counts = count_picks(balancer, *table, "a.com", 10, down);
  CHECK(counts["app/1"] == 10);
  CHECK(counts.size() == 1);
}

TEST_CASE("a route splits by app weight, regardless of server count") {
  Config config;
  std::vector<ServerSpec> ten;
  for (int i = 0; i < 10; ++i) ten.push_back(server(200 + i));
  config.apps["app1"] = AppSpec{{server(101), server(102)}, std::nullopt};
  config.apps["app2"] = AppSpec{ten, std::nullopt};
  config.apps["canary"] = AppSpec{{server(301)}, std::nullopt};
  config.routes["split.com"] = {{"app1", 1}, {"app2", 1}};
  config.routes["canary.com"] = {{"app1", 9}, {"canary", 1}};
  auto table = table_of(config);
  Balancer balancer;
  AllUsable all;

  auto counts = count_picks(balancer, *table, "split.com", 200, all);
  int app1 = 0, app2 = 0;
  for (const auto& [key, n] : counts) (key.rfind("app1/", 0) == 0 ? app1 : app2) += n;
  CHECK(app1 == 100);
  CHECK(app2 == 100);
  CHECK(counts["app1/101"] == 50);
  CHECK(counts["app2/205"] == 10);

  for (int cycle = 0; cycle < 3; ++cycle) {
    auto canary = count_picks(balancer, *table, "canary.com", 10, all);
    CHECK(canary["canary/301"] == 1);
  }
}

TEST_CASE("an app with no usable server is skipped at the app level; none usable is a 503") {
  Config config;
  config.apps["blue"] = AppSpec{{server(1), server(2)}, std::nullopt};
  config.apps["green"] = AppSpec{{server(3)}, std::nullopt};
  config.routes["bg.com"] = {{"blue", 1}, {"green", 1}};
  auto table = table_of(config);
  Balancer balancer;

  SkipSome blue_down;
  blue_down.down = {"127.0.0.1:1", "127.0.0.1:2"};
  auto counts = count_picks(balancer, *table, "bg.com", 10, blue_down);
  CHECK(counts["green/3"] == 10);

  SkipSome all_down;
  all_down.down = {"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"};
  auto pick = balancer.pick(*table, *table->lookup("bg.com"), all_down);
  CHECK(pick.app == nullptr);
  CHECK(pick.server == nullptr);
}

TEST_CASE("a replaced app (new id) restarts its cycle; an unchanged one continues") {
  Config config;
  config.apps["app"] = AppSpec{{server(1, 5), server(2, 1), server(3, 1)}, std::nullopt};
  config.apps["other"] = AppSpec{{server(9)}, std::nullopt};
  config.routes["a.com"] = {{"app", 1}};
  auto v1 = table_of(config);
  Balancer balancer;
  AllUsable all;
  auto ports = [&](const RouteTable& table, int n) {
    std::string out;
    const Route* route = table.lookup("a.com");
    for (int i = 0; i < n; ++i) out += std::to_string(balancer.pick(table, *route, all).server->address.port());
    return out;
  };
  CHECK(ports(*v1, 3) == "112");  // first 3 of "1121311"

  // A change that does not touch the app keeps the cycle going.
  Change unrelated;
  unrelated.op = Change::Op::Map;
  unrelated.app = "other";
  unrelated.host = "b.com";
  auto v2 = apply_changes(*v1, std::span<const Change>(&unrelated, 1), 2);
  REQUIRE(v2.ok());
  CHECK(ports(**v2, 4) == "1311");

  // Replacing the app with the same servers is a new App: its cycle starts over.
  Change replace;
  replace.op = Change::Op::PutApp;
  replace.app = "app";
  replace.servers = {server(1, 5), server(2, 1), server(3, 1)};
  auto v3 = apply_changes(**v2, std::span<const Change>(&replace, 1), 3);
  REQUIRE(v3.ok());
  CHECK(ports(**v3, 2) == "11");
  CHECK(ports(**v3, 5) == "21311");
  CHECK(ports(**v3, 7) == "1121311");
  balancer.prune();  // recent cursors survive a prune
  CHECK(ports(**v3, 7) == "1121311");
}
