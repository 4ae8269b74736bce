#include "turnout/route/table_diff.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "turnout/route/change_guard.h"

namespace turnout {

namespace {

constexpr const char* kNone = "(none)";

bool same_route(const Route* a, const Route* b) {
  if (a == nullptr || b == nullptr) return a == b;
  if (a->apps.size() != b->apps.size()) return false;
  for (size_t i = 0; i < a->apps.size(); ++i)
    if (a->apps[i].app != b->apps[i].app || a->apps[i].weight != b->apps[i].weight || a->apps[i].when != b->apps[i].when)
      return false;
  return true;
}

bool same_health(const std::optional<HealthSpec>& a, const std::optional<HealthSpec>& b) {
  if (a.has_value() != b.has_value()) return false;
  if (!a) return true;
  return a->path == b->path && a->interval == b->interval && a->timeout == b->timeout && a->rise == b->rise &&
         a->fall == b->fall;
}

bool same_app(const App* a, const App* b) {
  if (a == nullptr || b == nullptr) return a == b;
  if (a->servers.size() != b->servers.size() || !same_health(a->health, b->health) || a->tls != b->tls) return false;
  for (size_t i = 0; i < a->servers.size(); ++i)
    if (a->servers[i].addr != b->servers[i].addr || a->servers[i].weight != b->servers[i].weight) return false;
  return true;
}

bool same_certificate(const Certificate* a, const Certificate* b) {
  if (a == nullptr || b == nullptr) return a == b;
  return a->fingerprint_sha256() == b->fingerprint_sha256() && a->key_pem() == b->key_pem();
}

// "www.example.com, *.example.com (SHA-256 AB:CD:EF:01…)"
std::string certificate_text(const Certificate* c) {
  if (c == nullptr) return kNone;
  std::string names;
  for (const std::string& n : c->dns_names()) names += (names.empty() ? "" : ", ") + n;
  return fmt::format("{} (SHA-256 {}…)", names.empty() ? "no names" : names, c->fingerprint_sha256().substr(0, 11));
}

std::string route_text(const Route* r) { return r ? describe_route(*r) : kNone; }
std::string app_text(const App* a) { return a ? describe_app(*a) : kNone; }

}  // namespace

std::string describe_app(const App& app) {
  if (app.servers.empty()) return "(no servers)";
  std::string out;
  for (const Server& s : app.servers) {
    if (!out.empty()) out += ", ";
    out += fmt::format("{}({})", s.addr, s.weight);
  }
  return out;
}

std::vector<DroppedChange> dropped_by_reload(const RouteTable& base, const RouteTable& live, const RouteTable& next) {
  std::vector<DroppedChange> out;
  // Routes changed at runtime: in live and different from base, or in base and gone from live.
  auto route_key = [&](const std::string& host) {
    const Route* b = base.find_route(host);
    const Route* l = live.find_route(host);
    if (same_route(b, l)) return;  // not a runtime change
    const Route* n = next.find_route(host);
    if (same_route(l, n)) return;  // the file has it too
    out.push_back({"route", host, route_text(l), route_text(n)});
  };
  live.for_each_route([&](const Route& r) {
    if (!r.host.empty()) route_key(r.host);
  });
  base.for_each_route([&](const Route& r) {
    if (!r.host.empty() && live.find_route(r.host) == nullptr) route_key(r.host);
  });
  auto app_key = [&](const std::string& name) {
    const App* b = base.find_app(name);
    const App* l = live.find_app(name);
    if (same_app(b, l)) return;
    const App* n = next.find_app(name);
    if (same_app(l, n)) return;
    out.push_back({"app", name, app_text(l), app_text(n)});
  };
  live.for_each_app([&](const App& a) { app_key(a.name); });
  base.for_each_app([&](const App& a) {
    if (live.find_app(a.name) == nullptr) app_key(a.name);
  });
  const CertificateSet &bc = *base.certificates(), &lc = *live.certificates(), &nc = *next.certificates();
  auto cert_key = [&](const std::string& name) {
    const Certificate* b = bc.find(name);
    const Certificate* l = lc.find(name);
    if (same_certificate(b, l)) return;
    const Certificate* n = nc.find(name);
    if (same_certificate(l, n)) return;
    out.push_back({"certificate", name, certificate_text(l), certificate_text(n)});
  };
  for (const auto& [name, cert] : lc.by_name()) cert_key(name);
  for (const auto& [name, cert] : bc.by_name())
    if (lc.find(name) == nullptr) cert_key(name);
  if (base.default_app() != live.default_app() && live.default_app() != next.default_app())
    out.push_back({"default_app", "", live.default_app().value_or(kNone), next.default_app().value_or(kNone)});
  std::sort(out.begin(), out.end(), [](const DroppedChange& a, const DroppedChange& b) {
    return a.kind != b.kind ? a.kind < b.kind : a.key < b.key;
  });
  return out;
}

std::string reload_refusal_message(const std::vector<DroppedChange>& dropped) {
  std::string out = fmt::format("refused: reloading would drop {} runtime change{} the file does not contain:",
                                dropped.size(), dropped.size() == 1 ? "" : "s");
  for (const DroppedChange& d : dropped) {
    if (d.kind == "default_app")
      out += fmt::format("\n  default_app: live {}, file {}", d.live, d.file);
    else
      out += fmt::format("\n  {} {}: live {}, file {}", d.kind, d.key, d.live, d.file);
  }
  out += "\nto keep them: turnout ctl export, and put its apps/routes into the file before reloading;"
         "\nto drop them: turnout ctl reload --force (or POST /v1/reload?force=1)";
  return out;
}

}  // namespace turnout
