// Certificates in the state file: a table's certificates and cert-set/cert-delete changes
// survive a restart (and an upgrade hand-off, which speaks the same JSON), byte for byte.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "tls/test_certs.h"
#include "turnout/state/state_store.h"

using namespace turnout;
using nlohmann::json;
using turnout::test::make_cert;
namespace fs = std::filesystem;

namespace {

CertificatePtr cert(const std::string& name, std::vector<std::string> dns) {
  auto p = make_cert({.dns = std::move(dns)});
  auto c = Certificate::from_pem(name, p.cert, p.key);
  REQUIRE(c.ok());
  return *c;
}

RouteTablePtr tls_table(uint64_t version) {
  Config c;
  c.apps["web"].servers = {{"127.0.0.1:9001", 1}};
  c.routes["www.example.com"] = {{"web", 1}};
  c.tls.certificates["www"] = cert("www", {"www.example.com"});
  c.tls.certificates["fallback"] = cert("fallback", {"fallback.test"});
  c.tls.default_certificate = "fallback";
  auto t = build_table(c, version);
  REQUIRE(t.ok());
  return *t;
}

}  // namespace

TEST_CASE("a table's certificates survive table_to_json / table_from_json and the streamed snapshot") {
  RouteTablePtr t = tls_table(4);
  json j = table_to_json(*t);
  CHECK(j["default_certificate"] == "fallback");
  CHECK(j["certificates"]["www"]["cert"] == t->certificates()->find("www")->chain_pem());
  auto back = table_from_json(j, 4);
  REQUIRE(back.ok());
  const Certificate* www = (*back)->certificates()->find("www");
  REQUIRE(www != nullptr);
  CHECK(www->fingerprint_sha256() == t->certificates()->find("www")->fingerprint_sha256());
  CHECK((*back)->certificates()->default_name() == "fallback");
  CHECK(table_to_json(**back) == j);

  // A table without certificates keeps the old shape.
  Config plain;
  plain.apps["web"].servers = {{"127.0.0.1:9001", 1}};
  auto p = build_table(plain, 1);
  REQUIRE(p.ok());
  CHECK_FALSE(table_to_json(**p).contains("certificates"));

  json broken = j;
  broken["certificates"]["www"]["key"] = "not a key";
  auto bad = table_from_json(broken, 4);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message.find("certificate www") != std::string::npos);
}

TEST_CASE("cert-set and cert-delete survive change_to_json / change_from_json") {
  Change set;
  set.op = Change::Op::CertSet;
  set.name = "www";
  set.certificate = cert("www", {"www.example.com"});
  auto back = change_from_json(change_to_json(set));
  REQUIRE(back.ok());
  CHECK(back->op == Change::Op::CertSet);
  CHECK(back->name == "www");
  REQUIRE(back->certificate);
  CHECK(back->certificate->fingerprint_sha256() == set.certificate->fingerprint_sha256());

  Change del;
  del.op = Change::Op::CertDelete;
  del.name = "www";
  auto back_del = change_from_json(change_to_json(del));
  REQUIRE(back_del.ok());
  CHECK(back_del->op == Change::Op::CertDelete);
  CHECK(back_del->name == "www");
  CHECK_FALSE(change_from_json(json{{"op", "cert-set"}, {"name", "x"}, {"cert", "x"}}).ok());
}

TEST_CASE("a certificate change is durable: a restart finds it, in a file only the owner reads") {
  char tmpl[] = "/tmp/turnout-certstate-XXXXXX";
  REQUIRE(mkdtemp(tmpl));
  std::string dir = tmpl, path = dir + "/state.json";
  RouteTablePtr t = tls_table(1);
  CertificatePtr api = cert("api", {"api.example.com"});
  {
    StateStore store(path);
    REQUIRE(store.load("h").ok());
    REQUIRE(store.reset(t, "h").ok());
    Change c;
    c.op = Change::Op::CertSet;
    c.name = "api";
    c.certificate = api;
    std::vector<Change> changes{c};
    auto next = apply_changes(*t, changes, 2);
    REQUIRE(next.ok());
    REQUIRE(store.append(*next, changes).ok());
  }
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);  // it holds private keys
  StateStore again(path);
  auto loaded = again.load("h");
  REQUIRE_MESSAGE(loaded.ok(), (loaded.ok() ? "" : loaded.error().message));
  REQUIRE(loaded->table);
  CHECK(loaded->table->version() == 2);
  const Certificate* found = loaded->table->certificates()->find("api");
  REQUIRE(found != nullptr);
  CHECK(found->fingerprint_sha256() == api->fingerprint_sha256());
  CHECK(loaded->table->certificates()->select("api.example.com").ecdsa == found);
  fs::remove_all(dir);
}
