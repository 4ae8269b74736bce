// The `tls` section and apps' `tls` keys: certificates are read and checked with the file.
#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <unistd.h>

#include "tls/test_certs.h"
#include "turnout/config/config_loader.h"

using namespace turnout;
using turnout::test::make_cert;

namespace {

// A temp directory with PEM files, removed at the end.
struct CertDir {
  std::string dir;
  std::vector<std::string> files;
  CertDir() {
    char tmpl[] = "/tmp/turnout-tlscfg-XXXXXX";
    REQUIRE(mkdtemp(tmpl));
    dir = tmpl;
  }
  ~CertDir() {
    for (auto& f : files) std::remove(f.c_str());
    rmdir(dir.c_str());
  }
  std::string write(const std::string& name, const std::string& text) {
    std::string path = dir + "/" + name;
    std::ofstream(path) << text;
    files.push_back(path);
    return path;
  }
};

const std::string kAppsRoutes =
    "apps:\n"
    "  a: { servers: [\"127.0.0.1:9001\"] }\n"
    "routes:\n"
    "  example.com: [a]\n";

std::string all_errors(const LoadResult& r) {
  std::string out;
  for (const auto& e : r.errors) out += e.to_string() + "\n";
  return out;
}

}  // namespace

TEST_CASE("an HTTPS listener with certificates and handshake settings loads") {
  CertDir d;
  auto ec = make_cert({.dns = {"example.com"}});
  auto rsa = make_cert({.dns = {"example.com"}, .ecdsa = false});
  std::string text = "listen:\n"
                     "  - \"127.0.0.1:8080\"\n"
                     "  - { addr: \"127.0.0.1:8443\", tls: true }\n" +
                     kAppsRoutes +
                     "tls:\n"
                     "  certificates:\n"
                     "    ec: { cert: " + d.write("ec.crt", ec.cert) + ", key: " + d.write("ec.key", ec.key) + " }\n"
                     "    rsa: { cert: " + d.write("rsa.crt", rsa.cert) + ", key: " + d.write("rsa.key", rsa.key) + " }\n"
                     "  default_certificate: ec\n"
                     "  min_version: \"1.3\"\n"
                     "  session_tickets: false\n"
                     "  handshake_timeout: 5s\n";
  LoadResult r = parse_config(text, "t.yaml");
  INFO(all_errors(r));
  REQUIRE(r.ok());
  CHECK(r.warnings.empty());
  const Config& c = *r.config;
  REQUIRE(c.listen.size() == 2);
  CHECK_FALSE(c.listen[0].tls);
  CHECK(c.listen[1].tls);
  REQUIRE(c.tls.certificates.size() == 2);
  CHECK(c.tls.certificates.at("ec")->key_type() == Certificate::KeyType::Ecdsa);
  CHECK(c.tls.certificates.at("rsa")->key_type() == Certificate::KeyType::Rsa);
  CHECK(c.tls.default_certificate == "ec");
  CHECK(c.tls.min_tls13);
  CHECK_FALSE(c.tls.session_tickets);
  CHECK(c.tls.handshake_timeout == Millis(5000));
}

TEST_CASE("broken certificates are errors naming the file, line and key") {
  CertDir d;
  auto a = make_cert({.dns = {"a.test"}});
  auto b = make_cert({.dns = {"b.test"}});
  std::string crt = d.write("a.crt", a.cert), wrong_key = d.write("b.key", b.key);
  std::string missing = d.dir + "/missing.crt";
  std::string text = "listen: \"127.0.0.1:8080\"\n" + kAppsRoutes +  // lines 1-5
                     "tls:\n"                                          // 6
                     "  certificates:\n"                               // 7
                     "    a: { cert: " + crt + ", key: " + wrong_key + " }\n"  // 8
                     "    m: { cert: " + missing + ", key: " + wrong_key + " }\n"  // 9
                     "    \"bad name\": { cert: x, key: y }\n"         // 10
                     "  default_certificate: nope\n"                   // 11
                     "  min_version: \"1.1\"\n";                       // 12
  LoadResult r = parse_config(text, "t.yaml");
  REQUIRE(r.errors.size() == 5);
  CHECK(r.errors[0].line == 8);
  CHECK(r.errors[0].key == "tls.certificates.a.key");
  CHECK(r.errors[0].message == "certificate a: the key does not match the certificate (" + wrong_key + ")");
  CHECK(r.errors[1].line == 9);
  CHECK(r.errors[1].key == "tls.certificates.m.cert");
  CHECK(r.errors[1].message == "cert " + missing + ": No such file or directory");
  CHECK(r.errors[2].line == 10);
  CHECK(r.errors[2].message.find("certificate name 'bad name'") != std::string::npos);
  CHECK(r.errors[3].line == 11);
  CHECK(r.errors[3].key == "tls.default_certificate");
  CHECK(r.errors[4].line == 12);
  CHECK(r.errors[4].key == "tls.min_version");
}

TEST_CASE("an expired certificate loads with a warning that says when it expired") {
  CertDir d;
  auto old = make_cert({.dns = {"old.test"}, .valid_from_s = -90 * 86400, .valid_until_s = -86400});
  std::string text = "listen:\n  - { addr: \"127.0.0.1:8443\", tls: true }\n" + kAppsRoutes +
                     "tls:\n  certificates:\n    old: { cert: " + d.write("old.crt", old.cert) +
                     ", key: " + d.write("old.key", old.key) + " }\n";
  LoadResult r = parse_config(text, "t.yaml");
  INFO(all_errors(r));
  REQUIRE(r.ok());
  REQUIRE(r.warnings.size() == 1);
  CHECK(r.warnings[0].line == 9);
  CHECK(r.warnings[0].key == "tls.certificates.old.cert");
  CHECK(r.warnings[0].message.find("certificate old expired on ") == 0);
  CHECK(r.warnings[0].message.find("it is served until replaced") != std::string::npos);
}

TEST_CASE("an app's tls towards its servers: verified by default, verify: false written out") {
  CertDir d;
  std::string ca = d.write("internal.pem", make_cert({.cn = "CA", .ca = true}).cert);
  std::string text = "listen: \"127.0.0.1:8080\"\n"
                     "apps:\n"
                     "  a: { servers: [\"127.0.0.1:9001\"], tls: { ca: " + ca + ", server_name: app.internal } }\n"
                     "  b: { servers: [\"127.0.0.1:9002\"], tls: true }\n"
                     "  c: { servers: [\"127.0.0.1:9003\"], tls: { verify: false } }\n"
                     "  d: { servers: [\"127.0.0.1:9004\"] }\n"
                     "routes:\n  example.com: [a]\n";
  LoadResult r = parse_config(text, "t.yaml");
  INFO(all_errors(r));
  REQUIRE(r.ok());
  const Config& c = *r.config;
  REQUIRE(c.apps.at("a").tls);
  CHECK(c.apps.at("a").tls->ca == ca);
  CHECK(c.apps.at("a").tls->server_name == "app.internal");
  CHECK(c.apps.at("a").tls->verify);
  REQUIRE(c.apps.at("b").tls);
  CHECK(c.apps.at("b").tls->verify);
  CHECK(c.apps.at("b").tls->ca.empty());
  REQUIRE(c.apps.at("c").tls);
  CHECK_FALSE(c.apps.at("c").tls->verify);
  CHECK_FALSE(c.apps.at("d").tls);

  LoadResult bad = parse_config("listen: \"127.0.0.1:8080\"\napps:\n  a: { servers: [\"127.0.0.1:9001\"], tls: { verify: maybe } }\n"
                                "routes:\n  example.com: [a]\n", "t.yaml");
  REQUIRE(bad.errors.size() == 1);
  CHECK(bad.errors[0].key == "apps.a.tls.verify");
}

TEST_CASE("an app's ca that cannot be read or holds no certificate is an error naming the line and key") {
  CertDir d;
  std::string missing = d.dir + "/missing.pem";
  std::string empty = d.write("empty.pem", "not a certificate\n");
  std::string text = "listen: \"127.0.0.1:8080\"\n"                                                   // 1
                     "apps:\n"                                                                          // 2
                     "  a: { servers: [\"127.0.0.1:9001\"], tls: { ca: " + missing + " } }\n"         // 3
                     "  b: { servers: [\"127.0.0.1:9002\"], tls: { ca: " + empty + " } }\n"           // 4
                     "  c: { servers: [\"127.0.0.1:9003\"], tls: { ca: " + missing + ", verify: false } }\n"  // 5
                     "routes:\n  example.com: [a]\n";
  LoadResult r = parse_config(text, "t.yaml");
  INFO(all_errors(r));
  REQUIRE(r.errors.size() == 2);  // verify: false never reads the ca
  CHECK(r.errors[0].line == 3);
  CHECK(r.errors[0].key == "apps.a.tls.ca");
  CHECK(r.errors[0].message == "ca " + missing + ": No such file or directory");
  CHECK(r.errors[1].line == 4);
  CHECK(r.errors[1].key == "apps.b.tls.ca");
  CHECK(r.errors[1].message.find("ca " + empty + ": ") == 0);
}
