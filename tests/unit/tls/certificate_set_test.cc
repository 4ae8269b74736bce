#include "turnout/tls/certificate_set.h"

#include <doctest/doctest.h>

#include "tls/test_certs.h"

using namespace turnout;
using turnout::test::CertSpec;
using turnout::test::make_cert;

namespace {
CertificatePtr load(const std::string& name, const CertSpec& spec) {
  auto p = make_cert(spec);
  auto c = Certificate::from_pem(name, p.cert, p.key);
  REQUIRE_MESSAGE(c.ok(), c.error().message);
  return *c;
}
const std::string& name_of(const Certificate* c) {
  static const std::string none = "(none)";
  return c ? c->name() : none;
}
}  // namespace

TEST_CASE("SNI picks the exact name, then a one-label wildcard, then the default, else nothing") {
  std::map<std::string, CertificatePtr> certs{
      {"www", load("www", {.dns = {"www.example.com"}})},
      {"wild", load("wild", {.dns = {"*.example.com"}})},
      {"other", load("other", {.dns = {"other.test"}})},
  };
  auto with_default = CertificateSet::build(certs, "other");
  REQUIRE(with_default.ok());
  const CertificateSet& s = **with_default;
  CHECK(name_of(s.select("www.example.com").pick(true)) == "www");
  CHECK(name_of(s.select("WWW.EXAMPLE.COM.").pick(true)) == "www");  // case and a trailing dot
  CHECK(name_of(s.select("api.example.com").pick(true)) == "wild");
  CHECK(name_of(s.select("a.b.example.com").pick(true)) == "other");  // two labels: not the wildcard
  CHECK(name_of(s.select("example.com").pick(true)) == "other");
  CHECK(name_of(s.select("").pick(true)) == "other");  // no SNI
  CHECK(s.find("wild") != nullptr);

  auto no_default = CertificateSet::build(certs, "");
  REQUIRE(no_default.ok());
  CHECK((*no_default)->select("unknown.test").empty());  // unrecognized_name
  CHECK((*no_default)->select("").empty());

  auto bad = CertificateSet::build(certs, "missing");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message == "default_certificate missing names no certificate");
}

TEST_CASE("ECDSA and RSA for one name are both kept and chosen by what the client supports") {
  std::map<std::string, CertificatePtr> certs{
      {"ec", load("ec", {.dns = {"a.test"}, .ecdsa = true})},
      {"rsa", load("rsa", {.dns = {"a.test"}, .ecdsa = false})},
  };
  auto s = CertificateSet::build(certs, "");
  REQUIRE(s.ok());
  auto c = (*s)->select("a.test");
  CHECK(name_of(c.pick(true)) == "ec");
  CHECK(name_of(c.pick(false)) == "rsa");

  std::map<std::string, CertificatePtr> ec_only{{"ec", certs["ec"]}};
  auto only = CertificateSet::build(ec_only, "");
  REQUIRE(only.ok());
  CHECK(name_of((*only)->select("a.test").pick(false)) == "ec");  // the only one there is
}

TEST_CASE("of two certificates for one name and key family, the one valid longest wins") {
  std::map<std::string, CertificatePtr> certs{
      {"short", load("short", {.dns = {"a.test"}, .valid_until_s = 3600})},
      {"long", load("long", {.dns = {"a.test"}, .valid_until_s = 90 * 86400})},
      {"mid", load("mid", {.dns = {"a.test"}, .valid_until_s = 30 * 86400})},
  };
  auto s = CertificateSet::build(certs, "");
  REQUIRE(s.ok());
  CHECK(name_of((*s)->select("a.test").pick(true)) == "long");
}
