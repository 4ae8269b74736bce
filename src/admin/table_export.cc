#include "turnout/admin/table_export.h"

#include <algorithm>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace turnout {

namespace {

// A YAML double-quoted scalar. JSON string syntax is a subset of it, so json::dump quotes and
// escapes correctly; names and hosts were checked for control characters on the way in.
std::string q(const std::string& s) {
  return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

std::string export_table_yaml(const RouteTable& table) {
  std::vector<const App*> apps;
  table.for_each_app([&](const App& a) { apps.push_back(&a); });
  std::sort(apps.begin(), apps.end(), [](const App* a, const App* b) { return a->name < b->name; });
  std::vector<const Route*> routes;
  table.for_each_route([&](const Route& r) {
    if (!r.host.empty()) routes.push_back(&r);
  });
  std::sort(routes.begin(), routes.end(), [](const Route* a, const Route* b) { return a->host < b->host; });

  std::string out = fmt::format("# turnout routing table, version {}: the apps, routes and default_app\n"
                                "# sections of a config file (turnout ctl export).\n",
                                table.version());
  out += apps.empty() ? "apps: {}\n" : "apps:\n";
  for (const App* a : apps) {
    out += fmt::format("  {}:\n    servers: [", q(a->name));
    for (size_t i = 0; i < a->servers.size(); ++i) {
      if (i) out += ", ";
      out += fmt::format("{{addr: {}, weight: {}}}", q(a->servers[i].addr), a->servers[i].weight);
    }
    out += "]\n";
    if (a->health) {
      const HealthSpec& h = *a->health;
      out += fmt::format("    health: {{path: {}, interval: {}ms, timeout: {}ms, rise: {}, fall: {}}}\n", q(h.path),
                         h.interval.count(), h.timeout.count(), h.rise, h.fall);
    }
  }
  out += routes.empty() ? "routes: {}\n" : "routes:\n";
  for (const Route* r : routes) {
    out += fmt::format("  {}: [", q(r->host));
    for (size_t i = 0; i < r->apps.size(); ++i) {
      if (i) out += ", ";
      const RouteEntry& e = r->apps[i];
      if (e.when)
        out += fmt::format("{{app: {}, weight: {}, when: {{{}: {}, value: {}}}}}", q(e.app), e.weight,
                           e.when.kind == RouteWhen::Kind::Header ? "header" : "cookie", q(e.when.name), q(e.when.value));
      else
        out += fmt::format("{{app: {}, weight: {}}}", q(e.app), e.weight);
    }
    out += "]\n";
  }
  out += fmt::format("default_app: {}\n", table.default_app() ? q(*table.default_app()) : std::string("null"));
  return out;
}

}  // namespace turnout
