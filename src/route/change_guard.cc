#include "turnout/route/change_guard.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>

namespace turnout {

namespace {

// Why `name` cannot serve in `table`, or "" when it can.
std::string dead_reason(const RouteTable& table, const std::string& name, const ServerUpFn& up) {
  const App* app = table.find_app(name);
  if (app == nullptr) return fmt::format("{} (no such app)", name);
  if (app->servers.empty()) return fmt::format("{} (no servers)", name);
  for (const Server& s : app->servers)
    if (!up || up(s.addr)) return "";
  return app->servers.size() == 1 ? fmt::format("{} (its server is down)", name)
                                  : fmt::format("{} (all {} servers down)", name, app->servers.size());
}

bool alive(const RouteTable& table, const std::string& name, const ServerUpFn& up) {
  return dead_reason(table, name, up).empty();
}

// Served: the requests no rule admits have a live app (every request, without rules); a route
// made only of rules is served when one of its apps is alive.
bool route_served(const RouteTable& table, const Route& route, const ServerUpFn& up) {
  bool any_plain = false;
  for (const RouteEntry& e : route.apps) any_plain = any_plain || !e.when;
  for (const RouteEntry& e : route.apps)
    if ((!any_plain || !e.when) && alive(table, e.app, up)) return true;
  return false;
}

// The certificate a TLS client asking for route key `host` gets and that covers it, or null. A
// wildcard route is asked for through one name under it; a path route through its host.
const Certificate* https_certificate(const RouteTable& table, const std::string& key) {
  std::string host(route_key_host(key));
  std::string name = host.rfind("*.", 0) == 0 ? "w" + host.substr(1) : host;
  auto candidates = table.certificates()->select(name);
  for (const Certificate* c : {candidates.ecdsa, candidates.rsa})
    if (c != nullptr && c->covers(name)) return c;
  return nullptr;
}

}  // namespace

std::string describe_route(const Route& route) {
  std::string out;
  for (const RouteEntry& e : route.apps) {
    if (!out.empty()) out += ", ";
    out += fmt::format("{}({})", e.app, e.weight);
    if (e.when) out += " when " + describe_route_when(e.when);
  }
  return out;
}

std::vector<GuardProblem> guard_changes(const RouteTable& before, const RouteTable& after,
                                        std::span<const Change> changes, const ServerUpFn& up) {
  std::set<std::string> hosts;  // sorted: the message lists hosts in a stable order
  std::set<std::string> apps;
  bool certificates_changed = false;
  for (const Change& c : changes) {
    switch (c.op) {
      case Change::Op::Map:
      case Change::Op::Unmap:
      case Change::Op::SetRoute: hosts.insert(c.host); break;
      case Change::Op::SetApp:
      case Change::Op::PutApp:
      case Change::Op::AddServer:
      case Change::Op::RemoveServer:
      case Change::Op::DeleteApp: apps.insert(c.app); break;
      case Change::Op::SetDefault: break;  // the default route is for unrouted hosts: not guarded
      case Change::Op::CertSet:
      case Change::Op::CertDelete: certificates_changed = true; break;
    }
  }
  // Apps this change kills while routes still map them: their hosts are touched too.
  std::set<std::string> killed;
  for (const std::string& name : apps) {
    if (after.app_route_count(name) == 0) continue;
    if (alive(before, name, up) && !alive(after, name, up)) killed.insert(name);
  }
  if (!killed.empty()) {
    after.for_each_route([&](const Route& route) {
      if (route.host.empty()) return;
      for (const RouteEntry& e : route.apps)
        if (killed.count(e.app)) {
          hosts.insert(route.host);
          return;
        }
    });
  }

  std::vector<GuardProblem> problems;
  for (const std::string& host : hosts) {
    const Route* was = before.find_route(host);
    const Route* now = after.find_route(host);
    if (was != nullptr && now == nullptr) {
      problems.push_back({host, fmt::format("would have no app (it is routed to {} now)", describe_route(*was))});
      continue;
    }
    if (now == nullptr || route_served(after, *now, up)) continue;
    if (was != nullptr && !route_served(before, *was, up)) continue;  // already broken before
    std::string why;
    for (const RouteEntry& e : now->apps) {
      if (!why.empty()) why += ", ";
      why += dead_reason(after, e.app, up);
    }
    problems.push_back({host, "would be routed only to apps with no server up: " + why});
  }
  // A certificate change visits every route (certificate changes are rare): a routed host that a
  // certificate serves now and none would after it stops being served over HTTPS.
  if (certificates_changed) {
    after.for_each_route([&](const Route& route) {
      if (route.host.empty() || hosts.count(route.host)) return;
      const Certificate* was = https_certificate(before, route.host);
      if (was != nullptr && https_certificate(after, route.host) == nullptr)
        problems.push_back({route.host, fmt::format("would have no certificate for HTTPS (certificate {} serves it now)",
                                                    was->name())});
    });
    std::sort(problems.begin(), problems.end(),
              [](const GuardProblem& a, const GuardProblem& b) { return a.host < b.host; });
  }
  return problems;
}

std::string guard_message(const std::vector<GuardProblem>& problems) {
  std::string out = "refused: this change would stop serving ";
  out += problems.size() == 1 ? "a host" : fmt::format("{} hosts", problems.size());
  out += ":";
  for (const GuardProblem& p : problems) out += fmt::format("\n  {} {}", p.host, p.reason);
  out += "\nto do it anyway: turnout ctl ... --force, or ?force=1 (or \"force\": true in an object body)";
  return out;
}

}  // namespace turnout
