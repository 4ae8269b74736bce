#include "turnout/ctl/ctl_format.h"

#include <algorithm>
#include <ctime>
#include <map>

#include <fmt/format.h>

namespace turnout {

namespace {

using json = nlohmann::json;

std::string join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) out += sep;
    out += parts[i];
  }
  return out;
}

// A scalar as a person reads it: strings unquoted, everything else as JSON.
std::string scalar_text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  return v.dump(-1, ' ', false, json::error_handler_t::replace);
}

const json& member(const json& obj, const char* key) {
  static const json kNull;
  if (!obj.is_object()) return kNull;
  auto it = obj.find(key);
  return it == obj.end() ? kNull : *it;
}

std::string version_line(const json& j) {
  const json& v = member(j, "version");
  return v.is_null() ? std::string() : fmt::format("table version {}\n\n", scalar_text(v));
}

// "name" or "name(3)": the weight is always shown, so a 1:9 canary reads as such.
std::string weighted(const std::string& name, const json& weight) {
  return weight.is_null() ? name : fmt::format("{}({})", name, scalar_text(weight));
}

void flatten(const json& v, const std::string& key, std::vector<std::pair<std::string, std::string>>& lines) {
  if (v.is_object()) {
    if (v.empty()) lines.emplace_back(key, "{}");
    for (const auto& [k, x] : v.items()) flatten(x, key.empty() ? k : key + "." + k, lines);
    return;
  }
  if (v.is_array()) {
    bool scalars = true;
    for (const json& x : v) scalars = scalars && !x.is_structured();
    if (scalars) {
      std::vector<std::string> parts;
      for (const json& x : v) parts.push_back(scalar_text(x));
      lines.emplace_back(key, join(parts, ", "));
      return;
    }
    for (size_t i = 0; i < v.size(); ++i) flatten(v[i], fmt::format("{}[{}]", key, i), lines);
    return;
  }
  lines.emplace_back(key, scalar_text(v));
}

}  // namespace

std::string format_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], row[c].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      line += row[c];
      if (c + 1 < row.size()) line += std::string(widths[c] - row[c].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line;
    out += '\n';
  }
  return out;
}

std::string format_routes(const json& j) {
  std::vector<std::vector<std::string>> rows = {{"HOST", "APPS"}};
  std::map<std::string, std::string> sorted;
  const json& routes = member(j, "routes");
  if (routes.is_object()) {
    for (const auto& [host, apps] : routes.items()) {
      std::vector<std::string> cells;
      if (apps.is_object()) {
        for (const auto& [app, weight] : apps.items()) cells.push_back(weighted(app, weight));
      }
      sorted[host] = join(cells, ", ");
    }
  }
  for (auto& [host, apps] : sorted) rows.push_back({host, apps});
  const json& def = member(j, "default_app");
  if (def.is_string()) rows.push_back({"(default)", def.get<std::string>()});
  std::string out = version_line(j) + format_table(rows);
  if (rows.size() == 1) out += "no routes\n";
  return out;
}

std::string format_apps(const json& j) {
  std::vector<std::vector<std::string>> rows = {{"APP", "SERVERS", "STATE", "HOSTS"}};
  const json& def = member(j, "default_app");
  const json& apps = member(j, "apps");
  std::map<std::string, const json*> sorted;
  if (apps.is_object()) {
    for (const auto& [name, app] : apps.items()) sorted[name] = &app;
  }
  for (const auto& [name, app] : sorted) {
    std::vector<std::string> servers;
    size_t up = 0, down = 0;
    const json& list = member(*app, "servers");
    if (list.is_array()) {
      for (const json& s : list) {
        const json& addr = member(s, "addr");
        const json& weight = member(s, "weight");
        std::string text = addr.is_string() ? addr.get<std::string>() : "?";
        bool weight_one = weight.is_number_integer() && weight.get<int64_t>() == 1;
        servers.push_back(weight.is_null() || weight_one ? text : weighted(text, weight));
        const json& is_up = member(s, "up");
        (is_up.is_boolean() && !is_up.get<bool>() ? down : up)++;
      }
    }
    std::string state;
    if (up + down == 0) {
      state = "no servers";
    } else if (down == 0) {
      state = fmt::format("{} up", up);
    } else {
      state = fmt::format("{} up, {} down", up, down);
    }
    std::vector<std::string> hosts;
    const json& h = member(*app, "hosts");
    if (h.is_array()) {
      for (const json& x : h) hosts.push_back(scalar_text(x));
    }
    if (def.is_string() && def.get<std::string>() == name) hosts.push_back("(default)");
    rows.push_back({name, servers.empty() ? "-" : join(servers, ", "), state, hosts.empty() ? "-" : join(hosts, ", ")});
  }
  std::string out = version_line(j) + format_table(rows);
  if (rows.size() == 1) out += "no apps\n";
  return out;
}

std::string format_status(const json& j) {
  std::vector<std::pair<std::string, std::string>> lines;
  flatten(j, "", lines);
  std::string out;
  for (const auto& [k, v] : lines) out += k.empty() ? v + "\n" : fmt::format("{}: {}\n", k, v);
  return out;
}

std::string format_history(const json& j) {
  std::vector<std::vector<std::string>> rows = {{"VERSION", "TIME (UTC)", "CHANGE"}};
  const json& entries = j.is_array() ? j : member(j, "history");
  if (entries.is_array()) {
    for (const json& e : entries) {
      std::string when = "-";
      const json& ms = member(e, "unix_ms");
      if (ms.is_number_integer()) {
        std::time_t secs = static_cast<std::time_t>(ms.get<int64_t>() / 1000);
        std::tm tm{};
        char buf[32];
        if (gmtime_r(&secs, &tm) != nullptr && std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm) > 0) {
          when = buf;
        }
      }
      const json& version = member(e, "version");
      const json& summary = member(e, "summary");
      rows.push_back({version.is_null() ? "-" : scalar_text(version), when, summary.is_null() ? "" : scalar_text(summary)});
    }
  }
  return format_table(rows);
}

std::string format_change(const json& j) {
  std::string out;
  // The resulting route of every host the change touched, then the servers of every app.
  const json& routes = member(j, "routes");
  if (routes.is_object()) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& [host, apps] : routes.items()) {
      std::string text = "(no route: answers 404)";
      if (apps.is_object() && !apps.empty()) {
        text.clear();
        for (const auto& [app, weight] : apps.items()) {
          if (!text.empty()) text += ", ";
          text += fmt::format("{}({})", app, scalar_text(weight));
        }
      }
      rows.push_back({host, "->", text});
    }
    if (!rows.empty()) out += format_table(rows);
  }
  const json& apps = member(j, "apps");
  if (apps.is_object()) {
    for (const auto& [name, app] : apps.items()) {
      std::string text;
      if (!app.is_object()) {
        text = "(deleted)";
      } else {
        for (const json& s : member(app, "servers")) {
          if (!text.empty()) text += ", ";
          text += fmt::format("{}({})", scalar_text(member(s, "addr")), scalar_text(member(s, "weight")));
        }
        if (text.empty()) text = "(no servers)";
      }
      out += fmt::format("app {}: {}\n", name, text);
    }
  }
  const json& restored = member(j, "restored");
  if (!restored.is_null()) {
    const json& next = member(j, "next_rollback");
    out += fmt::format("rolled back to the table of version {}; ", scalar_text(restored));
    out += next.is_null() ? std::string("nothing earlier to roll back to\n")
                          : fmt::format("a further rollback goes to version {}\n", scalar_text(next));
  }
  const json& v = member(j, "version");
  out += v.is_null() ? std::string("ok\n") : fmt::format("ok: version {}\n", scalar_text(v));
  return out;
}

}  // namespace turnout
