// The balancer over routes with `when` rules: which entries a request may reach
// (route_rules.h) and exact weights within each admitted set.
#include <doctest/doctest.h>

#include <map>
#include <set>
#include <string>

#include "http/head_fields.h"
#include "turnout/balance/balancer.h"
#include "turnout/route/route_builder.h"
#include "turnout/route/route_rules.h"

using namespace turnout;
using turnout::test::add_fields;

namespace {

struct SkipSome : ServerFilter {
  std::set<std::string> down;
  bool usable(const Server& server) const override { return down.count(server.addr) == 0; }
};

RouteWhen header(std::string name, std::string value) { return {RouteWhen::Kind::Header, std::move(name), std::move(value)}; }
RouteWhen cookie(std::string name, std::string value) { return {RouteWhen::Kind::Cookie, std::move(name), std::move(value)}; }

// beta.example.com: stable(3) + old(1) for everyone; canary(1) + canary2(3) for "X-Canary: 1";
// canary(1) for cookie canary=always.
Config beta_config() {
  Config c;
  for (auto [name, port] : {std::pair{"stable", 9001}, {"old", 9002}, {"canary", 9003}, {"canary2", 9004}})
    c.apps[name].servers.push_back({"127.0.0.1:" + std::to_string(port), 1});
  c.routes["beta.example.com"] = {{"stable", 3, {}},
                                  {"old", 1, {}},
                                  {"canary", 1, header("X-Canary", "1")},
                                  {"canary2", 3, header("x-canary", "1")},
                                  {"canary", 1, cookie("canary", "always")}};
  return c;
}

RouteTablePtr table_of(const Config& config) {
  auto table = build_table(config, 1);
  REQUIRE_MESSAGE(table.ok(), (table.ok() ? "" : table.error().message));
  return *table;
}

std::map<std::string, int> picks(Balancer& b, const RouteTable& t, const RequestHead& req, int n,
                                 const ServerFilter& filter) {
  const Route* route = t.lookup("beta.example.com");
  REQUIRE(route != nullptr);
  uint64_t admitted = admitted_entries(*route, req);
  std::map<std::string, int> counts;
  for (int i = 0; i < n; ++i) {
    auto p = b.pick(t, *route, filter, admitted);
    counts[p.app ? p.app->name : "-"]++;
  }
  return counts;
}

}  // namespace

TEST_CASE("a route without rules admits every entry without reading the request") {
  Config c = beta_config();
  c.routes["plain.example.com"] = {{"stable", 1, {}}, {"old", 1, {}}};
  auto t = table_of(c);
  const Route* plain = t->lookup("plain.example.com");
  REQUIRE(plain != nullptr);
  CHECK_FALSE(plain->has_rules);
  RequestHead req;
  add_fields(req, {{"X-Canary", "1"}});
  CHECK(admitted_entries(*plain, req) == kAllEntries);
}

TEST_CASE("requests meeting no rule are weighted exactly among the entries without when") {
  auto t = table_of(beta_config());
  Balancer b;
  SkipSome all;
  RequestHead req;
  add_fields(req, {{"X-Canary", "0"}, {"Cookie", "canary=never"}});
  for (int cycle = 0; cycle < 5; ++cycle) {
    auto counts = picks(b, *t, req, 4, all);
    CHECK(counts["stable"] == 3);
    CHECK(counts["old"] == 1);
    CHECK(counts.size() == 2);
  }
}

TEST_CASE("requests meeting rules are weighted exactly among the conditional entries they meet") {
  auto t = table_of(beta_config());
  Balancer b;
  SkipSome all;
  RequestHead by_header;
  add_fields(by_header, {{"x-CANARY", "1"}});  // header names are case-insensitive
  RequestHead by_cookie;
  add_fields(by_cookie, {{"Cookie", "a=b; canary=always"}});
  RequestHead by_both;
  add_fields(by_both, {{"X-Canary", "1"}, {"Cookie", "canary=always"}});
  RequestHead plain;
  for (int cycle = 0; cycle < 5; ++cycle) {
    // Interleaved: each admitted set keeps its own cycle, so none disturbs another's shares.
    auto h = picks(b, *t, by_header, 4, all);
    auto k = picks(b, *t, by_cookie, 3, all);
    auto both = picks(b, *t, by_both, 5, all);
    auto p = picks(b, *t, plain, 4, all);
    CHECK(h == std::map<std::string, int>{{"canary", 1}, {"canary2", 3}});
    CHECK(k == std::map<std::string, int>{{"canary", 3}});
    CHECK(both == std::map<std::string, int>{{"canary", 2}, {"canary2", 3}});
    CHECK(p == std::map<std::string, int>{{"old", 1}, {"stable", 3}});
  }
}

TEST_CASE("values are compared exactly and cookie names case-sensitively") {
  auto t = table_of(beta_config());
  const Route* route = t->lookup("beta.example.com");
  for (auto fields : {turnout::test::Fields{{"X-Canary", "1 "}}, {{"X-Canary", "01"}}, {{"Cookie", "Canary=always"}},
                      {{"Cookie", "canary=ALWAYS"}}, {{"X-Canary-Extra", "1"}}}) {
    RequestHead req;
    add_fields(req, fields);
    CHECK(admitted_entries(*route, req) == route->plain_entries);
  }
}

TEST_CASE("a down canary: its testers fall back to the entries without when; down servers skipped") {
  auto t = table_of(beta_config());
  Balancer b;
  SkipSome filter;
  filter.down = {"127.0.0.1:9003"};  // canary
  RequestHead by_header;
  add_fields(by_header, {{"X-Canary", "1"}});
  CHECK(picks(b, *t, by_header, 6, filter) == std::map<std::string, int>{{"canary2", 6}});
  filter.down.insert("127.0.0.1:9004");  // canary2 too: nothing the rule admits is up
  CHECK(picks(b, *t, by_header, 4, filter) == std::map<std::string, int>{{"old", 1}, {"stable", 3}});
  filter.down = {"127.0.0.1:9001", "127.0.0.1:9002", "127.0.0.1:9003", "127.0.0.1:9004"};
  CHECK(picks(b, *t, by_header, 2, filter) == std::map<std::string, int>{{"-", 2}});  // 503
}

TEST_CASE("a route made only of rules admits nothing for a request meeting none (404)") {
  Config c = beta_config();
  c.routes["testers.example.com"] = {{"canary", 1, header("X-Canary", "1")}};
  auto t = table_of(c);
  const Route* route = t->lookup("testers.example.com");
  REQUIRE(route != nullptr);
  RequestHead none;
  CHECK(admitted_entries(*route, none) == 0);
  RequestHead tester;
  add_fields(tester, {{"X-Canary", "1"}});
  CHECK(admitted_entries(*route, tester) == 1);
  Balancer b;
  SkipSome all;
  auto p = b.pick(*t, *route, all, admitted_entries(*route, tester));
  REQUIRE(p.app != nullptr);
  CHECK(p.app->name == "canary");
}
