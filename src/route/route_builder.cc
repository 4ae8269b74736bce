#include "turnout/route/route_builder.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <unordered_map>

#include "turnout/common/app_name.h"

namespace turnout {

namespace {

// Source of App::id and Route::id: unique across every table this process builds, so a
// per-worker cursor keyed by id can never be confused by a replaced object.
std::atomic<uint64_t> g_next_object_id{1};

uint64_t next_object_id() { return g_next_object_id.fetch_add(1, std::memory_order_relaxed); }

std::string quoted(std::string_view text) { return "'" + std::string(text) + "'"; }

bool is_wildcard(std::string_view key) { return key.substr(0, 2) == "*."; }

bool same_endpoint(const SocketAddress& a, const SocketAddress& b) {
  return a.length == b.length && std::memcmp(&a.storage, &b.storage, a.length) == 0;
}

bool same_server(const Server& a, const Server& b) { return a.addr == b.addr || same_endpoint(a.address, b.address); }

Result<Server> make_server(const ServerSpec& spec, std::string_view app) {
  if (spec.weight == 0) return make_error(ErrorKind::Invalid, "server " + quoted(spec.addr) + " of app " + quoted(app) + " has weight 0");
  auto address = parse_address(spec.addr);
  if (!address) return make_error(ErrorKind::Invalid, "app " + quoted(app) + ": " + address.error().message);
  return Server{address->text, std::move(*address), spec.weight, {}, {}};
}

// The host of a server address as written: "10.0.0.5" of "10.0.0.5:443", "::1" of "[::1]:443",
// "" for a unix socket.
std::string host_of(const std::string& addr) {
  if (addr.rfind("unix:", 0) == 0) return "";
  std::string host = addr.substr(0, addr.rfind(':'));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return host;
}

// A server's TLS name and pool key within `app` (see Server).
void set_tls_keys(const App& app, Server& s) {
  if (!app.tls) {
    s.tls_name.clear();
    s.pool_key = s.addr;
    return;
  }
  s.tls_name = app.tls->server_name.empty() ? host_of(s.addr) : app.tls->server_name;
  s.pool_key = s.addr + " tls name=" + s.tls_name + (app.tls->verify ? " ca=" + app.tls->ca : " verify=false");
}

// A new App object (fresh id) from specs; every address resolved, no duplicates. With `tls`,
// `tls_context` is the client context of its (ca, verify).
Result<AppPtr> make_app(std::string_view name, const std::vector<ServerSpec>& specs, std::optional<HealthSpec> health,
                        const std::optional<UpstreamTlsSpec>& tls = std::nullopt,
                        std::shared_ptr<const ClientTlsContext> tls_context = nullptr) {
  if (!valid_app_name(name)) return make_error(ErrorKind::Invalid, "invalid app name " + quoted(name));
  auto app = std::make_shared<App>();
  app->name = std::string(name);
  app->health = std::move(health);
  app->tls = tls;
  app->tls_context = tls ? std::move(tls_context) : nullptr;
  app->servers.reserve(specs.size());
  for (const ServerSpec& spec : specs) {
    auto server = make_server(spec, name);
    if (!server) return server.error();
    set_tls_keys(*app, *server);
    for (const Server& other : app->servers)
      if (same_server(other, *server))
        return make_error(ErrorKind::Invalid, "app " + quoted(name) + " lists server " + quoted(spec.addr) + " twice");
    app->servers.push_back(std::move(*server));
  }
  app->id = next_object_id();
  return AppPtr(std::move(app));
}

// `route` with Route::has_path_routes set to `flag`: the same object when it already is, else a
// copy that keeps its id (the same apps and weights: per-worker cursors stay valid).
RoutePtr with_path_flag(RoutePtr route, bool flag) {
  if (route->has_path_routes == flag) return route;
  auto copy = std::make_shared<Route>(*route);
  copy->has_path_routes = flag;
  return copy;
}

bool entry_less(const RouteEntry& a, const RouteEntry& b) {
  if (a.app != b.app) return a.app < b.app;
  return a.when < b.when;
}

bool same_entry(const RouteEntry& e, std::string_view app, const RouteWhen& when) { return e.app == app && e.when == when; }

RoutePtr make_route(std::string host, std::vector<RouteEntry> apps) {
  std::sort(apps.begin(), apps.end(), entry_less);
  auto route = std::make_shared<Route>();
  route->host = std::move(host);
  route->apps = std::move(apps);
  route->id = next_object_id();
  for (size_t i = 0; i < route->apps.size(); ++i) route->has_rules = route->has_rules || route->apps[i].when;
  if (route->has_rules)
    for (size_t i = 0; i < route->apps.size(); ++i)
      if (!route->apps[i].when) route->plain_entries |= uint64_t{1} << i;
  return route;
}

// Checks one entry of route `key` against those already in `entries`: its rule is valid
// (normalised in place), (app, when) not listed yet.
Result<void> check_entry(std::string_view key, const std::vector<RouteEntry>& entries, std::string_view app, RouteWhen& when) {
  if (std::string problem = check_route_when(when); !problem.empty())
    return make_error(ErrorKind::Invalid, "route " + quoted(key) + ", app " + quoted(app) + ": " + problem);
  for (const RouteEntry& seen : entries)
    if (same_entry(seen, app, when))
      return make_error(ErrorKind::Invalid, "route " + quoted(key) + " lists app " + quoted(app) +
                                                (when ? " with " + describe_route_when(when) : std::string()) + " twice");
  return {};
}

// A route with rules keeps its admitted set in a 64-bit mask.
Result<void> check_rule_count(std::string_view key, const std::vector<RouteEntry>& entries) {
  if (entries.size() <= kMaxRuleRouteEntries) return {};
  for (const RouteEntry& e : entries)
    if (e.when)
      return make_error(ErrorKind::Invalid, "route " + quoted(key) + " has rules and more than " +
                                                std::to_string(kMaxRuleRouteEntries) + " entries");
  return {};
}

}  // namespace

const char* op_name(Change::Op op) {
  switch (op) {
    case Change::Op::Map: return "map";
    case Change::Op::Unmap: return "unmap";
    case Change::Op::PutApp: return "put-app";
    case Change::Op::DeleteApp: return "delete-app";
    case Change::Op::AddServer: return "add-server";
    case Change::Op::RemoveServer: return "remove-server";
    case Change::Op::SetDefault: return "set-default";
    case Change::Op::CertSet: return "cert-set";
    case Change::Op::CertDelete: return "cert-delete";
    case Change::Op::SetApp: return "set-app";
    case Change::Op::SetRoute: return "set-route";
  }
  return "unknown";
}

// Edits a private copy of a table (copying it is O(1): maps share their nodes). The only code
// that writes RouteTable's members; main thread only.
class RouteTableBuilder {
 public:
  RouteTableBuilder() = default;
  explicit RouteTableBuilder(const RouteTable& base) : table_(base) {}

  Result<void> load(const Config& config);
  Result<void> apply(const Change& change);

  RouteTablePtr finish(uint64_t version) {
    table_.version_ = version;
    if (!table_.certificates_) table_.certificates_ = CertificateSet::empty();
    return std::make_shared<const RouteTable>(std::move(table_));
  }

 private:
  Result<void> map(const Change& change);
  Result<void> unmap(const Change& change);
  Result<void> put_app(const Change& change);
  Result<void> delete_app(const Change& change);
  Result<void> add_server(const Change& change);
  Result<void> remove_server(const Change& change);
  Result<void> set_default(const Change& change);
  Result<void> cert_set(const Change& change);
  Result<void> cert_delete(const Change& change);
  Result<void> set_app(const Change& change);
  Result<void> set_route(const Change& change);
  Result<void> set_certificates(std::map<std::string, CertificatePtr> by_name, std::string default_name);

  PersistentMap<RoutePtr>& routes_for(std::string_view key) { return is_wildcard(key) ? table_.wildcard_ : table_.exact_; }
  static std::string_view map_key(std::string_view key) { return is_wildcard(key) ? key.substr(2) : key; }
  PersistentMap<uint32_t>& path_counts_for(std::string_view key) {
    return is_wildcard(key) ? table_.wildcard_paths_ : table_.exact_paths_;
  }
  // Path routes of the host part of `key` (RouteTable::exact_paths_).
  uint32_t path_count(std::string_view key) {
    const uint32_t* n = path_counts_for(key).find(route_key_host(map_key(key)));
    return n != nullptr ? *n : 0;
  }
  // Keeps the per-host count of path routes in step with the routes, and the host's own route's
  // has_path_routes with it.
  void count_path_route(std::string_view key, int delta) {
    if (route_key_path(key).empty()) return;
    auto& counts = path_counts_for(key);
    std::string_view host = route_key_host(map_key(key));
    const uint32_t* had = counts.find(host);
    uint32_t before = had != nullptr ? *had : 0;
    uint32_t next = before + static_cast<uint32_t>(delta);
    counts = next == 0 ? counts.erase(host) : counts.set(host, next);
    if ((before == 0) != (next == 0)) {
      auto& routes = routes_for(key);
      if (const RoutePtr* own = routes.find(host)) routes = routes.set(host, with_path_flag(*own, next > 0));
    }
  }
  void put_route(const std::string& key, RoutePtr route) {
    auto& routes = routes_for(key);
    bool fresh = !routes.contains(map_key(key));
    if (route_key_path(key).empty()) route = with_path_flag(std::move(route), path_count(key) > 0);
    routes = routes.set(map_key(key), std::move(route));
    if (fresh) count_path_route(key, +1);
  }
  void erase_route(const std::string& key) {
    auto& routes = routes_for(key);
    if (!routes.contains(map_key(key))) return;
    routes = routes.erase(map_key(key));
    count_path_route(key, -1);
  }
  void add_refs(const std::string& app, int64_t delta) {
    const RouteTable::AppSlot* slot = table_.apps_.find(app);
    if (slot == nullptr) return;
    RouteTable::AppSlot next = *slot;
    next.route_refs = static_cast<uint64_t>(static_cast<int64_t>(next.route_refs) + delta);
    table_.apps_ = table_.apps_.set(app, std::move(next));
  }
  void replace_app(AppPtr app) {
    const RouteTable::AppSlot* slot = table_.apps_.find(app->name);
    const std::string& name = app->name;
    table_.apps_ = table_.apps_.set(name, RouteTable::AppSlot{app, slot != nullptr ? slot->route_refs : 0});
  }

  RouteTable table_;
};

Result<void> RouteTableBuilder::load(const Config& config) {
  std::unordered_map<std::string_view, uint64_t> refs;  // app name -> routes mapping it
  std::vector<AppPtr> apps;
  apps.reserve(config.apps.size());
  // One client context per distinct (ca, verify), made afresh by each load so that a reload
  // reads the ca files again.
  std::vector<std::shared_ptr<const ClientTlsContext>> contexts;
  for (const auto& [name, spec] : config.apps) {
    std::shared_ptr<const ClientTlsContext> tls_context;
    if (spec.tls) {
      ClientTlsSettings settings{spec.tls->verify ? spec.tls->ca : std::string(), spec.tls->verify};
      for (const auto& c : contexts)
        if (c->settings() == settings) tls_context = c;
      if (!tls_context) {
        auto made = ClientTlsContext::create(settings);
        if (!made) return make_error(made.error().kind, "app " + quoted(name) + ": tls: " + made.error().message);
        tls_context = *made;
        contexts.push_back(tls_context);
      }
    }
    auto app = make_app(name, spec.servers, spec.health, spec.tls, std::move(tls_context));
    if (!app) return app.error();
    apps.push_back(std::move(*app));
    refs.emplace(name, 0);
  }

  PersistentMap<RoutePtr>::Builder exact, wildcard;
  std::unordered_map<std::string, uint32_t> exact_paths, wildcard_paths;  // host part -> path routes
  for (const auto& [key, targets] : config.routes)
    if (!route_key_path(key).empty()) ++(is_wildcard(key) ? wildcard_paths : exact_paths)[std::string(route_key_host(map_key(key)))];
  exact.reserve(config.routes.size());
  for (const auto& [key, targets] : config.routes) {
    if (!valid_route_key(key)) return make_error(ErrorKind::Invalid, "route " + quoted(key) + " is not a valid route key");
    if (targets.empty()) return make_error(ErrorKind::Invalid, "route " + quoted(key) + " has no app");
    std::vector<RouteEntry> entries;
    entries.reserve(targets.size());
    for (const RouteTarget& target : targets) {
      auto ref = refs.find(target.app);
      if (ref == refs.end()) return make_error(ErrorKind::NotFound, "route " + quoted(key) + " names unknown app " + quoted(target.app));
      if (target.weight == 0) return make_error(ErrorKind::Invalid, "route " + quoted(key) + " gives app " + quoted(target.app) + " weight 0");
      RouteWhen when = target.when;
      if (auto ok = check_entry(key, entries, target.app, when); !ok) return ok.error();
      entries.push_back(RouteEntry{target.app, target.weight, std::move(when)});
      ++ref->second;
    }
    if (auto ok = check_rule_count(key, entries); !ok) return ok.error();
    RoutePtr route = make_route(key, std::move(entries));
    if (route_key_path(key).empty()) {
      const auto& counts = is_wildcard(key) ? wildcard_paths : exact_paths;
      if (counts.count(std::string(map_key(key)))) route = with_path_flag(std::move(route), true);
    }
    if (is_wildcard(key))
      wildcard.set(key.substr(2), std::move(route));
    else
      exact.set(key, std::move(route));
  }
  table_.exact_ = exact.build();
  table_.wildcard_ = wildcard.build();
  PersistentMap<uint32_t>::Builder exact_counts, wildcard_counts;
  for (const auto& [host, n] : exact_paths) exact_counts.set(host, n);
  for (const auto& [host, n] : wildcard_paths) wildcard_counts.set(host, n);
  table_.exact_paths_ = exact_counts.build();
  table_.wildcard_paths_ = wildcard_counts.build();

  if (config.default_app) {
    auto ref = refs.find(*config.default_app);
    if (ref == refs.end()) return make_error(ErrorKind::NotFound, "default_app names unknown app " + quoted(*config.default_app));
    ++ref->second;
    table_.default_app_ = *config.default_app;
    table_.default_route_ = make_route("", {RouteEntry{*config.default_app, 1, {}}});
  }

  PersistentMap<RouteTable::AppSlot>::Builder app_slots;
  app_slots.reserve(apps.size());
  for (AppPtr& app : apps) {
    uint64_t route_refs = refs[app->name];
    app_slots.set(app->name, RouteTable::AppSlot{app, route_refs});
  }
  table_.apps_ = app_slots.build();
  return set_certificates(config.tls.certificates, config.tls.default_certificate);
}

Result<void> RouteTableBuilder::set_certificates(std::map<std::string, CertificatePtr> by_name,
                                                 std::string default_name) {
  auto set = CertificateSet::build(std::move(by_name), std::move(default_name));
  if (!set) return set.error();
  table_.certificates_ = std::move(*set);
  return {};
}

Result<void> RouteTableBuilder::cert_set(const Change& change) {
  if (!valid_certificate_name(change.name)) return make_error(ErrorKind::Invalid, "invalid certificate name " + quoted(change.name));
  if (!change.certificate) return make_error(ErrorKind::Invalid, "certificate " + quoted(change.name) + " has no certificate");
  const CertificateSet& current = table_.certificates_ ? *table_.certificates_ : *CertificateSet::empty();
  std::map<std::string, CertificatePtr> next = current.by_name();
  next[change.name] = change.certificate;
  return set_certificates(std::move(next), current.default_name());
}

Result<void> RouteTableBuilder::cert_delete(const Change& change) {
  const CertificateSet& current = table_.certificates_ ? *table_.certificates_ : *CertificateSet::empty();
  if (current.find(change.name) == nullptr)
    return make_error(ErrorKind::NotFound, "certificate " + quoted(change.name) + " does not exist");
  if (current.default_name() == change.name)
    return make_error(ErrorKind::Conflict, "certificate " + quoted(change.name) +
                               " is default_certificate; make another the default in the config file first");
  std::map<std::string, CertificatePtr> next = current.by_name();
  next.erase(change.name);
  return set_certificates(std::move(next), current.default_name());
}

Result<void> RouteTableBuilder::apply(const Change& change) {
  switch (change.op) {
    case Change::Op::Map: return map(change);
    case Change::Op::Unmap: return unmap(change);
    case Change::Op::PutApp: return put_app(change);
    case Change::Op::DeleteApp: return delete_app(change);
    case Change::Op::AddServer: return add_server(change);
    case Change::Op::RemoveServer: return remove_server(change);
    case Change::Op::SetDefault: return set_default(change);
    case Change::Op::CertSet: return cert_set(change);
    case Change::Op::CertDelete: return cert_delete(change);
    case Change::Op::SetApp: return set_app(change);
    case Change::Op::SetRoute: return set_route(change);
  }
  return make_error(ErrorKind::Invalid, "unknown change");
}

Result<void> RouteTableBuilder::map(const Change& change) {
  if (!valid_route_key(change.host)) return make_error(ErrorKind::Invalid, "invalid route key " + quoted(change.host));
  if (change.weight == 0) return make_error(ErrorKind::Invalid, "weight must be at least 1");
  if (table_.apps_.find(change.app) == nullptr) return make_error(ErrorKind::NotFound, "app " + quoted(change.app) + " does not exist");
  RouteWhen when = change.when;
  if (std::string problem = check_route_when(when); !problem.empty()) return make_error(ErrorKind::Invalid, problem);
  const Route* route = table_.find_route(change.host);
  std::vector<RouteEntry> entries;
  if (route != nullptr) {
    entries = route->apps;
    // The entry is (app, when): the same app under another rule (or none) is another entry.
    auto it = std::find_if(entries.begin(), entries.end(), [&](const RouteEntry& e) { return same_entry(e, change.app, when); });
    if (it != entries.end()) {
      if (it->weight == change.weight) return {};  // idempotent: keep the route and its cycle
      it->weight = change.weight;
      put_route(change.host, make_route(change.host, std::move(entries)));
      return {};
    }
  }
  entries.push_back(RouteEntry{change.app, change.weight, std::move(when)});
  if (auto ok = check_rule_count(change.host, entries); !ok) return ok.error();
  put_route(change.host, make_route(change.host, std::move(entries)));
  add_refs(change.app, +1);
  return {};
}

Result<void> RouteTableBuilder::unmap(const Change& change) {
  if (!valid_route_key(change.host)) return make_error(ErrorKind::Invalid, "invalid route key " + quoted(change.host));
  RouteWhen when = change.when;
  if (std::string problem = check_route_when(when); !problem.empty()) return make_error(ErrorKind::Invalid, problem);
  const Route* route = table_.find_route(change.host);
  // Without `when`, every entry of the app leaves the route (the app no longer serves the host:
  // what swap and a plain unmap mean); with `when`, only that entry.
  auto removed = [&](const RouteEntry& e) { return e.app == change.app && (!when || e.when == when); };
  size_t count = route == nullptr ? 0 : static_cast<size_t>(std::count_if(route->apps.begin(), route->apps.end(), removed));
  if (count == 0) {
    if (change.if_present) return {};
    return make_error(ErrorKind::NotFound, "app " + quoted(change.app) + (when ? " with " + describe_route_when(when) : std::string()) +
                                               " is not mapped to " + quoted(change.host));
  }
  if (route->apps.size() == count) {
    erase_route(change.host);
  } else {
    std::vector<RouteEntry> entries;
    entries.reserve(route->apps.size() - count);
    for (const RouteEntry& e : route->apps)
      if (!removed(e)) entries.push_back(e);
    put_route(change.host, make_route(change.host, std::move(entries)));
  }
  for (size_t i = 0; i < count; ++i) add_refs(change.app, -1);
  return {};
}

Result<void> RouteTableBuilder::put_app(const Change& change) {
  const App* existing = table_.find_app(change.app);
  // A replaced app keeps its health check and its TLS: the change only carries servers.
  auto app = existing != nullptr
                 ? make_app(change.app, change.servers, existing->health, existing->tls, existing->tls_context)
                 : make_app(change.app, change.servers, std::nullopt);
  if (!app) return app.error();
  replace_app(std::move(*app));
  return {};
}

Result<void> RouteTableBuilder::set_app(const Change& change) {
  std::shared_ptr<const ClientTlsContext> tls_context;
  if (change.tls) {
    // Reuse the context of any app with the same (ca, verify), as a load does.
    ClientTlsSettings settings{change.tls->verify ? change.tls->ca : std::string(), change.tls->verify};
    table_.for_each_app([&](const App& a) {
      if (!tls_context && a.tls_context && a.tls_context->settings() == settings) tls_context = a.tls_context;
    });
    if (!tls_context) {
      auto made = ClientTlsContext::create(settings);
      if (!made) return make_error(made.error().kind, "app " + quoted(change.app) + ": tls: " + made.error().message);
      tls_context = *made;
    }
  }
  auto app = make_app(change.app, change.servers, change.health, change.tls, std::move(tls_context));
  if (!app) return app.error();
  replace_app(std::move(*app));
  return {};
}

Result<void> RouteTableBuilder::set_route(const Change& change) {
  if (!valid_route_key(change.host)) return make_error(ErrorKind::Invalid, "invalid route key " + quoted(change.host));
  std::vector<RouteEntry> entries;
  entries.reserve(change.targets.size());
  for (const RouteTarget& t : change.targets) {
    if (table_.apps_.find(t.app) == nullptr)
      return make_error(ErrorKind::NotFound, "route " + quoted(change.host) + " names unknown app " + quoted(t.app));
    if (t.weight == 0) return make_error(ErrorKind::Invalid, "route " + quoted(change.host) + " gives app " + quoted(t.app) + " weight 0");
    RouteWhen when = t.when;
    if (auto ok = check_entry(change.host, entries, t.app, when); !ok) return ok.error();
    entries.push_back(RouteEntry{t.app, t.weight, std::move(when)});
  }
  if (auto ok = check_rule_count(change.host, entries); !ok) return ok.error();
  std::sort(entries.begin(), entries.end(), entry_less);
  if (const Route* old = table_.find_route(change.host)) {
    bool same = old->apps.size() == entries.size();
    for (size_t i = 0; same && i < entries.size(); ++i)
      same = old->apps[i].app == entries[i].app && old->apps[i].weight == entries[i].weight && old->apps[i].when == entries[i].when;
    if (same) return {};  // unchanged: keep the route and its cycle
    for (const RouteEntry& e : old->apps) add_refs(e.app, -1);
  }
  if (entries.empty()) {
    erase_route(change.host);
    return {};
  }
  for (const RouteEntry& e : entries) add_refs(e.app, +1);
  put_route(change.host, make_route(change.host, std::move(entries)));
  return {};
}

Result<void> RouteTableBuilder::delete_app(const Change& change) {
  const RouteTable::AppSlot* slot = table_.apps_.find(change.app);
  if (slot == nullptr) return make_error(ErrorKind::NotFound, "app " + quoted(change.app) + " does not exist");
  if (slot->route_refs > 0) {
    bool is_default = table_.default_app_ && *table_.default_app_ == change.app;
    return make_error(ErrorKind::Conflict, "app " + quoted(change.app) + " is still mapped by " + std::to_string(slot->route_refs) +
                               " route(s)" + (is_default ? ", including default_app" : ""));
  }
  table_.apps_ = table_.apps_.erase(change.app);
  return {};
}

Result<void> RouteTableBuilder::add_server(const Change& change) {
  const App* app = table_.find_app(change.app);
  auto server = make_server(ServerSpec{change.addr, change.weight}, change.app);
  if (!server) return server.error();
  if (app == nullptr) return make_error(ErrorKind::NotFound, "app " + quoted(change.app) + " does not exist");
  for (const Server& other : app->servers)
    if (same_server(other, *server))
      return make_error(ErrorKind::Conflict, "app " + quoted(change.app) + " already has server " + quoted(other.addr));
  auto next = std::make_shared<App>(*app);
  set_tls_keys(*next, *server);
  next->servers.push_back(std::move(*server));
  next->id = next_object_id();
  replace_app(std::move(next));
  return {};
}

Result<void> RouteTableBuilder::remove_server(const Change& change) {
  const App* app = table_.find_app(change.app);
  if (app == nullptr) return make_error(ErrorKind::NotFound, "app " + quoted(change.app) + " does not exist");
  auto match = std::find_if(app->servers.begin(), app->servers.end(), [&](const Server& s) { return s.addr == change.addr; });
  if (match == app->servers.end()) {
    // Another spelling of the same endpoint ("localhost:9001" for "127.0.0.1:9001").
    if (auto address = parse_address(change.addr))
      match = std::find_if(app->servers.begin(), app->servers.end(),
                           [&](const Server& s) { return same_endpoint(s.address, *address); });
  }
  if (match == app->servers.end())
    return make_error(ErrorKind::NotFound, "app " + quoted(change.app) + " has no server " + quoted(change.addr));
  auto next = std::make_shared<App>(*app);
  next->servers.erase(next->servers.begin() + (match - app->servers.begin()));
  next->id = next_object_id();
  replace_app(std::move(next));
  return {};
}

Result<void> RouteTableBuilder::set_default(const Change& change) {
  if (!change.app.empty() && table_.apps_.find(change.app) == nullptr)
    return make_error(ErrorKind::NotFound, "app " + quoted(change.app) + " does not exist");
  if (table_.default_app_ && *table_.default_app_ == change.app) return {};
  if (table_.default_app_) add_refs(*table_.default_app_, -1);
  if (change.app.empty()) {
    table_.default_app_.reset();
    table_.default_route_.reset();
    return {};
  }
  table_.default_app_ = change.app;
  table_.default_route_ = make_route("", {RouteEntry{change.app, 1, {}}});
  add_refs(change.app, +1);
  return {};
}

Result<RouteTablePtr> build_table(const Config& config, uint64_t version) {
  RouteTableBuilder builder;
  if (auto loaded = builder.load(config); !loaded) return loaded.error();
  return builder.finish(version);
}

Result<RouteTablePtr> apply_changes(const RouteTable& base, std::span<const Change> changes, uint64_t version) {
  RouteTableBuilder builder(base);  // a private copy: `base` is never touched
  for (const Change& change : changes)
    if (auto applied = builder.apply(change); !applied) return applied.error();
  return builder.finish(version);
}

}  // namespace turnout
