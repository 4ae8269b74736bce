// The admin endpoint table (STYLE.md pattern 18): {method, path pattern, mutates, handler, usage}.
// Handlers check their input completely, then make exactly one AdminActions call; a change is
// answered from its `done` callback, so the answer says the change is durable and adopted.
#include "turnout/http/error_status.h"
#include "turnout/admin/api.h"
#include "turnout/common/path_key.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <map>
#include <memory>
#include <utility>

#include <fmt/format.h>

#include "turnout/admin/certificate_json.h"
#include "turnout/admin/http_util.h"
#include "turnout/admin/status_page.h"
#include "turnout/admin/table_export.h"
#include "turnout/state/table_codec.h"

namespace turnout {

const std::string* AdminRequest::header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (n == name) return &v;
  }
  return nullptr;
}

namespace {

using json = nlohmann::json;

constexpr uint32_t kMaxWeight = 1000000;

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

AdminResponse json_response(int status, const json& body) {
  AdminResponse r;
  r.status = status;
  r.body = dump(body);
  r.body += '\n';
  return r;
}
AdminResponse error_response(const Error& e) { return json_response(http_status(e.kind), json{{"error", e.message}}); }
AdminResponse version_response(uint64_t version) { return json_response(200, json{{"version", version}}); }

// Everything a handler needs about one call. Handlers that answer later copy `reply` (and what
// else they need) into their callbacks; the Call itself dies when the handler returns.
struct Call {
  AdminActions& actions;              // the running server
  const AdminRequest& request;        // valid until the handler returns
  std::vector<std::string> params;    // decoded path captures, in pattern order
  std::string query;                  // raw query string
  std::optional<uint64_t> if_match;   // If-Match, for mutations
  AdminReply reply;                   // call exactly once
  bool force = false;                 // ?force=1 or "force": true: past the guard rails

  void fail(int status, std::string message) { reply(json_response(status, json{{"error", std::move(message)}})); }
  void fail(const Error& e) { reply(error_response(e)); }
};

// --- input checks ---------------------------------------------------------------------------

// Route key from a path (already percent-decoded: "example.com%2Fapi" arrives as
// "example.com/api") or a JSON field -> its stored form (common/path_key.h), or 400 with why.
Result<std::string> route_key(std::string_view raw) {
  std::string why;
  std::string key = canonical_route_key(raw, &why);
  if (key.empty()) return make_error(ErrorKind::Invalid, fmt::format("invalid route key \"{}\": {}", raw, why));
  return key;
}

Result<std::string> app_name(std::string_view raw) {
  if (raw.empty()) return make_error(ErrorKind::Invalid, "app name is empty");
  for (char ch : raw) {
    if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) {
      return make_error(ErrorKind::Invalid, "app name contains a control character");
    }
  }
  return std::string(raw);
}

// Parses a JSON body. Empty body -> null (callers decide whether that is allowed).
Result<json> parse_body(const AdminRequest& request) {
  if (request.body.empty()) return json();
  json j = json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return make_error(ErrorKind::Invalid, "request body is not valid JSON");
  return j;
}

Result<std::string> string_field(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end()) return make_error(ErrorKind::Invalid, fmt::format("missing \"{}\"", key));
  if (!it->is_string()) return make_error(ErrorKind::Invalid, fmt::format("\"{}\" must be a string", key));
  return it->get<std::string>();
}

Result<uint32_t> weight_value(const json& v, const char* key) {
  if (!v.is_number_integer() || v.get<int64_t>() < 1 || v.get<int64_t>() > kMaxWeight) {
    return make_error(ErrorKind::Invalid, fmt::format("\"{}\" must be an integer from 1 to {}", key, kMaxWeight));
  }
  return static_cast<uint32_t>(v.get<int64_t>());
}

// Optional weight field, default 1.
Result<uint32_t> weight_field(const json& obj, const char* key = "weight") {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return 1u;
  return weight_value(*it, key);
}

Result<std::vector<ServerSpec>> servers_field(const json& obj) {
  auto it = obj.find("servers");
  if (it == obj.end()) return make_error(ErrorKind::Invalid, "missing \"servers\"");
  if (!it->is_array()) return make_error(ErrorKind::Invalid, "\"servers\" must be an array");
  std::vector<ServerSpec> servers;
  for (const json& s : *it) {
    ServerSpec spec;
    if (s.is_string()) {
      spec.addr = s.get<std::string>();
    } else if (s.is_object()) {
      Result<std::string> addr = string_field(s, "addr");
      if (!addr) return addr.error();
      Result<uint32_t> weight = weight_field(s);
      if (!weight) return weight.error();
      spec.addr = *addr;
      spec.weight = *weight;
    } else {
      return make_error(ErrorKind::Invalid, "each server must be \"addr\" or {\"addr\": ..., \"weight\": ...}");
    }
    if (spec.addr.empty()) return make_error(ErrorKind::Invalid, "server address is empty");
    servers.push_back(std::move(spec));
  }
  return servers;
}

// --- answering changes ----------------------------------------------------------------------

constexpr uint64_t kDefaultWaitMs = 60000;   // ?wait=1 without ?timeout=
constexpr double kMaxWaitSeconds = 86400;    // longest ?timeout= accepted

// An unmapped (host, app) whose in-flight requests an answer waits for (`?wait=1`).
struct DrainTarget {
  std::string host;  // route key
  std::string app;   // app name
};

// What a change's answer reports besides its version (so `ctl` can print the result), and what
// `?wait=1` waits for and how long.
struct Outcome {
  std::vector<std::string> hosts;   // route keys: their resulting routes are reported
  std::vector<std::string> apps;    // apps: their resulting servers are reported
  std::vector<std::string> certs;   // certificate names: their resulting summaries are reported
  std::vector<DrainTarget> drains;  // in-flight requests to wait for (?wait=1)
  uint64_t wait_ms = kDefaultWaitMs;  // bound of that wait (?timeout=SECONDS)
  bool fleet = false;                 // ?wait=fleet: answer once every live instance applied it
};

void add_unique(std::vector<std::string>& v, const std::string& s) {
  if (std::find(v.begin(), v.end(), s) == v.end()) v.push_back(s);
}

// The hosts and apps `changes` touch, in order of first mention.
Outcome outcome_of(const std::vector<Change>& changes) {
  Outcome o;
  for (const Change& c : changes) {
    if (c.op == Change::Op::Map || c.op == Change::Op::Unmap) add_unique(o.hosts, c.host);
    else if (c.op == Change::Op::CertSet || c.op == Change::Op::CertDelete) add_unique(o.certs, c.name);
    else if (c.op != Change::Op::SetDefault) add_unique(o.apps, c.app);
  }
  return o;
}

int64_t now_unix() { return static_cast<int64_t>(std::time(nullptr)); }

// The summary of certificate `name` in `table` (certificate_json.h), or null if it has none.
json certificate_or_null(const RouteTable& table, const std::string& name) {
  const CertificateSet& set = *table.certificates();
  const Certificate* cert = set.find(name);
  if (cert == nullptr) return nullptr;
  return certificate_json(*cert, set.default_name() == name, now_unix());
}

// A route's entries without `when` as {app: weight} (every entry of a route without rules).
json plain_entries_json(const Route& r) {
  json apps = json::object();
  for (const RouteEntry& e : r.apps)
    if (!e.when) apps[e.app] = e.weight;
  return apps;
}

// A route's entries with `when`: [{"app", "weight", "when": {"header"|"cookie", "value"}}].
json rule_entries_json(const Route& r) {
  json out = json::array();
  for (const RouteEntry& e : r.apps)
    if (e.when) out.push_back({{"app", e.app}, {"weight", e.weight}, {"when", when_to_json(e.when)}});
  return out;
}

// {"version": N, "routes": {host: {app: weight} | null}, "rules"?: {host: [rule entries]}, "apps": {app: {"servers": [...]} | null},
//  "certificates": {name: {...summary} | null}}
json change_answer(const RouteTable& table, uint64_t version, const Outcome& o) {
  json j = {{"version", version}};
  if (!o.hosts.empty()) {
    json routes = json::object();
    json rules = json::object();
    for (const std::string& h : o.hosts) {
      const Route* r = table.find_route(h);
      if (r == nullptr) {
        routes[h] = nullptr;
        continue;
      }
      routes[h] = plain_entries_json(*r);
      if (r->has_rules) rules[h] = rule_entries_json(*r);
    }
    j["routes"] = std::move(routes);
    if (!rules.empty()) j["rules"] = std::move(rules);
  }
  if (!o.apps.empty()) {
    json apps = json::object();
    for (const std::string& name : o.apps) {
      const App* a = table.find_app(name);
      if (a == nullptr) {
        apps[name] = nullptr;
        continue;
      }
      json servers = json::array();
      for (const Server& s : a->servers) servers.push_back({{"addr", s.addr}, {"weight", s.weight}});
      apps[name] = {{"servers", std::move(servers)}};
    }
    j["apps"] = std::move(apps);
  }
  if (!o.certs.empty()) {
    json certs = json::object();
    for (const std::string& name : o.certs) certs[name] = certificate_or_null(table, name);
    j["certificates"] = std::move(certs);
  }
  return j;
}

// `?timeout=SECONDS` (fractions allowed) for ?wait=1; the default when absent.
Result<uint64_t> wait_timeout_ms(std::string_view query) {
  std::optional<std::string> v = query_param(query, "timeout");
  if (!v) return kDefaultWaitMs;
  char* end = nullptr;
  double seconds = std::strtod(v->c_str(), &end);
  if (v->empty() || end != v->c_str() + v->size() || !(seconds >= 0) || seconds > kMaxWaitSeconds)
    return make_error(ErrorKind::Invalid, fmt::format("timeout must be seconds from 0 to {}, not \"{}\"", kMaxWaitSeconds, *v));
  return static_cast<uint64_t>(seconds * 1000);
}

// `body` (a change's 200 answer) once every live instance of the fleet applied `version`, or 504
// naming those that lag when `wait_ms` passes.
void reply_after_fleet(AdminActions& actions, AdminReply reply, json body, uint64_t version, uint64_t wait_ms) {
  actions.wait_fleet(version, wait_ms, [reply = std::move(reply), body = std::move(body), version, wait_ms](json late) {
    if (late.empty()) return reply(json_response(200, body));
    std::string names;
    for (const json& l : late) {
      if (!names.empty()) names += ", ";
      names += fmt::format("{} (at version {})", l.value("instance", ""), l.value("version", uint64_t{0}));
    }
    json timed_out = body;
    timed_out["error"] = fmt::format("timed out after {:.3g}s waiting for the fleet; the change WAS applied (version {}) "
                                     "but not yet by: {}", static_cast<double>(wait_ms) / 1000, version, names);
    timed_out["lagging"] = std::move(late);
    reply(json_response(504, timed_out));
  });
}

// `?wait=fleet` asked: the bound of the wait, or why it cannot be had.
Result<std::optional<uint64_t>> fleet_wait_ms(AdminActions& actions, std::string_view query) {
  std::optional<std::string> w = query_param(query, "wait");
  if (!w || *w != "fleet") return std::optional<uint64_t>();
  if (!actions.fleet()) return make_error(ErrorKind::Invalid, "wait=fleet needs table_source.etcd: this turnout is not part of a fleet");
  Result<uint64_t> ms = wait_timeout_ms(query);
  if (!ms) return ms.error();
  return std::optional<uint64_t>(*ms);
}

// Answers a change once it is adopted; with drains, once they drained (200) or the wait timed
// out (504, saying the change was applied and what is still in flight).
AdminActions::Done answer_change(AdminActions& actions, AdminReply reply, Outcome o) {
  return [&actions, reply = std::move(reply), o = std::move(o)](Result<uint64_t> result) {
    if (!result) {
      reply(error_response(result.error()));
      return;
    }
    uint64_t version = *result;
    json body = change_answer(*actions.current_table(), version, o);
    if (o.fleet) return reply_after_fleet(actions, std::move(reply), std::move(body), version, o.wait_ms);
    if (o.drains.empty()) {
      reply(json_response(200, body));
      return;
    }
    struct Waiting {
      size_t left;                           // drains not yet answered
      uint64_t total = 0;                    // requests still in flight at the timeout
      json in_flight = json::array();        // [{"host", "app", "in_flight"}] of those
    };
    auto w = std::make_shared<Waiting>(Waiting{o.drains.size()});
    uint64_t wait_ms = o.wait_ms;
    for (const DrainTarget& d : o.drains) {
      actions.wait_drained(d.host, d.app, wait_ms, [w, reply, body, d, version, wait_ms](uint64_t n) {
        if (n > 0) {
          w->total += n;
          w->in_flight.push_back({{"host", d.host}, {"app", d.app}, {"in_flight", n}});
        }
        if (--w->left > 0) return;
        if (w->total == 0) return reply(json_response(200, body));
        json timed_out = body;
        timed_out["error"] = fmt::format(
            "timed out after {:.3g}s with {} request{} still in flight; the change WAS applied (version {})",
            static_cast<double>(wait_ms) / 1000, w->total, w->total == 1 ? "" : "s", version);
        timed_out["in_flight"] = w->in_flight;
        reply(json_response(504, timed_out));
      });
    }
  };
}

// A plain version answer (rollback, reload, upgrade).
AdminActions::Done answer_version(AdminReply reply) {
  return [reply = std::move(reply)](Result<uint64_t> result) {
    if (!result) return reply(error_response(result.error()));
    reply(version_response(*result));
  };
}

std::string describe(const Change& c) {
  switch (c.op) {
    case Change::Op::Map: {
      std::string out = c.weight == 1 ? fmt::format("map {} {}", c.app, c.host)
                                      : fmt::format("map {} {} weight {}", c.app, c.host, c.weight);
      if (c.when) out += " when " + describe_route_when(c.when);
      return out;
    }
    case Change::Op::Unmap:
      return c.when ? fmt::format("unmap {} {} when {}", c.app, c.host, describe_route_when(c.when))
                    : fmt::format("unmap {} {}", c.app, c.host);
    case Change::Op::PutApp: return fmt::format("app-create {} ({} servers)", c.app, c.servers.size());
    case Change::Op::DeleteApp: return fmt::format("app-delete {}", c.app);
    case Change::Op::AddServer: return fmt::format("add-server {} {}", c.app, c.addr);
    case Change::Op::RemoveServer: return fmt::format("remove-server {} {}", c.app, c.addr);
    case Change::Op::SetDefault: return c.app.empty() ? std::string("set-default none") : fmt::format("set-default {}", c.app);
    case Change::Op::CertSet: return fmt::format("cert-set {}", c.name);
    case Change::Op::CertDelete: return fmt::format("cert-delete {}", c.name);
    case Change::Op::SetApp: return fmt::format("set-app {} ({} servers)", c.app, c.servers.size());
    case Change::Op::SetRoute: return fmt::format("set-route {} ({} apps)", c.host, c.targets.size());
  }
  return op_name(c.op);
}

// Applies `changes` with what the call asked: force, and for `drains` (kept only with ?wait=1)
// the bounded wait.
void apply_changes_for(Call& c, std::vector<Change> changes, std::string summary, std::vector<DrainTarget> drains = {}) {
  Outcome o = outcome_of(changes);
  Result<std::optional<uint64_t>> fleet = fleet_wait_ms(c.actions, c.query);
  if (!fleet) return c.fail(fleet.error());
  if (*fleet) {
    o.fleet = true;
    o.wait_ms = **fleet;
  } else if (query_flag(c.query, "wait")) {
    Result<uint64_t> ms = wait_timeout_ms(c.query);
    if (!ms) return c.fail(ms.error());
    o.wait_ms = *ms;
    o.drains = std::move(drains);
  }
  c.actions.apply(std::move(changes), c.if_match, std::move(summary), c.force,
                  answer_change(c.actions, std::move(c.reply), std::move(o)));
}

std::string join(const std::vector<std::string>& parts, std::string_view sep) {
  return fmt::format("{}", fmt::join(parts, sep));
}

// `"force": true` in an object body (the same as ?force=1).
Result<void> read_force(Call& c, const json& body) {
  if (!body.is_object()) return {};
  auto it = body.find("force");
  if (it == body.end() || it->is_null()) return {};
  if (!it->is_boolean()) return make_error(ErrorKind::Invalid, "\"force\" must be true or false");
  c.force = c.force || it->get<bool>();
  return {};
}

// --- one parser per verb ----------------------------------------------------------------------
//
// Each verb's fields are read by one function, whether they come from an element of
// `POST /v1/batch` ({"op": "map", "host": ..., "app": ...}) or from a single endpoint (its path
// captures over its JSON body): the two can never check a field differently.

// Where a verb's fields come from: a JSON object, and (single endpoints) path captures that take
// precedence over it. Both outlive the parse.
class OpFields {
 public:
  using Captures = std::vector<std::pair<const char*, std::string_view>>;
  explicit OpFields(const json& object, Captures captures = {}) : object_(object), captures_(std::move(captures)) {}

  // A string field: a path capture, else the object's member ("missing", "must be a string").
  Result<std::string> string(const char* key) const {
    for (const auto& [name, value] : captures_) {
      if (std::string_view(name) == key) return std::string(value);
    }
    return string_field(object_, key);
  }
  Result<std::string> app(const char* key = "app") const {
    Result<std::string> v = string(key);
    if (!v) return v.error();
    return app_name(*v);
  }
  Result<std::string> host() const {
    Result<std::string> v = string("host");
    if (!v) return v.error();
    return route_key(*v);
  }
  Result<std::string> addr() const {
    Result<std::string> v = string("addr");
    if (!v) return v.error();
    if (v->empty()) return make_error(ErrorKind::Invalid, "server address is empty");
    return v;
  }
  Result<uint32_t> weight() const { return weight_field(object_); }
  // Optional "when": {"header"|"cookie": NAME, "value": V}; absent or null: no rule.
  Result<RouteWhen> when() const {
    auto it = object_.find("when");
    if (it == object_.end() || it->is_null()) return RouteWhen{};
    return when_from_json(*it, "when");
  }
  const json& object() const { return object_; }

 private:
  const json& object_;  // an object (a batch op, or a body; an empty object when there is none)
  Captures captures_;   // path captures by field name, decoded
};

// What a verb parsed into: its changes, what `?wait=1` waits for, and its line in the history.
struct ParsedOps {
  std::vector<Change> changes;
  std::vector<DrainTarget> drains;
  std::vector<std::string> summary;  // joined with "; " into the version's summary

  void add(Change c) {
    summary.push_back(describe(c));
    changes.push_back(std::move(c));
  }
};

using VerbParser = Result<void> (*)(const OpFields&, ParsedOps&);

// map: {"host", "app", "weight"?} (PUT /v1/routes/{host}/{app}).
Result<void> parse_map(const OpFields& f, ParsedOps& out) {
  Change c;
  c.op = Change::Op::Map;
  Result<std::string> host = f.host();
  if (!host) return host.error();
  Result<std::string> app = f.app();
  if (!app) return app.error();
  Result<uint32_t> weight = f.weight();
  if (!weight) return weight.error();
  Result<RouteWhen> when = f.when();
  if (!when) return when.error();
  c.host = *host;
  c.app = *app;
  c.weight = *weight;
  c.when = std::move(*when);
  out.add(std::move(c));
  return {};
}

// unmap: {"host", "app"} (DELETE /v1/routes/{host}/{app}); ?wait=1 waits for its requests.
Result<void> parse_unmap(const OpFields& f, ParsedOps& out) {
  Change c;
  c.op = Change::Op::Unmap;
  Result<std::string> host = f.host();
  if (!host) return host.error();
  Result<std::string> app = f.app();
  if (!app) return app.error();
  Result<RouteWhen> when = f.when();
  if (!when) return when.error();
  c.host = *host;
  c.app = *app;
  c.when = std::move(*when);
  out.drains.push_back({c.host, c.app});
  out.add(std::move(c));
  return {};
}

// swap: {"from", "to", "host", "weight"?}: map `to` and unmap `from` (if present) on `host`, the
// blue-green step. POST /v1/swap is one of these per host of its "hosts".
Result<void> parse_swap(const OpFields& f, ParsedOps& out) {
  Result<std::string> from = f.app("from");
  if (!from) return from.error();
  Result<std::string> to = f.app("to");
  if (!to) return to.error();
  if (*from == *to) return make_error(ErrorKind::Invalid, "swap: \"from\" and \"to\" are the same app");
  Result<std::string> host = f.host();
  if (!host) return host.error();
  Result<uint32_t> weight = f.weight();
  if (!weight) return weight.error();
  Change map;
  map.op = Change::Op::Map;
  map.app = *to;
  map.host = *host;
  map.weight = *weight;
  out.changes.push_back(std::move(map));
  Change unmap;
  unmap.op = Change::Op::Unmap;
  unmap.app = *from;
  unmap.host = *host;
  unmap.if_present = true;
  out.changes.push_back(std::move(unmap));
  out.drains.push_back({*host, *from});
  out.summary.push_back(fmt::format("swap {} {} {}", *from, *to, *host));
  return {};
}

// add-server: {"app", "addr", "weight"?} (POST /v1/apps/{app}/servers).
Result<void> parse_add_server(const OpFields& f, ParsedOps& out) {
  Change c;
  c.op = Change::Op::AddServer;
  Result<std::string> app = f.app();
  if (!app) return app.error();
  Result<std::string> addr = f.addr();
  if (!addr) return addr.error();
  Result<uint32_t> weight = f.weight();
  if (!weight) return weight.error();
  c.app = *app;
  c.addr = *addr;
  c.weight = *weight;
  out.add(std::move(c));
  return {};
}

// remove-server: {"app", "addr"} (DELETE /v1/apps/{app}/servers/{addr}).
Result<void> parse_remove_server(const OpFields& f, ParsedOps& out) {
  Change c;
  c.op = Change::Op::RemoveServer;
  Result<std::string> app = f.app();
  if (!app) return app.error();
  Result<std::string> addr = f.addr();
  if (!addr) return addr.error();
  c.app = *app;
  c.addr = *addr;
  out.add(std::move(c));
  return {};
}

// app-create (put-app): {"app", "servers"} (PUT /v1/apps/{app}).
Result<void> parse_put_app(const OpFields& f, ParsedOps& out) {
  Change c;
  c.op = Change::Op::PutApp;
  Result<std::string> app = f.app();
  if (!app) return app.error();
  Result<std::vector<ServerSpec>> servers = servers_field(f.object());
  if (!servers) return servers.error();
  c.app = *app;
  c.servers = std::move(*servers);
  out.add(std::move(c));
  return {};
}

// app-delete (delete-app): {"app"} (DELETE /v1/apps/{app}).
Result<void> parse_delete_app(const OpFields& f, ParsedOps& out) {
  Change c;
  c.op = Change::Op::DeleteApp;
  Result<std::string> app = f.app();
  if (!app) return app.error();
  c.app = *app;
  out.add(std::move(c));
  return {};
}

// set-default: {"app": name | null} (batch only).
Result<void> parse_set_default(const OpFields& f, ParsedOps& out) {
  Change c;
  c.op = Change::Op::SetDefault;
  auto it = f.object().find("app");
  if (it == f.object().end() || it->is_null()) {
    c.app.clear();
  } else if (it->is_string()) {
    c.app = it->get<std::string>();
  } else {
    return make_error(ErrorKind::Invalid, "\"app\" must be an app name or null");
  }
  out.add(std::move(c));
  return {};
}

// A certificate name from a path or a JSON field ([A-Za-z0-9._-], 1-128 characters).
Result<std::string> certificate_name(const OpFields& f) {
  Result<std::string> name = f.string("name");
  if (!name) return name.error();
  if (!valid_certificate_name(*name))
    return make_error(ErrorKind::Invalid, fmt::format("invalid certificate name \"{}\" (1-128 of A-Z a-z 0-9 . _ -)", *name));
  return name;
}

// cert-set: {"name", "cert", "key"} (PUT /v1/certificates/{name}). The PEM is parsed and checked
// here, before anything is submitted: unparsable PEM, a key that does not match, or a certificate
// already expired is a 400 that changes nothing. Expiry is the API's rule only: a certificate
// file that expired is still served at start and reload (DESIGN.md, TLS).
Result<void> parse_cert_set(const OpFields& f, ParsedOps& out) {
  Result<std::string> name = certificate_name(f);
  if (!name) return name.error();
  Result<std::string> chain = f.string("cert");
  if (!chain) return chain.error();
  Result<std::string> key = f.string("key");
  if (!key) return key.error();
  Result<CertificatePtr> cert = Certificate::from_pem(*name, std::move(*chain), std::move(*key));
  if (!cert) return make_error(ErrorKind::Invalid, cert.error().message);
  if ((*cert)->expired(now_unix())) {
    return make_error(ErrorKind::Invalid, fmt::format("certificate {}: expired at {}; an expired certificate cannot be installed",
                                       *name, rfc3339_utc((*cert)->not_after())));
  }
  Change c;
  c.op = Change::Op::CertSet;
  c.name = *name;
  c.certificate = std::move(*cert);
  out.add(std::move(c));
  return {};
}

// cert-delete: {"name"} (DELETE /v1/certificates/{name}): 404 unknown, 409 the default (route
// builder), 409 unless forced when a routed host would be left without a certificate (guard).
Result<void> parse_cert_delete(const OpFields& f, ParsedOps& out) {
  Result<std::string> name = certificate_name(f);
  if (!name) return name.error();
  Change c;
  c.op = Change::Op::CertDelete;
  c.name = *name;
  out.add(std::move(c));
  return {};
}

struct Verb {
  const char* name;   // "op" of a batch element
  VerbParser parse;   // shared with the verb's own endpoint
};

const Verb kVerbs[] = {
    {"map", parse_map},
    {"unmap", parse_unmap},
    {"swap", parse_swap},
    {"add-server", parse_add_server},
    {"remove-server", parse_remove_server},
    {"app-create", parse_put_app},
    {"put-app", parse_put_app},
    {"app-delete", parse_delete_app},
    {"delete-app", parse_delete_app},
    {"set-default", parse_set_default},
    {"cert-set", parse_cert_set},
    {"cert-delete", parse_cert_delete},
};

// One element of POST /v1/batch: {"op": verb, ...the verb's fields}.
Result<void> parse_op(const json& op, ParsedOps& out) {
  if (!op.is_object()) return make_error(ErrorKind::Invalid, "must be an object with \"op\"");
  Result<std::string> name = string_field(op, "op");
  if (!name) return name.error();
  for (const Verb& v : kVerbs) {
    if (*name == v.name) return v.parse(OpFields(op), out);
  }
  return make_error(ErrorKind::Invalid, fmt::format("unknown op \"{}\" (expected map, unmap, swap, add-server, remove-server, "
                                     "app-create, app-delete, set-default, cert-set or cert-delete)", *name));
}

// A single endpoint: its verb's parser over `fields`, then the change with what the call asked.
void apply_verb(Call& c, VerbParser parse, const OpFields& fields) {
  ParsedOps parsed;
  if (Result<void> r = parse(fields, parsed); !r) return c.fail(r.error());
  apply_changes_for(c, std::move(parsed.changes), join(parsed.summary, "; "), std::move(parsed.drains));
}

// --- reads ----------------------------------------------------------------------------------

// Entries without rules under "routes" ({host: {app: weight}}, as before rules existed), the
// entries with rules under "rules" ({host: [...]}, only hosts that have some).
json routes_json(const RouteTable& table) {
  json routes = json::object();
  json rules = json::object();
  table.for_each_route([&](const Route& route) {
    if (route.host.empty()) return;  // the default route is reported as default_app
    routes[route.host] = plain_entries_json(route);
    if (route.has_rules) rules[route.host] = rule_entries_json(route);
  });
  json out = {{"version", table.version()}, {"routes", std::move(routes)}, {"rules", std::move(rules)}};
  out["default_app"] = table.default_app() ? json(*table.default_app()) : json(nullptr);
  return out;
}

// One word for an app's state, decided here only: `ctl apps` and the status page both show it.
const char* app_health(size_t up, size_t total) {
  if (total == 0) return "no servers";
  if (up == total) return "up";
  return up == 0 ? "down" : "degraded";
}

// A latency or rate for JSON: rounded to what a person reads, null when not measured.
json live_number(double v, double scale = 1000) {
  if (v < 0) return nullptr;
  return std::round(v * scale) / scale;
}

json apps_json(const RouteTable& table, const std::map<std::string, ServerStats>& stats,
               const std::map<std::string, AppLiveStats>& live) {
  std::map<std::string, std::vector<std::string>> hosts;  // app -> hosts mapping it
  table.for_each_route([&](const Route& route) {
    if (route.host.empty()) return;
    for (const RouteEntry& e : route.apps) {
      // An app listed under several rules of one route is one host of it (entries are sorted by app).
      std::vector<std::string>& h = hosts[e.app];
      if (h.empty() || h.back() != route.host) h.push_back(route.host);
    }
  });
  json apps = json::object();
  table.for_each_app([&](const App& app) {
    json servers = json::array();
    size_t up = 0;
    for (const Server& s : app.servers) {
      ServerStats st;
      if (auto it = stats.find(s.addr); it != stats.end()) st = it->second;
      if (st.up) ++up;
      servers.push_back({{"addr", s.addr}, {"weight", s.weight}, {"up", st.up}, {"requests", st.requests},
                         {"in_flight", st.in_flight}, {"failures", st.failures}});
    }
    std::vector<std::string>& h = hosts[app.name];
    std::sort(h.begin(), h.end());
    AppLiveStats l;
    if (auto it = live.find(app.name); it != live.end()) l = it->second;
    apps[app.name] = {{"servers", std::move(servers)},
                      {"hosts", h},
                      {"health", app_health(up, app.servers.size())},
                      {"live",
                       {{"requests_per_second", live_number(l.requests_per_second, 100)},
                        {"error_rate", live_number(l.error_rate, 10000)},
                        {"p50_ms", live_number(l.p50_ms, 100)},
                        {"p99_ms", live_number(l.p99_ms, 100)},
                        {"mean_ms", live_number(l.mean_ms, 100)},
                        {"responses", l.responses},
                        {"errors", l.errors}}}};
  });
  json out = {{"version", table.version()}, {"apps", std::move(apps)}};
  out["default_app"] = table.default_app() ? json(*table.default_app()) : json(nullptr);
  return out;
}

// --- handlers -------------------------------------------------------------------------------

void get_routes(Call& c) { c.reply(json_response(200, routes_json(*c.actions.current_table()))); }

void put_route(Call& c) {
  Result<json> body = parse_body(c.request);
  if (!body) return c.fail(body.error());
  if (!body->is_null() && !body->is_object()) return c.fail(400, "body must be an object like {\"weight\": 1}");
  if (Result<void> f = read_force(c, *body); !f) return c.fail(f.error());
  const json fields = body->is_null() ? json::object() : std::move(*body);
  apply_verb(c, parse_map, OpFields(fields, {{"host", c.params[0]}, {"app", c.params[1]}}));
}

void delete_route(Call& c) {
  // An optional body {"when": {...}} removes only the entry with that rule.
  Result<json> body = parse_body(c.request);
  if (!body) return c.fail(body.error());
  if (!body->is_null() && !body->is_object()) return c.fail(400, "body must be empty or an object like {\"when\": {...}}");
  if (Result<void> f = read_force(c, *body); !f) return c.fail(f.error());
  const json fields = body->is_null() ? json::object() : std::move(*body);
  apply_verb(c, parse_unmap, OpFields(fields, {{"host", c.params[0]}, {"app", c.params[1]}}));
}

void get_apps(Call& c) {
  RouteTablePtr table = c.actions.current_table();
  c.reply(json_response(200, apps_json(*table, c.actions.server_stats(), c.actions.app_live_stats())));
}

void put_app(Call& c) {
  Result<json> body = parse_body(c.request);
  if (!body) return c.fail(body.error());
  if (!body->is_object()) return c.fail(400, "body must be an object like {\"servers\": [\"127.0.0.1:9001\"]}");
  if (Result<void> f = read_force(c, *body); !f) return c.fail(f.error());
  apply_verb(c, parse_put_app, OpFields(*body, {{"app", c.params[0]}}));
}

void delete_app(Call& c) {
  const json none = json::object();
  apply_verb(c, parse_delete_app, OpFields(none, {{"app", c.params[0]}}));
}

void post_server(Call& c) {
  Result<json> body = parse_body(c.request);
  if (!body) return c.fail(body.error());
  if (!body->is_object()) return c.fail(400, "body must be an object like {\"addr\": \"127.0.0.1:9001\", \"weight\": 1}");
  if (Result<void> f = read_force(c, *body); !f) return c.fail(f.error());
  apply_verb(c, parse_add_server, OpFields(*body, {{"app", c.params[0]}}));
}

void delete_server(Call& c) {
  const json none = json::object();
  apply_verb(c, parse_remove_server, OpFields(none, {{"app", c.params[0]}, {"addr", c.params[1]}}));
}

// {"version", "default_certificate", "certificates": {name: summary}}; never a key.
void get_certificates(Call& c) {
  RouteTablePtr table = c.actions.current_table();
  const CertificateSet& set = *table->certificates();
  json certs = json::object();
  int64_t now = now_unix();
  for (const auto& [name, cert] : set.by_name()) certs[name] = certificate_json(*cert, set.default_name() == name, now);
  json out = {{"version", table->version()}, {"certificates", std::move(certs)}};
  out["default_certificate"] = set.default_name().empty() ? json(nullptr) : json(set.default_name());
  c.reply(json_response(200, out));
}

void get_certificate(Call& c) {
  RouteTablePtr table = c.actions.current_table();
  json cert = certificate_or_null(*table, c.params[0]);
  if (cert.is_null()) return c.fail(404, fmt::format("certificate \"{}\" does not exist", c.params[0]));
  cert["version"] = table->version();
  c.reply(json_response(200, cert));
}

void put_certificate(Call& c) {
  Result<json> body = parse_body(c.request);
  if (!body) return c.fail(body.error());
  if (!body->is_object()) return c.fail(400, "body must be an object like {\"cert\": \"<PEM chain>\", \"key\": \"<PEM key>\"}");
  if (Result<void> f = read_force(c, *body); !f) return c.fail(f.error());
  apply_verb(c, parse_cert_set, OpFields(*body, {{"name", c.params[0]}}));
}

void delete_certificate(Call& c) {
  const json none = json::object();
  apply_verb(c, parse_cert_delete, OpFields(none, {{"name", c.params[0]}}));
}

void post_batch(Call& c) {
  Result<json> body = parse_body(c.request);
  if (!body) return c.fail(body.error());
  if (!body->is_array()) return c.fail(400, "body must be an array of {\"op\": ...} objects");
  if (body->empty()) return c.fail(400, "batch is empty");
  ParsedOps parsed;
  for (size_t i = 0; i < body->size(); ++i) {
    Result<void> r = parse_op((*body)[i], parsed);
    if (!r) return c.fail(http_status(r.error().kind), fmt::format("batch[{}]: {}", i, r.error().message));
  }
  apply_changes_for(c, std::move(parsed.changes), join(parsed.summary, "; "), std::move(parsed.drains));
}

// {"from", "to", "hosts": [...], "weight"?}: the batch's swap op once per host, as one version.
void post_swap(Call& c) {
  Result<json> body = parse_body(c.request);
  if (!body) return c.fail(body.error());
  if (!body->is_object()) return c.fail(400, "body must be an object like {\"from\": A, \"to\": B, \"hosts\": [...]}");
  if (Result<void> f = read_force(c, *body); !f) return c.fail(f.error());
  auto hosts_it = body->find("hosts");
  if (hosts_it == body->end() || !hosts_it->is_array() || hosts_it->empty()) {
    return c.fail(400, "\"hosts\" must be a non-empty array of hosts");
  }
  ParsedOps parsed;
  std::vector<std::string> hosts;
  for (const json& h : *hosts_it) {
    if (!h.is_string()) return c.fail(400, "\"hosts\" must be a non-empty array of hosts");
    if (Result<void> r = parse_swap(OpFields(*body, {{"host", h.get_ref<const std::string&>()}}), parsed); !r) {
      return c.fail(r.error());
    }
    hosts.push_back(parsed.changes.back().host);
  }
  // One summary line for the whole swap, as `ctl swap` typed it.
  const Change& first = parsed.changes.front();
  std::string summary = fmt::format("swap {} {} {}", parsed.changes[1].app, first.app, join(hosts, " "));
  apply_changes_for(c, std::move(parsed.changes), std::move(summary), std::move(parsed.drains));
}

void post_rollback(Call& c) {
  Result<json> body = parse_body(c.request);
  if (!body) return c.fail(body.error());
  std::optional<uint64_t> version;
  if (!body->is_null()) {
    if (!body->is_object()) return c.fail(400, "body must be an object like {\"version\": 12}");
    auto it = body->find("version");
    if (it != body->end() && !it->is_null()) {
      if (!it->is_number_unsigned()) return c.fail(400, "\"version\" must be a table version");
      version = it->get<uint64_t>();
    }
  }
  Result<std::optional<uint64_t>> fleet = fleet_wait_ms(c.actions, c.query);
  if (!fleet) return c.fail(fleet.error());
  c.actions.rollback(version, c.if_match, [&actions = c.actions, reply = std::move(c.reply), fleet = *fleet](Result<uint64_t> r) {
    if (!r) return reply(error_response(r.error()));
    // What it restored and where the next bare rollback goes, from the history entry it made.
    json j = {{"version", *r}};
    for (const HistoryEntry& h : actions.history()) {
      if (h.version != *r) continue;
      j["restored"] = h.restores;
      j["next_rollback"] = h.back ? json(h.back) : json(nullptr);
    }
    if (fleet) return reply_after_fleet(actions, reply, std::move(j), *r, *fleet);
    reply(json_response(200, j));
  });
}

void post_import(Call& c) {
  Result<json> body = parse_body(c.request);
  if (!body) return c.fail(body.error());
  if (!body->is_object()) return c.fail(400, "body must be a table: {\"apps\": {...}, \"routes\": {...}, \"default_app\": ...}");
  if (Result<void> f = read_force(c, *body); !f) return c.fail(f.error());
  body->erase("force");
  Result<std::optional<uint64_t>> fleet = fleet_wait_ms(c.actions, c.query);
  if (!fleet) return c.fail(fleet.error());
  c.actions.import_table(std::move(*body), c.if_match, c.force,
                         [&actions = c.actions, reply = std::move(c.reply), fleet = *fleet](Result<uint64_t> r) {
                           if (!r) return reply(error_response(r.error()));
                           json j = {{"version", *r}, {"routes", actions.current_table()->route_count()},
                                     {"apps", actions.current_table()->app_count()}};
                           if (fleet) return reply_after_fleet(actions, reply, std::move(j), *r, *fleet);
                           reply(json_response(200, j));
                         });
}

void post_reload(Call& c) {
  if (c.if_match) {
    uint64_t current = c.actions.current_table()->version();
    if (current != *c.if_match) {
      return c.fail(409, fmt::format("table is at version {}, not {}", current, *c.if_match));
    }
  }
  Result<json> body = parse_body(c.request);
  if (!body) return c.fail(body.error());
  if (Result<void> f = read_force(c, *body); !f) return c.fail(f.error());
  c.actions.reload(c.force, answer_version(std::move(c.reply)));
}

void post_upgrade(Call& c) {
  // Answers once the new process has taken over (or failed to), with the live version.
  c.actions.upgrade(answer_version(std::move(c.reply)));
}

void get_status(Call& c) { c.reply(json_response(200, c.actions.status())); }

void get_fleet(Call& c) {
  std::optional<json> fleet = c.actions.fleet();
  if (!fleet) return c.fail(404, "not in fleet mode: this turnout's table is its config file's (see table_source.etcd)");
  c.reply(json_response(200, *fleet));
}

void get_history(Call& c) {
  json entries = json::array();
  for (const HistoryEntry& h : c.actions.history()) {
    json e = {{"version", h.version}, {"unix_ms", h.unix_ms}, {"summary", h.summary}};
    e["back"] = h.back ? json(h.back) : json(nullptr);  // where a bare rollback from it goes
    entries.push_back(std::move(e));
  }
  c.reply(json_response(200, json{{"version", c.actions.current_table()->version()}, {"history", std::move(entries)}}));
}

// The live table as config YAML (admin/table_export.h); the version in a header too.
void get_export(Call& c) {
  RouteTablePtr table = c.actions.current_table();
  AdminResponse r;
  r.content_type = "application/yaml";
  r.body = export_table_yaml(*table);
  r.headers.emplace_back("X-Turnout-Version", std::to_string(table->version()));
  c.reply(std::move(r));
}

// How many requests routed by host to app are in flight now: what `ctl unmap --wait` shows.
void get_in_flight(Call& c) {
  Result<std::string> host = route_key(c.params[0]);
  if (!host) return c.fail(host.error());
  Result<std::string> app = app_name(c.params[1]);
  if (!app) return c.fail(app.error());
  c.actions.wait_drained(*host, *app, 0, [reply = std::move(c.reply), h = *host, a = *app](uint64_t n) {
    reply(json_response(200, json{{"host", h}, {"app", a}, {"in_flight", n}}));
  });
}

void get_metrics(Call& c) {
  AdminResponse r;
  r.content_type = "text/plain; version=0.0.4";
  r.body = c.actions.metrics();
  c.reply(std::move(r));
}

// The status page for a browser (admin/status_page): a static document that renders the JSON
// endpoints above, so it holds no data and needs no escaping here.
void get_index(Call& c) { c.reply(status_page_response()); }

// --- the table ------------------------------------------------------------------------------

using Handler = void (*)(Call&);

struct Endpoint {
  const char* method;   // exact HTTP method
  const char* pattern;  // "/v1/routes/{host}/{app}"; "{name*}" captures the rest of the path
  bool mutates;         // honours If-Match; answers {"version": N}
  Handler handler;      // checks input, then one AdminActions call
  const char* usage;    // for help text
};

const Endpoint kEndpoints[] = {
    {"GET", "/v1/routes", false, get_routes,
     "routes: {\"version\", \"routes\": {host: {app: weight}}, \"rules\": {host: [{app, weight, when}]}, \"default_app\"}"},
    {"PUT", "/v1/routes/{host}/{app}", true, put_route,
     "map app to host; body optional {\"weight\": N, \"when\": {\"header\"|\"cookie\": NAME, \"value\": V}}"},
    {"DELETE", "/v1/routes/{host}/{app}", true, delete_route,
     "unmap app from host (every entry; body {\"when\": ...}: that entry only); ?wait=1[&timeout=S] answers once drained (504 on timeout)"},
    {"GET", "/v1/apps", false, get_apps, "apps with servers, health, counters and hosts"},
    {"PUT", "/v1/apps/{app}", true, put_app, "create or replace an app: {\"servers\": [\"addr\" | {\"addr\", \"weight\"}]}"},
    {"DELETE", "/v1/apps/{app}", true, delete_app, "delete an app (409 while mapped)"},
    {"POST", "/v1/apps/{app}/servers", true, post_server, "add a server: {\"addr\", \"weight\"}"},
    {"DELETE", "/v1/apps/{app}/servers/{addr*}", true, delete_server, "remove a server (address URL-encoded)"},
    {"GET", "/v1/certificates", false, get_certificates,
     "certificates: name, dns_names, subject, issuer, validity, key_type, sha256, expired, default (never the key)"},
    {"GET", "/v1/certificates/{name}", false, get_certificate, "one certificate (404 unknown)"},
    {"PUT", "/v1/certificates/{name}", true, put_certificate,
     "add or replace a certificate: {\"cert\": PEM chain, \"key\": PEM key}; 400 bad PEM, mismatched key, expired"},
    {"DELETE", "/v1/certificates/{name}", true, delete_certificate,
     "remove a certificate (404 unknown, 409 default or still needed by a routed host unless ?force=1)"},
    {"POST", "/v1/batch", true, post_batch, "several changes as one version: [{\"op\": \"map\", ...}]; ?wait=1"},
    {"POST", "/v1/swap", true, post_swap, "map `to` and unmap `from` on hosts: {\"from\", \"to\", \"hosts\"}; ?wait=1"},
    {"POST", "/v1/import", true, post_import, "replace the whole table (apps, routes, default_app, certificates) as one version; ?force=1 to drop routes; ?wait=fleet"},
    {"POST", "/v1/rollback", true, post_rollback, "an earlier table as a new version: {\"version\": N} (optional)"},
    {"POST", "/v1/reload", true, post_reload,
     "re-read the config file; 409 listing runtime changes it would drop unless ?force=1"},
    {"POST", "/v1/upgrade", false, post_upgrade,
     "start the new turnout binary; it takes over the sockets and live table, this process drains"},
    {"GET", "/v1/status", false, get_status, "version, uptime, connections and counters"},
    {"GET", "/v1/fleet", false, get_fleet, "fleet mode: the instances sharing the table, their versions and lag"},
    {"GET", "/v1/history", false, get_history, "recent versions and what made them"},
    {"GET", "/v1/export", false, get_export, "the live table as config YAML (apps, routes, default_app)"},
    {"GET", "/v1/in-flight/{host}/{app}", false, get_in_flight, "requests routed by host to app still in flight"},
    {"GET", "/metrics", false, get_metrics, "Prometheus text format"},
    {"GET", "/", false, get_index, "status page for a browser"},
};

std::vector<std::string_view> split_segments(std::string_view path) {
  std::vector<std::string_view> out;
  if (path.empty() || path.front() != '/') return out;
  path.remove_prefix(1);
  if (path.empty()) return out;  // "/" has no segments
  while (true) {
    size_t slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

// Matches `path` against `pattern`; on success fills the raw (still encoded) captures.
bool match(std::string_view pattern, std::string_view path, std::vector<std::string_view>* captures) {
  if (path.empty() || path.front() != '/') return false;
  std::vector<std::string_view> want = split_segments(pattern);
  std::vector<std::string_view> have = split_segments(path);
  captures->clear();
  for (size_t i = 0; i < want.size(); ++i) {
    std::string_view w = want[i];
    bool capture = w.size() >= 2 && w.front() == '{' && w.back() == '}';
    if (capture && w[w.size() - 2] == '*') {  // the rest of the path, slashes included
      if (i >= have.size()) return false;
      size_t start = static_cast<size_t>(have[i].data() - path.data());
      std::string_view rest = path.substr(start);
      if (rest.empty()) return false;
      captures->push_back(rest);
      return true;
    }
    if (i >= have.size()) return false;
    if (capture) {
      if (have[i].empty()) return false;
      captures->push_back(have[i]);
    } else if (have[i] != w) {
      return false;
    }
  }
  return want.size() == have.size();
}

}  // namespace

void handle_admin_request(AdminActions& actions, const AdminRequest& request, AdminReply reply) {
  RequestTarget target = split_target(request.target);
  std::vector<std::string> allowed;
  std::vector<std::string_view> raw;
  for (const Endpoint& e : kEndpoints) {
    if (!match(e.pattern, target.path, &raw)) continue;
    if (request.method != e.method) {
      if (std::find(allowed.begin(), allowed.end(), e.method) == allowed.end()) allowed.emplace_back(e.method);
      continue;
    }
    Call call{actions, request, {}, std::string(target.query), std::nullopt, std::move(reply)};
    call.force = e.mutates && query_flag(call.query, "force");
    for (std::string_view r : raw) {
      std::optional<std::string> decoded = percent_decode(r);
      if (!decoded) return call.fail(400, "malformed percent-escape in the request path");
      call.params.push_back(std::move(*decoded));
    }
    if (e.mutates) {
      if (const std::string* if_match = request.header("if-match")) {
        Result<uint64_t> v = parse_if_match(*if_match);
        if (!v) return call.fail(v.error());
        call.if_match = *v;
      }
    }
    e.handler(call);
    return;
  }
  if (!allowed.empty()) {
    AdminResponse r = error_response(
        make_error(ErrorKind::MethodNotAllowed, fmt::format("{} is not allowed on {} (allowed: {})", request.method, target.path, join(allowed, ", "))));
    r.headers.emplace_back("Allow", join(allowed, ", "));
    reply(std::move(r));
    return;
  }
  reply(error_response(make_error(ErrorKind::NotFound, fmt::format("no such endpoint: {} {}", request.method, target.path))));
}

std::vector<EndpointInfo> admin_endpoints() {
  std::vector<EndpointInfo> out;
  for (const Endpoint& e : kEndpoints) out.push_back({e.method, e.pattern, e.mutates, e.usage});
  return out;
}

}  // namespace turnout
