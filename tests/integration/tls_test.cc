// HTTPS listeners as a client sees them: certificates made at test time by the openssl CLI,
// clients `curl` and `openssl s_client` against the real binary.
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

#include "integration/harness.h"
#include "integration/tls_pki.h"

using namespace turnout::test;

namespace {

std::string https_config(const Backend& b, const Pki& pki, const std::vector<std::string>& certs,
                         const std::string& extra_tls = "") {
  std::string c = "listen:\n  - { addr: \"127.0.0.1:0\", tls: true }\n"
                  "apps:\n  web: {servers: " + yaml_list({b.addr()}) + "}\n"
                  "routes:\n  a.test: [web]\n  www.b.test: [web]\n  c.test: [web]\n"
                  "tls:\n  certificates:\n";
  for (const auto& name : certs) c += pki.entry(name);
  return c + extra_tls;
}

// curl over HTTPS to `host` (resolved to loopback), printing the status code.
Run curl(int port, const Pki& pki, const std::string& host, const std::string& extra = "") {
  return run("curl -s -o /dev/null -w '%{http_code}' --cacert " + pki.ca() + " --resolve " + host + ":" +
             std::to_string(port) + ":127.0.0.1 " + extra + " https://" + host + ":" + std::to_string(port) + "/tls");
}

}  // namespace

TEST_CASE("HTTPS: a verified request reaches the app with X-Forwarded-Proto https; SNI picks exact then wildcard") {
  Backend b("web");
  Pki pki;
  pki.issue("a", "a.test");
  pki.issue("wild", "*.b.test");
  TurnoutProcess t;
  t.start(https_config(b, pki, {"a", "wild"}));
  TURNOUT_INFO_STDERR(t);
  Run a = curl(t.port(), pki, "a.test");
  CHECK(a.out == "200");
  Run w = curl(t.port(), pki, "www.b.test");
  CHECK(w.out == "200");
  REQUIRE(b.request_count() == 2);
  CHECK(b.requests()[0].joined("X-Forwarded-Proto") == "https");
  CHECK(b.requests()[0].joined("Host") == "a.test:" + std::to_string(t.port()));

  // The certificate a client is shown is the one SNI selects.
  Run s = run("openssl s_client -connect 127.0.0.1:" + std::to_string(t.port()) + " -servername www.b.test -CAfile " +
              pki.ca() + " </dev/null");
  CHECK(s.out.find("subject=CN = wild") != std::string::npos);
  CHECK(s.out.find("Verify return code: 0 (ok)") != std::string::npos);
}

TEST_CASE("HTTPS: an unknown name fails the handshake without a default, and gets 421 with one") {
  Backend b("web");
  Pki pki;
  pki.issue("a", "a.test");
  pki.issue("c", "c.test");
  {
    TurnoutProcess t;
    t.start(https_config(b, pki, {"a"}));
    TURNOUT_INFO_STDERR(t);
    Run none = curl(t.port(), pki, "c.test");
    CHECK(none.code == 35);  // handshake failed (unrecognized_name)
    CHECK(none.out == "000");
    Run s = run("openssl s_client -connect 127.0.0.1:" + std::to_string(t.port()) + " -servername c.test </dev/null");
    CHECK(s.out.find("unrecognized name") != std::string::npos);
  }
  {
    TurnoutProcess t;
    t.start(https_config(b, pki, {"a", "c"}, "  default_certificate: a\n"));
    TURNOUT_INFO_STDERR(t);
    // No SNI: the default certificate, which does not cover c.test's Host... but covers a.test.
    Run by_ip = run("curl -sk -o /dev/null -w '%{http_code}' -H 'Host: c.test' https://127.0.0.1:" +
                    std::to_string(t.port()) + "/");
    CHECK(by_ip.out == "421");
    // A connection for a.test asked for another host: 421, nothing forwarded.
    Run other = curl(t.port(), pki, "a.test", "-H 'Host: c.test'");
    CHECK(other.out == "421");
    CHECK(b.request_count() == 0);
    CHECK(curl(t.port(), pki, "c.test").out == "200");
  }
}

TEST_CASE("HTTPS: ECDSA and RSA certificates for one name are chosen by what the client supports") {
  Backend b("web");
  Pki pki;
  pki.issue("a-ec", "a.test");
  pki.issue("a-rsa", "a.test", /*rsa=*/true);
  TurnoutProcess t;
  t.start(https_config(b, pki, {"a-ec", "a-rsa"}));
  TURNOUT_INFO_STDERR(t);
  std::string base = "openssl s_client -connect 127.0.0.1:" + std::to_string(t.port()) + " -servername a.test -CAfile " +
                     pki.ca();
  Run ec = run(base + " </dev/null");
  CHECK(ec.out.find("subject=CN = a-ec") != std::string::npos);
  Run rsa = run(base + " -sigalgs 'rsa_pss_rsae_sha256:rsa_pkcs1_sha256' </dev/null");
  CHECK(rsa.out.find("subject=CN = a-rsa") != std::string::npos);
  Run rsa12 = run(base + " -tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256 </dev/null");
  CHECK(rsa12.out.find("subject=CN = a-rsa") != std::string::npos);
}

TEST_CASE("HTTPS: plain HTTP, garbage, old TLS and silence get nothing forwarded and cost only their connection") {
  Backend b("web");
  Pki pki;
  pki.issue("a", "a.test");
  TurnoutProcess t;
  t.start(https_config(b, pki, {"a"}, "  handshake_timeout: 300ms\n"));
  TURNOUT_INFO_STDERR(t);
  {
    Client c(t.port());
    REQUIRE(c.send("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n"));
    std::string extra;
    CHECK(c.wait_closed(Ms(3000), &extra));
    CHECK(extra.find("HTTP/") == std::string::npos);  // no HTTP answer on a TLS port
  }
  {
    Client c(t.port());
    static const char kRecord[] = "\x16\x03\x01\x00\x05garbage-after-a-record-header";
    REQUIRE(c.send(std::string(kRecord, sizeof kRecord - 1)));
    CHECK(c.wait_closed(Ms(3000)));
  }
  {
    Client silent(t.port());  // never says hello: closed at handshake_timeout
    CHECK(silent.wait_closed(Ms(3000)));
  }
  Run old = run("openssl s_client -connect 127.0.0.1:" + std::to_string(t.port()) +
                " -servername a.test -tls1_1 -cipher DEFAULT@SECLEVEL=0 </dev/null");
  CHECK(old.out.find("Cipher is (NONE)") != std::string::npos);
  CHECK(b.request_count() == 0);
  CHECK(curl(t.port(), pki, "a.test").out == "200");  // and it still serves
  auto m = t.admin("GET", "/metrics");
  CHECK(m.body.find("turnout_tls_handshake_errors_total") != std::string::npos);
}

TEST_CASE("HTTPS: keep-alive requests and a large body pass through one TLS connection") {
  Backend b("web", huge_response(300000));
  Pki pki;
  pki.issue("a", "a.test");
  TurnoutProcess t;
  t.start(https_config(b, pki, {"a"}));
  TURNOUT_INFO_STDERR(t);
  std::string url = "https://a.test:" + std::to_string(t.port()) + "/big";
  Run r = run("curl -s --cacert " + pki.ca() + " --resolve a.test:" + std::to_string(t.port()) +
              ":127.0.0.1 -o /dev/null -o /dev/null -o /dev/null -w '%{http_code} %{size_download} %{num_connects}\\n' " +
              url + " " + url + " " + url);
  CHECK(r.out == "200 300000 1\n200 300000 0\n200 300000 0\n");
}
