// EtcdClient over TLS (https:// endpoints) against a real etcd serving its client URL over TLS,
// with certificates made at test time by the openssl CLI: requests and watches over TLS, the
// server's certificate verified (a wrong CA or a wrong name is one clear connect error), and a
// client certificate for etcd's --client-cert-auth.
#include <doctest/doctest.h>

#include <array>
#include <cstdio>

#include "fleet/etcd_fixture.h"
#include "turnout/fleet/etcd_watch.h"

using namespace turnout;
using namespace turnout::test;

namespace {

// Runs a shell command; its exit code and output (stderr joined).
std::pair<int, std::string> sh(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(("timeout 20 " + cmd + " 2>&1").c_str(), "r");
  REQUIRE(p != nullptr);
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  int st = ::pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

// A CA and certificates it issues (ECDSA P-256) in a temp dir, removed at the end.
struct Pki {
  std::string dir;
  explicit Pki(const std::string& ca_name = "TestCA") {
    char tmpl[] = "/tmp/turnout-etcd-pki-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    dir = tmpl;
    auto [rc, out] = sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj /CN=" +
                        ca_name + " -keyout " + dir + "/ca.key -out " + dir + "/ca.crt");
    REQUIRE_MESSAGE(rc == 0, out);
  }
  ~Pki() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  std::string ca() const { return dir + "/ca.crt"; }
  std::string crt(const std::string& name) const { return dir + "/" + name + ".crt"; }
  std::string key(const std::string& name) const { return dir + "/" + name + ".key"; }
  // `name`.crt/.key for the subjectAltName `san` ("DNS:etcd.test,IP:127.0.0.1"), for servers
  // and clients alike.
  void issue(const std::string& name, const std::string& san) {
    std::string csr = dir + "/" + name + ".csr", ext = dir + "/" + name + ".ext";
    auto [rc, out] = sh("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=" + name + " -keyout " +
                        key(name) + " -out " + csr);
    REQUIRE_MESSAGE(rc == 0, out);
    FILE* f = std::fopen(ext.c_str(), "w");
    REQUIRE(f != nullptr);
    std::fprintf(f, "subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n", san.c_str());
    std::fclose(f);
    auto [rc2, out2] = sh("openssl x509 -req -in " + csr + " -CA " + ca() + " -CAkey " + dir + "/ca.key -CAcreateserial -days 30 -extfile " +
                          ext + " -out " + crt(name));
    REQUIRE_MESSAGE(rc2 == 0, out2);
  }
};

std::shared_ptr<const ClientTlsContext> context(ClientTlsSettings s) {
  auto c = ClientTlsContext::create(s);
  REQUIRE_MESSAGE(c.ok(), c.error().message);
  return std::move(*c);
}

struct Events : EtcdWatchHandler {
  std::vector<WatchEvent> events;
  bool created = false, ended = false;
  void on_watch_created(int64_t) override { created = true; }
  void on_watch_events(int64_t, std::vector<WatchEvent>&& e) override {
    for (auto& x : e) events.push_back(std::move(x));
  }
  void on_watch_canceled(int64_t, const std::string&) override { ended = true; }
  void on_watch_failed(const EtcdStatus&) override { ended = true; }
};

}  // namespace

TEST_CASE("over https://, requests and watches work, and the server's certificate is verified") {
  Pki pki;
  pki.issue("etcd", "IP:127.0.0.1");
  EtcdFixture f({}, EtcdTlsFiles{pki.crt("etcd"), pki.key("etcd"), ""}, context({.ca = pki.ca()}));
  REQUIRE(f.etcd.endpoint().rfind("https://", 0) == 0);

  auto put = f.put("/tls/a", "1");
  REQUIRE_MESSAGE(put.ok(), put.status.describe());
  auto got = f.get("/tls/a");
  REQUIRE(got.ok());
  REQUIRE(got.value.kvs.size() == 1);
  CHECK(got.value.kvs[0].value == "1");

  // A watch runs on its own TLS connection.
  Events ev;
  WatchOptions w;
  w.key = "/tls/";
  w.range_end = prefix_range_end("/tls/");
  w.start_revision = put.value.revision + 1;
  auto watch = f.client->watch(w, &ev);
  REQUIRE(f.run_until([&] { return ev.created || ev.ended; }));
  REQUIRE(ev.created);
  REQUIRE(f.put("/tls/b", "2").ok());
  REQUIRE(f.run_until([&] { return !ev.events.empty() || ev.ended; }));
  REQUIRE(ev.events.size() == 1);
  CHECK(ev.events[0].kv.key == "/tls/b");
  watch->close();

  // Another CA: the handshake fails, and the error says it is the certificate.
  Pki other("OtherCA");
  f.client_tls = context({.ca = other.ca()});
  f.client = f.make_client({f.etcd.endpoint()});
  auto refused = f.get("/tls/a");
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status.code == EtcdErrc::ConnectFailed);
  CHECK_MESSAGE(refused.status.message.find("certificate verify failed") != std::string::npos, refused.status.describe());
  CHECK_MESSAGE(refused.status.message.find("TLS handshake") != std::string::npos, refused.status.describe());
}

TEST_CASE("the name verified is the endpoint's host, or tls_server_name when given") {
  Pki pki;
  pki.issue("etcd", "DNS:etcd.test");  // no IP: 127.0.0.1 is not this certificate's name
  EtcdFixture f({}, EtcdTlsFiles{pki.crt("etcd"), pki.key("etcd"), ""}, context({.ca = pki.ca()}));
  auto refused = f.get("/k");
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status.code == EtcdErrc::ConnectFailed);
  CHECK_MESSAGE(refused.status.message.find("certificate verify failed") != std::string::npos, refused.status.describe());

  EtcdClientOptions o;
  o.endpoints = {f.etcd.endpoint()};
  o.tls = f.client_tls;
  o.tls_server_name = "etcd.test";
  auto made = EtcdClient::create(&f.loop, o);
  REQUIRE(made.ok());
  f.client = std::move(*made);
  auto ok = f.put("/k", "v");
  CHECK_MESSAGE(ok.ok(), ok.status.describe());
}

TEST_CASE("etcd with --client-cert-auth: refused without a client certificate, served with one") {
  Pki pki;
  pki.issue("etcd", "IP:127.0.0.1");
  pki.issue("turnout", "DNS:turnout");
  EtcdFixture f({}, EtcdTlsFiles{pki.crt("etcd"), pki.key("etcd"), pki.ca()}, context({.ca = pki.ca()}));
  auto refused = f.put("/k", "v");
  REQUIRE_FALSE(refused.ok());  // the handshake or the first read fails: never a success

  f.client_tls = context({.ca = pki.ca(), .cert = pki.crt("turnout"), .key = pki.key("turnout")});
  f.client = f.make_client({f.etcd.endpoint()});
  auto ok = f.put("/k", "v");
  CHECK_MESSAGE(ok.ok(), ok.status.describe());
}

TEST_CASE("client certificate files are checked when the context is made") {
  Pki pki;
  pki.issue("a", "DNS:a");
  pki.issue("b", "DNS:b");
  auto missing = ClientTlsContext::create({.cert = pki.crt("a"), .key = pki.dir + "/nope.key"});
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message.find("nope.key") != std::string::npos);
  auto mismatched = ClientTlsContext::create({.cert = pki.crt("a"), .key = pki.key("b")});
  REQUIRE_FALSE(mismatched.ok());
  CHECK(mismatched.error().message.find("does not match") != std::string::npos);
  auto half = ClientTlsContext::create({.cert = pki.crt("a")});
  REQUIRE_FALSE(half.ok());
  CHECK(ClientTlsContext::create({.cert = pki.crt("a"), .key = pki.key("a")}).ok());
}

TEST_CASE("endpoints mixing http:// and https:// are refused") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  EtcdClientOptions o;
  o.endpoints = {"https://127.0.0.1:1", "http://127.0.0.1:2"};
  auto c = EtcdClient::create(&loop, o);
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().message.find("same scheme") != std::string::npos);
  CHECK(uv_loop_close(&loop) == 0);
}
