#include "turnout/tls/certificate.h"

#include <doctest/doctest.h>

#include <cstdio>
#include <ctime>
#include <fstream>
#include <string>
#include <unistd.h>

#include "tls/test_certs.h"

using namespace turnout;
using turnout::test::CertSpec;
using turnout::test::make_cert;

TEST_CASE("a certificate chain and its key load with the facts an operator is shown") {
  auto ca = make_cert({.cn = "Test CA", .ca = true});
  auto leaf = make_cert({.cn = "www.example.com", .dns = {"WWW.Example.com", "*.api.example.com"}, .issuer = &ca});
  auto c = Certificate::from_pem("example", leaf.cert, leaf.key);
  REQUIRE_MESSAGE(c.ok(), c.error().message);
  const Certificate& cert = **c;
  CHECK(cert.name() == "example");
  CHECK(cert.chain().size() == 2);
  CHECK(cert.dns_names() == std::vector<std::string>{"www.example.com", "*.api.example.com"});
  CHECK(cert.subject() == "CN=www.example.com");
  CHECK(cert.issuer() == "CN=Test CA");
  CHECK(cert.key_type() == Certificate::KeyType::Ecdsa);
  CHECK(cert.key_type_name() == "ECDSA");
  CHECK(cert.fingerprint_sha256().size() == 32 * 3 - 1);
  int64_t now = std::time(nullptr);
  CHECK(cert.not_before() <= now);
  CHECK(cert.not_after() > now + 80000);
  CHECK_FALSE(cert.expired(now));
  CHECK(cert.chain_pem() == leaf.cert);  // kept as installed, for the state file
  CHECK(cert.key_pem() == leaf.key);

  auto rsa = make_cert({.dns = {"a.test"}, .ecdsa = false});
  auto r = Certificate::from_pem("rsa", rsa.cert, rsa.key);
  REQUIRE(r.ok());
  CHECK((*r)->key_type() == Certificate::KeyType::Rsa);
}

TEST_CASE("a certificate serves its exact names and one label under a wildcard") {
  auto p = make_cert({.dns = {"example.com", "*.example.com"}});
  auto c = Certificate::from_pem("x", p.cert, p.key);
  REQUIRE(c.ok());
  CHECK((*c)->covers("example.com"));
  CHECK((*c)->covers("www.example.com"));
  CHECK_FALSE((*c)->covers("a.b.example.com"));  // a wildcard is one label
  CHECK_FALSE((*c)->covers("example.org"));
  CHECK_FALSE((*c)->covers("badexample.com"));
  CHECK_FALSE(dns_name_matches("*.example.com", ".example.com"));
  CHECK_FALSE(dns_name_matches("*.example.com", "example.com"));
}

TEST_CASE("a key that does not match, broken PEM and a chain out of order are refused with a reason") {
  auto a = make_cert({.dns = {"a.test"}});
  auto b = make_cert({.dns = {"b.test"}});

  auto mismatch = Certificate::from_pem("a", a.cert, b.key);
  REQUIRE_FALSE(mismatch.ok());
  CHECK(mismatch.error().message == "certificate a: the key does not match the certificate");

  auto none = Certificate::from_pem("a", "not a certificate", a.key);
  REQUIRE_FALSE(none.ok());
  CHECK(none.error().message == "certificate a: no PEM certificate found");

  auto nokey = Certificate::from_pem("a", a.cert, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
  REQUIRE_FALSE(nokey.ok());
  CHECK(nokey.error().message.find("the key is not a PEM private key") != std::string::npos);

  std::string damaged = a.cert;
  damaged.replace(damaged.find("BEGIN CERTIFICATE-----") + 24, 4, "!!!!");
  auto bad = Certificate::from_pem("a", damaged, a.key);
  CHECK_FALSE(bad.ok());

  auto ca = make_cert({.cn = "CA", .ca = true});
  auto leaf = make_cert({.dns = {"c.test"}, .issuer = &ca});
  std::string leaf_only = leaf.cert.substr(0, leaf.cert.size() - ca.cert.size());
  auto reversed = Certificate::from_pem("c", ca.cert + leaf_only, leaf.key);  // CA first: key does not match
  CHECK_FALSE(reversed.ok());
  auto wrong_issuer = Certificate::from_pem("c", leaf_only + b.cert, leaf.key);
  REQUIRE_FALSE(wrong_issuer.ok());
  CHECK(wrong_issuer.error().message.find("certificate 2 of the chain did not issue certificate 1") != std::string::npos);
}

TEST_CASE("an expired certificate loads and says it is expired") {
  auto old = make_cert({.dns = {"old.test"}, .valid_from_s = -7200, .valid_until_s = -3600});
  auto c = Certificate::from_pem("old", old.cert, old.key);
  REQUIRE(c.ok());
  CHECK((*c)->expired(std::time(nullptr)));
  auto future = make_cert({.dns = {"new.test"}, .valid_from_s = 3600, .valid_until_s = 7200});
  auto f = Certificate::from_pem("new", future.cert, future.key);
  REQUIRE(f.ok());
  CHECK((*f)->not_yet_valid(std::time(nullptr)));
}

TEST_CASE("loading from files names the file that is wrong") {
  auto a = make_cert({.dns = {"a.test"}});
  auto b = make_cert({.dns = {"b.test"}});
  char dir[] = "/tmp/turnout-tls-XXXXXX";
  REQUIRE(mkdtemp(dir));
  std::string crt = std::string(dir) + "/a.crt", key = std::string(dir) + "/b.key";
  std::ofstream(crt) << a.cert;
  std::ofstream(key) << b.key;
  auto r = Certificate::from_files("a", crt, key);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message == "certificate a: the key does not match the certificate (" + key + ")");
  auto missing = Certificate::from_files("a", std::string(dir) + "/none.crt", key);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message == "cert " + std::string(dir) + "/none.crt: No such file or directory");
  std::remove(crt.c_str());
  std::remove(key.c_str());
  rmdir(dir);
}
