// The `table_source` section: where the route table lives when it is not this file's alone.
#include <unistd.h>

#include <cctype>
#include <climits>

#include "sections.h"
#include "turnout/common/file.h"

namespace turnout::config_detail {

namespace {

bool valid_instance_name(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
  return true;
}

std::string host_name() {
  char buf[HOST_NAME_MAX + 1] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "turnout";
  std::string name(buf);
  return valid_instance_name(name) ? name : "turnout";
}

void read_endpoints(YamlReader& r, const YAML::Node& n, const std::string& path, EtcdSourceSpec& spec) {
  if (!n.IsSequence() || n.size() == 0) {
    r.error(n, path, "must be a non-empty list of etcd endpoints such as http://127.0.0.1:2379");
    return;
  }
  for (size_t i = 0; i < n.size(); ++i) {
    const std::string where = path + "[" + std::to_string(i) + "]";
    auto s = r.string(n[i], where);
    if (!s) continue;
    std::string_view addr = *s;
    const bool https = addr.rfind("https://", 0) == 0;
    if (i == 0) spec.tls = https;
    if (https != spec.tls) {
      r.error(n[i], where, "every endpoint must use the same scheme: all https:// or none");
      continue;
    }
    if (https) addr.remove_prefix(8);
    else if (addr.rfind("http://", 0) == 0) addr.remove_prefix(7);
    while (!addr.empty() && addr.back() == '/') addr.remove_suffix(1);
    if (addr.empty() || addr.find('/') != std::string_view::npos || addr.rfind(':') == std::string_view::npos) {
      r.error(n[i], where, "must be host:port, http://host:port or https://host:port, not '" + *s + "'");
      continue;
    }
    spec.endpoints.push_back(*s);
  }
}

// `tls:` of table_source.etcd: how to reach etcd's https:// endpoints.
void read_etcd_tls(YamlReader& r, const YAML::Node& n, const std::string& path, EtcdSourceSpec& spec) {
  MapView m(r, n, path, {"ca", "cert", "key", "verify", "server_name"});
  if (!m.valid()) return;
  auto file = [&](const char* key, std::string& out) {
    if (YAML::Node v = m.get(key); v.IsDefined())
      if (auto s = r.string(v, m.child(key))) out = *s;
  };
  file("ca", spec.tls_settings.ca);
  file("cert", spec.tls_settings.cert);
  file("key", spec.tls_settings.key);
  if (YAML::Node v = m.get("verify"); v.IsDefined())
    if (auto b = r.boolean(v, m.child("verify"))) spec.tls_settings.verify = *b;
  if (YAML::Node v = m.get("server_name"); v.IsDefined())
    if (auto s = r.string(v, m.child("server_name"))) spec.tls_server_name = *s;
  if (spec.tls_settings.cert.empty() != spec.tls_settings.key.empty()) {
    const char* missing = spec.tls_settings.cert.empty() ? "cert" : "key";
    r.error(n, m.child(missing), "a client certificate needs both cert and key");
    return;
  }
  // Read now, as the listeners' certificates are, so that `check` refuses what start would.
  auto ctx = ClientTlsContext::create(spec.tls_settings);
  if (!ctx) {
    const std::string& msg = ctx.error().message;
    const char* key = msg.rfind("ca ", 0) == 0 ? "ca" : msg.rfind("cert ", 0) == 0 ? "cert" : "key";
    YAML::Node at = m.get(key);
    r.error(at.IsDefined() ? at : n, m.child(key), msg);
  }
}

}  // namespace

void read_table_source(YamlReader& r, const YAML::Node& n, Config& cfg) {
  MapView m(r, n, "table_source", {"etcd"});
  if (!m.valid()) return;
  YAML::Node e = m.get("etcd");  // table_source: {} is the default: the table is the file's
  if (!e.IsDefined()) return;
  MapView em(r, e, "table_source.etcd", {"endpoints", "prefix", "instance", "request_timeout", "user", "password", "password_file", "tls"});
  if (!em.valid()) return;
  EtcdSourceSpec spec;
  if (YAML::Node v = em.require("endpoints"); v.IsDefined()) read_endpoints(r, v, em.child("endpoints"), spec);
  if (YAML::Node t = em.get("tls"); t.IsDefined()) {
    if (!spec.tls && !spec.endpoints.empty())
      r.error(t, em.child("tls"), "TLS to etcd needs https:// endpoints");
    else
      read_etcd_tls(r, t, em.child("tls"), spec);
  }
  if (YAML::Node v = em.get("prefix"); v.IsDefined()) {
    if (auto s = r.string(v, em.child("prefix"))) {
      if (s->find('\0') != std::string::npos || s->find_first_of(" \t\r\n") != std::string::npos)
        r.error(v, em.child("prefix"), "must not contain spaces or control characters");
      spec.prefix = *s;
      if (spec.prefix.back() != '/') spec.prefix += '/';
    }
  }
  if (YAML::Node v = em.get("instance"); v.IsDefined()) {
    if (auto s = r.string(v, em.child("instance"))) {
      if (!valid_instance_name(*s))
        r.error(v, em.child("instance"), "must be 1 to 64 letters, digits, '-', '_' or '.', not '" + *s + "'");
      spec.instance = *s;
    }
  } else {
    spec.instance = host_name();
  }
  if (YAML::Node v = em.get("request_timeout"); v.IsDefined())
    if (auto d = r.duration(v, em.child("request_timeout"), Millis(100))) spec.request_timeout = *d;
  if (YAML::Node v = em.get("user"); v.IsDefined())
    if (auto s = r.string(v, em.child("user"))) spec.user = *s;
  YAML::Node pw = em.get("password");
  YAML::Node pw_file = em.get("password_file");
  if (pw.IsDefined() && pw_file.IsDefined()) r.error(pw_file, em.child("password_file"), "give password or password_file, not both");
  if (pw.IsDefined())
    if (auto s = r.string(pw, em.child("password"), /*allow_empty=*/true)) spec.password = *s;
  if (pw_file.IsDefined() && !pw.IsDefined()) {
    if (auto path = r.string(pw_file, em.child("password_file"))) {
      auto text = read_file(*path);
      if (!text) {
        r.error(pw_file, em.child("password_file"), "cannot read " + *path + ": " + text.error().message);
      } else {
        std::string p = *text;
        while (!p.empty() && (p.back() == '\n' || p.back() == '\r')) p.pop_back();
        spec.password = std::move(p);
      }
    }
  }
  if (spec.user.empty() && (pw.IsDefined() || pw_file.IsDefined()))
    r.error(pw.IsDefined() ? pw : pw_file, em.child("user"), "a password needs a user");
  cfg.etcd = std::move(spec);
}

}  // namespace turnout::config_detail
