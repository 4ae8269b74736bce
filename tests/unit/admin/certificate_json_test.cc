#include <doctest/doctest.h>

#include <ctime>

#include "tls/test_certs.h"
#include "turnout/admin/certificate_json.h"

using namespace turnout;

TEST_CASE("rfc3339_utc: unix seconds as the API shows validity dates") {
  CHECK(rfc3339_utc(0) == "1970-01-01T00:00:00Z");
  CHECK(rfc3339_utc(1796626464) == "2026-12-07T06:54:24Z");
  CHECK(rfc3339_utc(4102444799) == "2099-12-31T23:59:59Z");
}

TEST_CASE("certificate_json: every field an operator reads, the flags, never the key") {
  test::CertSpec spec;
  spec.cn = "shop";
  spec.dns = {"shop.test"};
  spec.ecdsa = false;
  test::Pem pem = test::make_cert(spec);
  Result<CertificatePtr> cert = Certificate::from_pem("shop", pem.cert, pem.key);
  REQUIRE(cert.ok());
  const Certificate& c = **cert;
  nlohmann::json j = certificate_json(c, true, c.not_after() - 1);
  CHECK(j["name"] == "shop");
  CHECK(j["dns_names"] == nlohmann::json{"shop.test"});
  CHECK(j["key_type"] == "RSA");
  CHECK(j["default"] == true);
  CHECK(j["expired"] == false);
  CHECK(j["not_after"] == rfc3339_utc(c.not_after()));
  CHECK(j["not_before"] == rfc3339_utc(c.not_before()));
  CHECK(j["sha256"] == c.fingerprint_sha256());
  CHECK(j["subject"] == c.subject());
  CHECK(j["issuer"] == c.issuer());
  CHECK(j.size() == 10);
  CHECK(certificate_json(c, false, c.not_after() + 1)["expired"] == true);
  CHECK(j.dump().find("PRIVATE") == std::string::npos);
}
