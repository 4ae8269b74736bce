// HTTP/2 floods and abuse (issue #13 item 4): each known attack, run by the scripted client
// tests/integration/h2/h2_abuse.py against the real binary, must end with turnout sending GOAWAY
// (with the code DESIGN.md names where it names one) and closing that connection, while turnout
// keeps serving other clients — an ordinary HTTP/2 GET from the script and from curl right after
// get 200 — and its RSS grows by less than a generous bound over the attack.
//
// The attacks run over h2c with prior knowledge on a plaintext listener with `http2: true`, and
// rapid reset once more over TLS with ALPN h2. The script needs python3-h2
// (scripts/install-deps.sh installs it); without it every case says so and passes empty.
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "integration/harness.h"
#include "integration/tls_pki.h"

using namespace turnout::test;

namespace {

constexpr uint32_t kProtocolError = 0x1;
constexpr uint32_t kEnhanceYourCalm = 0xb;

// Limits the cases read back: the stream limit turnout must announce in SETTINGS, the header
// bytes a block may reach, and the time a block may stay open.
constexpr int kMaxStreams = 32;
constexpr int kMaxHeaderBytes = 16384;

// Debian's python3-h2 is installed for the system interpreter; a python3 earlier on PATH (a
// virtualenv, pyenv) may not see it.
std::string python() {
  return ::access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
}

std::string script() { return std::string(TURNOUT_SOURCE_DIR) + "/tests/integration/h2/h2_abuse.py"; }

bool have_h2() {
  static const bool ok = std::system((python() + " -c 'import h2, hpack' >/dev/null 2>&1").c_str()) == 0;
  return ok;
}

#define REQUIRE_H2_OR_SKIP()                                                                   \
  do {                                                                                         \
    if (!have_h2()) {                                                                          \
      MESSAGE("skipped: python3-h2 is not installed (scripts/install-deps.sh installs it)");   \
      return;                                                                                  \
    }                                                                                          \
  } while (0)

struct Outcome {
  nlohmann::json j;  // the script's JSON line (discarded value when none)
  std::string raw;   // everything it printed, for failure messages

  bool goaway() const { return j.value("goaway", false); }
  bool closed() const { return j.value("closed", false); }
  // -1 when no GOAWAY came.
  long long code() const { return j.contains("error_code") && j["error_code"].is_number() ? j["error_code"].get<long long>() : -1; }
  int status() const { return j.contains("status") && j["status"].is_number() ? j["status"].get<int>() : 0; }
  double seconds() const { return j.value("seconds", 1e9); }
};

struct Target {
  int port = 0;
  std::string tls_args;  // "--tls --cafile ... --sni ..." or ""
};

// Runs one attack, bounded by the script's own limits (frames, seconds, wait) and by `timeout`
// as a backstop; tls_pki.h's run() stops commands at 20 s, less than an attack may take.
Outcome attack(const Target& t, const std::string& name, const std::string& extra = "") {
  std::string cmd = "timeout -k 5 60 " + python() + " " + script() + " --port " + std::to_string(t.port) + " " +
                    t.tls_args + " --authority h2.test --attack " + name + " " + extra + " 2>&1";
  Outcome o;
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) o.raw.append(buf.data(), n);
  ::pclose(p);
  // The JSON line is the last one (a traceback, if any, comes before it or instead of it).
  size_t start = o.raw.rfind("\n{");
  o.j = nlohmann::json::parse(o.raw.substr(start == std::string::npos ? 0 : start + 1), nullptr, false);
  return o;
}

// The proxy still serves: a fresh connection's GET through the script (h2) and through curl.
void check_still_serving(const Target& t, const Pki* pki) {
  Outcome ok = attack(t, "ok", "--path /after");
  INFO("h2_abuse.py ok: " << ok.raw);
  CHECK(ok.status() == 200);
  CHECK_FALSE(ok.goaway());
  std::string curl = pki ? "curl -s -o /dev/null -w '%{http_code}' --http2 --cacert " + pki->ca() +
                               " --resolve h2.test:" + std::to_string(t.port) + ":127.0.0.1 https://h2.test:" +
                               std::to_string(t.port) + "/curl"
                         : "curl -s -o /dev/null -w '%{http_code}' --http2-prior-knowledge -H 'Host: h2.test' "
                           "http://127.0.0.1:" + std::to_string(t.port) + "/curl";
  Run c = run(curl);
  INFO("curl: " << c.out);
  CHECK(c.out == "200");
}

std::string config(const Backend& b, bool tls, const Pki* pki) {
  std::string c = std::string("listen:\n  - { addr: \"127.0.0.1:0\", ") + (tls ? "tls: true" : "http2: true") + " }\n"
                  "apps:\n  web: {servers: " + yaml_list({b.addr()}) + "}\n"
                  "routes:\n  h2.test: [web]\n"
                  "limits: { h2_max_concurrent_streams: " + std::to_string(kMaxStreams) +
                  ", max_header_bytes: " + std::to_string(kMaxHeaderBytes) + " }\n"
                  "timeouts: { request_header: 1s }\n";
  if (tls) c += "tls:\n  certificates:\n" + pki->entry("h2") + "  default_certificate: h2\n";
  return c;
}

// Bound on RSS growth over one attack: generous (the point is "bounded", not "small"); the
// sanitizer builds count shadow memory and ASan's quarantine too.
constexpr long kRssBoundKib = (kSanitizedBuild ? 256 : 64) * 1024;

// Starts turnout, warms it with one ordinary request (so one-time allocations are in "before"),
// runs `name`, then checks the outcome with `expect` and the proxy's health and memory.
template <typename Expect>
void abuse_case(const std::string& name, const std::string& extra, Expect expect, bool tls = false) {
  Backend b("web");
  std::optional<Pki> pki;
  if (tls) {
    pki.emplace();
    pki->issue("h2", "h2.test");
  }
  TurnoutProcess t;
  t.start(config(b, tls, pki ? &*pki : nullptr));
  TURNOUT_INFO_STDERR(t);
  Target target{t.port(), tls ? "--tls --cafile " + pki->ca() + " --sni h2.test" : ""};

  Outcome warm = attack(target, "ok", "--path /warm");
  INFO("warm-up: " << warm.raw);
  REQUIRE_MESSAGE(warm.status() == 200, "turnout does not serve HTTP/2 here: " << warm.raw);
  long rss_before = t.rss_kib();

  Outcome o = attack(target, name, extra);
  INFO("h2_abuse.py " << name << ": " << o.raw);
  REQUIRE_MESSAGE(!o.j.is_discarded(), "no JSON line from h2_abuse.py");
  CHECK(o.j.value("error", nlohmann::json()).is_null());
  expect(o);

  REQUIRE(t.running());
  check_still_serving(target, pki ? &*pki : nullptr);
  long rss_after = t.rss_kib();
  INFO("RSS before " << rss_before << " KiB, after " << rss_after << " KiB");
  CHECK(rss_before > 0);
  CHECK(rss_after - rss_before < kRssBoundKib);
}

// GOAWAY with one of `codes`, and the connection closed within the script's wait.
void expect_goaway(const Outcome& o, std::initializer_list<uint32_t> codes) {
  CHECK(o.goaway());
  bool code_ok = false;
  for (uint32_t c : codes) code_ok = code_ok || o.code() == static_cast<long long>(c);
  CHECK_MESSAGE(code_ok, "GOAWAY code " << o.code());
  CHECK(o.closed());
}

}  // namespace

TEST_CASE("rapid reset (CVE-2023-44487): HEADERS then RST_STREAM in a loop ends in GOAWAY ENHANCE_YOUR_CALM") {
  REQUIRE_H2_OR_SKIP();
  // 10,000 streams opened and cancelled at once: far past the burst of 1,000 DESIGN.md allows.
  abuse_case("rapid_reset", "--frames 20000 --seconds 10", [](const Outcome& o) {
    expect_goaway(o, {kEnhanceYourCalm});
  });
}

TEST_CASE("rapid reset over TLS with ALPN h2 is stopped the same way") {
  REQUIRE_H2_OR_SKIP();
  abuse_case("rapid_reset", "--frames 20000 --seconds 10",
             [](const Outcome& o) {
               CHECK(o.j.value("alpn", "") == "h2");
               expect_goaway(o, {kEnhanceYourCalm});
             },
             /*tls=*/true);
}

TEST_CASE("CONTINUATION flood (2024): a header block that never ends is cut off with GOAWAY") {
  REQUIRE_H2_OR_SKIP();
  // 100,000 CONTINUATION frames of one small header each, never END_HEADERS: the block passes
  // max_header_bytes (16 KiB here) after about 600 frames, so the server must stop it long before.
  abuse_case("continuation_flood", "--frames 100000 --seconds 10", [](const Outcome& o) {
    expect_goaway(o, {kEnhanceYourCalm, kProtocolError});
    CHECK(o.j.value("frames_sent", 0) < 100000);
    CHECK(o.seconds() < 10);
  });
}

TEST_CASE("a header block past max_header_bytes spread over CONTINUATION frames closes the connection") {
  REQUIRE_H2_OR_SKIP();
  // 40 KiB of header block in 4 KiB frames: each frame is small, the block is 2.5× the limit.
  abuse_case("big_header_block", "--size 40960", [](const Outcome& o) {
    expect_goaway(o, {kEnhanceYourCalm, kProtocolError});
    CHECK(o.status() == 0);  // the request never reached the backend as a 200
  });
}

TEST_CASE("SETTINGS flood without reading the ACKs ends in GOAWAY ENHANCE_YOUR_CALM") {
  REQUIRE_H2_OR_SKIP();
  abuse_case("settings_flood", "--frames 200000 --seconds 10", [](const Outcome& o) {
    expect_goaway(o, {kEnhanceYourCalm});
  });
}

TEST_CASE("PING flood without reading the ACKs ends in GOAWAY ENHANCE_YOUR_CALM") {
  REQUIRE_H2_OR_SKIP();
  abuse_case("ping_flood", "--frames 200000 --seconds 10", [](const Outcome& o) {
    expect_goaway(o, {kEnhanceYourCalm});
  });
}

TEST_CASE("empty DATA frames flood on an open stream ends in GOAWAY ENHANCE_YOUR_CALM") {
  REQUIRE_H2_OR_SKIP();
  abuse_case("empty_data_flood", "--frames 100000 --seconds 10", [](const Outcome& o) {
    expect_goaway(o, {kEnhanceYourCalm});
  });
}

TEST_CASE("WINDOW_UPDATE flood ends in GOAWAY ENHANCE_YOUR_CALM") {
  REQUIRE_H2_OR_SKIP();
  abuse_case("window_update_flood", "--frames 100000 --seconds 10", [](const Outcome& o) {
    expect_goaway(o, {kEnhanceYourCalm});
  });
}

TEST_CASE("a stream stalled mid-headers closes the connection once timeouts.request_header passes") {
  REQUIRE_H2_OR_SKIP();
  // request_header is 1 s here: HEADERS without END_HEADERS, then silence.
  abuse_case("stalled_headers", "--wait 8", [](const Outcome& o) {
    CHECK(o.goaway());
    CHECK(o.closed());
    CHECK(o.seconds() >= 0.8);  // not before the timeout...
    CHECK(o.seconds() < 6);     // ...and not long after it
  });
}

TEST_CASE("more streams than h2_max_concurrent_streams, bodies held open: GOAWAY, and the limit was announced") {
  REQUIRE_H2_OR_SKIP();
  // 32 announced and acknowledged, 64 opened at once, none finished.
  abuse_case("too_many_streams", "--streams 64", [](const Outcome& o) {
    CHECK(o.j.value("server_max_streams", -1) == kMaxStreams);
    expect_goaway(o, {kProtocolError, kEnhanceYourCalm});
  });
}
