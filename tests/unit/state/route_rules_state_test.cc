// Route entries with `when` through every form the state layer writes: the table JSON (state
// snapshot, upgrade hand-off, fleet values), the streamed snapshot reader, and journal changes.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "turnout/state/state_store.h"
#include "turnout/state/table_codec.h"

using namespace turnout;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

RouteWhen header(std::string n, std::string v) { return {RouteWhen::Kind::Header, std::move(n), std::move(v)}; }
RouteWhen cookie(std::string n, std::string v) { return {RouteWhen::Kind::Cookie, std::move(n), std::move(v)}; }

RouteTablePtr rules_table(uint64_t version) {
  Config c;
  c.apps["stable"].servers = {{"127.0.0.1:9001", 1}};
  c.apps["canary"].servers = {{"127.0.0.1:9002", 1}};
  c.routes["beta.example.com"] = {{"stable", 1, {}}, {"canary", 2, header("X-Canary", "1")}, {"canary", 1, cookie("canary", "always")}};
  c.routes["plain.example.com"] = {{"stable", 3, {}}};
  auto t = build_table(c, version);
  REQUIRE_MESSAGE(t.ok(), (t.ok() ? "" : t.error().message));
  return *t;
}

// "app:weight:when" per entry, in table order.
std::string entries_of(const RouteTable& t, std::string_view host) {
  const Route* r = t.find_route(host);
  if (r == nullptr) return "none";
  std::string out;
  for (const RouteEntry& e : r->apps)
    out += e.app + ":" + std::to_string(e.weight) + ":" + describe_route_when(e.when) + ";";
  return out;
}

}  // namespace

TEST_CASE("a route with rules is a list in the table JSON; a route without keeps {app: weight}") {
  RouteTablePtr t = rules_table(3);
  json j = table_to_json(*t);
  CHECK(j["routes"]["plain.example.com"] == json{{"stable", 3}});
  REQUIRE(j["routes"]["beta.example.com"].is_array());
  CHECK(j["routes"]["beta.example.com"].size() == 3);
  CHECK(j["routes"]["beta.example.com"][0] == json{{"app", "canary"}, {"weight", 2}, {"when", {{"header", "x-canary"}, {"value", "1"}}}});
  auto back = table_from_json(j, 3);
  REQUIRE(back.ok());
  CHECK(entries_of(**back, "beta.example.com") == entries_of(*t, "beta.example.com"));
  CHECK(entries_of(**back, "beta.example.com") ==
        "canary:2:header x-canary=1;canary:1:cookie canary=always;stable:1:;");
  CHECK(table_to_json(**back) == j);

  for (json bad : {json::array(), json::array({json{{"weight", 1}}}),
                   json::array({json{{"app", "canary"}, {"when", {{"header", "X A"}, {"value", "1"}}}}}),
                   json::array({json{{"app", "canary"}, {"when", {{"header", "X-A"}}}}}),
                   json::array({json{{"app", "canary"}, {"when", {{"header", "X-A"}, {"cookie", "b"}, {"value", "1"}}}}})}) {
    CAPTURE(bad.dump());
    json broken = j;
    broken["routes"]["beta.example.com"] = bad;
    CHECK_FALSE(table_from_json(broken, 3).ok());
  }
}

TEST_CASE("map and unmap with when, and set-route with rules, survive change_to_json / change_from_json") {
  Change m;
  m.op = Change::Op::Map;
  m.host = "beta.example.com";
  m.app = "canary";
  m.weight = 4;
  m.when = cookie("beta", "on");
  Change u = m;
  u.op = Change::Op::Unmap;
  u.when = header("x-canary", "1");
  Change plain = u;
  plain.when = {};
  Change s;
  s.op = Change::Op::SetRoute;
  s.host = "beta.example.com";
  s.targets = {{"stable", 1, {}}, {"canary", 2, header("x-canary", "1")}};
  for (const Change& c : {m, u, plain, s}) {
    json j = change_to_json(c);
    CAPTURE(j.dump());
    auto back = change_from_json(j);
    REQUIRE(back.ok());
    CHECK(back->when == c.when);
    if (c.op == Change::Op::Map) CHECK(back->weight == c.weight);
    CHECK(change_to_json(*back) == j);
    if (c.op == Change::Op::SetRoute) {
      REQUIRE(back->targets.size() == 2);
      CHECK(back->targets[1].when == c.targets[1].when);
    }
  }
  CHECK_FALSE(change_to_json(plain).contains("when"));
}

TEST_CASE("the streamed snapshot and the journal bring rules back after a restart") {
  std::string dir = fs::temp_directory_path() / ("turnout-rules-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::string path = dir + "/state.json";
  RouteTablePtr t = rules_table(1);
  {
    StateStore store(path);
    REQUIRE(store.load("h").ok());
    REQUIRE(store.reset(t, "h").ok());  // a snapshot: written by append_table_text
    Change c;
    c.op = Change::Op::Map;
    c.host = "plain.example.com";
    c.app = "canary";
    c.when = header("X-Beta", "yes");
    std::vector<Change> changes{c};
    auto next = apply_changes(*t, changes, 2);
    REQUIRE(next.ok());
    REQUIRE(store.append(*next, changes).ok());  // a journal line
  }
  StateStore again(path);
  auto loaded = again.load("h");
  REQUIRE_MESSAGE(loaded.ok(), (loaded.ok() ? "" : loaded.error().message));
  REQUIRE(loaded->table);
  CHECK(entries_of(*loaded->table, "beta.example.com") == entries_of(*t, "beta.example.com"));
  CHECK(entries_of(*loaded->table, "plain.example.com") == "canary:1:header x-beta=yes;stable:3:;");
  CHECK(loaded->table->find_route("plain.example.com")->has_rules);
  fs::remove_all(dir);
}
