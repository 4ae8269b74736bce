#include "turnout/ctl/ctl.h"

#include "turnout/common/file.h"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "turnout/common/utf8.h"
#include "turnout/ctl/ctl_client.h"
#include "turnout/ctl/ctl_format.h"
#include "turnout/ctl/ctl_target.h"
#include "turnout/config/config_loader.h"
#include "turnout/route/route_builder.h"
#include "turnout/state/table_codec.h"

namespace turnout {

namespace {

using json = nlohmann::json;

constexpr uint32_t kMaxWeight = 1000000;

// Verb -> positional argument bounds and which flags apply. The usage text is written to match.
struct VerbSpec {
  const char* name;  // as typed
  size_t min_args;   // positional arguments after the verb
  size_t max_args;   // SIZE_MAX = any number
  bool weight;       // accepts --weight
  bool wait;         // accepts --wait (and --timeout)
  bool force;        // accepts --force (a change the guard rails may refuse, or reload)
};
constexpr size_t kMany = static_cast<size_t>(-1);
constexpr VerbSpec kVerbs[] = {
    {"routes", 0, 0, false, false, false},        {"apps", 0, 0, false, false, false},
    {"status", 0, 0, false, false, false},        {"history", 0, 0, false, false, false},
    {"export", 0, 0, false, false, false},        {"map", 2, kMany, true, false, true},
    {"unmap", 2, kMany, false, true, true},       {"swap", 3, kMany, true, true, true},
    {"add-server", 2, 2, true, false, true},      {"remove-server", 2, 2, false, false, true},
    {"app-create", 1, kMany, true, false, true},  {"app-delete", 1, 1, false, false, true},
    {"rollback", 0, 1, false, false, false},      {"reload", 0, 0, false, false, true},
    {"upgrade", 0, 0, false, false, false},
    {"certs", 0, 0, false, false, false},         {"cert-set", 3, 3, false, false, true},
    {"cert-delete", 1, 1, false, false, true},    {"fleet", 0, 0, false, false, false},
    {"import", 1, 1, false, false, true},
};

const VerbSpec* find_verb(const std::string& name) {
  for (const VerbSpec& v : kVerbs) {
    if (name == v.name) return &v;
  }
  return nullptr;
}

Error usage_error(std::string message) { return make_error(ErrorKind::Usage, std::move(message)); }

// `s` with every byte outside printable ASCII as \xHH, for an error message.
std::string printable_arg(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f) out += static_cast<char>(c);
    else out += fmt::format("\\x{:02x}", c);
  }
  return out;
}

bool parse_uint(const std::string& s, uint64_t* out) {
  if (s.empty() || s.size() > 19) return false;
  uint64_t n = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = n;
  return true;
}

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// ?force=1 when asked: every change endpoint takes it, batch included.
std::string with_force(std::string path, bool force) { return force ? path + "?force=1" : path; }

// The pid in GET /v1/status of whoever answers at `t` now; nullopt when that fails.
std::optional<int64_t> answering_pid(const CtlTarget& t) {
  Result<CtlAnswer> a = ctl_call(t.target, t.token, CtlRequest{"GET", "/v1/status", ""});
  if (!a || a->status != 200) return std::nullopt;
  json j = json::parse(a->body, nullptr, false);
  if (!j.is_object() || !j.contains("pid") || !j["pid"].is_number_integer()) return std::nullopt;
  return j["pid"].get<int64_t>();
}

// After a successful upgrade: "pid OLD -> NEW". The old process stops accepting admin
// connections as soon as the hand-off is confirmed, so the new one answers from then on; a
// short retry covers a status request that still reached the old one's backlog.
std::string upgrade_pids_line(const CtlTarget& t, std::optional<int64_t> old_pid) {
  std::optional<int64_t> new_pid;
  for (int i = 0; i < 20; ++i) {
    new_pid = answering_pid(t);
    if (new_pid && new_pid != old_pid) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  auto shown = [](std::optional<int64_t> p) { return p ? std::to_string(*p) : std::string("?"); };
  return fmt::format("upgraded: pid {} -> {}\n", shown(old_pid), shown(new_pid));
}

}  // namespace

std::string ctl_usage() {
  return "usage: turnout ctl [-c CONFIG] [-s SOCKET | -s http://HOST:PORT] [--token T] VERB [ARGS] [--json]\n"
         "  routes | apps | status | history       show the live table (--json: the API's JSON)\n"
         "  map APP HOST... [--weight N]           map APP to each HOST, one atomic change\n"
         "    [--when-header NAME=VALUE | --when-cookie NAME=VALUE]\n"
         "                                         only requests with that header / cookie value (canary)\n"
         "  unmap APP HOST... [--wait]             unmap; --wait returns once APP has nothing in flight there\n"
         "    [--when-header N=V | --when-cookie N=V]  only the entry with that rule (else every entry of APP)\n"
         "  swap FROM_APP TO_APP HOST... [--wait]  map TO_APP and unmap FROM_APP on each HOST, atomically\n"
         "    --wait [--timeout SECONDS]           shows the in-flight count on stderr; gives up after SECONDS\n"
         "                                         (default 60) with exit 3, the change already made\n"
         "  add-server APP ADDR [--weight N]       add a server to an app\n"
         "  remove-server APP ADDR                 remove a server (its requests in flight finish)\n"
         "  app-create APP ADDR... [--weight N]    create or replace an app\n"
         "  app-delete APP                         delete an unmapped app\n"
         "  rollback [--to VERSION | VERSION]      make an earlier table current; repeated, it walks further\n"
         "                                         back (an undo stack)\n"
         "  reload [--force]                       re-read the config file; refused if it would drop runtime\n"
         "                                         changes the file lacks (--force drops them)\n"
         "  export                                 print the live table as config YAML (apps, routes)\n"
         "  upgrade                                start the new binary; it takes over, this one drains\n"
         "  certs                                  list certificates: names, key, expiry, fingerprint\n"
         "  cert-set NAME CERT_FILE KEY_FILE       add or replace certificate NAME from PEM files read here\n"
         "                                         (chain, then key); refused if expired or mismatched\n"
         "  cert-delete NAME [--force]             remove a certificate; refused while a routed host needs it\n"
         "  import FILE [--force]                  replace the live table by FILE's apps, routes, default_app\n"
         "                                         and certificates as one version (in fleet mode: the\n"
         "                                         fleet's); refused if it drops routed hosts unless --force\n"
         "  fleet                                  fleet mode: the instances sharing the table, versions, lag\n"
         "    --fleet [--timeout SECONDS]          on a change: answer once every live instance applied it\n"
         "                                         (exit 1 naming the instances that lag after SECONDS)\n"
         "Changes that would stop serving a host (its last app unmapped, only apps with no server up)\n"
         "are refused; --force makes them anyway.\n"
         "SOCKET defaults to $TURNOUT_SOCKET, else admin.socket of -c CONFIG, else ./turnout.sock if it\n"
         "exists, else /run/turnout/turnout.sock. The token (for http://) defaults to $TURNOUT_TOKEN, else\n"
         "admin.token or the admin.token_file of -c CONFIG.\n";
}

std::string url_encode_component(std::string_view text) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
        c == '_' || c == '~') {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

Result<CtlOptions> parse_ctl_args(const std::vector<std::string>& args, const char* env_socket, const char* env_token) {
  CtlOptions o;
  o.target_given = env_socket != nullptr && *env_socket != '\0';
  o.target = o.target_given ? env_socket : "./turnout.sock";
  o.token_given = env_token != nullptr && *env_token != '\0';
  if (env_token != nullptr) o.token = env_token;
  std::vector<std::string> positional;
  bool options_done = false;
  for (const std::string& a : args) {
    // Requests are JSON, which is UTF-8: a host or path with other bytes would otherwise reach
    // the server with those bytes replaced, naming something else.
    if (!is_valid_utf8(a))
      return usage_error(fmt::format("argument \"{}\" is not valid UTF-8", printable_arg(a)));
  }
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (options_done || a.empty() || a[0] != '-' || a == "-") {
      positional.push_back(a);
      continue;
    }
    // "--name=VALUE" is the same as "--name VALUE".
    std::string name = a;
    std::optional<std::string> inline_value;
    if (size_t eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
      name = a.substr(0, eq);
      inline_value = a.substr(eq + 1);
    }
    auto value = [&]() -> std::optional<std::string> {
      if (inline_value) return inline_value;
      if (i + 1 < args.size()) return args[++i];
      return std::nullopt;
    };
    bool takes_value = name == "-s" || name == "--socket" || name == "--token" || name == "--weight" ||
                       name == "--when-header" || name == "--when-cookie" ||
                       name == "-c" || name == "--config" || name == "--timeout" || name == "--to";
    if (!takes_value && inline_value) return usage_error(fmt::format("{} takes no value", name));
    if (name == "--") {
      options_done = true;
    } else if (name == "-h" || name == "--help") {
      o.help = true;
    } else if (name == "--json") {
      o.json = true;
    } else if (name == "--wait") {
      o.wait = true;
    } else if (name == "--force") {
      o.force = true;
    } else if (name == "--fleet") {
      o.fleet = true;
    } else if (takes_value) {
      std::optional<std::string> v = value();
      if (!v) return usage_error(fmt::format("{} needs a value", name));
      if (name == "--token") {
        o.token = *v;
        o.token_given = true;
      } else if (name == "-c" || name == "--config") {
        if (v->empty()) return usage_error(fmt::format("{} needs a config file", name));
        o.config_path = *v;
      } else if (name == "--weight") {
        uint64_t w = 0;
        if (!parse_uint(*v, &w) || w < 1 || w > kMaxWeight) {
          return usage_error(fmt::format("--weight must be an integer from 1 to {}, not \"{}\"", kMaxWeight, *v));
        }
        o.weight = static_cast<uint32_t>(w);
      } else if (name == "--when-header" || name == "--when-cookie") {
        if (o.when) return usage_error("give one --when-header or --when-cookie");
        size_t eq = v->find('=');
        if (eq == std::string::npos) return usage_error(fmt::format("{} takes NAME=VALUE, not \"{}\"", name, printable_arg(*v)));
        o.when.kind = name == "--when-header" ? RouteWhen::Kind::Header : RouteWhen::Kind::Cookie;
        o.when.name = v->substr(0, eq);
        o.when.value = v->substr(eq + 1);
        if (std::string problem = check_route_when(o.when); !problem.empty())
          return usage_error(fmt::format("{}: {}", name, printable_arg(problem)));
      } else if (name == "--timeout") {
        char* end = nullptr;
        double seconds = std::strtod(v->c_str(), &end);
        if (v->empty() || end != v->c_str() + v->size() || !(seconds > 0) || seconds > 86400)
          return usage_error(fmt::format("--timeout must be seconds from 0 to 86400, not \"{}\"", *v));
        o.timeout_s = seconds;
      } else if (name == "--to") {
        uint64_t n = 0;
        if (!parse_uint(*v, &n)) return usage_error(fmt::format("--to: \"{}\" is not a version", *v));
        o.to = n;
      } else {
        o.target = *v;
        o.target_given = true;
      }
    } else {
      return usage_error(fmt::format("unknown option \"{}\"", a));
    }
  }
  if (o.help) return o;
  if (o.target.empty()) return usage_error("-s needs a socket path or http://HOST:PORT");
  if (positional.empty()) return usage_error("missing verb");
  o.verb = positional[0];
  o.args.assign(positional.begin() + 1, positional.end());
  const VerbSpec* spec = find_verb(o.verb);
  if (spec == nullptr) return usage_error(fmt::format("unknown verb \"{}\"", o.verb));
  if (o.args.size() < spec->min_args) return usage_error(fmt::format("{}: missing arguments", o.verb));
  if (o.args.size() > spec->max_args) return usage_error(fmt::format("{}: too many arguments", o.verb));
  if (o.weight && !spec->weight) return usage_error(fmt::format("{}: --weight does not apply", o.verb));
  if (o.wait && !spec->wait) return usage_error(fmt::format("{}: --wait does not apply", o.verb));
  if (o.when && o.verb != "map" && o.verb != "unmap")
    return usage_error(fmt::format("{}: --when-header and --when-cookie apply to map and unmap", o.verb));
  if (o.fleet && !spec->force && o.verb != "rollback")
    return usage_error(fmt::format("{}: --fleet applies to changes", o.verb));
  if (o.fleet && o.verb == "reload") return usage_error("reload: --fleet does not apply (a reload in fleet mode changes no table)");
  if (o.fleet && o.wait) return usage_error(fmt::format("{}: --wait and --fleet are one at a time", o.verb));
  if (o.timeout_s && !o.wait && !o.fleet)
    return usage_error(fmt::format("{}: --timeout applies with --wait or --fleet", o.verb));
  if (o.force && !spec->force) return usage_error(fmt::format("{}: --force does not apply", o.verb));
  if (o.to && o.verb != "rollback") return usage_error(fmt::format("{}: --to does not apply", o.verb));
  if (o.to && !o.args.empty()) return usage_error("rollback: give the version once, as --to N or N");
  if (o.verb == "rollback" && !o.args.empty()) {
    uint64_t v = 0;
    if (!parse_uint(o.args[0], &v)) return usage_error(fmt::format("rollback: \"{}\" is not a version", o.args[0]));
  }
  return o;
}

namespace {

Result<std::string> read_text_file(const std::string& path, const char* what) {
  Result<std::string> bytes = read_file(path);
  if (!bytes) return make_error(ErrorKind::Io, fmt::format("cannot read {} {}", what, bytes.error().message));
  return bytes;
}

}  // namespace

Result<void> read_ctl_files(CtlOptions& o) {
  if (o.verb == "import" && o.args.size() == 1) {
    // The file is read and checked here, as `turnout check` would, and its table sent whole.
    LoadResult loaded = load_config(o.args[0]);
    if (!loaded.ok()) {
      std::string msg;
      for (const auto& e : loaded.errors) msg += (msg.empty() ? "" : "\n") + e.to_string();
      return make_error(ErrorKind::Invalid, "import: " + msg);
    }
    Result<RouteTablePtr> table = build_table(*loaded.config, 1);
    if (!table) return make_error(ErrorKind::Invalid, "import: " + o.args[0] + ": " + table.error().message);
    o.import_body = dump(table_to_json(**table));
    return {};
  }
  if (o.verb != "cert-set" || o.args.size() != 3) return {};
  Result<std::string> cert = read_text_file(o.args[1], "certificate file");
  if (!cert) return cert.error();
  Result<std::string> key = read_text_file(o.args[2], "key file");
  if (!key) return key.error();
  o.cert_pem = std::move(*cert);
  o.key_pem = std::move(*key);
  return {};
}

namespace {
CtlRequest build_plain_request(const CtlOptions& o);
}  // namespace

CtlRequest build_ctl_request(const CtlOptions& o) {
  CtlRequest r = build_plain_request(o);
  if (o.fleet) {
    r.path += r.path.find('?') == std::string::npos ? "?wait=fleet" : "&wait=fleet";
    if (o.timeout_s) r.path += fmt::format("&timeout={}", *o.timeout_s);
  }
  return r;
}

namespace {
CtlRequest build_plain_request(const CtlOptions& o) {
  const std::vector<std::string>& a = o.args;
  auto weight_into = [&](json& j) {
    if (o.weight) j["weight"] = *o.weight;
  };
  auto when_into = [&](json& j) {
    if (o.when)
      j["when"] = {{o.when.kind == RouteWhen::Kind::Header ? "header" : "cookie", o.when.name}, {"value", o.when.value}};
  };
  if (o.verb == "routes" || o.verb == "apps" || o.verb == "status" || o.verb == "history" || o.verb == "export" ||
      o.verb == "fleet") {
    return {"GET", "/v1/" + o.verb, ""};
  }
  if (o.verb == "map") {
    json ops = json::array();
    for (size_t i = 1; i < a.size(); ++i) {
      json op = {{"op", "map"}, {"app", a[0]}, {"host", a[i]}};
      weight_into(op);
      when_into(op);
      ops.push_back(std::move(op));
    }
    return {"POST", with_force("/v1/batch", o.force), dump(ops)};
  }
  // unmap and swap --wait: the change is answered at once and run_ctl then polls the in-flight
  // count itself (ctl_drain_targets), so it can show progress and stop at --timeout.
  if (o.verb == "unmap") {
    if (a.size() == 2 && !o.when) {
      return {"DELETE", with_force(fmt::format("/v1/routes/{}/{}", url_encode_component(a[1]), url_encode_component(a[0])), o.force), ""};
    }
    json ops = json::array();
    for (size_t i = 1; i < a.size(); ++i) {
      json op = {{"op", "unmap"}, {"app", a[0]}, {"host", a[i]}};
      when_into(op);
      ops.push_back(std::move(op));
    }
    return {"POST", with_force("/v1/batch", o.force), dump(ops)};
  }
  if (o.verb == "swap") {
    json body = {{"from", a[0]}, {"to", a[1]}, {"hosts", std::vector<std::string>(a.begin() + 2, a.end())}};
    weight_into(body);
    return {"POST", with_force("/v1/swap", o.force), dump(body)};
  }
  if (o.verb == "add-server") {
    json body = {{"addr", a[1]}};
    weight_into(body);
    return {"POST", with_force(fmt::format("/v1/apps/{}/servers", url_encode_component(a[0])), o.force), dump(body)};
  }
  if (o.verb == "remove-server") {
    return {"DELETE", with_force(fmt::format("/v1/apps/{}/servers/{}", url_encode_component(a[0]), url_encode_component(a[1])), o.force), ""};
  }
  if (o.verb == "app-create") {
    json servers = json::array();
    for (size_t i = 1; i < a.size(); ++i) {
      if (o.weight) {
        servers.push_back({{"addr", a[i]}, {"weight", *o.weight}});
      } else {
        servers.push_back(a[i]);
      }
    }
    return {"PUT", with_force("/v1/apps/" + url_encode_component(a[0]), o.force),
            dump(json{{"servers", std::move(servers)}})};
  }
  if (o.verb == "app-delete") return {"DELETE", with_force("/v1/apps/" + url_encode_component(a[0]), o.force), ""};
  if (o.verb == "rollback") {
    if (a.empty() && !o.to) return {"POST", "/v1/rollback", ""};
    uint64_t version = o.to.value_or(0);
    if (!o.to) parse_uint(a[0], &version);  // checked by parse_ctl_args
    return {"POST", "/v1/rollback", dump(json{{"version", version}})};
  }
  if (o.verb == "upgrade") return {"POST", "/v1/upgrade", ""};
  if (o.verb == "import") return {"POST", with_force("/v1/import", o.force), o.import_body};
  if (o.verb == "certs") return {"GET", "/v1/certificates", ""};
  if (o.verb == "cert-set") {
    return {"PUT", with_force("/v1/certificates/" + url_encode_component(a[0]), o.force),
            dump(json{{"cert", o.cert_pem}, {"key", o.key_pem}})};
  }
  if (o.verb == "cert-delete") return {"DELETE", with_force("/v1/certificates/" + url_encode_component(a[0]), o.force), ""};
  return {"POST", with_force("/v1/reload", o.force), ""};  // "reload"; parse_ctl_args admits no other verb
}
}  // namespace

std::vector<CtlDrainTarget> ctl_drain_targets(const CtlOptions& o) {
  std::vector<CtlDrainTarget> out;
  if (!o.wait) return out;
  const std::vector<std::string>& a = o.args;
  if (o.verb == "unmap")
    for (size_t i = 1; i < a.size(); ++i) out.push_back({a[i], a[0]});
  if (o.verb == "swap")
    for (size_t i = 2; i < a.size(); ++i) out.push_back({a[i], a[0]});
  return out;
}

int render_ctl_answer(const CtlOptions& o, const CtlAnswer& answer, std::string* out, std::string* err) {
  json j = json::parse(answer.body, nullptr, /*allow_exceptions=*/false);
  bool is_json = !j.is_discarded();
  if (o.json) {
    *out = answer.body;
    if (!out->empty() && out->back() != '\n') *out += '\n';
  }
  if (answer.status < 200 || answer.status > 299) {
    std::string message;
    if (is_json && j.is_object() && j.contains("error") && j["error"].is_string()) {
      message = j["error"].get<std::string>();
    } else {
      message = answer.body;
      while (!message.empty() && (message.back() == '\n' || message.back() == '\r')) message.pop_back();
      if (message.empty()) message = "request failed";
    }
    *err = fmt::format("turnout ctl: {} (HTTP {})\n", message, answer.status);
    return 1;
  }
  if (o.json) return 0;
  if (!is_json) {
    *out = answer.body;
    return 0;
  }
  if (o.verb == "routes") {
    *out = format_routes(j);
  } else if (o.verb == "apps") {
    *out = format_apps(j);
  } else if (o.verb == "status") {
    *out = format_status(j);
  } else if (o.verb == "history") {
    *out = format_history(j);
  } else if (o.verb == "certs") {
    *out = format_certificates(j);
  } else if (o.verb == "fleet") {
    *out = format_fleet(j);
  } else {
    *out = format_change(j);
  }
  return 0;
}

namespace {

// After a change with --wait: polls the in-flight count of every drain target until all are
// zero (exit 0) or --timeout passes (exit kExitWaitTimedOut, saying the change WAS made).
// Progress goes to stderr, so stdout stays the change's answer.
int wait_for_drain(const CtlOptions& o, const CtlTarget& target, uint64_t version) {
  using Clock = std::chrono::steady_clock;
  std::vector<CtlDrainTarget> targets = ctl_drain_targets(o);
  const double timeout = o.timeout_s.value_or(kDefaultWaitSeconds);
  std::string what;
  for (const CtlDrainTarget& t : targets) what += fmt::format("{}{} on {}", what.empty() ? "" : ", ", t.app, t.host);
  std::fprintf(stderr, "waiting for requests in flight to finish: %s (timeout %gs)\n", what.c_str(), timeout);
  const auto start = Clock::now();
  std::string last;
  auto last_print = start;
  for (;;) {
    uint64_t total = 0;
    std::string detail;
    for (const CtlDrainTarget& t : targets) {
      CtlRequest req{"GET", fmt::format("/v1/in-flight/{}/{}", url_encode_component(t.host), url_encode_component(t.app)), ""};
      Result<CtlAnswer> a = ctl_call(target.target, target.token, req);
      json j = a ? json::parse(a->body, nullptr, false) : json();
      if (!a || a->status != 200 || !j.is_object() || !j["in_flight"].is_number_unsigned()) {
        std::fprintf(stderr,
                     "turnout ctl: cannot read the in-flight count (%s); the change WAS made (version %llu)\n",
                     a ? a->body.c_str() : a.error().message.c_str(), static_cast<unsigned long long>(version));
        return 1;
      }
      uint64_t n = j["in_flight"].get<uint64_t>();
      if (n == 0) continue;
      total += n;
      detail += fmt::format("{}{} of {} on {}", detail.empty() ? "" : ", ", n, t.app, t.host);
    }
    double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    if (total == 0) {
      std::fprintf(stderr, "drained after %.1fs: nothing in flight\n", elapsed);
      return 0;
    }
    if (elapsed >= timeout) {
      std::fprintf(stderr,
                   "turnout ctl: timed out after %gs: the change WAS made (version %llu) but %llu request%s "
                   "still in flight (%s)\n",
                   timeout, static_cast<unsigned long long>(version), static_cast<unsigned long long>(total),
                   total == 1 ? " is" : "s are", detail.c_str());
      return kExitWaitTimedOut;
    }
    if (detail != last || Clock::now() - last_print >= std::chrono::seconds(5)) {
      std::fprintf(stderr, "  %.1fs: %llu in flight (%s)\n", elapsed, static_cast<unsigned long long>(total),
                   detail.c_str());
      last = detail;
      last_print = Clock::now();
    }
    double left = timeout - elapsed;
    std::this_thread::sleep_for(std::chrono::duration<double>(std::min(0.25, left)));
  }
}

}  // namespace

int run_ctl(int argc, char** argv) {
  std::vector<std::string> args;
  int first = 1;
  if (argc > 1 && std::string(argv[1]) == "ctl") first = 2;  // argv as main() got it
  for (int i = first; i < argc; ++i) args.emplace_back(argv[i]);

  Result<CtlOptions> options = parse_ctl_args(args, std::getenv("TURNOUT_SOCKET"), std::getenv("TURNOUT_TOKEN"));
  if (!options) {
    std::fprintf(stderr, "turnout ctl: %s\n%s", options.error().message.c_str(), ctl_usage().c_str());
    return 2;
  }
  if (options->help) {
    std::fputs(ctl_usage().c_str(), stdout);
    return 0;
  }
  Result<CtlTarget> target = resolve_ctl_target(*options, [](const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0;
  });
  if (!target) {
    std::fprintf(stderr, "turnout ctl: %s\n", target.error().message.c_str());
    return 1;
  }
  if (Result<void> files = read_ctl_files(*options); !files) {
    std::fprintf(stderr, "turnout ctl: %s\n", files.error().message.c_str());
    return 1;
  }
  // upgrade: the pid answering before and after, so the operator sees the process change.
  std::optional<int64_t> old_pid;
  if (options->verb == "upgrade") old_pid = answering_pid(*target);
  Result<CtlAnswer> answer = ctl_call(target->target, target->token, build_ctl_request(*options));
  if (!answer) {
    std::fprintf(stderr, "turnout ctl: %s\n", answer.error().message.c_str());
    return 1;
  }
  std::string out, err;
  int code = render_ctl_answer(*options, *answer, &out, &err);
  if (answer->status == 401) err += ctl_unauthorized_hint(*target);
  if (code == 0 && options->verb == "upgrade" && !options->json) out += upgrade_pids_line(*target, old_pid);
  std::fputs(out.c_str(), stdout);
  std::fputs(err.c_str(), stderr);
  if (code == 0 && options->wait) {
    std::fflush(stdout);
    json j = json::parse(answer->body, nullptr, false);
    uint64_t version = j.is_object() && j["version"].is_number_unsigned() ? j["version"].get<uint64_t>() : 0;
    return wait_for_drain(*options, *target, version);
  }
  return code;
}

}  // namespace turnout
