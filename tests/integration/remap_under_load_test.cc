// The guarantee of a change (DESIGN.md "What a change guarantees", issue 3 item 7): four
// keep-alive clients send requests back to back and a WebSocket-style tunnel echoes, while 500
// mixed changes (map, unmap, swap, batch, rollback, reload, add/remove server; on two hosts and
// a path route) are applied one after the other. Nothing may fail or close, and every request sent after a change was
// acknowledged must be served by the table of that change or a later one.
//
// Exactness: every timestamp comes from one steady clock in this process. A change i is
// `sent` before its admin request is written and `acked` after its answer was read; a request
// is `sent` before its bytes are written and `received` after its response was read. So the
// table that routed a request is one of versions lo..hi, where lo is the last change acked
// before the request was sent and hi the last change sent before its response was received.
// The request must be served by a server of an app that some version in lo..hi maps its host
// to (servers as GET /v1/apps showed them at that version, so add/remove-server count too). After
// each acknowledgement the applier waits until every client has completed a request sent after
// it, so every version is exercised by every client.
#include <doctest/doctest.h>

#include <atomic>
#include <cinttypes>
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

constexpr int kApps = 6;
constexpr int kChanges = 500;
constexpr int kClients = 4;
// The route keys under change: two hosts and a path route of the first, so path keys go through
// every kind of change too (a client of "h0.test/p" sends Host h0.test and targets under /p).
const std::vector<std::string> kHosts = {"h0.test", "h1.test", "h0.test/p"};

std::string host_of_key(const std::string& key) { return key.substr(0, key.find('/')); }
std::string path_of_key(const std::string& key) {
  size_t slash = key.find('/');
  return slash == std::string::npos ? "" : key.substr(slash);
}

std::string app_name(int i) { return "a" + std::to_string(i); }

int64_t now_ns(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

// One change as the applier saw it.
struct ChangeRec {
  Clock::time_point sent;                               // before the admin request was written
  Clock::time_point acked;                              // after its answer was read
  int64_t version = 0;                                  // the version it answered
  std::map<std::string, std::set<std::string>> apps;    // host -> apps after it (GET /v1/routes)
  std::map<std::string, std::set<std::string>> servers; // host -> backend names of those apps (GET /v1/apps)
  std::string what;                                     // for messages
};

// One client request.
struct RequestRec {
  Clock::time_point sent;      // before its bytes were written
  Clock::time_point received;  // after its response was read
  std::string backend;         // X-Backend
};

// One keep-alive client connection, driven by its own thread.
struct LoadClient {
  std::string host;                        // the route key it asks for (kHosts)
  std::vector<RequestRec> records;         // its thread's only until joined
  std::vector<std::string> failures;       // its thread's only until joined
  bool closed = false;                     // turnout closed the connection (EOF/reset)
  std::atomic<int64_t> last_done_sent{0};  // send time (ns) of the last completed request
  std::atomic<bool> dead{false};           // the thread stopped on a failure
};

void run_client(int port, LoadClient& lc, const std::atomic<bool>& stop) {
  auto c = Client::try_connect(port);
  if (!c) {
    lc.failures.push_back("connect failed");
    lc.dead = true;
    return;
  }
  uint64_t n = 0;
  while (!stop) {
    RequestRec rec;
    rec.sent = Clock::now();
    std::string target = path_of_key(lc.host) + "/load/" + std::to_string(n++);
    bool sent = c->send_request("GET", target, host_of_key(lc.host));
    std::optional<Response> r = sent ? c->read_response(Ms(5000)) : std::nullopt;
    rec.received = Clock::now();
    if (!r) {
      lc.closed = c->conn().eof() || !sent;
      lc.failures.push_back("request " + target + ": no response" + (lc.closed ? " (connection closed)" : " (timeout)"));
      lc.dead = true;
      return;
    }
    if (r->status != 200 || !r->header("X-Backend")) {
      lc.failures.push_back("request " + target + ": status " + std::to_string(r->status) + " body " + r->body);
    }
    if (lower(r->joined("Connection")).find("close") != std::string::npos) {
      lc.failures.push_back("request " + target + ": response says Connection: close");
    }
    rec.backend = r->header("X-Backend").value_or("");
    lc.records.push_back(std::move(rec));
    lc.last_done_sent = now_ns(lc.records.back().sent);
  }
  // Stopped: the connection must still carry a request.
  auto r = c->get(host_of_key(lc.host), path_of_key(lc.host) + "/after");
  if (!r || r->status != 200) {
    lc.closed = !r && c->conn().eof();
    lc.failures.push_back("the request after the test: " + (r ? "status " + std::to_string(r->status) : "no response"));
  }
}

// The tunnel's thread: echoes a numbered message every few ms until stopped.
struct TunnelState {
  std::vector<Clock::time_point> echoes;  // when each echo came back
  std::string failure;                    // first failure
  std::string backend;                    // who took the upgrade
  std::atomic<bool> started{false};       // the first echo came back (or the tunnel failed)
};

void run_tunnel(int port, TunnelState& ts, const std::atomic<bool>& stop) {
  std::string why;
  auto tunnel = Tunnel::open(port, kHosts[0], &why);
  if (!tunnel) {
    ts.failure = "upgrade failed: " + why;
    ts.started = true;
    return;
  }
  ts.backend = tunnel->backend();
  for (uint64_t n = 0; !stop; ++n) {
    if (!tunnel->echo("message " + std::to_string(n) + "\n", &why)) {
      ts.failure = "message " + std::to_string(n) + ": " + why;
      ts.started = true;
      return;
    }
    ts.echoes.push_back(Clock::now());
    ts.started = true;
    std::this_thread::sleep_for(Ms(3));
  }
}

std::string apps_yaml(const std::vector<std::unique_ptr<Backend>>& first_servers) {
  std::string y;
  for (int i = 0; i < kApps; ++i) y += "  " + app_name(i) + ": {servers: " + yaml_list({first_servers[i]->addr()}) + "}\n";
  return y;
}

}  // namespace

TEST_CASE("500 mixed changes under load: nothing fails or closes, and every request after an ack uses the new table") {
  // s1 of every app is in the config; s2 is what add-server adds. All echo upgrades. Backends
  // are named "<app>-s<instance>" and answer with that name in X-Backend.
  std::vector<std::unique_ptr<Backend>> s1, s2;
  for (int i = 0; i < kApps; ++i) {
    s1.push_back(std::make_unique<Backend>(app_name(i) + "-s1", behave(BackendMode::Upgrade)));
    s2.push_back(std::make_unique<Backend>(app_name(i) + "-s2", behave(BackendMode::Upgrade)));
  }
  TurnoutProcess t;
  const std::string sock = t.admin_socket();
  std::map<std::string, std::string> name_of;  // backend address -> name
  for (int i = 0; i < kApps; ++i) {
    name_of[s1[static_cast<size_t>(i)]->addr()] = s1[static_cast<size_t>(i)]->name();
    name_of[s2[static_cast<size_t>(i)]->addr()] = s2[static_cast<size_t>(i)]->name();
  }
  // Host -> backend names that may serve it, from a routes answer and the apps' servers.
  auto servers_of = [&](const ChangeRec& rec, const AppServers& apps) {
    std::map<std::string, std::set<std::string>> out;
    for (const auto& [host, app_set] : rec.apps) {
      for (const auto& app : app_set) {
        auto it = apps.find(app);
        if (it == apps.end()) continue;
        for (const auto& [addr, w] : it->second) out[host].insert(name_of.count(addr) ? name_of[addr] : addr);
      }
    }
    return out;
  };
  auto config_with_routes = [&](const std::map<std::string, std::vector<std::string>>& routes) {
    std::string r;
    for (const auto& [host, apps] : routes) r += "  " + host + ": " + yaml_list(apps) + "\n";
    return full_config(sock, apps_yaml(s1), r);
  };
  t.start(config_with_routes({{kHosts[0], {"a0"}}, {kHosts[1], {"a1"}}, {kHosts[2], {"a2"}}}));
  TURNOUT_INFO_STDERR(t);

  uint64_t seed = std::random_device{}();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };

  std::vector<ChangeRec> changes;
  {
    ChangeRec initial;
    json routes = get_routes(sock);
    REQUIRE(!routes.is_discarded());
    initial.version = routes["version"].get<int64_t>();
    for (const auto& h : kHosts) initial.apps[h] = apps_of(routes, h);
    auto servers = get_app_servers(sock);
    REQUIRE(servers);
    initial.servers = servers_of(initial, *servers);
    initial.sent = initial.acked = Clock::now();
    initial.what = "initial";
    changes.push_back(std::move(initial));
  }

  std::atomic<bool> stop{false};
  std::vector<std::unique_ptr<LoadClient>> clients;
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    auto lc = std::make_unique<LoadClient>();
    lc->host = kHosts[static_cast<size_t>(i) % kHosts.size()];
    clients.push_back(std::move(lc));
  }
  TunnelState tunnel;
  struct StopAll {
    std::atomic<bool>& stop;
    std::vector<std::thread>& threads;
    ~StopAll() {
      stop = true;
      for (auto& th : threads) {
        if (th.joinable()) th.join();
      }
    }
  } stop_all{stop, threads};
  for (auto& lc : clients) threads.emplace_back(run_client, t.port(), std::ref(*lc), std::cref(stop));
  threads.emplace_back(run_tunnel, t.port(), std::ref(tunnel), std::cref(stop));

  // Waits until every live client completed a request sent at or after `t0`.
  auto clients_caught_up = [&](Clock::time_point t0) {
    int64_t want = now_ns(t0);
    return wait_until(
        [&] {
          for (auto& lc : clients) {
            if (!lc->dead && lc->last_done_sent.load() < want) return false;
          }
          return true;
        },
        Ms(5000));
  };
  REQUIRE(clients_caught_up(changes[0].acked));
  // The tunnel is open and echoing before the first change (a slow start, as under TSan, would
  // otherwise look like a tunnel that only came up during the changes).
  REQUIRE(wait_until([&] { return tunnel.started.load(); }, Ms(5000)));

  std::map<std::string, int> kinds;  // what was applied, for the report
  std::string apply_failure;
  for (int i = 0; i < kChanges && apply_failure.empty(); ++i) {
    const ChangeRec& prev = changes.back();
    auto servers = get_app_servers(sock);
    if (!servers) {
      apply_failure = "GET /v1/apps failed";
      break;
    }
    const std::string host = kHosts[pick(kHosts.size())];
    const std::set<std::string>& mapped = prev.apps.at(host);
    std::vector<std::string> unmapped;
    for (int a = 0; a < kApps; ++a) {
      if (!mapped.count(app_name(a))) unmapped.push_back(app_name(a));
    }
    auto any_mapped = [&] { return *std::next(mapped.begin(), static_cast<long>(pick(mapped.size()))); };
    auto any_unmapped = [&] { return unmapped[pick(unmapped.size())]; };

    std::string method, path, payload, what;
    int kind = static_cast<int>(pick(100));
    if (unmapped.empty()) kind = 20;  // every app is on this host: unmap one
    if (kind < 14) {  // map (or change a weight)
      std::string app = app_name(static_cast<int>(pick(kApps)));
      method = "PUT", path = "/v1/routes/" + url_encode(host) + "/" + app;
      payload = body({{"weight", 1 + pick(3)}});
      what = "map";
    } else if (kind < 28 && mapped.size() >= 2) {
      method = "DELETE", path = "/v1/routes/" + url_encode(host) + "/" + any_mapped();
      what = "unmap";
    } else if (kind < 42) {
      method = "POST", path = "/v1/batch";
      payload = body(json::array({{{"op", "swap"}, {"from", any_mapped()}, {"to", any_unmapped()}, {"host", host}}}));
      what = "swap";
    } else if (kind < 48) {
      method = "POST", path = "/v1/swap";
      payload = body({{"from", any_mapped()}, {"to", any_unmapped()}, {"hosts", {host}}});
      what = "swap endpoint";
    } else if (kind < 62) {
      // Both hosts in one version: a swap on one, a map on the other.
      const std::string& other = host == kHosts[0] ? kHosts[1] : kHosts[0];
      json ops = json::array({{{"op", "swap"}, {"from", any_mapped()}, {"to", any_unmapped()}, {"host", host}},
                              {{"op", "map"}, {"app", app_name(static_cast<int>(pick(kApps)))}, {"host", other},
                               {"weight", 1 + pick(2)}}});
      method = "POST", path = "/v1/batch", payload = body(ops);
      what = "batch";
    } else if (kind < 72 && changes.size() >= 3) {
      method = "POST", path = "/v1/rollback";
      if (pick(3) == 0) {
        what = "rollback previous";
      } else {
        int64_t back = 2 + static_cast<int64_t>(pick(13));
        int64_t target = std::max(changes.front().version, prev.version - back);
        payload = body({{"version", target}});
        what = "rollback " + std::to_string(target);
      }
    } else if (kind < 77) {
      std::map<std::string, std::vector<std::string>> routes;
      for (const auto& h : kHosts) {
        std::set<std::string> apps;
        size_t n = 1 + pick(2);
        while (apps.size() < n) apps.insert(app_name(static_cast<int>(pick(kApps))));
        routes[h] = {apps.begin(), apps.end()};
      }
      t.dir().write("turnout.yaml", config_with_routes(routes));
      method = "POST", path = "/v1/reload?force=1";  // it drops the runtime changes on purpose
      what = "reload";
    } else {
      // add-server or remove-server of an app's second instance, whichever applies.
      int a = static_cast<int>(pick(kApps));
      const std::string addr = s2[static_cast<size_t>(a)]->addr();
      const auto& app_servers = (*servers)[app_name(a)];
      if (app_servers.count(addr)) {
        method = "DELETE", path = "/v1/apps/" + app_name(a) + "/servers/" + url_encode(addr);
        what = "remove-server";
      } else {
        method = "POST", path = "/v1/apps/" + app_name(a) + "/servers";
        payload = body({{"addr", addr}});
        what = "add-server";
      }
    }
    if (method.empty()) {  // unmap on a host with one app, or an early rollback: map instead
      std::string app = any_unmapped();
      method = "PUT", path = "/v1/routes/" + url_encode(host) + "/" + app, what = "map";
    }

    ChangeRec rec;
    rec.what = what + " " + path + " " + payload;
    rec.sent = Clock::now();
    AdminReply r = t.admin(method, path, payload);
    rec.acked = Clock::now();
    if (r.status != 200 || !r.json.is_object() || !r.json.contains("version")) {
      apply_failure = "change " + std::to_string(i) + " (" + rec.what + ") answered " + std::to_string(r.status) +
                      ": " + r.body;
      break;
    }
    rec.version = r.json["version"].get<int64_t>();
    if (rec.version != prev.version + 1) {
      apply_failure = "change " + std::to_string(i) + " (" + rec.what + ") answered version " +
                      std::to_string(rec.version) + " after " + std::to_string(prev.version);
      break;
    }
    json routes = get_routes(sock);
    if (routes.is_discarded() || routes["version"] != rec.version) {
      apply_failure = "GET /v1/routes after change " + std::to_string(i) + " shows " + routes.dump();
      break;
    }
    for (const auto& h : kHosts) rec.apps[h] = apps_of(routes, h);
    auto servers_after = get_app_servers(sock);
    if (!servers_after || table_version(sock) != rec.version) {
      apply_failure = "GET /v1/apps after change " + std::to_string(i) + " failed or the version moved";
      break;
    }
    rec.servers = servers_of(rec, *servers_after);
    for (const auto& h : kHosts) {
      if (rec.apps[h].empty()) apply_failure = "change " + std::to_string(i) + " (" + rec.what + ") left " + h + " unrouted";
    }
    kinds[what.substr(0, what.find(' '))]++;
    Clock::time_point acked = rec.acked;
    changes.push_back(std::move(rec));
    if (!clients_caught_up(acked)) {
      apply_failure = "clients did not complete a request after change " + std::to_string(i);
      break;
    }
  }
  const Clock::time_point last_ack = changes.back().acked;
  std::this_thread::sleep_for(Ms(100));
  stop = true;
  for (auto& th : threads) th.join();

  std::string kinds_text;
  for (const auto& [k, n] : kinds) kinds_text += k + "=" + std::to_string(n) + " ";
  INFO("applied: " << kinds_text);
  CHECK(apply_failure == "");
  CHECK(changes.size() == static_cast<size_t>(kChanges + 1));

  // No failed request, no closed connection; each connection still serves.
  size_t total = 0;
  for (auto& lc : clients) {
    CAPTURE(lc->host);
    total += lc->records.size();
    CHECK(lc->failures.empty());
    for (size_t k = 0; k < lc->failures.size() && k < 5; ++k) MESSAGE(lc->failures[k]);
    CHECK_FALSE(lc->closed);
  }
  MESSAGE("requests: " << total << ", tunnel echoes: " << tunnel.echoes.size() << " via " << tunnel.backend);
  CHECK(total >= static_cast<size_t>(kChanges * kClients));

  // The tunnel stayed up and echoed throughout: from before the first change to after the last,
  // never silent for long.
  CHECK(tunnel.failure == "");
  REQUIRE(!tunnel.echoes.empty());
  CHECK(tunnel.echoes.front() <= changes[1].sent);
  CHECK(tunnel.echoes.back() >= last_ack);
  double longest_gap = 0;
  for (size_t k = 1; k < tunnel.echoes.size(); ++k) {
    longest_gap = std::max(longest_gap, ms_since(tunnel.echoes[k - 1], tunnel.echoes[k]));
  }
  CHECK(longest_gap < 2000);

  // Every request was served by an app of a version it could have seen.
  size_t violations = 0, exact = 0;
  std::string first_violations;
  for (auto& lc : clients) {
    for (const RequestRec& req : lc->records) {
      // lo: last change acked at or before the send; hi: last change sent before the receipt.
      size_t lo = 0, hi = 0;
      for (size_t k = 0; k < changes.size(); ++k) {
        if (changes[k].acked <= req.sent) lo = k;
        if (changes[k].sent <= req.received) hi = k;
      }
      std::set<std::string> allowed;  // backend names
      for (size_t k = lo; k <= hi; ++k) {
        const auto& names = changes[k].servers[lc->host];
        allowed.insert(names.begin(), names.end());
      }
      if (lo == hi) ++exact;
      if (!allowed.count(req.backend)) {
        if (++violations <= 5) {
          std::string set;
          for (const auto& a : allowed) set += a + " ";
          first_violations += lc->host + " served by " + req.backend + ", allowed {" + set + "} by versions " +
                              std::to_string(changes[lo].version) + ".." + std::to_string(changes[hi].version) +
                              " (last acked: " + changes[lo].what + ")\n";
        }
      }
    }
  }
  INFO("first violations:\n" << first_violations);
  MESSAGE("requests checked against exactly one version: " << exact << " of " << total);
  CHECK(violations == 0);

  // After all that, the same connections still work.
  auto after = get_routes(sock);
  REQUIRE(!after.is_discarded());
  CHECK(after["version"] == changes.back().version);
}
