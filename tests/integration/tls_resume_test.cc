// TLS session resumption (issue 12 item 4, DESIGN.md "TLS"), as `openssl s_client -sess_out /
// -sess_in` sees it against the real binary: a session saved from one connection resumes on the
// next whichever worker accepts it, after a certificate replacement, after a reload that rebuilds
// the TLS context, and on the new process after a binary upgrade (the ticket keys travel in the
// hand-off). TLS 1.2 clients without tickets resume from the session cache, and
// `session_tickets: false` issues no tickets at all.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <nlohmann/json.hpp>

#include "integration/harness.h"
#include "integration/tls_pki.h"

using namespace turnout::test;

namespace {

std::string config(const Backend& b, const Pki& pki, const std::string& tls_extra = "") {
  return "listen:\n  - { addr: \"127.0.0.1:0\", tls: true }\n"
         "workers: 2\n"
         "apps:\n  web: {servers: " + yaml_list({b.addr()}) + "}\n"
         "routes:\n  a.test: [web]\n"
         "tls:\n" + tls_extra + "  certificates:\n" + pki.entry("a");
}

// One HTTPS request to a.test by openssl s_client, which reads until the server closes, so TLS 1.3
// tickets sent after the handshake are received and saved. `flags`: -sess_out/-sess_in, -tls1_2...
class SClient {
 public:
  SClient(const TurnoutProcess& t, const Pki& pki) : t_(t), pki_(pki) {
    dir_.write("request", "GET /resume HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n");
  }
  Run get(const std::string& flags) const {
    return run("openssl s_client -ign_eof -connect 127.0.0.1:" + std::to_string(t_.port()) +
               " -servername a.test -CAfile " + pki_.ca() + " " + flags + " < " + dir_.file("request"));
  }
  std::string session(const std::string& name) const { return dir_.file(name + ".pem"); }

 private:
  const TurnoutProcess& t_;
  const Pki& pki_;
  TempDir dir_;
};

bool answered(const Run& r) { return r.out.find("HTTP/1.1 200") != std::string::npos; }
bool resumed(const Run& r, const std::string& version) { return r.out.find("Reused, " + version) != std::string::npos; }
bool full(const Run& r, const std::string& version) { return r.out.find("New, " + version) != std::string::npos; }
bool got_ticket(const Run& r) { return r.out.find("TLS session ticket lifetime hint") != std::string::npos; }

// Kills (at scope exit) a turnout that is not the harness's child: the new process of an upgrade.
struct PidGuard {
  pid_t pid = -1;
  ~PidGuard() {
    if (pid > 0 && ::kill(pid, SIGKILL) == 0) ::waitpid(pid, nullptr, 0);
  }
};

}  // namespace

TEST_CASE("a TLS 1.3 session resumes on the next connections, whichever of the two workers takes them") {
  Backend b("web");
  Pki pki;
  pki.issue("a", "a.test");
  TurnoutProcess t;
  t.start(config(b, pki));
  TURNOUT_INFO_STDERR(t);
  SClient c(t, pki);
  Run first = c.get("-sess_out " + c.session("s"));
  INFO(first.out);
  REQUIRE(answered(first));
  REQUIRE(full(first, "TLSv1.3"));
  REQUIRE(got_ticket(first));
  // Twenty connections from new source ports: SO_REUSEPORT spreads them over both workers.
  int reused = 0;
  for (int i = 0; i < 20; ++i) {
    Run again = c.get("-sess_in " + c.session("s"));
    CHECK_MESSAGE(answered(again), again.out);
    if (resumed(again, "TLSv1.3")) ++reused;
  }
  CHECK(reused == 20);
}

TEST_CASE("a session resumes after its certificate is replaced through the admin API") {
  Backend b("web");
  Pki pki;
  pki.issue("a", "a.test");
  pki.issue("a2", "a.test");
  TurnoutProcess t;
  t.start(config(b, pki));
  TURNOUT_INFO_STDERR(t);
  SClient c(t, pki);
  Run first = c.get("-sess_out " + c.session("s13"));
  REQUIRE_MESSAGE(full(first, "TLSv1.3"), first.out);
  Run first12 = c.get("-tls1_2 -sess_out " + c.session("s12"));
  REQUIRE_MESSAGE(full(first12, "TLSv1.2"), first12.out);

  nlohmann::json body{{"cert", read_file(pki.crt("a2"))}, {"key", read_file(pki.key("a2"))}};
  AdminReply put = t.admin("PUT", "/v1/certificates/a", body.dump());
  REQUIRE_MESSAGE(put.status == 200, put.body);
  // New handshakes are shown the new certificate...
  Run fresh = c.get("");
  CHECK_MESSAGE(fresh.out.find("subject=CN = a2") != std::string::npos, fresh.out);
  // ...and sessions from before the change still resume.
  Run again = c.get("-sess_in " + c.session("s13"));
  CHECK_MESSAGE(resumed(again, "TLSv1.3"), again.out);
  CHECK(answered(again));
  Run again12 = c.get("-tls1_2 -sess_in " + c.session("s12"));
  CHECK_MESSAGE(resumed(again12, "TLSv1.2"), again12.out);
}

TEST_CASE("a session resumes after a reload that rebuilds the TLS context") {
  Backend b("web");
  Pki pki;
  pki.issue("a", "a.test");
  TurnoutProcess t;
  t.start(config(b, pki));
  TURNOUT_INFO_STDERR(t);
  SClient c(t, pki);
  Run first = c.get("-sess_out " + c.session("s"));
  REQUIRE_MESSAGE(full(first, "TLSv1.3"), first.out);

  // min_version is a context setting: the reload builds a new context, with the same ticket keys.
  std::string yaml = read_file(t.config_path());
  size_t at = yaml.find("tls:\n");
  REQUIRE(at != std::string::npos);
  yaml.insert(at + 5, "  min_version: \"1.3\"\n");
  t.dir().write("turnout.yaml", yaml);
  AdminReply r = t.admin("POST", "/v1/reload");
  REQUIRE_MESSAGE(r.status == 200, r.body);
  Run old12 = c.get("-tls1_2");
  CHECK_MESSAGE(!answered(old12), old12.out);  // the new context is in force
  Run again = c.get("-sess_in " + c.session("s"));
  CHECK_MESSAGE(resumed(again, "TLSv1.3"), again.out);
  CHECK(answered(again));
}

TEST_CASE("TLS 1.2 clients without tickets resume from the session cache, on either worker") {
  Backend b("web");
  Pki pki;
  pki.issue("a", "a.test");
  TurnoutProcess t;
  t.start(config(b, pki));
  TURNOUT_INFO_STDERR(t);
  SClient c(t, pki);
  Run first = c.get("-tls1_2 -no_ticket -sess_out " + c.session("s"));
  INFO(first.out);
  REQUIRE(answered(first));
  REQUIRE(full(first, "TLSv1.2"));
  CHECK_FALSE(got_ticket(first));
  int reused = 0;
  for (int i = 0; i < 10; ++i) {
    Run again = c.get("-tls1_2 -no_ticket -sess_in " + c.session("s"));
    CHECK_MESSAGE(answered(again), again.out);
    if (resumed(again, "TLSv1.2")) ++reused;
  }
  CHECK(reused == 10);
}

TEST_CASE("session_tickets: false issues no ticket; TLS 1.2 sessions still resume from the cache") {
  Backend b("web");
  Pki pki;
  pki.issue("a", "a.test");
  {
    // The same client against the default: it is given a ticket.
    TurnoutProcess t;
    t.start(config(b, pki));
    TURNOUT_INFO_STDERR(t);
    Run r = SClient(t, pki).get("-tls1_2");
    CHECK_MESSAGE(got_ticket(r), r.out);
  }
  TurnoutProcess t;
  t.start(config(b, pki, "  session_tickets: false\n"));
  TURNOUT_INFO_STDERR(t);
  SClient c(t, pki);
  Run first = c.get("-tls1_2 -sess_out " + c.session("s"));
  INFO(first.out);
  REQUIRE(answered(first));
  CHECK_FALSE(got_ticket(first));
  Run again = c.get("-tls1_2 -sess_in " + c.session("s"));
  CHECK_MESSAGE(resumed(again, "TLSv1.2"), again.out);
  CHECK(answered(again));
}

TEST_CASE("sessions resume on the new process after a binary upgrade") {
  // The new process is spawned by the old one, which exits: as a subreaper we can reap it.
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  Backend b("web");
  Pki pki;
  pki.issue("a", "a.test");
  TurnoutProcess t;
  PidGuard successor;
  t.start(config(b, pki));
  TURNOUT_INFO_STDERR(t);
  SClient c(t, pki);
  Run first = c.get("-sess_out " + c.session("s13"));
  REQUIRE_MESSAGE(full(first, "TLSv1.3"), first.out);
  Run first12 = c.get("-tls1_2 -sess_out " + c.session("s12"));
  REQUIRE_MESSAGE(full(first12, "TLSv1.2"), first12.out);
  REQUIRE(got_ticket(first12));

  AdminReply up = t.admin("POST", "/v1/upgrade", "");
  REQUIRE_MESSAGE(up.status == 200, up.body);
  CHECK(t.wait_exit(Ms(15000)) == std::optional<int>(0));
  AdminReply status = t.admin("GET", "/v1/status");
  REQUIRE(status.status == 200);
  successor.pid = static_cast<pid_t>(status.json.value("pid", int64_t{-1}));
  REQUIRE(successor.pid > 0);
  REQUIRE(successor.pid != t.pid());

  // The old process is gone: the new one opens the tickets the old one issued.
  Run again = c.get("-sess_in " + c.session("s13"));
  CHECK_MESSAGE(resumed(again, "TLSv1.3"), again.out);
  CHECK(answered(again));
  Run again12 = c.get("-tls1_2 -sess_in " + c.session("s12"));
  CHECK_MESSAGE(resumed(again12, "TLSv1.2"), again12.out);

  REQUIRE(::kill(successor.pid, SIGTERM) == 0);
  int st = 0;
  REQUIRE(::waitpid(successor.pid, &st, 0) == successor.pid);
  successor.pid = -1;
  CHECK(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == 0);
  CHECK(t.stderr_text().find("took over the TLS session ticket keys") != std::string::npos);
}
