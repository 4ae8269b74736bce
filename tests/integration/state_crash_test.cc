// state_file (DESIGN.md "State", issue 3 item 6): a stream of changes is cut by `kill -9` at
// random moments; after each restart on the same config the loaded table must be the last
// acknowledged one, or the one that was in flight when turnout died, never an older or a torn
// one. Also: an edited config wins over the state (kept aside as <state>.old, and logged), and
// a reload replaces the state.
//
// The change stream keeps a model of the table (routes with weights, apps with servers) and
// computes the table each change must produce before sending it, so the in-flight table is
// known exactly even when no answer ever comes.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/stat.h>

#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "integration/harness.h"
#include "integration/remap_util.h"

using namespace turnout::test;
using namespace turnout::test::remap;

namespace {

constexpr int kApps = 4;
constexpr int kHosts = 40;

std::string app_name(int i) { return "app" + std::to_string(i); }
std::string host_name(int i) { return "s" + std::to_string(i) + ".test"; }

// A table as the admin API shows it, without counters.
struct Model {
  int64_t version = 0;
  std::map<std::string, std::map<std::string, int64_t>> routes;  // host -> app -> weight
  AppServers apps;                                                // app -> addr -> weight

  bool operator==(const Model& o) const { return version == o.version && routes == o.routes && apps == o.apps; }
  std::string text() const {
    json j = {{"version", version}, {"routes", routes}, {"apps", apps}};
    return j.dump();
  }
};

// The live table of a running turnout; nullopt when it does not answer.
std::optional<Model> read_model(const std::string& sock) {
  json routes = get_routes(sock);
  auto apps = get_app_servers(sock);
  if (routes.is_discarded() || !apps) return std::nullopt;
  Model m;
  m.version = routes["version"].get<int64_t>();
  for (const auto& [host, a] : routes["routes"].items()) {
    for (const auto& [app, w] : a.items()) m.routes[host][app] = w.get<int64_t>();
  }
  m.apps = *apps;
  return m;
}

// Fake server addresses (nothing is proxied in this test; the table is what matters).
std::vector<std::string> fake_servers() {
  std::vector<std::string> out;
  for (int i = 0; i < 8; ++i) out.push_back("127.0.0.1:" + std::to_string(20000 + i));
  return out;
}

std::string config_text(const std::string& sock, const std::string& state, int variant) {
  auto addrs = fake_servers();
  std::string apps, routes;
  for (int i = 0; i < kApps; ++i) apps += "  " + app_name(i) + ": {servers: " + yaml_list({addrs[static_cast<size_t>(i)]}) + "}\n";
  for (int i = 0; i < kHosts; ++i) routes += "  " + host_name(i) + ": [" + app_name((i + variant) % kApps) + "]\n";
  // drain set here, not left to the harness: tests restart on a file they wrote themselves, and
  // turnout compares it with the one the state was saved under.
  return full_config(sock, apps, routes, "state_file: \"" + state + "\"\ntimeouts: {drain: 2s}\n");
}

// The table `config_text` gives (version aside).
Model config_model(int variant) {
  Model m;
  auto addrs = fake_servers();
  for (int i = 0; i < kApps; ++i) m.apps[app_name(i)][addrs[static_cast<size_t>(i)]] = 1;
  for (int i = 0; i < kHosts; ++i) m.routes[host_name(i)][app_name((i + variant) % kApps)] = 1;
  return m;
}

// One change: the request and the table it must produce from `from`.
struct Planned {
  std::string method, path, payload, what;
  Model after;
};

// Picks a valid change from `m` (rollback targets come from `history`, versions of this run).
Planned plan(const Model& m, const std::map<int64_t, Model>& history, std::mt19937_64& rng) {
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  auto addrs = fake_servers();
  Planned p;
  p.after = m;
  p.after.version = m.version + 1;
  auto& routes = p.after.routes;
  auto map_op = [&](const std::string& host, const std::string& app, int64_t w) { routes[host][app] = w; };
  auto unmap_op = [&](const std::string& host, const std::string& app) {
    routes[host].erase(app);
    if (routes[host].empty()) routes.erase(host);
  };
  std::string host = host_name(static_cast<int>(pick(kHosts + 4)));  // a few hosts outside the config
  std::string app = app_name(static_cast<int>(pick(kApps)));
  int kind = static_cast<int>(pick(100));
  if (kind < 20) {
    int64_t w = 1 + static_cast<int64_t>(pick(5));
    p.method = "PUT", p.path = "/v1/routes/" + host + "/" + app, p.payload = body({{"weight", w}});
    map_op(host, app, w);
    p.what = "map";
  } else if (kind < 35 && routes.count(host)) {
    std::string mapped = routes[host].begin()->first;
    // Forced: this test is about durability; an unmap of a host's last app is what it may pick.
    p.method = "DELETE", p.path = "/v1/routes/" + host + "/" + mapped + "?force=1";
    unmap_op(host, mapped);
    p.what = "unmap";
  } else if (kind < 60) {
    // A batch over several hosts: a torn state would show part of it.
    json ops = json::array();
    for (int k = 0; k < 4; ++k) {
      std::string h = host_name(static_cast<int>(pick(kHosts)));
      std::string a = app_name(static_cast<int>(pick(kApps)));
      if (routes.count(h) && !routes[h].count(a)) {
        std::string from = routes[h].begin()->first;
        ops.push_back({{"op", "swap"}, {"from", from}, {"to", a}, {"host", h}});
        map_op(h, a, 1);
        unmap_op(h, from);
      } else {
        int64_t w = 1 + static_cast<int64_t>(pick(3));
        ops.push_back({{"op", "map"}, {"app", a}, {"host", h}, {"weight", w}});
        map_op(h, a, w);
      }
    }
    p.method = "POST", p.path = "/v1/batch?force=1", p.payload = body(ops);
    p.what = "batch";
  } else if (kind < 70) {
    std::string addr = addrs[4 + pick(4)];
    auto& servers = p.after.apps[app];
    if (servers.count(addr)) {
      if (servers.size() < 2) return plan(m, history, rng);
      p.method = "DELETE", p.path = "/v1/apps/" + app + "/servers/" + url_encode(addr);
      servers.erase(addr);
      p.what = "remove-server";
    } else {
      int64_t w = 1 + static_cast<int64_t>(pick(3));
      p.method = "POST", p.path = "/v1/apps/" + app + "/servers", p.payload = body({{"addr", addr}, {"weight", w}});
      servers[addr] = w;
      p.what = "add-server";
    }
  } else if (kind < 95 && history.size() >= 2) {
    // Roll back to one of the last ten versions of this run.
    auto it = history.end();
    std::advance(it, -static_cast<long>(1 + pick(std::min<size_t>(history.size() - 1, 10))));
    if (it->first == m.version) --it;
    p.method = "POST", p.path = "/v1/rollback", p.payload = body({{"version", it->first}});
    int64_t v = p.after.version;
    p.after = it->second;
    p.after.version = v;
    p.what = "rollback";
  } else {
    return plan(m, history, rng);
  }
  return p;
}

// What the change stream knows when turnout dies.
struct StreamState {
  std::mutex mu;                   // guards everything below
  Model acked;                     // the last acknowledged table
  std::optional<Model> in_flight;  // sent (or about to be), not acknowledged
  size_t applied = 0;              // acknowledged changes
  std::string failure;             // an answer that was neither success nor a dead socket
};

// Sends changes until the admin socket stops answering.
void run_stream(const std::string& sock, Model start, std::mt19937_64 rng, StreamState& st) {
  std::map<int64_t, Model> history;  // this run's acknowledged tables, for rollback
  history[start.version] = start;
  Model m = start;
  for (;;) {
    Planned p = plan(m, history, rng);
    {
      std::lock_guard lk(st.mu);
      st.in_flight = p.after;
    }
    AdminReply r = admin_request(sock, p.method, p.path, p.payload);
    if (r.status == 0) return;  // turnout is gone: the change stays "in flight"
    std::lock_guard lk(st.mu);
    if (r.status != 200 || r.json.value("version", int64_t{-1}) != p.after.version) {
      st.failure = p.what + " " + p.path + " " + p.payload + " answered " + std::to_string(r.status) + " " + r.body +
                   " (expected version " + std::to_string(p.after.version) + ")";
      return;
    }
    m = p.after;
    history[m.version] = m;
    st.acked = m;
    st.in_flight.reset();
    ++st.applied;
  }
}

}  // namespace

TEST_CASE("kill -9 during a stream of changes: the restarted table is the last acknowledged one or the one in flight") {
  TempDir sd;
  const std::string sock = sd.file("admin.sock");
  const std::string state = sd.file("turnout.state.json");
  const std::string config = config_text(sock, state, 0);

  uint64_t seed = std::random_device{}();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);

  std::optional<Model> expect_acked;  // nullopt before the first run
  std::optional<Model> expect_in_flight;
  size_t total_applied = 0, in_flight_won = 0, compactions_seen = 0, last_journal = 0;
  for (int iteration = 0; iteration < 10; ++iteration) {
    CAPTURE(iteration);
    TurnoutProcess t;
    t.start(config);
    TURNOUT_INFO_STDERR(t);
    auto loaded = read_model(sock);
    REQUIRE(loaded);
    if (!expect_acked) {
      Model first = config_model(0);
      first.version = loaded->version;
      CHECK(*loaded == first);
    } else {
      INFO("loaded:       " << loaded->text());
      INFO("last acked:   " << expect_acked->text());
      INFO("in flight:    " << (expect_in_flight ? expect_in_flight->text() : "none"));
      bool is_acked = *loaded == *expect_acked;
      bool is_in_flight = expect_in_flight && *loaded == *expect_in_flight;
      CHECK((is_acked || is_in_flight));
      if (is_in_flight && !is_acked) ++in_flight_won;
    }

    StreamState st;
    st.acked = *loaded;
    std::thread stream(run_stream, sock, *loaded, std::mt19937_64(rng()), std::ref(st));
    JoinGuard guard(stream);
    std::this_thread::sleep_for(Ms(static_cast<int64_t>(rng() % 301)));
    t.expect_exit(128 + SIGKILL, "simulates a crash");
    t.signal(SIGKILL);
    CHECK(t.wait_exit(Ms(5000)).has_value());
    stream.join();
    CHECK(st.failure == "");
    total_applied += st.applied;
    // Informational: a journal shorter than at the last restart means a compaction ran.
    size_t journal = sd.read("turnout.state.json.journal").size();
    if (journal < last_journal) ++compactions_seen;
    last_journal = journal;
    expect_acked = st.acked;
    expect_in_flight = st.in_flight;
  }
  MESSAGE("changes acknowledged: " << total_applied << "; restarts that found the in-flight change: " << in_flight_won
                                    << "; journal compactions seen: " << compactions_seen);
  CHECK(total_applied >= 20);

  // One more restart without a stream: still the same table.
  TurnoutProcess t;
  t.start(config);
  auto loaded = read_model(sock);
  REQUIRE(loaded);
  CHECK(((*loaded == *expect_acked) || (expect_in_flight && *loaded == *expect_in_flight)));
}

TEST_CASE("an edited config wins over the state: turnout starts from the file, keeps <state>.old and says so") {
  TempDir sd;
  const std::string sock = sd.file("admin.sock");
  const std::string state = sd.file("turnout.state.json");

  Model runtime;
  {
    TurnoutProcess t;
    t.start(config_text(sock, state, 0));
    TURNOUT_INFO_STDERR(t);
    REQUIRE(admin_request(sock, "PUT", "/v1/routes/extra.test/app1", body({{"weight", 7}})).status == 200);
    REQUIRE(admin_request(sock, "DELETE", "/v1/routes/s0.test/app0?force=1").status == 200);
    runtime = *read_model(sock);
    t.expect_exit(128 + SIGKILL, "simulates a crash");
    t.signal(SIGKILL);
    t.wait_exit(Ms(5000));
  }
  {
    // Same file: the runtime changes come back.
    TurnoutProcess t;
    t.start(config_text(sock, state, 0));
    TURNOUT_INFO_STDERR(t);
    auto loaded = read_model(sock);
    REQUIRE(loaded);
    CHECK(*loaded == runtime);
    CHECK(!sd.read("turnout.state.json").empty());
    t.signal(SIGTERM);
    CHECK(t.wait_exit(Ms(10000)) == 0);
  }
  struct stat st {};
  REQUIRE(::stat((state + ".old").c_str(), &st) != 0);  // nothing kept aside so far
  {
    // Edited file: the file is the truth; the old state is kept aside, and the log says so.
    TurnoutProcess t;
    t.start(config_text(sock, state, 1));
    TURNOUT_INFO_STDERR(t);
    auto loaded = read_model(sock);
    REQUIRE(loaded);
    Model want = config_model(1);
    want.version = loaded->version;
    CHECK(*loaded == want);
    CHECK(::stat((state + ".old").c_str(), &st) == 0);
    // The old state (snapshot and journal, wherever each was) holds the runtime changes.
    std::string old_state = sd.read("turnout.state.json.old") + sd.read("turnout.state.json.journal.old");
    CHECK(old_state.find("extra.test") != std::string::npos);
    std::string log = t.stderr_text();
    CHECK(log.find(state + ".old") != std::string::npos);
    CHECK(log.find("config") != std::string::npos);

    // The state now follows the new file: a change made now survives a crash.
    REQUIRE(admin_request(sock, "PUT", "/v1/routes/after-edit.test/app2").status == 200);
    runtime = *read_model(sock);
    t.expect_exit(128 + SIGKILL, "simulates a crash");
    t.signal(SIGKILL);
    t.wait_exit(Ms(5000));
  }
  {
    TurnoutProcess t;
    t.start(config_text(sock, state, 1));
    TURNOUT_INFO_STDERR(t);
    auto loaded = read_model(sock);
    REQUIRE(loaded);
    CHECK(*loaded == runtime);
  }
}

TEST_CASE("a reload replaces the state: after a crash the reloaded file's table comes back, not older runtime changes") {
  TempDir sd;
  const std::string sock = sd.file("admin.sock");
  const std::string state = sd.file("turnout.state.json");

  Model after_reload;
  std::string final_config = config_text(sock, state, 2);
  {
    TurnoutProcess t;
    t.start(config_text(sock, state, 0));
    TURNOUT_INFO_STDERR(t);
    REQUIRE(admin_request(sock, "PUT", "/v1/routes/runtime.test/app3").status == 200);
    // The operator edits the file and reloads, forced: the file replaces the runtime change.
    t.dir().write("turnout.yaml", final_config);
    AdminReply r = admin_request(sock, "POST", "/v1/reload");
    CHECK(r.status == 409);  // unforced, it would drop runtime.test: refused
    r = admin_request(sock, "POST", "/v1/reload?force=1");
    REQUIRE(r.status == 200);
    after_reload = *read_model(sock);
    Model want = config_model(2);
    want.version = after_reload.version;
    CHECK(after_reload == want);
    t.expect_exit(128 + SIGKILL, "simulates a crash");
    t.signal(SIGKILL);
    t.wait_exit(Ms(5000));
  }
  {
    // Restart on the reloaded file: the state matches it, so it loads (no .old, same table).
    TurnoutProcess t;
    t.start(final_config);
    TURNOUT_INFO_STDERR(t);
    auto loaded = read_model(sock);
    REQUIRE(loaded);
    CHECK(*loaded == after_reload);
    struct stat st {};
    CHECK(::stat((state + ".old").c_str(), &st) != 0);
  }
}

TEST_CASE("a second turnout refused for a live admin socket leaves the live instance's state alone") {
  TempDir sd;
  const std::string sock = sd.file("admin.sock");
  const std::string state = sd.file("turnout.state.json");

  TurnoutProcess first;
  first.start(config_text(sock, state, 0));
  TURNOUT_INFO_STDERR(first);
  REQUIRE(admin_request(sock, "PUT", "/v1/routes/runtime.test/app1").status == 200);

  // Someone edits the file and starts another turnout on it by mistake: it must fail (the admin
  // socket is live) without moving or rewriting the running instance's state.
  {
    TurnoutProcess second;
    second.expect_exit(1, "the admin socket is live: a second turnout must refuse to start");
    CHECK_FALSE(second.try_start(config_text(sock, state, 1)));
    second.wait_exit(Ms(5000));
    INFO("second turnout stderr:\n" << second.stderr_text());
    struct stat st {};
    CHECK(::stat((state + ".old").c_str(), &st) != 0);
  }
  // The first one carries on; a change made now must survive its crash.
  REQUIRE(admin_request(sock, "PUT", "/v1/routes/later.test/app2").status == 200);
  auto live = read_model(sock);
  REQUIRE(live);
  first.expect_exit(128 + SIGKILL, "simulates a crash");
  first.signal(SIGKILL);
  first.wait_exit(Ms(5000));

  TurnoutProcess again;
  again.start(config_text(sock, state, 0));  // the file it ran on
  TURNOUT_INFO_STDERR(again);
  auto loaded = read_model(sock);
  REQUIRE(loaded);
  INFO("loaded: " << loaded->text() << "\nlive:   " << live->text());
  CHECK(*loaded == *live);
}
