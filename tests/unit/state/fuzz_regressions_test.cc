// Inputs found by the libFuzzer targets (tests/fuzz/), minimised and replayed through the normal
// API. Each case names the fuzz target, the invariant it broke and the id under which
// scripts/fuzz.sh can skip it (TURNOUT_FUZZ_KNOWN).
//
// A case marked should_fail() is a finding that is reported and not fixed yet: it asserts the
// right behaviour, fails today, and doctest counts that as expected. Once src/ is fixed the case
// passes, doctest reports it as a failure, and the should_fail() decorator must be removed.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "turnout/common/log.h"
#include "turnout/route/route_builder.h"
#include "turnout/state/state_store.h"

using namespace turnout;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/turnout-fuzzreg-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

// The table of a config that `turnout check` accepts (fuzz_config found these through YAML,
// which passes bytes that are not UTF-8 through to strings): `mutate` adds the odd part.
RouteTablePtr table_with(void (*mutate)(Config&)) {
  Config c;
  c.apps["web"].servers = {{"127.0.0.1:9001", 1}};
  c.routes["example.com"] = {{"web", 1}};
  mutate(c);
  Result<RouteTablePtr> t = build_table(c, 1);
  REQUIRE(t.ok());
  return *t;
}

// The parts of a table these cases care about, byte for byte (a JSON dump would either throw on
// these bytes or replace them, hiding the difference).
std::string servers_and_health(const RouteTable& table) {
  std::string out;
  table.for_each_app([&](const App& app) {
    out += app.name + ":";
    for (const Server& s : app.servers) out += " " + s.addr + "*" + std::to_string(s.weight);
    if (app.health) out += " health " + app.health->path;
    out += "\n";
  });
  return out;
}

// Start with state_file set (StateStore::reset writes the first snapshot), then restart (load):
// reset() never throws; if it acknowledged the table, the table that comes back is the same.
// (Refusing the table with an Error is a correct answer too.)
void check_survives_restart(const RouteTablePtr& table, bool must_accept = false) {
  set_log_level(LogLevel::Error);
  TempDir dir;
  const std::string path = dir.file("state.json");
  {
    StateStore store(path);
    Result<void> r = Error{};
    CHECK_NOTHROW(r = store.reset(table, "cafe"));
    if (must_accept) REQUIRE(r.ok());
    if (!r.ok()) {
      set_log_level(LogLevel::Info);
      return;
    }
  }
  StateStore store(path);
  Result<StateStore::Loaded> loaded = Error{};
  CHECK_NOTHROW(loaded = store.load("cafe"));
  REQUIRE(loaded.ok());
  REQUIRE(loaded->kind == StateStore::LoadKind::Loaded);
  CHECK(servers_and_health(*loaded->table) == servers_and_health(*table));
  set_log_level(LogLevel::Info);
}

}  // namespace

// fuzz_config, id state-utf8 (crash). Minimised input:
//   listen: "1.0.0.1:1" / apps: {web: {servers: ["unix:c"], health: {path: "/\xff"}}} / routes: {o: [web]}
// append_table_text() wrote the health spec with health_to_json(...).dump(), whose default error
// handler throws nlohmann type_error 316 on a byte that is not UTF-8; nothing caught it, so such
// a config aborted turnout at every start with state_file set. Fixed twice over: the config
// loader refuses text that is not UTF-8 (file, line, key), and the state writer answers an Error.
TEST_CASE("fuzz regression: a health path that is not UTF-8 does not abort the state writer") {
  check_survives_restart(table_with([](Config& c) { c.apps["web"].health = HealthSpec{"/\xff", Millis(5000), Millis(1000), 2, 3}; }));
}

// fuzz_config, id state-utf8 (silent change). Minimised input:
//   listen: ["[::]:0"] / apps: {a: {servers: ["unix:\xd0"]}, b: {servers: []}} / routes: {m: [{app: b}]}
// Strings were written with nlohmann's `replace` error handler, so a byte that is not UTF-8
// became U+FFFD: after a restart the server was "unix:\xef\xbf\xbd", a different socket path.
// Now the state writer refuses such a table with an Error (and the config loader refuses the
// bytes first).
TEST_CASE("fuzz regression: a server address that is not UTF-8 is refused by the state writer, never replaced") {
  RouteTablePtr table = table_with([](Config& c) { c.apps["web"].servers.push_back({"unix:/run/\xd0.sock", 1}); });
  check_survives_restart(table);
  TempDir dir;
  StateStore store(dir.file("state.json"));
  Result<void> r = store.reset(table, "cafe");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("server address") != std::string::npos);
  CHECK(r.error().message.find("not valid UTF-8") != std::string::npos);
}

// The same path with valid UTF-8 works today and must keep working.
TEST_CASE("fuzz regression: UTF-8 in server addresses and health paths survives a restart") {
  check_survives_restart(table_with([](Config& c) {
    c.apps["web"].servers.push_back({"unix:/run/caf\xc3\xa9.sock", 1});
    c.apps["web"].health = HealthSpec{"/sant\xc3\xa9", Millis(5000), Millis(1000), 2, 3};
  }), /*must_accept=*/true);
}
