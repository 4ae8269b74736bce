#include "turnout/ctl/ctl_format.h"

#include <algorithm>
#include <ctime>
#include <map>

#include <fmt/format.h>

namespace turnout {

namespace {

using json = nlohmann::json;

std::string join(const std::vector<std::string>& parts, std::string_view sep) {
  return fmt::format("{}", fmt::join(parts, sep));
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

// Live figures: "-" when the server did not measure any (no traffic in the window, older turnout).
std::string rate_text(const json& v) {
  if (!v.is_number()) return "-";
  double r = v.get<double>();
  return r >= 100 ? fmt::format("{:.0f}", r) : fmt::format("{:.1f}", r);
}

std::string percent_text(const json& v) {
  if (!v.is_number()) return "-";
  double p = v.get<double>() * 100;
  return p > 0 && p < 0.1 ? "<0.1%" : fmt::format("{:.1f}%", p);
}

std::string ms_text(const json& v) {
  if (!v.is_number()) return "-";
  double ms = v.get<double>();
  if (ms >= 1000) return fmt::format("{:.2f}s", ms / 1000);
  return ms >= 10 ? fmt::format("{:.0f}ms", ms) : fmt::format("{:.1f}ms", ms);
}

// "3h 12m", "5m 03s", "42s".
std::string duration_text(int64_t s) {
  if (s < 0) s = 0;
  if (s >= 86400) return fmt::format("{}d {}h", s / 86400, s % 86400 / 3600);
  if (s >= 3600) return fmt::format("{}h {:02}m", s / 3600, s % 3600 / 60);
  if (s >= 60) return fmt::format("{}m {:02}s", s / 60, s % 60);
  return fmt::format("{}s", s);
}

std::string utc_text(int64_t unix_ms) {
  std::time_t secs = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  char buf[32];
  if (gmtime_r(&secs, &tm) == nullptr || std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm) == 0) return "?";
  return std::string(buf) + " UTC";
}

int64_t int_of(const json& v, int64_t fallback = 0) {
  return v.is_number() ? static_cast<int64_t>(v.get<double>()) : fallback;
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

namespace {

// "app(w) when header x-canary=1" for each rule entry of `host` in the API's "rules".
std::vector<std::string> rule_cells(const json& j, const std::string& host) {
  std::vector<std::string> cells;
  const json& rules = member(member(j, "rules"), host.c_str());
  if (!rules.is_array()) return cells;
  for (const json& r : rules) {
    const json& when = member(r, "when");
    std::string cond = member(when, "header").is_string() ? "header " + scalar_text(member(when, "header"))
                                                           : "cookie " + scalar_text(member(when, "cookie"));
    cells.push_back(fmt::format("{}({}) when {}={}", scalar_text(member(r, "app")), scalar_text(member(r, "weight")), cond,
                                scalar_text(member(when, "value"))));
  }
  return cells;
}

}  // namespace

std::string format_routes(const json& j) {
  std::vector<std::vector<std::string>> rows = {{"HOST", "APPS"}};
  std::map<std::string, std::string> sorted;
  const json& routes = member(j, "routes");
  if (routes.is_object()) {
    for (const auto& [host, apps] : routes.items()) {
      std::vector<std::string> cells;
      if (apps.is_object()) {
        // Shares among the entries without rules: what a request meeting no rule gets.
        for (const auto& [app, weight] : apps.items()) cells.push_back(weighted(app, weight));
      }
      for (std::string& c : rule_cells(j, host)) cells.push_back(std::move(c));
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
  std::vector<std::vector<std::string>> rows = {{"APP", "SERVERS", "STATE", "REQ/S", "ERRORS", "P50", "P99", "HOSTS"}};
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
    // The last seconds of traffic, as measured by the server (the status page shows the same).
    const json& live = member(*app, "live");
    rows.push_back({name, servers.empty() ? "-" : join(servers, ", "), state,
                    rate_text(member(live, "requests_per_second")), percent_text(member(live, "error_rate")),
                    ms_text(member(live, "p50_ms")), ms_text(member(live, "p99_ms")),
                    hosts.empty() ? "-" : join(hosts, ", ")});
  }
  std::string out = version_line(j) + format_table(rows);
  if (rows.size() == 1) out += "no apps\n";
  else out += "\nREQ/S, ERRORS and latency (P50, P99: request sent to response head) cover the last 10 s.\n";
  return out;
}

std::string format_status(const json& j) {
  // A summary to read, not a key dump; `--json` has every field.
  if (!member(j, "turnout_version").is_string()) {
    // An older turnout: fall back to its keys.
    std::vector<std::pair<std::string, std::string>> lines;
    flatten(j, "", lines);
    std::string out;
    for (const auto& [k, v] : lines) out += k.empty() ? v + "\n" : fmt::format("{}: {}\n", k, v);
    return out;
  }
  std::vector<std::vector<std::string>> rows;
  std::string head = fmt::format("turnout {}", scalar_text(member(j, "turnout_version")));
  if (member(j, "pid").is_number()) head += fmt::format(", pid {}", int_of(member(j, "pid")));
  head += fmt::format(", up {}", duration_text(int_of(member(j, "uptime_seconds"))));
  if (member(j, "started_unix_ms").is_number()) head += fmt::format(" (since {})", utc_text(int_of(member(j, "started_unix_ms"))));
  std::vector<std::string> listeners;
  if (member(j, "listeners").is_array())
    for (const json& l : member(j, "listeners")) listeners.push_back(scalar_text(l));
  rows.push_back({"listening", listeners.empty() ? "-" : join(listeners, ", ")});
  const json& workers = member(j, "workers");
  rows.push_back({"workers", std::to_string(workers.is_array() ? workers.size() : 0)});
  const json& conns = member(j, "connections");
  int64_t active = int_of(member(conns, "active")), idle = int_of(member(conns, "idle"));
  rows.push_back({"connections", fmt::format("{} open ({} idle)", active, idle)});
  const json& rates = member(j, "rates");
  int64_t window = int_of(member(rates, "window_seconds"));
  rows.push_back({"traffic", fmt::format("{} req/s, {} errors (5xx), {} no-route req/s over the last {}s",
                                         rate_text(member(rates, "requests_per_second")),
                                         percent_text(member(rates, "error_rate")),
                                         rate_text(member(rates, "no_route_per_second")), window)});
  rows.push_back({"since start", fmt::format("{} requests, {} errors (5xx), {} for hosts with no route",
                                             int_of(member(j, "requests")), int_of(member(j, "errors")),
                                             int_of(member(j, "no_route")))});
  rows.push_back({"table", fmt::format("version {}: {} routes, {} apps", int_of(member(j, "version")),
                                       int_of(member(j, "routes")), int_of(member(j, "apps")))});
  const json& last = member(j, "last_change");
  if (last.is_object()) {
    std::string when = utc_text(int_of(member(last, "unix_ms")));
    if (member(j, "now_unix_ms").is_number())
      when += fmt::format(", {} ago", duration_text((int_of(member(j, "now_unix_ms")) - int_of(member(last, "unix_ms"))) / 1000));
    rows.push_back({"last change", fmt::format("version {} at {}: {}", int_of(member(last, "version")), when,
                                               scalar_text(member(last, "summary")))});
  }
  int64_t reloads = int_of(member(j, "reloads")), failed = int_of(member(j, "reload_failures"));
  rows.push_back({"reloads", failed ? fmt::format("{} ({} refused)", reloads, failed) : std::to_string(reloads)});
  return head + "\n\n" + format_table(rows);
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

std::string format_fleet(const json& j) {
  std::string head = fmt::format("fleet version {} (this instance: {}, table source: {})\n", scalar_text(member(j, "version")),
                                 scalar_text(member(j, "instance")), scalar_text(member(j, "table_source")));
  std::vector<std::vector<std::string>> rows = {{"INSTANCE", "VERSION", "LAG", "ADMIN"}};
  const json& instances = member(j, "instances");
  if (instances.is_object())
    for (const auto& [name, i] : instances.items())
      rows.push_back({name, scalar_text(member(i, "version")), scalar_text(member(i, "lag")), scalar_text(member(i, "addr"))});
  return head + format_table(rows);
}

namespace {

// The first 8 bytes of a fingerprint "AB:CD:...": enough to tell certificates apart by eye.
std::string fingerprint_prefix(const json& fp) {
  std::string text = scalar_text(fp);
  return text.size() > 23 ? text.substr(0, 23) + "..." : text;
}

std::string certificate_flags(const json& cert) {
  std::vector<std::string> flags;
  if (member(cert, "default") == true) flags.push_back("default");
  if (member(cert, "expired") == true) flags.push_back("EXPIRED");
  return flags.empty() ? "-" : join(flags, ",");
}

std::string dns_names_text(const json& cert) {
  std::vector<std::string> names;
  const json& list = member(cert, "dns_names");
  if (list.is_array()) {
    for (const json& n : list) names.push_back(scalar_text(n));
  }
  return names.empty() ? "-" : join(names, ", ");
}

}  // namespace

std::string format_certificates(const json& j) {
  std::vector<std::vector<std::string>> rows = {{"NAME", "DNS NAMES", "KEY", "NOT AFTER", "SHA256", "FLAGS"}};
  const json& certs = member(j, "certificates");
  std::map<std::string, const json*> sorted;
  if (certs.is_object()) {
    for (const auto& [name, cert] : certs.items()) sorted[name] = &cert;
  }
  for (const auto& [name, cert] : sorted) {
    rows.push_back({name, dns_names_text(*cert), scalar_text(member(*cert, "key_type")),
                    scalar_text(member(*cert, "not_after")), fingerprint_prefix(member(*cert, "sha256")),
                    certificate_flags(*cert)});
  }
  if (sorted.empty()) return version_line(j) + "(no certificates)\n";
  return version_line(j) + format_table(rows);
}

std::string format_change(const json& j) {
  std::string out;
  // The resulting route of every host the change touched, then the servers of every app.
  const json& routes = member(j, "routes");
  if (routes.is_object()) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& [host, apps] : routes.items()) {
      std::string text = "(no route: answers 404)";
      std::vector<std::string> rules = rule_cells(j, host);
      if ((apps.is_object() && !apps.empty()) || !rules.empty()) {
        text.clear();
        if (apps.is_object())
          for (const auto& [app, weight] : apps.items()) {
            if (!text.empty()) text += ", ";
            text += fmt::format("{}({})", app, scalar_text(weight));
          }
        for (const std::string& r : rules) text += (text.empty() ? "" : ", ") + r;
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
  const json& certs = member(j, "certificates");
  if (certs.is_object()) {
    for (const auto& [name, cert] : certs.items()) {
      if (!cert.is_object()) {
        out += fmt::format("certificate {}: (deleted)\n", name);
        continue;
      }
      out += fmt::format("certificate {}: {} ({}, not after {}, sha256 {})\n", name, dns_names_text(cert),
                         scalar_text(member(cert, "key_type")), scalar_text(member(cert, "not_after")),
                         fingerprint_prefix(member(cert, "sha256")));
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
