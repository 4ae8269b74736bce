// Table and change <-> JSON for the state file (state_store.h). nlohmann::json is only ever read
// through type-checked accessors here, so a malformed state file yields an Error, not a throw.
#include <array>

#include "table_codec_internal.h"
#include "turnout/common/utf8.h"
#include "turnout/state/table_codec.h"

namespace turnout {

using nlohmann::json;

namespace {

constexpr std::array<Change::Op, 11> kOps = {Change::Op::Map,       Change::Op::Unmap,        Change::Op::PutApp,
                                            Change::Op::DeleteApp, Change::Op::AddServer,    Change::Op::RemoveServer,
                                            Change::Op::SetDefault, Change::Op::CertSet,     Change::Op::CertDelete,
                                            Change::Op::SetApp,    Change::Op::SetRoute};

Error bad(const std::string& what) { return make_error(ErrorKind::Invalid, what); }

const json* field(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

bool read_string(const json* v, std::string* out) {
  if (v == nullptr || !v->is_string()) return false;
  *out = v->get_ref<const std::string&>();
  return true;
}

// An integer in [min, max].
bool read_uint(const json* v, uint64_t min, uint64_t max, uint64_t* out) {
  if (v == nullptr || !v->is_number_integer()) return false;
  if (v->is_number_unsigned()) {
    *out = v->get<uint64_t>();
  } else {
    int64_t s = v->get<int64_t>();
    if (s < 0) return false;
    *out = static_cast<uint64_t>(s);
  }
  return *out >= min && *out <= max;
}

bool read_weight(const json* v, uint32_t* out) {
  uint64_t w = 0;
  if (!read_uint(v, 1, UINT32_MAX, &w)) return false;
  *out = static_cast<uint32_t>(w);
  return true;
}

json servers_to_json(const std::vector<ServerSpec>& servers) {
  json out = json::array();
  for (const ServerSpec& s : servers) out.push_back({{"addr", s.addr}, {"weight", s.weight}});
  return out;
}

Result<std::vector<ServerSpec>> servers_from_json(const json* v, const std::string& where) {
  if (v == nullptr || !v->is_array()) return bad(where + ": servers must be an array");
  std::vector<ServerSpec> out;
  out.reserve(v->size());
  for (const json& s : *v) {
    ServerSpec spec;
    if (!s.is_object() || !read_string(field(s, "addr"), &spec.addr) || !read_weight(field(s, "weight"), &spec.weight))
      return bad(where + ": a server must be {\"addr\": string, \"weight\": integer >= 1}");
    out.push_back(std::move(spec));
  }
  return out;
}

json health_to_json(const HealthSpec& h) {
  return {{"path", h.path},
          {"interval_ms", h.interval.count()},
          {"timeout_ms", h.timeout.count()},
          {"rise", h.rise},
          {"fall", h.fall}};
}

Result<HealthSpec> health_from_json(const json& j, const std::string& where) {
  HealthSpec h;
  uint64_t interval = 0, timeout = 0, rise = 0, fall = 0;
  if (!j.is_object() || !read_string(field(j, "path"), &h.path) ||
      !read_uint(field(j, "interval_ms"), 1, INT64_MAX, &interval) ||
      !read_uint(field(j, "timeout_ms"), 1, INT64_MAX, &timeout) || !read_uint(field(j, "rise"), 1, 1000, &rise) ||
      !read_uint(field(j, "fall"), 1, 1000, &fall))
    return bad(where + ": health must be {path, interval_ms, timeout_ms, rise, fall}");
  h.interval = Millis(static_cast<int64_t>(interval));
  h.timeout = Millis(static_cast<int64_t>(timeout));
  h.rise = static_cast<uint32_t>(rise);
  h.fall = static_cast<uint32_t>(fall);
  return h;
}

json tls_to_json(const UpstreamTlsSpec& t) {
  return {{"ca", t.ca}, {"server_name", t.server_name}, {"verify", t.verify}};
}

Result<UpstreamTlsSpec> tls_from_json(const json& j, const std::string& where) {
  UpstreamTlsSpec t;
  const json* verify = j.is_object() ? field(j, "verify") : nullptr;
  if (!j.is_object() || !read_string(field(j, "ca"), &t.ca) || !read_string(field(j, "server_name"), &t.server_name) ||
      verify == nullptr || !verify->is_boolean())
    return bad(where + ": tls must be {ca, server_name, verify}");
  t.verify = verify->get<bool>();
  return t;
}

// Appends `s` as a JSON string literal. Returns false, appending nothing, when `s` is not valid
// UTF-8: such a string cannot be written to JSON unchanged, and replacing the bytes would bring a
// different name back at the next start.
bool append_quoted(std::string& out, const std::string& s) {
  bool plain = true;
  for (unsigned char c : s)
    if (c < 0x20 || c == '"' || c == '\\' || c >= 0x80) {
      plain = false;
      break;
    }
  if (plain) {
    out += '"';
    out += s;
    out += '"';
    return true;
  }
  if (!is_valid_utf8(s)) return false;
  out += json(s).dump();
  return true;
}

}  // namespace

// A certificate as the state file and the upgrade hand-off keep it: its PEM text as installed.
json certificate_to_json(const Certificate& c) { return {{"cert", c.chain_pem()}, {"key", c.key_pem()}}; }

Result<CertificatePtr> certificate_from_json(const std::string& name, const json& j) {
  std::string where = "certificate '" + name + "'";
  std::string cert, key;
  if (!j.is_object() || !read_string(field(j, "cert"), &cert) || !read_string(field(j, "key"), &key))
    return bad(where + " must be an object with \"cert\" and \"key\" PEM strings");
  return Certificate::from_pem(name, std::move(cert), std::move(key));
}

json app_to_json(const App& app) {
  json a = json::object();
  json servers = json::array();
  for (const Server& s : app.servers) servers.push_back({{"addr", s.addr}, {"weight", s.weight}});
  a["servers"] = std::move(servers);
  if (app.health) a["health"] = health_to_json(*app.health);
  if (app.tls) a["tls"] = tls_to_json(*app.tls);
  return a;
}

Result<AppSpec> app_spec_from_json(const std::string& name, const json& a) {
  std::string where = "app '" + name + "'";
  if (!a.is_object()) return bad(where + " must be an object");
  AppSpec spec;
  auto servers = servers_from_json(field(a, "servers"), where);
  if (!servers) return servers.error();
  spec.servers = std::move(*servers);
  if (const json* h = field(a, "health"); h != nullptr && !h->is_null()) {
    auto health = health_from_json(*h, where);
    if (!health) return health.error();
    spec.health = *health;
  }
  if (const json* t = field(a, "tls"); t != nullptr && !t->is_null()) {
    auto tls = tls_from_json(*t, where);
    if (!tls) return tls.error();
    spec.tls = *tls;
  }
  return spec;
}

json when_to_json(const RouteWhen& when) {
  return {{when.kind == RouteWhen::Kind::Header ? "header" : "cookie", when.name}, {"value", when.value}};
}

Result<RouteWhen> when_from_json(const json& j, const std::string& where) {
  const char* shape = ": \"when\" must be {\"header\" or \"cookie\": NAME, \"value\": V}";
  if (!j.is_object()) return bad(where + shape);
  RouteWhen when;
  const json* header = field(j, "header");
  const json* cookie = field(j, "cookie");
  if ((header == nullptr) == (cookie == nullptr)) return bad(where + shape);
  for (const auto& [key, v] : j.items())
    if (key != "header" && key != "cookie" && key != "value") return bad(where + ": unknown key \"" + key + "\" in \"when\"");
  when.kind = header != nullptr ? RouteWhen::Kind::Header : RouteWhen::Kind::Cookie;
  if (!read_string(header != nullptr ? header : cookie, &when.name) || !read_string(field(j, "value"), &when.value))
    return bad(where + shape);
  if (std::string problem = check_route_when(when); !problem.empty()) return bad(where + ": " + problem);
  return when;
}

namespace {

// A route's entries: {app: weight} without rules (the form older files hold), else a list
// [{"app", "weight", "when"?}], since one app may then appear more than once.
template <class Entry>
json entries_to_json(const std::vector<Entry>& entries) {
  bool rules = false;
  for (const Entry& e : entries) rules = rules || static_cast<bool>(e.when);
  if (!rules) {
    json r = json::object();
    for (const Entry& e : entries) r[e.app] = e.weight;
    return r;
  }
  json r = json::array();
  for (const Entry& e : entries) {
    json one = {{"app", e.app}, {"weight", e.weight}};
    if (e.when) one["when"] = when_to_json(e.when);
    r.push_back(std::move(one));
  }
  return r;
}

}  // namespace

json route_to_json(const Route& route) { return entries_to_json(route.apps); }

Result<std::vector<RouteTarget>> route_targets_from_json(const std::string& host, const json& r) {
  std::vector<RouteTarget> targets;
  if (r.is_array() && !r.empty()) {
    targets.reserve(r.size());
    for (const json& e : r) {
      RouteTarget t;
      if (!e.is_object() || !read_string(field(e, "app"), &t.app))
        return bad("route '" + host + "': each entry must be {\"app\", \"weight\"?, \"when\"?}");
      if (const json* w = field(e, "weight"); w != nullptr && !read_weight(w, &t.weight))
        return bad("route '" + host + "': weight of '" + t.app + "' must be >= 1");
      if (const json* w = field(e, "when"); w != nullptr) {
        auto when = when_from_json(*w, "route '" + host + "'");
        if (!when) return when.error();
        t.when = std::move(*when);
      }
      targets.push_back(std::move(t));
    }
    return targets;
  }
  if (!r.is_object() || r.empty()) return bad("route '" + host + "' must be a non-empty object of app -> weight");
  targets.reserve(r.size());
  for (const auto& [app, w] : r.items()) {
    RouteTarget t{app, 1, {}};
    if (!read_weight(&w, &t.weight)) return bad("route '" + host + "': weight of '" + app + "' must be >= 1");
    targets.push_back(std::move(t));
  }
  return targets;
}

json table_to_json(const RouteTable& table) {
  json apps = json::object();
  table.for_each_app([&](const App& app) { apps[app.name] = app_to_json(app); });
  json routes = json::object();
  table.for_each_route([&](const Route& route) { routes[route.host] = route_to_json(route); });
  json out = {{"apps", std::move(apps)}, {"routes", std::move(routes)}, {"default_app", nullptr}};
  if (table.default_app()) out["default_app"] = *table.default_app();
  // Only tables with certificates carry the keys, so state files without TLS read as before.
  const CertificateSet& certs = *table.certificates();
  if (!certs.none()) {
    json c = json::object();
    for (const auto& [name, cert] : certs.by_name()) c[name] = certificate_to_json(*cert);
    out["certificates"] = std::move(c);
    out["default_certificate"] = certs.default_name().empty() ? json(nullptr) : json(certs.default_name());
  }
  return out;
}

Result<void> append_table_text(const RouteTable& table, std::string& out) {
  std::string bad_text;  // the first string that is not UTF-8, described
  auto quoted = [&](const std::string& s, const char* what) {
    if (!append_quoted(out, s) && bad_text.empty()) bad_text = what;
  };
  out += "{\"apps\":{";
  bool first = true;
  table.for_each_app([&](const App& app) {
    if (!first) out += ',';
    first = false;
    quoted(app.name, "an app name");
    out += ":{\"servers\":[";
    for (size_t i = 0; i < app.servers.size(); ++i) {
      if (i > 0) out += ',';
      out += "{\"addr\":";
      quoted(app.servers[i].addr, "a server address");
      out += ",\"weight\":" + std::to_string(app.servers[i].weight) + "}";
    }
    out += ']';
    if (app.health) {
      if (is_valid_utf8(app.health->path)) {
        out += ",\"health\":" + health_to_json(*app.health).dump();
      } else if (bad_text.empty()) {
        bad_text = "a health-check path";
      }
    }
    if (app.tls) {
      if (is_valid_utf8(app.tls->ca) && is_valid_utf8(app.tls->server_name)) {
        out += ",\"tls\":" + tls_to_json(*app.tls).dump();
      } else if (bad_text.empty()) {
        bad_text = "an app's tls ca or server_name";
      }
    }
    out += '}';
  });
  out += "},\"routes\":{";
  first = true;
  table.for_each_route([&](const Route& route) {
    if (!first) out += ',';
    first = false;
    quoted(route.host, "a host");
    if (route.has_rules) {
      // Rare; every byte of a rule entry is ASCII, checked when it was built.
      out += ':';
      out += route_to_json(route).dump();
      return;
    }
    out += ":{";
    for (size_t i = 0; i < route.apps.size(); ++i) {
      if (i > 0) out += ',';
      quoted(route.apps[i].app, "an app name");
      out += ':';
      out += std::to_string(route.apps[i].weight);
    }
    out += '}';
  });
  out += "},\"default_app\":";
  if (table.default_app())
    quoted(*table.default_app(), "the default app");
  else
    out += "null";
  const CertificateSet& certs = *table.certificates();
  if (!certs.none()) {
    out += ",\"certificates\":{";
    first = true;
    for (const auto& [name, cert] : certs.by_name()) {
      if (!first) out += ',';
      first = false;
      quoted(name, "a certificate name");
      out += ":{\"cert\":";
      quoted(cert->chain_pem(), "a certificate");
      out += ",\"key\":";
      quoted(cert->key_pem(), "a key");
      out += '}';
    }
    out += "},\"default_certificate\":";
    if (certs.default_name().empty())
      out += "null";
    else
      quoted(certs.default_name(), "the default certificate");
  }
  out += '}';
  if (!bad_text.empty())
    return make_error(ErrorKind::Internal, "state: " + bad_text + " of the table is not valid UTF-8; the state file cannot hold it");
  return {};
}

Result<void> apps_from_json(const json& apps, Config& cfg) {
  if (!apps.is_object()) return bad("table.apps must be an object");
  for (const auto& [name, a] : apps.items()) {
    auto spec = app_spec_from_json(name, a);
    if (!spec) return spec.error();
    cfg.apps.emplace_hint(cfg.apps.end(), name, std::move(*spec));
  }
  return {};
}

Result<void> certificates_from_json(const json& certs, Config& cfg) {
  if (!certs.is_object()) return bad("table.certificates must be an object");
  for (const auto& [name, c] : certs.items()) {
    auto cert = certificate_from_json(name, c);
    if (!cert) return cert.error();
    cfg.tls.certificates.emplace(name, std::move(*cert));
  }
  return {};
}

Result<RouteTablePtr> table_from_json(const json& j, uint64_t version) {
  if (!j.is_object()) return bad("table must be an object");
  const json* apps = field(j, "apps");
  const json* routes = field(j, "routes");
  const json* default_app = field(j, "default_app");
  if (apps == nullptr) return bad("table.apps must be an object");
  if (routes == nullptr || !routes->is_object()) return bad("table.routes must be an object");

  // Built through a Config so that a large table takes route_builder's bulk path.
  Config cfg;
  if (auto ok = apps_from_json(*apps, cfg); !ok) return ok.error();
  for (const auto& [host, r] : routes->items()) {
    auto targets = route_targets_from_json(host, r);
    if (!targets) return targets.error();
    cfg.routes.emplace_hint(cfg.routes.end(), host, std::move(*targets));
  }
  if (default_app != nullptr && !default_app->is_null()) {
    std::string name;
    if (!read_string(default_app, &name)) return bad("table.default_app must be a string or null");
    cfg.default_app = std::move(name);
  }
  if (const json* certs = field(j, "certificates"); certs != nullptr)
    if (auto ok = certificates_from_json(*certs, cfg); !ok) return ok.error();
  if (const json* d = field(j, "default_certificate"); d != nullptr && !d->is_null()) {
    if (!read_string(d, &cfg.tls.default_certificate)) return bad("table.default_certificate must be a string or null");
  }
  return build_table(cfg, version);
}

json change_to_json(const Change& c) {
  json j = {{"op", op_name(c.op)}};
  switch (c.op) {
    case Change::Op::Map:
      j["host"] = c.host;
      j["app"] = c.app;
      j["weight"] = c.weight;
      if (c.when) j["when"] = when_to_json(c.when);
      break;
    case Change::Op::Unmap:
      j["host"] = c.host;
      j["app"] = c.app;
      if (c.if_present) j["if_present"] = true;
      if (c.when) j["when"] = when_to_json(c.when);
      break;
    case Change::Op::PutApp:
      j["app"] = c.app;
      j["servers"] = servers_to_json(c.servers);
      break;
    case Change::Op::DeleteApp:
      j["app"] = c.app;
      break;
    case Change::Op::AddServer:
      j["app"] = c.app;
      j["addr"] = c.addr;
      j["weight"] = c.weight;
      break;
    case Change::Op::RemoveServer:
      j["app"] = c.app;
      j["addr"] = c.addr;
      break;
    case Change::Op::SetDefault:
      j["app"] = c.app.empty() ? json(nullptr) : json(c.app);
      break;
    case Change::Op::CertSet:
      j["name"] = c.name;
      if (c.certificate) {
        j["cert"] = c.certificate->chain_pem();
        j["key"] = c.certificate->key_pem();
      }
      break;
    case Change::Op::CertDelete:
      j["name"] = c.name;
      break;
    case Change::Op::SetApp:
      j["app"] = c.app;
      j["servers"] = servers_to_json(c.servers);
      if (c.health) j["health"] = health_to_json(*c.health);
      if (c.tls) j["tls"] = tls_to_json(*c.tls);
      break;
    case Change::Op::SetRoute: {
      j["host"] = c.host;
      j["apps"] = entries_to_json(c.targets);
      break;
    }
  }
  return j;
}

Result<Change> change_from_json(const json& j) {
  if (!j.is_object()) return bad("a change must be an object");
  std::string op;
  if (!read_string(field(j, "op"), &op)) return bad("a change needs an \"op\" string");
  Change c;
  bool known = false;
  for (Change::Op candidate : kOps)
    if (op == op_name(candidate)) {
      c.op = candidate;
      known = true;
    }
  if (!known) return bad("unknown change op '" + op + "'");
  const std::string where = "change '" + op + "'";
  if (c.op == Change::Op::CertSet || c.op == Change::Op::CertDelete) {
    if (!read_string(field(j, "name"), &c.name)) return bad(where + " needs a \"name\" string");
    if (c.op == Change::Op::CertSet) {
      auto cert = certificate_from_json(c.name, j);
      if (!cert) return cert.error();
      c.certificate = std::move(*cert);
    }
    return c;
  }
  if (c.op == Change::Op::SetRoute) {
    if (!read_string(field(j, "host"), &c.host)) return bad(where + " needs a \"host\" string");
    const json* apps = field(j, "apps");
    if (apps == nullptr || !(apps->is_object() || apps->is_array())) return bad(where + " needs an \"apps\" object");
    if (!apps->empty()) {
      auto targets = route_targets_from_json(c.host, *apps);
      if (!targets) return targets.error();
      c.targets = std::move(*targets);
    }
    return c;
  }
  if (c.op == Change::Op::SetApp) {
    if (!read_string(field(j, "app"), &c.app)) return bad(where + " needs an \"app\" string");
    auto spec = app_spec_from_json(c.app, j);
    if (!spec) return spec.error();
    c.servers = std::move(spec->servers);
    c.health = std::move(spec->health);
    c.tls = std::move(spec->tls);
    return c;
  }
  bool needs_host = c.op == Change::Op::Map || c.op == Change::Op::Unmap;
  bool needs_addr = c.op == Change::Op::AddServer || c.op == Change::Op::RemoveServer;
  bool has_weight = c.op == Change::Op::Map || c.op == Change::Op::AddServer;
  if (c.op == Change::Op::SetDefault) {
    const json* app = field(j, "app");
    if (app != nullptr && !app->is_null() && !read_string(app, &c.app))
      return bad(where + ": \"app\" must be a string or null");
  } else if (!read_string(field(j, "app"), &c.app)) {
    return bad(where + " needs an \"app\" string");
  }
  if (needs_host && !read_string(field(j, "host"), &c.host)) return bad(where + " needs a \"host\" string");
  if (needs_addr && !read_string(field(j, "addr"), &c.addr)) return bad(where + " needs an \"addr\" string");
  if (has_weight) {
    const json* w = field(j, "weight");
    if (w != nullptr && !read_weight(w, &c.weight)) return bad(where + ": \"weight\" must be an integer >= 1");
  }
  if (needs_host) {
    if (const json* w = field(j, "when"); w != nullptr) {
      auto when = when_from_json(*w, where);
      if (!when) return when.error();
      c.when = std::move(*when);
    }
  }
  if (c.op == Change::Op::Unmap) {
    const json* p = field(j, "if_present");
    if (p != nullptr && !p->is_boolean()) return bad(where + ": \"if_present\" must be a boolean");
    c.if_present = p != nullptr && p->get<bool>();
  }
  if (c.op == Change::Op::PutApp) {
    auto servers = servers_from_json(field(j, "servers"), where);
    if (!servers) return servers.error();
    c.servers = std::move(*servers);
  }
  return c;
}

}  // namespace turnout
