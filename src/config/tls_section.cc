// The `tls` section and apps' `tls` keys. Certificates are loaded with the file so that `check`,
// start and reload all refuse the same broken ones, with the file, line and key.
#include <ctime>

#include "sections.h"
#include "turnout/tls/certificate.h"
#include "turnout/tls/client_tls_context.h"

namespace turnout::config_detail {
namespace {

std::string utc_date(int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &tm);
  return buf;
}

// Certificates without DNS names, warned about unless they are the default certificate.
struct Nameless {
  YAML::Node node;
  std::string key, name;
};

void read_certificates(YamlReader& r, const YAML::Node& n, const std::string& path, TlsSpec& tls,
                       std::vector<Nameless>& nameless) {
  if (n.IsNull()) return;
  if (!n.IsMap()) {
    r.error(n, path, "must be a map of certificate name -> {cert: FILE, key: FILE}");
    return;
  }
  int64_t now = static_cast<int64_t>(std::time(nullptr));
  for (const auto& kv : n) {
    std::string name = kv.first.IsScalar() ? kv.first.Scalar() : "";
    std::string item = path + "." + name;
    if (!valid_certificate_name(name)) {
      r.error(kv.first, path, "certificate name '" + name + "' must be 1-128 letters, digits, '-', '_' or '.'");
      continue;
    }
    MapView m(r, kv.second, item, {"cert", "key"});
    if (!m.valid()) continue;
    YAML::Node cert_node = m.require("cert"), key_node = m.require("key");
    if (!cert_node.IsDefined() || !key_node.IsDefined()) continue;
    auto cert = r.string(cert_node, m.child("cert"));
    auto key = r.string(key_node, m.child("key"));
    if (!cert || !key) continue;
    tls.files[name] = TlsSpec::Files{*cert, *key, r.line_of(kv.second)};
    auto loaded = Certificate::from_files(name, *cert, *key);
    if (!loaded) {
      // Place the error on the key line when it is about the key, else on the cert line.
      bool about_key = loaded.error().message.find("the key") != std::string::npos ||
                       loaded.error().message.rfind("key ", 0) == 0;
      r.error(about_key ? key_node : cert_node, about_key ? m.child("key") : m.child("cert"), loaded.error().message);
      continue;
    }
    const Certificate& c = **loaded;
    if (c.expired(now))
      r.warn(cert_node, m.child("cert"),
             "certificate " + name + " expired on " + utc_date(c.not_after()) + " (" + *cert + "); it is served until replaced");
    else if (c.not_yet_valid(now))
      r.warn(cert_node, m.child("cert"),
             "certificate " + name + " is not valid before " + utc_date(c.not_before()) + " (" + *cert + ")");
    if (c.dns_names().empty()) nameless.push_back({cert_node, m.child("cert"), name});
    tls.certificates[name] = std::move(*loaded);
  }
}

}  // namespace

void read_tls(YamlReader& r, const YAML::Node& n, Config& cfg) {
  MapView m(r, n, "tls", {"certificates", "default_certificate", "min_version", "session_tickets", "handshake_timeout"},
            /*null_ok=*/true);
  if (!m.valid()) return;
  TlsSpec& tls = cfg.tls;
  std::vector<Nameless> nameless;
  if (YAML::Node v = m.get("certificates"); v.IsDefined())
    read_certificates(r, v, m.child("certificates"), tls, nameless);
  if (YAML::Node v = m.get("default_certificate"); v.IsDefined() && !v.IsNull()) {
    if (auto s = r.string(v, m.child("default_certificate"))) {
      if (!tls.files.count(*s))
        r.error(v, m.child("default_certificate"), "names no certificate in tls.certificates: '" + *s + "'");
      else
        tls.default_certificate = *s;
    }
  }
  for (const Nameless& x : nameless)
    if (x.name != tls.default_certificate)
      r.warn(x.node, x.key,
             "certificate " + x.name + " has no DNS names (subjectAltName): SNI never selects it; "
             "make it default_certificate or give it names");
  if (YAML::Node v = m.get("min_version"); v.IsDefined()) {
    std::string text = v.IsScalar() ? v.Scalar() : "";
    if (text == "1.2")
      tls.min_tls13 = false;
    else if (text == "1.3")
      tls.min_tls13 = true;
    else
      r.error(v, m.child("min_version"), "must be \"1.2\" or \"1.3\"" + (text.empty() ? "" : ", not '" + text + "'"));
  }
  if (YAML::Node v = m.get("session_tickets"); v.IsDefined())
    if (auto b = r.boolean(v, m.child("session_tickets"))) tls.session_tickets = *b;
  if (YAML::Node v = m.get("handshake_timeout"); v.IsDefined())
    if (auto d = r.duration(v, m.child("handshake_timeout"), Millis(1))) tls.handshake_timeout = *d;
}

void read_upstream_tls(YamlReader& r, const YAML::Node& n, const std::string& path, AppSpec& app) {
  UpstreamTlsSpec spec;
  if (n.IsScalar() && (n.Scalar() == "true" || n.Scalar() == "false")) {
    if (n.Scalar() == "true") app.tls = spec;  // `tls: true`: verified against the system store
    return;
  }
  MapView m(r, n, path, {"ca", "server_name", "verify"}, /*null_ok=*/true);
  if (!m.valid()) return;
  YAML::Node ca_node = m.get("ca");
  if (ca_node.IsDefined() && !ca_node.IsNull())
    if (auto s = r.string(ca_node, m.child("ca"))) spec.ca = *s;
  if (YAML::Node v = m.get("server_name"); v.IsDefined() && !v.IsNull())
    if (auto s = r.string(v, m.child("server_name"))) spec.server_name = *s;
  if (YAML::Node v = m.get("verify"); v.IsDefined())
    if (auto b = r.boolean(v, m.child("verify"))) spec.verify = *b;
  // The ca is read with the file, as certificates are, so that `check` refuses what start and
  // reload would (the table builder reads it again into the context it keeps).
  if (spec.verify && !spec.ca.empty()) {
    auto ctx = ClientTlsContext::create({spec.ca, true});
    if (!ctx) r.error(ca_node, m.child("ca"), ctx.error().message);
  }
  app.tls = spec;
}

}  // namespace turnout::config_detail
