#include "turnout/config/config_loader.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <thread>

#include "turnout/common/file.h"
#include "sections.h"
#include "yaml_reader.h"

namespace turnout {

using config_detail::MapView;
using config_detail::YamlReader;

namespace {

constexpr uint64_t kMaxWorkers = 256;

// Returns the `tls: true` nodes and their keys, checked against the tls section once it is read.
using TlsMarks = std::vector<std::pair<YAML::Node, std::string>>;
TlsMarks read_listen(YamlReader& r, const YAML::Node& n, Config& cfg) {
  TlsMarks tls_marks;
  std::vector<std::pair<YAML::Node, std::string>> items;  // node, key path
  if (n.IsScalar()) {
    items.emplace_back(n, "listen");
  } else if (n.IsSequence() && n.size() > 0) {
    for (size_t i = 0; i < n.size(); ++i) items.emplace_back(n[i], "listen[" + std::to_string(i) + "]");
  } else {
    r.error(n, "listen",
            "must be an address or a non-empty list of addresses (\"127.0.0.1:8080\", \"[::1]:8080\", "
            "{addr: \"0.0.0.0:8080\", proxy_protocol: true})");
    return tls_marks;
  }
  std::set<std::string> seen;
  for (const auto& [item, item_key] : items) {
    // A string, or {addr, proxy_protocol} for a listener behind a PROXY-protocol balancer.
    YAML::Node node = item;
    std::string key = item_key;
    bool proxy_protocol = false, tls = false;
    std::optional<bool> http2;
    if (item.IsMap()) {
      MapView m(r, item, item_key, {"addr", "proxy_protocol", "tls", "http2"});
      if (!m.valid()) continue;
      if (YAML::Node pp = m.get("proxy_protocol"); pp.IsDefined())
        if (auto b = r.boolean(pp, m.child("proxy_protocol"))) proxy_protocol = *b;
      if (YAML::Node t = m.get("tls"); t.IsDefined())
        if (auto b = r.boolean(t, m.child("tls")); b && *b) {
          tls = true;
          tls_marks.emplace_back(t, m.child("tls"));
        }
      if (YAML::Node h = m.get("http2"); h.IsDefined())
        if (auto b = r.boolean(h, m.child("http2"))) http2 = *b;
      node = m.require("addr");
      if (!node.IsDefined()) continue;
      key = m.child("addr");
    }
    auto text = r.string(node, key);
    if (!text) continue;
    auto addr = parse_address(*text);
    if (!addr) {
      r.error(node, key, addr.error().message);
    } else if (addr->is_unix()) {
      r.error(node, key, "listen addresses must be host:port (unix sockets are for servers)");
    } else if (addr->port() != 0 && !seen.insert(addr->text).second) {  // port 0: each gets its own
      r.error(node, key, "duplicate listen address '" + *text + "'");
    } else {
      cfg.listen.push_back(ListenSpec{*addr, *text, proxy_protocol, tls, http2.value_or(tls)});
    }
  }
  return tls_marks;
}

// trusted_proxies: a list of CIDR ranges (a bare address is one host).
void read_trusted_proxies(YamlReader& r, const YAML::Node& n, Config& cfg) {
  if (n.IsNull()) return;
  if (!n.IsSequence()) {
    r.error(n, "trusted_proxies", "must be a list of CIDR ranges, e.g. [\"10.0.0.0/8\", \"::1\"]");
    return;
  }
  for (size_t i = 0; i < n.size(); ++i) {
    std::string key = "trusted_proxies[" + std::to_string(i) + "]";
    auto text = r.string(n[i], key);
    if (!text) continue;
    auto range = CidrRange::parse(*text);
    if (!range)
      r.error(n[i], key, range.error().message);
    else
      cfg.trusted_proxies.push_back(std::move(*range));
  }
}

void read_workers(YamlReader& r, const YAML::Node& n, Config& cfg) {
  if (n.IsScalar() && n.Scalar() == "auto") {
    cfg.workers = std::max(1u, std::thread::hardware_concurrency());
    return;
  }
  const std::string text = n.IsScalar() ? n.Scalar() : std::string();
  uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || v < 1 || v > kMaxWorkers) {
    r.error(n, "workers", "must be auto or an integer from 1 to " + std::to_string(kMaxWorkers) +
                              (n.IsScalar() ? ", not '" + text + "'" : ""));
    return;
  }
  cfg.workers = static_cast<unsigned>(v);
}

void read_admin(YamlReader& r, const YAML::Node& n, Config& cfg) {
  MapView m(r, n, "admin", {"socket", "http", "allow_remote", "token", "token_file", "open_reads"},
            /*null_ok=*/true);
  if (!m.valid()) return;
  AdminSpec& a = cfg.admin;
  if (YAML::Node v = m.get("socket"); v.IsDefined()) {
    if (v.IsNull()) {
      a.socket.clear();
    } else if (auto s = r.string(v, m.child("socket"), /*allow_empty=*/true)) {
      auto check = s->empty() ? Result<SocketAddress>(SocketAddress{}) : parse_address("unix:" + *s);
      if (!check)
        r.error(v, m.child("socket"), check.error().message);
      else
        a.socket = *s;
    }
  }
  if (YAML::Node v = m.get("allow_remote"); v.IsDefined())
    if (auto b = r.boolean(v, m.child("allow_remote"))) a.allow_remote = *b;
  if (YAML::Node v = m.get("token"); v.IsDefined() && !v.IsNull())
    if (auto s = r.string(v, m.child("token"), /*allow_empty=*/true)) a.token = *s;
  if (YAML::Node v = m.get("token_file"); v.IsDefined() && !v.IsNull())
    if (auto s = r.string(v, m.child("token_file"))) a.token_file = *s;
  if (YAML::Node v = m.get("open_reads"); v.IsDefined())
    if (auto b = r.boolean(v, m.child("open_reads"))) a.open_reads = *b;
  if (YAML::Node v = m.get("http"); v.IsDefined() && !v.IsNull()) {
    if (auto s = r.string(v, m.child("http"), /*allow_empty=*/true); s && !s->empty()) {
      auto addr = parse_address(*s);
      if (!addr)
        r.error(v, m.child("http"), addr.error().message);
      else if (addr->is_unix())
        r.error(v, m.child("http"), "must be host:port (the unix socket is admin.socket)");
      else if (!addr->is_loopback() && !a.allow_remote)
        r.error(v, m.child("http"),
                "'" + *s + "' is not a loopback address; set admin.allow_remote: true and admin.token to expose it");
      else
        a.http = *s;
    }
  }
  if (a.allow_remote && a.token.empty()) r.error(m.get("allow_remote"), m.child("allow_remote"), "requires admin.token");
}

// The token file defaults to turnout.token in the admin socket's directory (./turnout.token for
// the default socket), so a turnout and its `ctl -c` agree on it without configuration.
void resolve_token_file(AdminSpec& a) {
  if (!a.token_file.empty()) return;
  size_t slash = a.socket.rfind('/');
  a.token_file = slash == std::string::npos ? "./turnout.token" : a.socket.substr(0, slash + 1) + "turnout.token";
}

void read_timeouts(YamlReader& r, const YAML::Node& n, Config& cfg) {
  MapView m(r, n, "timeouts",
            {"connect", "request_header", "upstream_response", "client_idle", "upstream_idle", "drain"}, true);
  if (!m.valid()) return;
  auto set = [&](const char* key, Millis& field, Millis min) {
    if (YAML::Node v = m.get(key); v.IsDefined())
      if (auto d = r.duration(v, m.child(key), min)) field = *d;
  };
  Timeouts& t = cfg.timeouts;
  set("connect", t.connect, Millis(1));
  set("request_header", t.request_header, Millis(1));
  set("upstream_response", t.upstream_response, Millis(1));
  set("client_idle", t.client_idle, Millis(1));
  set("upstream_idle", t.upstream_idle, Millis(1));
  set("drain", t.drain, Millis(0));  // 0: exit as soon as the listeners are closed
}

void read_limits(YamlReader& r, const YAML::Node& n, Config& cfg) {
  MapView m(r, n, "limits", {"max_header_bytes", "max_headers", "max_body_bytes", "max_connections",
                                  "h2_max_concurrent_streams"},
            true);
  if (!m.valid()) return;
  auto get = [&](const char* key, uint64_t min, uint64_t max) -> std::optional<uint64_t> {
    YAML::Node v = m.get(key);
    return v.IsDefined() ? r.integer(v, m.child(key), min, max) : std::nullopt;
  };
  Limits& l = cfg.limits;
  // A head must at least hold a request line and a Host header; more than 1 MiB is an attack.
  if (auto v = get("max_header_bytes", 256, 1 << 20)) l.max_header_bytes = static_cast<uint32_t>(*v);
  if (auto v = get("max_headers", 1, 10000)) l.max_headers = static_cast<uint32_t>(*v);
  if (auto v = get("max_body_bytes", 0, std::numeric_limits<int64_t>::max())) l.max_body_bytes = *v;
  if (auto v = get("max_connections", 1, 10000000)) l.max_connections = static_cast<uint32_t>(*v);
  // At least one stream, or no request could be made; past 10,000 a connection is an attack.
  if (auto v = get("h2_max_concurrent_streams", 1, 10000)) l.h2_max_concurrent_streams = static_cast<uint32_t>(*v);
}

// A string key restricted to `allowed`.
void read_choice(YamlReader& r, const YAML::Node& n, const char* key, std::initializer_list<const char*> allowed,
                 std::string& out) {
  std::string list;
  for (const char* a : allowed) list += (list.empty() ? "" : " | ") + std::string(a);
  if (n.IsScalar())
    for (const char* a : allowed)
      if (n.Scalar() == a) {
        out = a;
        return;
      }
  r.error(n, key, std::string("must be one of ") + list + (n.IsScalar() ? ", not '" + n.Scalar() + "'" : ""));
}

void read_root(YamlReader& r, const YAML::Node& root, Config& cfg) {
  MapView m(r, root, "",
            {"listen", "workers", "admin", "state_file", "apps", "routes", "default_app", "timeouts", "limits",
             "access_log", "access_log_format", "log_level", "trusted_proxies", "tls", "table_source"},
            /*null_ok=*/true);
  if (!m.valid()) return;
  TlsMarks tls_listeners;
  if (YAML::Node v = m.require("listen"); v.IsDefined()) tls_listeners = read_listen(r, v, cfg);
  if (YAML::Node v = m.get("trusted_proxies"); v.IsDefined()) read_trusted_proxies(r, v, cfg);
  if (YAML::Node v = m.get("workers"); v.IsDefined())
    read_workers(r, v, cfg);
  else
    cfg.workers = std::max(1u, std::thread::hardware_concurrency());
  if (YAML::Node v = m.get("admin"); v.IsDefined()) read_admin(r, v, cfg);
  resolve_token_file(cfg.admin);
  if (YAML::Node v = m.get("state_file"); v.IsDefined() && !v.IsNull())
    if (auto s = r.string(v, "state_file", /*allow_empty=*/true)) cfg.state_file = *s;
  if (YAML::Node v = m.get("table_source"); v.IsDefined() && !v.IsNull())
    config_detail::read_table_source(r, v, cfg);
  bool apps_ok = false;
  if (YAML::Node v = m.require("apps"); v.IsDefined()) apps_ok = config_detail::read_apps(r, v, cfg);
  if (YAML::Node v = m.require("routes"); v.IsDefined()) config_detail::read_routes(r, v, apps_ok, cfg);
  if (YAML::Node v = m.get("default_app"); v.IsDefined()) config_detail::read_default_app(r, v, apps_ok, cfg);
  if (YAML::Node v = m.get("timeouts"); v.IsDefined()) read_timeouts(r, v, cfg);
  if (YAML::Node v = m.get("limits"); v.IsDefined()) read_limits(r, v, cfg);
  if (YAML::Node v = m.get("access_log"); v.IsDefined())
    if (auto s = r.string(v, "access_log")) cfg.access_log = *s;
  if (YAML::Node v = m.get("access_log_format"); v.IsDefined())
    read_choice(r, v, "access_log_format", {"text", "json"}, cfg.access_log_format);
  if (YAML::Node v = m.get("log_level"); v.IsDefined())
    read_choice(r, v, "log_level", {"debug", "info", "warn", "error"}, cfg.log_level);
  if (YAML::Node v = m.get("tls"); v.IsDefined()) config_detail::read_tls(r, v, cfg);
  // An HTTPS listener needs something to present.
  if (cfg.tls.files.empty())
    for (const auto& [node, key] : tls_listeners) r.error(node, key, "needs a certificate in tls.certificates");
}

}  // namespace

std::string ConfigError::to_string() const {
  std::string out = file;
  if (line > 0) out += ":" + std::to_string(line);
  out += ": ";
  if (!key.empty()) out += key + ": ";
  return out + message;
}

LoadResult parse_config(std::string_view yaml_text, const std::string& path) {
  LoadResult result;
  YamlReader reader(path, yaml_text);
  Config cfg;
  cfg.path = path;
  cfg.content_hash = hash_bytes(yaml_text);
  try {
    YAML::Node root = YAML::Load(std::string(yaml_text));
    reader.check_utf8(root, "");
    read_root(reader, root, cfg);
  } catch (const YAML::ParserException& e) {
    // Syntax errors stop yaml-cpp at the first one; whatever the walk found before is moot.
    reader.take_errors();
    int line = e.mark.line < 0 ? 0 : e.mark.line + 1;
    reader.error_at_line(line, "", "YAML syntax error: " + e.msg);
  } catch (const YAML::Exception& e) {
    int line = e.mark.line < 0 ? 0 : e.mark.line + 1;
    reader.error_at_line(line, "", "cannot read YAML: " + e.msg);
  }
  result.errors = reader.take_errors();
  result.warnings = reader.take_warnings();
  if (result.errors.empty()) result.config = std::move(cfg);
  return result;
}

LoadResult load_config(const std::string& path) {
  Result<std::string> bytes = read_file(path);
  if (!bytes) {
    LoadResult result;
    // The error names the file already, as the ConfigError does: keep only the reason.
    std::string reason = bytes.error().message.substr(std::min(bytes.error().message.size(), path.size() + 2));
    result.errors.push_back(ConfigError{path, 0, "", "cannot open config file: " + reason});
    return result;
  }
  return parse_config(*bytes, path);
}

std::optional<Millis> parse_duration(std::string_view text) {
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0) return std::nullopt;
  uint64_t n = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + digits, n);
  if (ec != std::errc()) return std::nullopt;
  std::string_view unit = text.substr(digits);
  uint64_t scale = 0;
  if (unit == "ms")
    scale = 1;
  else if (unit == "s")
    scale = 1000;
  else if (unit == "m")
    scale = 60000;
  else
    return std::nullopt;
  constexpr uint64_t kMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  if (n > kMax / scale) return std::nullopt;
  return Millis(static_cast<int64_t>(n * scale));
}

std::string hash_bytes(std::string_view bytes) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[17];
  static const char* kHex = "0123456789abcdef";
  for (int i = 15; i >= 0; --i) {
    buf[i] = kHex[h & 0xf];
    h >>= 4;
  }
  buf[16] = '\0';
  return buf;
}

}  // namespace turnout
