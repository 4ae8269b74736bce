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
    if (addr.rfind("https://", 0) == 0) {
      r.error(n[i], where, "https endpoints are not supported yet; reach etcd over http:// on a trusted network");
      continue;
    }
    if (addr.rfind("http://", 0) == 0) addr.remove_prefix(7);
    while (!addr.empty() && addr.back() == '/') addr.remove_suffix(1);
    if (addr.empty() || addr.find('/') != std::string_view::npos || addr.rfind(':') == std::string_view::npos) {
      r.error(n[i], where, "must be host:port or http://host:port, not '" + *s + "'");
      continue;
    }
    spec.endpoints.push_back(*s);
  }
}

}  // namespace

void read_table_source(YamlReader& r, const YAML::Node& n, Config& cfg) {
  MapView m(r, n, "table_source", {"etcd"});
  if (!m.valid()) return;
  YAML::Node e = m.get("etcd");  // table_source: {} is the default: the table is the file's
  if (!e.IsDefined()) return;
  MapView em(r, e, "table_source.etcd", {"endpoints", "prefix", "instance", "request_timeout", "user", "password", "password_file"});
  if (!em.valid()) return;
  EtcdSourceSpec spec;
  if (YAML::Node v = em.require("endpoints"); v.IsDefined()) read_endpoints(r, v, em.child("endpoints"), spec);
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
