#include "sections.h"

#include <map>
#include <set>

#include "turnout/common/address.h"
#include "turnout/common/app_name.h"
#include "turnout/common/host.h"
#include "turnout/common/path_key.h"

namespace turnout::config_detail {

namespace {

constexpr uint64_t kMaxWeight = 1000000;  // weights only set ratios; this bounds the WRR sums

// The "servers" list of one app.
void read_servers(YamlReader& r, const YAML::Node& list, const std::string& path, AppSpec& app) {
  if (!list.IsSequence()) {
    r.error(list, path, "must be a list of server addresses");
    return;
  }
  std::map<std::string, int> seen;  // addr -> line of first occurrence
  for (size_t i = 0; i < list.size(); ++i) {
    const YAML::Node item = list[i];
    std::string item_path = path + "[" + std::to_string(i) + "]";
    ServerSpec spec;
    YAML::Node addr_node = item;
    if (item.IsMap()) {
      MapView m(r, item, item_path, {"addr", "weight"});
      addr_node = m.require("addr");
      if (YAML::Node w = m.get("weight"); w.IsDefined()) {
        auto v = r.integer(w, m.child("weight"), 1, kMaxWeight);
        if (v) spec.weight = static_cast<uint32_t>(*v);
      }
      if (!addr_node.IsDefined()) continue;
      item_path = m.child("addr");
    } else if (!item.IsScalar()) {
      r.error(item, item_path, "must be an address string or {addr, weight}");
      continue;
    }
    auto text = r.string(addr_node, item_path);
    if (!text) continue;
    auto parsed = parse_address(*text);
    if (!parsed) {
      r.error(addr_node, item_path, parsed.error().message);
      continue;
    }
    int line = r.line_of(addr_node);
    auto [it, fresh] = seen.emplace(parsed->text, line);
    if (!fresh) {
      r.error(addr_node, item_path, "duplicate server '" + *text + "' (also on line " + std::to_string(it->second) + ")");
      continue;
    }
    spec.addr = parsed->text;
    app.servers.push_back(std::move(spec));
  }
}

void read_health(YamlReader& r, const YAML::Node& n, const std::string& path, AppSpec& app) {
  if (n.IsNull()) return;  // "health:" with nothing = no active checks
  MapView m(r, n, path, {"path", "interval", "timeout", "rise", "fall"});
  if (!m.valid()) return;
  HealthSpec h;
  if (YAML::Node v = m.get("path"); v.IsDefined()) {
    auto s = r.string(v, m.child("path"));
    if (s && s->front() != '/')
      r.error(v, m.child("path"), "must start with '/'");
    else if (s)
      h.path = *s;
  }
  if (YAML::Node v = m.get("interval"); v.IsDefined())
    if (auto d = r.duration(v, m.child("interval"), Millis(1))) h.interval = *d;
  if (YAML::Node v = m.get("timeout"); v.IsDefined())
    if (auto d = r.duration(v, m.child("timeout"), Millis(1))) h.timeout = *d;
  if (YAML::Node v = m.get("rise"); v.IsDefined())
    if (auto x = r.integer(v, m.child("rise"), 1, 100)) h.rise = static_cast<uint32_t>(*x);
  if (YAML::Node v = m.get("fall"); v.IsDefined())
    if (auto x = r.integer(v, m.child("fall"), 1, 100)) h.fall = static_cast<uint32_t>(*x);
  app.health = h;
}

}  // namespace

std::string normalize_route_key(std::string_view key, std::string* why) { return canonical_route_key(key, why); }

bool read_apps(YamlReader& r, const YAML::Node& apps, Config& cfg) {
  if (!apps.IsMap()) {
    r.error(apps, "apps", "must be a map of app name -> {servers: [...]}");
    return false;
  }
  for (const auto& kv : apps) {
    const YAML::Node& k = kv.first;
    if (!k.IsScalar()) {
      r.error(k, "apps", "app names must be plain strings");
      continue;
    }
    const std::string& name = k.Scalar();
    std::string path = "apps." + name;
    if (!valid_app_name(name)) {
      r.error(k, path, "app name must match [A-Za-z0-9_.-]+");
      continue;
    }
    if (cfg.apps.count(name)) {
      r.error(k, path, "duplicate app");
      continue;
    }
    AppSpec& app = cfg.apps[name];
    MapView m(r, kv.second, path, {"servers", "health", "tls"});
    if (!m.valid()) continue;
    if (YAML::Node s = m.require("servers"); s.IsDefined()) read_servers(r, s, m.child("servers"), app);
    if (YAML::Node h = m.get("health"); h.IsDefined()) read_health(r, h, m.child("health"), app);
    if (YAML::Node t = m.get("tls"); t.IsDefined()) read_upstream_tls(r, t, m.child("tls"), app);
  }
  return true;
}

namespace {

// `when: {header: NAME, value: V}` or `when: {cookie: NAME, value: V}`.
bool read_when(YamlReader& r, const YAML::Node& n, const std::string& path, RouteWhen& when) {
  MapView m(r, n, path, {"header", "cookie", "value"});
  if (!m.valid()) return false;
  YAML::Node header = m.get("header"), cookie = m.get("cookie");
  if (header.IsDefined() == cookie.IsDefined()) {
    r.error(n, path, "must name exactly one of header or cookie, e.g. {header: X-Canary, value: \"1\"}");
    return false;
  }
  when.kind = header.IsDefined() ? RouteWhen::Kind::Header : RouteWhen::Kind::Cookie;
  YAML::Node name_node = header.IsDefined() ? header : cookie;
  auto name = r.string(name_node, m.child(header.IsDefined() ? "header" : "cookie"));
  if (!name) return false;
  YAML::Node value_node = m.require("value");
  if (!value_node.IsDefined()) return false;
  auto value = r.string(value_node, m.child("value"), true);
  if (!value) return false;
  when.name = *name;
  when.value = *value;
  if (std::string problem = check_route_when(when); !problem.empty()) {
    r.error(n, path, problem);
    return false;
  }
  return true;
}

}  // namespace

void read_routes(YamlReader& r, const YAML::Node& routes, bool check_apps, Config& cfg) {
  if (!routes.IsMap()) {
    r.error(routes, "routes", "must be a map of host (or host/path) -> [app, ...]");
    return;
  }
  std::map<std::string, int> seen;  // normalised key -> line
  for (const auto& kv : routes) {
    const YAML::Node& k = kv.first;
    if (!k.IsScalar()) {
      r.error(k, "routes", "hosts must be plain strings");
      continue;
    }
    std::string path = "routes." + k.Scalar();
    std::string why;
    std::string host = normalize_route_key(k.Scalar(), &why);
    if (host.empty()) {
      r.error(k, path, "'" + k.Scalar() + "' is not a route key (host or host/path): " + why);
      continue;
    }
    auto [it, fresh] = seen.emplace(host, r.line_of(k));
    if (!fresh) {
      r.error(k, path, "duplicate route for '" + host + "' (also on line " + std::to_string(it->second) + ")");
      continue;
    }
    const YAML::Node list = kv.second;
    if (!list.IsSequence() || list.size() == 0) {
      r.error(list, path, "must be a non-empty list of apps, e.g. [example] or [{app: example, weight: 2}]");
      continue;
    }
    std::vector<RouteTarget> targets;
    std::set<std::pair<std::string, RouteWhen>> names;  // entry identity: (app, when)
    bool rules = false;
    for (size_t i = 0; i < list.size(); ++i) {
      const YAML::Node item = list[i];
      std::string item_path = path + "[" + std::to_string(i) + "]";
      RouteTarget t;
      YAML::Node app_node = item;
      if (item.IsMap()) {
        MapView m(r, item, item_path, {"app", "weight", "when"});
        app_node = m.require("app");
        if (YAML::Node w = m.get("weight"); w.IsDefined()) {
          if (auto v = r.integer(w, m.child("weight"), 1, kMaxWeight)) t.weight = static_cast<uint32_t>(*v);
        }
        if (YAML::Node w = m.get("when"); w.IsDefined()) {
          if (!read_when(r, w, m.child("when"), t.when)) continue;
          rules = true;
        }
        if (!app_node.IsDefined()) continue;
      }
      auto name = r.string(app_node, item_path);
      if (!name) continue;
      if (check_apps && !cfg.apps.count(*name)) {
        r.error(app_node, item_path, "unknown app '" + *name + "'");
        continue;
      }
      if (!names.emplace(*name, t.when).second) {
        r.error(app_node, item_path,
                t.when ? "app '" + *name + "' is listed twice in this route with " + describe_route_when(t.when)
                       : "app '" + *name + "' is listed twice in this route");
        continue;
      }
      t.app = *name;
      targets.push_back(std::move(t));
    }
    if (rules && targets.size() > kMaxRuleRouteEntries) {
      r.error(list, path, "a route with `when` rules holds at most " + std::to_string(kMaxRuleRouteEntries) + " entries");
      continue;
    }
    cfg.routes[host] = std::move(targets);
  }
}

void read_default_app(YamlReader& r, const YAML::Node& n, bool check_apps, Config& cfg) {
  if (n.IsNull()) return;
  auto name = r.string(n, "default_app");
  if (!name) return;
  if (check_apps && !cfg.apps.count(*name)) {
    r.error(n, "default_app", "unknown app '" + *name + "'");
    return;
  }
  cfg.default_app = *name;
}

}  // namespace turnout::config_detail
