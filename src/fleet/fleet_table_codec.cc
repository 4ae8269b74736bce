#include "turnout/fleet/fleet_table_codec.h"

#include <set>

#include <nlohmann/json.hpp>

#include "turnout/state/table_codec.h"

namespace turnout {

namespace {

using nlohmann::json;

Error bad(const std::string& what) { return make_error(ErrorKind::Invalid, what); }

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

Result<json> parse(std::string_view key, std::string_view value) {
  json j = json::parse(value, nullptr, false);
  if (j.is_discarded()) return bad("etcd key '" + std::string(key) + "' does not hold JSON");
  return j;
}

void put_app(const FleetKeys& keys, const RouteTable& to, const std::string& name, std::vector<TxnOp>& out) {
  if (const App* app = to.find_app(name))
    out.push_back(TxnOp::put(keys.app(name), dump(app_to_json(*app))));
  else
    out.push_back(TxnOp::del(keys.app(name)));
}

void put_route(const FleetKeys& keys, const RouteTable& to, const std::string& host, std::vector<TxnOp>& out) {
  if (const Route* route = to.find_route(host))
    out.push_back(TxnOp::put(keys.route(host), dump(route_to_json(*route))));
  else
    out.push_back(TxnOp::del(keys.route(host)));
}

void put_certificate(const FleetKeys& keys, const RouteTable& to, const std::string& name, std::vector<TxnOp>& out) {
  if (const Certificate* cert = to.certificates()->find(name))
    out.push_back(TxnOp::put(keys.certificate(name), dump(certificate_to_json(*cert))));
  else
    out.push_back(TxnOp::del(keys.certificate(name)));
}

void put_default_app(const FleetKeys& keys, const RouteTable& to, std::vector<TxnOp>& out) {
  if (to.default_app())
    out.push_back(TxnOp::put(keys.default_app(), dump(json(*to.default_app()))));
  else
    out.push_back(TxnOp::del(keys.default_app()));
}

// The keys under the prefix that hold a table object (after the prefix). Others are not turnout's
// (`version` and `instances/` are handled apart).
bool is_object_key(std::string_view rest) {
  auto starts = [&](std::string_view s) { return rest.substr(0, s.size()) == s; };
  return starts("apps/") || starts("routes/") || starts("certificates/") || rest == "default_app" ||
         rest == "default_certificate";
}

bool same_app(const App& a, const App& b) { return &a == &b || app_to_json(a) == app_to_json(b); }

bool same_route(const Route& a, const Route& b) {
  if (&a == &b) return true;
  if (a.apps.size() != b.apps.size()) return false;
  for (size_t i = 0; i < a.apps.size(); ++i)
    if (a.apps[i].app != b.apps[i].app || a.apps[i].weight != b.apps[i].weight || a.apps[i].when != b.apps[i].when)
      return false;
  return true;
}

bool same_certificate(const Certificate* a, const Certificate* b) {
  return a == b || (a != nullptr && b != nullptr && a->chain_pem() == b->chain_pem() && a->key_pem() == b->key_pem());
}

}  // namespace

std::string encode_fleet_version(const HistoryEntry& entry, std::string_view instance) {
  json j = history_to_json(entry);
  j["version"] = entry.version;
  j["instance"] = std::string(instance);
  return dump(j);
}

Result<HistoryEntry> decode_fleet_version(std::string_view value) {
  json j = json::parse(value, nullptr, false);
  if (!j.is_object()) return bad("the version key must hold a JSON object");
  auto v = j.find("version");
  if (v == j.end() || !v->is_number_unsigned() || v->get<uint64_t>() == 0)
    return bad("the version key needs a \"version\" number >= 1");
  return history_from_json(j, v->get<uint64_t>());
}

std::vector<TxnOp> table_puts(const FleetKeys& keys, const RouteTable& table) {
  std::vector<TxnOp> out;
  out.reserve(table.app_count() + table.route_count() + 2);
  table.for_each_app([&](const App& app) { out.push_back(TxnOp::put(keys.app(app.name), dump(app_to_json(app)))); });
  table.for_each_route(
      [&](const Route& route) { out.push_back(TxnOp::put(keys.route(route.host), dump(route_to_json(route)))); });
  if (table.default_app()) out.push_back(TxnOp::put(keys.default_app(), dump(json(*table.default_app()))));
  for (const auto& [name, cert] : table.certificates()->by_name())
    out.push_back(TxnOp::put(keys.certificate(name), dump(certificate_to_json(*cert))));
  if (!table.certificates()->default_name().empty())
    out.push_back(TxnOp::put(keys.default_certificate(), dump(json(table.certificates()->default_name()))));
  return out;
}

std::vector<TxnOp> table_delta(const FleetKeys& keys, const RouteTable& from, const RouteTable& to,
                               const std::vector<Change>* changes) {
  std::vector<TxnOp> out;
  if (changes != nullptr) {
    std::set<std::string> apps, routes, certs;
    bool default_app = false;
    for (const Change& c : *changes) {
      switch (c.op) {
        case Change::Op::Map:
        case Change::Op::Unmap:
        case Change::Op::SetRoute: routes.insert(c.host); break;
        case Change::Op::PutApp:
        case Change::Op::DeleteApp:
        case Change::Op::AddServer:
        case Change::Op::RemoveServer:
        case Change::Op::SetApp: apps.insert(c.app); break;
        case Change::Op::SetDefault: default_app = true; break;
        case Change::Op::CertSet:
        case Change::Op::CertDelete: certs.insert(c.name); break;
      }
    }
    for (const std::string& a : apps) put_app(keys, to, a, out);
    for (const std::string& r : routes) put_route(keys, to, r, out);
    for (const std::string& c : certs) put_certificate(keys, to, c, out);
    if (default_app) put_default_app(keys, to, out);
    return out;
  }
  to.for_each_app([&](const App& app) {
    const App* was = from.find_app(app.name);
    if (was == nullptr || !same_app(*was, app)) out.push_back(TxnOp::put(keys.app(app.name), dump(app_to_json(app))));
  });
  from.for_each_app([&](const App& app) {
    if (to.find_app(app.name) == nullptr) out.push_back(TxnOp::del(keys.app(app.name)));
  });
  to.for_each_route([&](const Route& route) {
    const Route* was = from.find_route(route.host);
    if (was == nullptr || !same_route(*was, route))
      out.push_back(TxnOp::put(keys.route(route.host), dump(route_to_json(route))));
  });
  from.for_each_route([&](const Route& route) {
    if (to.find_route(route.host) == nullptr) out.push_back(TxnOp::del(keys.route(route.host)));
  });
  if (from.default_app() != to.default_app()) put_default_app(keys, to, out);
  for (const auto& [name, cert] : to.certificates()->by_name())
    if (!same_certificate(from.certificates()->find(name), cert.get())) put_certificate(keys, to, name, out);
  for (const auto& [name, cert] : from.certificates()->by_name())
    if (to.certificates()->find(name) == nullptr) out.push_back(TxnOp::del(keys.certificate(name)));
  if (from.certificates()->default_name() != to.certificates()->default_name()) {
    const std::string& d = to.certificates()->default_name();
    out.push_back(d.empty() ? TxnOp::del(keys.default_certificate())
                            : TxnOp::put(keys.default_certificate(), dump(json(d))));
  }
  return out;
}

Result<FleetSnapshot> table_from_kvs(const FleetKeys& keys, const std::vector<KeyValue>& kvs) {
  FleetSnapshot snap;
  const std::string& p = keys.prefix();
  json doc = {{"apps", json::object()}, {"routes", json::object()}, {"default_app", nullptr}};
  bool has_version = false;
  for (const KeyValue& kv : kvs) {
    if (kv.key.compare(0, p.size(), p) != 0) continue;
    std::string_view rest = std::string_view(kv.key).substr(p.size());
    auto starts = [&](std::string_view s) { return rest.substr(0, s.size()) == s; };
    if (rest == "version") {
      auto entry = decode_fleet_version(kv.value);
      if (!entry) return entry.error();
      snap.entry = *entry;
      snap.version_mod_revision = kv.mod_revision;
      has_version = true;
      continue;
    }
    if (starts("instances/")) continue;
    if (!is_object_key(rest)) continue;  // not turnout's: left alone
    auto value = parse(kv.key, kv.value);
    if (!value) return value.error();
    if (starts("apps/")) {
      doc["apps"][std::string(rest.substr(5))] = std::move(*value);
    } else if (starts("routes/")) {
      doc["routes"][std::string(rest.substr(7))] = std::move(*value);
    } else if (starts("certificates/")) {
      if (!doc.contains("certificates")) doc["certificates"] = json::object();
      doc["certificates"][std::string(rest.substr(13))] = std::move(*value);
    } else if (rest == "default_app") {
      doc["default_app"] = std::move(*value);
    } else {
      doc["default_certificate"] = std::move(*value);
    }
  }
  if (!has_version) {
    snap.empty = true;
    return snap;
  }
  auto table = table_from_json(doc, snap.entry.version);
  if (!table) return make_error(table.error().kind, "the table in etcd: " + table.error().message);
  snap.table = std::move(*table);
  return snap;
}

Result<FleetTxn> txn_from_events(const FleetKeys& keys, const std::vector<WatchEvent>& events) {
  FleetTxn txn;
  const std::string& p = keys.prefix();
  std::vector<Change> set_apps, routes, defaults, certs, deleted_apps;
  for (const WatchEvent& e : events) {
    if (e.kv.key.compare(0, p.size(), p) != 0) continue;
    std::string_view rest = std::string_view(e.kv.key).substr(p.size());
    auto starts = [&](std::string_view s) { return rest.substr(0, s.size()) == s; };
    const bool put = e.type == WatchEvent::Type::Put;
    if (rest == "version") {
      if (!put) return bad("the version key was deleted");
      auto entry = decode_fleet_version(e.kv.value);
      if (!entry) return entry.error();
      txn.entry = *entry;
      txn.version_mod_revision = e.kv.mod_revision;
      continue;
    }
    if (starts("instances/")) {
      ++txn.instance_events;
      continue;
    }
    // default_certificate moves only with a whole-table read (no change kind sets it).
    if (!is_object_key(rest) || rest == "default_certificate") continue;
    json value;
    if (put) {
      auto parsed = parse(e.kv.key, e.kv.value);
      if (!parsed) return parsed.error();
      value = std::move(*parsed);
    }
    Change c;
    if (starts("apps/")) {
      c.app = std::string(rest.substr(5));
      if (put) {
        auto spec = app_spec_from_json(c.app, value);
        if (!spec) return spec.error();
        c.op = Change::Op::SetApp;
        c.servers = std::move(spec->servers);
        c.health = std::move(spec->health);
        c.tls = std::move(spec->tls);
        set_apps.push_back(std::move(c));
      } else {
        c.op = Change::Op::DeleteApp;
        deleted_apps.push_back(std::move(c));
      }
    } else if (starts("routes/")) {
      c.op = Change::Op::SetRoute;
      c.host = std::string(rest.substr(7));
      if (put) {
        auto targets = route_targets_from_json(c.host, value);
        if (!targets) return targets.error();
        c.targets = std::move(*targets);
      }
      routes.push_back(std::move(c));
    } else if (starts("certificates/")) {
      c.name = std::string(rest.substr(13));
      if (put) {
        auto cert = certificate_from_json(c.name, value);
        if (!cert) return cert.error();
        c.op = Change::Op::CertSet;
        c.certificate = std::move(*cert);
      } else {
        c.op = Change::Op::CertDelete;
      }
      certs.push_back(std::move(c));
    } else if (rest == "default_app") {
      c.op = Change::Op::SetDefault;
      if (put) {
        if (!value.is_string()) return bad("the default_app key must hold a JSON string");
        c.app = value.get<std::string>();
      }
      defaults.push_back(std::move(c));
    }
  }
  for (auto* group : {&set_apps, &routes, &defaults, &certs, &deleted_apps})
    for (Change& c : *group) txn.changes.push_back(std::move(c));
  return txn;
}

bool same_table_content(const RouteTable& a, const RouteTable& b) {
  if (a.route_count() != b.route_count() || a.app_count() != b.app_count() || a.default_app() != b.default_app())
    return false;
  bool same = true;
  a.for_each_app([&](const App& app) {
    const App* other = b.find_app(app.name);
    same = same && other != nullptr && same_app(app, *other);
  });
  a.for_each_route([&](const Route& route) {
    const Route* other = b.find_route(route.host);
    same = same && other != nullptr && same_route(route, *other);
  });
  const CertificateSet& ca = *a.certificates();
  const CertificateSet& cb = *b.certificates();
  if (ca.by_name().size() != cb.by_name().size() || ca.default_name() != cb.default_name()) return false;
  for (const auto& [name, cert] : ca.by_name()) same = same && same_certificate(cb.find(name), cert.get());
  return same;
}

}  // namespace turnout
