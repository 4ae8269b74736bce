#include <doctest/doctest.h>

#include <llhttp.h>

#include <string>

#include "turnout/http/error_status.h"
#include "turnout/http/request_line.h"

using namespace turnout;

namespace {

// The status a request line is answered with: 0 when accepted.
int verdict(std::string_view line, RequestLine* out = nullptr) {
  RequestLine rl;
  auto r = parse_request_line(line, out ? out : &rl);
  return r ? 0 : http_status(r.error().kind);
}

}  // namespace

TEST_CASE("request line: standard methods keep llhttp's id, versions 1.0 and 1.1") {
  RequestLine rl;
  REQUIRE(verdict("GET /index.html?q=1 HTTP/1.1", &rl) == 0);
  CHECK(rl.method == "GET");
  CHECK(rl.method_id == HTTP_GET);
  CHECK(rl.target == "/index.html?q=1");
  CHECK(rl.version_minor == 1);
  REQUIRE(verdict("M-SEARCH * HTTP/1.0", &rl) == 0);
  CHECK(rl.method_id == HTTP_MSEARCH);
  CHECK(rl.version_minor == 0);
  REQUIRE(verdict("CONNECT db.internal:5432 HTTP/1.1", &rl) == 0);
  CHECK(rl.method_id == HTTP_CONNECT);
  CHECK(rl.target == "db.internal:5432");
}

TEST_CASE("request line: any other token is an extension method (RFC 9110 9.1)") {
  for (std::string_view m : {"QUERY", "BREW", "MKCOLA", "X_CUSTOM-1", "PLAY", "GET_PARAMETER", "~!#$%&'*+-.^_`|"}) {
    CAPTURE(m);
    RequestLine rl;
    std::string line = std::string(m) + " /x HTTP/1.1";
    REQUIRE(verdict(line, &rl) == 0);
    CHECK(rl.method == m);
    CHECK(rl.method_id == kMethodExtension);
  }
  CHECK(http_method_id("QUERY") == -1);
  CHECK(http_method_id("PROPFIND") == HTTP_PROPFIND);
  CHECK(http_method_id("PLAY") == -1);  // RTSP only: llhttp refuses it after HTTP/
  CHECK(verdict(std::string(kMaxMethodBytes, 'M') + " / HTTP/1.1") == 0);
}

TEST_CASE("request line: methods that would be read two ways are refused") {
  // A backend that folds case would frame "head" or "connect" unlike turnout.
  for (std::string_view m : {"get", "Get", "head", "HeAd", "connect", "post", "m-search", "play", "Source"}) {
    CAPTURE(m);
    CHECK(verdict(std::string(m) + " / HTTP/1.1") == 400);
  }
  CHECK(verdict("PRI / HTTP/1.1") == 400);   // the HTTP/2 preface method
  CHECK(verdict("pri / HTTP/1.1") == 400);
  CHECK(verdict("PRI * HTTP/2.0") == 505);   // the preface itself: HTTP/2, not HTTP/1
  CHECK(verdict("G(T / HTTP/1.1") == 400);   // not a token
  CHECK(verdict("G\"T / HTTP/1.1") == 400);
  CHECK(verdict(std::string(kMaxMethodBytes + 1, 'M') + " / HTTP/1.1") == 501);
}

TEST_CASE("request line: only HTTP/1.x is HTTP") {
  CHECK(verdict("OPTIONS / RTSP/1.0") == 400);
  CHECK(verdict("SOURCE / ICE/1.0") == 400);
  CHECK(verdict("GET / http/1.1") == 400);    // HTTP-name is case-sensitive
  CHECK(verdict("GET / HTTP/1.10") == 400);
  CHECK(verdict("GET / HTTP/1") == 400);
  CHECK(verdict("GET / HTTP/1.") == 400);
  CHECK(verdict("GET / HTTP/11") == 400);
  CHECK(verdict("GET / HTTP/1.x") == 400);
  CHECK(verdict("GET / HTTP/") == 400);
  CHECK(verdict("GET / HTTP/2.0") == 505);
  CHECK(verdict("GET / HTTP/3.0") == 505);
  CHECK(verdict("GET / HTTP/0.9") == 505);
  CHECK(verdict("GET / HTTP/9.9") == 505);
  // RFC 9110 2.5: a higher minor version of a major we implement is handled as the highest we do.
  for (char minor = '2'; minor <= '9'; ++minor) {
    RequestLine rl;
    REQUIRE(verdict(std::string("GET / HTTP/1.") + minor, &rl) == 0);
    CHECK(rl.version_minor == 1);
  }
}

TEST_CASE("request line: single spaces, a VCHAR target, nothing else") {
  CHECK(verdict("GET /") == 400);               // HTTP/0.9
  CHECK(verdict("GET") == 400);
  CHECK(verdict("") == 400);
  CHECK(verdict(" GET / HTTP/1.1") == 400);
  CHECK(verdict("GET  / HTTP/1.1") == 400);     // llhttp alone takes two spaces
  CHECK(verdict("GET /  HTTP/1.1") == 400);
  CHECK(verdict("GET / HTTP/1.1 ") == 400);
  CHECK(verdict("GET\t/ HTTP/1.1") == 400);
  CHECK(verdict("GET /a b HTTP/1.1") == 400);
  CHECK(verdict("GET /a\tb HTTP/1.1") == 400);
  CHECK(verdict("GET /a\rb HTTP/1.1") == 400);
  CHECK(verdict(std::string("GET /a\0b HTTP/1.1", 17)) == 400);
  CHECK(verdict("GET /a\x7f HTTP/1.1") == 400);
  CHECK(verdict("GET /caf\xc3\xa9 HTTP/1.1") == 400);
  CHECK(verdict("GET /{a}|\"<>^` HTTP/1.1") == 0);  // VCHAR; the target's own rules are llhttp's
}

TEST_CASE("request line prefix: garbage is refused before the line ends") {
  CHECK(check_request_line_prefix(""));
  CHECK(check_request_line_prefix("QUER"));
  CHECK(check_request_line_prefix("QUERY /very/long"));
  CHECK(check_request_line_prefix("\x16\x03\x01").error().kind == ErrorKind::Invalid);  // a TLS ClientHello
  CHECK(check_request_line_prefix(std::string(kMaxMethodBytes + 1, 'A')).error().kind == ErrorKind::NotImplemented);
  CHECK(check_request_line_prefix(" /").error().kind == ErrorKind::Invalid);
}
