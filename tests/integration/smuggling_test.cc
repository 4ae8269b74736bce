// Request smuggling and malformed input (issue 5, item 1): every ambiguous or malformed request
// is answered 400 and its connection closed, and nothing of it reaches a backend; a malformed
// upstream response is a 502 and its connection is never pooled. The raw cases come from
// tests/fixtures/http/400_*.http (shared with the parser unit tests) plus the ones below.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "integration/harness.h"

using namespace turnout::test;
using namespace std::string_literals;

namespace {

// Every host the fixtures and cases use routes to the backend, and so does every other host
// (default_app): a request that slipped through would be recorded by the backend.
std::string config_for(const Backend& b) {
  return "apps:\n"
         "  e: {servers: " + yaml_list({b.addr()}) + "}\n"
         "routes:\n"
         "  example.com: [e]\n"
         "  internal.example: [e]\n"
         "default_app: e\n";
}

struct RawCase {
  std::string name;  // fixture file name or a description
  std::string raw;   // bytes sent as they are
};

// tests/fixtures/http/<prefix>*.http, sorted by name.
std::vector<RawCase> fixtures(const std::string& prefix) {
  std::vector<RawCase> out;
  std::filesystem::path dir = std::filesystem::path(TURNOUT_FIXTURES) / "http";
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    std::string name = e.path().filename().string();
    if (name.rfind(prefix, 0) == 0 && e.path().extension() == ".http") out.push_back({name, read_file(e.path())});
  }
  std::sort(out.begin(), out.end(), [](const RawCase& a, const RawCase& b) { return a.name < b.name; });
  return out;
}

// Cases of item 1 the fixtures do not spell out (or spell one way only).
std::vector<RawCase> extra_cases() {
  const std::string post = "POST / HTTP/1.1\r\nHost: example.com\r\n";
  const std::string chunked = post + "Transfer-Encoding: chunked\r\n\r\n";
  return {
      // Content-Length and Transfer-Encoding together, in either order and with a non-chunked coding.
      {"CL then TE chunked, smuggled GET after", post + "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
                                                       "0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: example.com\r\n\r\n"},
      {"TE gzip then CL", post + "Transfer-Encoding: gzip\r\nContent-Length: 3\r\n\r\nabc"},
      // Content-Length values.
      {"CL negative", post + "Content-Length: -3\r\n\r\nabc"},
      {"CL space inside", post + "Content-Length: 1 0\r\n\r\nabcdefghij"},
      {"CL non-digit", post + "Content-Length: 3a\r\n\r\nabc"},
      {"CL hex", post + "Content-Length: 0x3\r\n\r\nabc"},
      {"CL empty", post + "Content-Length:\r\n\r\n"},
      {"CL overflow", post + "Content-Length: 99999999999999999999999\r\n\r\nabc"},
      {"CL duplicate differing case", post + "Content-Length: 3\r\ncontent-length: 4\r\n\r\nabcd"},
      // Transfer codings other than exactly "chunked".
      {"TE gzip, chunked", post + "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"},
      {"TE identity", post + "Transfer-Encoding: identity\r\n\r\nabc"},
      {"TE xchunked", post + "Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n"},
      {"TE chunked twice as fields", post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
      {"TE chunked in HTTP/1.0", "POST / HTTP/1.0\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
      // obs-fold, in the first header and with a tab.
      {"obs-fold with tab", "GET / HTTP/1.1\r\nHost: example.com\r\nX-A: a\r\n\tb\r\n\r\n"},
      {"obs-fold continuing Host", "GET / HTTP/1.1\r\nHost: example.com\r\n internal.example\r\n\r\n"},
      // Line endings.
      {"bare CR in request line", "GET / HTTP/1.1\rHost: example.com\r\n\r\n"},
      {"bare CR ending the head", "GET / HTTP/1.1\r\nHost: example.com\r\n\r\r\n"},
      {"bare LF between CRLF lines", "GET / HTTP/1.1\r\nHost: example.com\nX-A: b\r\n\r\n"},
      {"bare LF ending the request line", "GET / HTTP/1.1\nHost: example.com\r\n\r\n"},
      {"bare LF ending the head", "GET / HTTP/1.1\r\nHost: example.com\r\n\n"},
      {"bare LF after chunk size", chunked + "3\nabc\r\n0\r\n\r\n"},
      {"bare LF after chunk data", chunked + "3\r\nabc\n0\r\n\r\n"},
      // NUL and other control bytes.
      {"NUL in name", "GET / HTTP/1.1\r\nHost: example.com\r\nX\0A: b\r\n\r\n"s},
      {"NUL in Host value", "GET / HTTP/1.1\r\nHost: example.com\0.evil\r\n\r\n"s},
      {"SOH in value", "GET / HTTP/1.1\r\nHost: example.com\r\nX-A: a\x01z\r\n\r\n"},
      {"ESC in name", "GET / HTTP/1.1\r\nHost: example.com\r\nX\x1b-A: b\r\n\r\n"},
      {"DEL in value", "GET / HTTP/1.1\r\nHost: example.com\r\nX-A: a\x7fz\r\n\r\n"},
      {"NUL in request target", "GET /a\0b HTTP/1.1\r\nHost: example.com\r\n\r\n"s},
      // Whitespace before the colon, and names that are not tokens.
      {"tab before colon", "GET / HTTP/1.1\r\nHost: example.com\r\nX-A\t: b\r\n\r\n"},
      {"space before colon of Content-Length", post + "Content-Length : 3\r\n\r\nabc"},
      {"space before colon of Transfer-Encoding", post + "Transfer-Encoding : chunked\r\nContent-Length: 3\r\n\r\nabc"},
      {"empty header name", "GET / HTTP/1.1\r\nHost: example.com\r\n: b\r\n\r\n"},
      {"space inside a name", "GET / HTTP/1.1\r\nHost: example.com\r\nX A: b\r\n\r\n"},
      // Chunk sizes.
      {"chunk size with sign", chunked + "+3\r\nabc\r\n0\r\n\r\n"},
      {"chunk size negative", chunked + "-3\r\nabc\r\n0\r\n\r\n"},
      {"chunk size 0X", chunked + "0X3\r\nabc\r\n0\r\n\r\n"},
      {"chunk size 2^64+3", chunked + "10000000000000003\r\nabc\r\n0\r\n\r\n"},
      {"chunk size all f", chunked + "ffffffffffffffffff\r\nabc\r\n0\r\n\r\n"},
      {"chunk size empty", chunked + "\r\nabc\r\n0\r\n\r\n"},
      {"chunk size not hex", chunked + "g\r\nabc\r\n0\r\n\r\n"},
      // Over-long chunk extensions: one long one, and many short ones on one chunk.
      {"chunk extension 4 KiB", chunked + "3;" + std::string(4096, 'x') + "\r\nabc\r\n0\r\n\r\n"},
      {"many chunk extensions", [&] {
         std::string s = chunked + "3";
         for (int i = 0; i < 200; ++i) s += ";e" + std::to_string(i) + "=v";
         return s + "\r\nabc\r\n0\r\n\r\n";
       }()},
      {"last-chunk extension 4 KiB", chunked + "3\r\nabc\r\n0;" + std::string(4096, 'x') + "\r\n\r\n"},
      // Host.
      {"two Host fields, same value", "GET / HTTP/1.1\r\nHost: example.com\r\nhost: example.com\r\n\r\n"},
      {"two Host fields, as a list", "GET / HTTP/1.1\r\nHost: example.com, internal.example\r\n\r\n"},
      {"missing Host, with a body", post.substr(0, post.find("Host")) + "Content-Length: 3\r\n\r\nabc"},
      {"absolute-form with a port, other host", "GET http://internal.example:80/x HTTP/1.1\r\nHost: example.com\r\n\r\n"},
      {"absolute-form, Host names the other one", "GET http://example.com/ HTTP/1.1\r\nHost: internal.example\r\n\r\n"},
  };
}

// Sends `raw` on a fresh connection; returns what a user would see.
struct Outcome {
  std::optional<Response> response;
  bool closed = false;   // turnout closed the connection after the answer
  std::string after;     // bytes after the first response (a second, smuggled answer)
};
Outcome send_raw(int port, const std::string& raw) {
  Outcome o;
  Client cl(port);
  cl.send(raw);  // may fail half-way when turnout closes early: what it answered still counts
  o.response = cl.read_response(Ms(3000));
  if (o.response) o.closed = cl.wait_closed(Ms(3000), &o.after);
  return o;
}

void expect_400_and_close(int port, const RawCase& c) {
  CAPTURE(c.name);
  INFO("raw: " << nlohmann::json(std::string(c.raw.substr(0, 400))).dump(-1, ' ', true, nlohmann::json::error_handler_t::replace));
  Outcome o = send_raw(port, c.raw);
  CHECK_MESSAGE(o.response.has_value(), "no response (connection closed or timed out)");
  if (!o.response) return;
  CHECK(o.response->status == 400);
  CHECK(!o.response->header("X-Backend"));
  CHECK(o.closed);
  CHECK(o.after.empty());
}

// Lists what a backend received, for failure messages.
std::string describe(const std::vector<BackendRequest>& reqs) {
  std::string s;
  for (const auto& r : reqs) s += r.method + " " + r.target + " (conn " + std::to_string(r.conn_id) + ")\n" + r.raw_head;
  return s;
}

}  // namespace

TEST_CASE("the ok_* fixtures pass: the setup routes what is well-formed") {
  Backend b("e");
  TurnoutProcess t;
  t.start(config_for(b));
  TURNOUT_INFO_STDERR(t);

  auto oks = fixtures("ok_");
  REQUIRE(oks.size() >= 3);
  for (const auto& c : oks) {
    CAPTURE(c.name);
    Outcome o = send_raw(t.port(), c.raw);
    REQUIRE(o.response);
    CHECK(o.response->status == 200);
    CHECK(o.response->header("X-Backend") == std::optional<std::string>("e"));
  }
  CHECK(b.request_count() == oks.size());
}

TEST_CASE("every 400_*.http fixture: 400, connection closed, nothing reaches the backend") {
  Backend b("e");
  TurnoutProcess t;
  t.start(config_for(b));
  TURNOUT_INFO_STDERR(t);

  auto bad = fixtures("400_");
  REQUIRE(bad.size() >= 20);
  for (const auto& c : bad) expect_400_and_close(t.port(), c);

  // Backend threads record a request once its head is read: give a late one time to show up.
  std::this_thread::sleep_for(Ms(300));
  auto got = b.requests();
  INFO("the backend received:\n" << describe(got));
  CHECK(got.empty());
  // turnout is healthy afterwards.
  auto r = http_get(t.port(), "example.com", "/after");
  REQUIRE(r);
  CHECK(r->status == 200);
}

TEST_CASE("more smuggling and malformed-head cases: 400, connection closed, nothing reaches the backend") {
  Backend b("e");
  TurnoutProcess t;
  t.start(config_for(b));
  TURNOUT_INFO_STDERR(t);

  for (const auto& c : extra_cases()) expect_400_and_close(t.port(), c);

  std::this_thread::sleep_for(Ms(300));
  auto got = b.requests();
  INFO("the backend received:\n" << describe(got));
  CHECK(got.empty());
}

TEST_CASE("chunk data must be followed by CRLF: 400, connection closed, no complete request upstream") {
  // "3\r\nabcXY0\r\n\r\n" is not a chunked body: after 3 bytes of data must come CRLF. A parser
  // that skips those two bytes unchecked reads it as "abc" and would forward a request other
  // parsers see differently.
  Backend b("e");
  TurnoutProcess t;
  t.start(config_for(b));
  TURNOUT_INFO_STDERR(t);

  const std::string chunked = "POST / HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n";
  expect_400_and_close(t.port(), {"two other bytes instead of CRLF", chunked + "3\r\nabcXY0\r\n\r\n"});
  expect_400_and_close(t.port(), {"chunk data longer than its size", chunked + "3\r\nabcdef\r\n0\r\n\r\n"});
  expect_400_and_close(t.port(), {"CR then other byte", chunked + "3\r\nabc\rX0\r\n\r\n"});

  std::this_thread::sleep_for(Ms(300));
  auto got = b.requests();
  INFO("the backend received:\n" << describe(got));
  for (const auto& r : got) CHECK_FALSE(r.body_complete);
}

TEST_CASE("a bad chunk after the head was forwarded upstream: 400 to the client, the backend never gets a whole request") {
  // The head is valid, so turnout starts the exchange and sends the head upstream: after a pause
  // (the bad chunk arrives in a later packet), or at once when an idle pooled upstream connection
  // is ready (then even a single packet is split this way). Nothing of the response has been
  // sent yet, so the client still gets a 400; the backend sees its request cut short.
  Backend b("e");
  TurnoutProcess t;
  t.start(config_for(b) + "workers: 1\n");
  TURNOUT_INFO_STDERR(t);

  const std::string head = "POST /split HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n";
  const std::vector<std::pair<std::string, std::string>> tails = {
      {"chunk size overflow", "10000000000000003\r\nabc\r\n0\r\n\r\n"},
      {"chunk size 0x", "0x3\r\nabc\r\n0\r\n\r\n"},
      {"chunk size with sign", "+3\r\nabc\r\n0\r\n\r\n"},
      {"chunk extension 4 KiB", "3;" + std::string(4096, 'x') + "\r\nabc\r\n0\r\n\r\n"},
      {"bare LF after chunk size", "3\nabc\r\n0\r\n\r\n"},
  };
  for (bool pooled : {false, true}) {
    for (const auto& [name, tail] : tails) {
      CAPTURE(pooled);
      CAPTURE(name);
      size_t before = b.request_count();
      if (pooled) {
        // A good request leaves an idle upstream connection in the (single) worker's pool.
        auto warm = http_get(t.port(), "example.com", "/warm");
        REQUIRE(warm);
        REQUIRE(warm->status == 200);
        ++before;
      }
      Client cl(t.port());
      if (pooled) {
        REQUIRE(cl.send(head + tail));
      } else {
        uint64_t conns = b.connection_count();
        REQUIRE(cl.send(head));
        // The upstream connection exists once the head is on its way.
        REQUIRE(wait_until([&] { return b.connection_count() > conns; }, Ms(3000)));
        std::this_thread::sleep_for(Ms(100));
        cl.send(tail);
      }
      auto r = cl.read_response(Ms(3000));
      CHECK_MESSAGE(r.has_value(), "turnout closed the connection without an answer");
      if (r) {
        CHECK(r->status == 400);
        CHECK(!r->header("X-Backend"));
      }
      CHECK(cl.wait_closed(Ms(3000)));
      // Whatever the backend saw of /split ends incomplete (turnout closed that connection).
      std::this_thread::sleep_for(Ms(200));
      auto reqs = b.requests();
      for (size_t i = before; i < reqs.size(); ++i) {
        CAPTURE(reqs[i].target);
        CHECK(reqs[i].target == "/split");
        CHECK_FALSE(reqs[i].body_complete);
        CHECK(reqs[i].body.find("abc") == std::string::npos);
      }
    }
  }
  CHECK(wait_until([&] { return b.open_connections() <= 1; }, Ms(3000)));
}

TEST_CASE("malformed upstream responses: 502, and that upstream connection is never pooled") {
  // Keyed by target: the backend answers "/bad/<kind>" with a malformed response and keeps the
  // connection open; a proxy that pooled it would send the next request down the same one.
  const std::vector<std::pair<std::string, std::string>> kinds = {
      {"cl-te", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
      {"dup-cl", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok"},
      {"diff-cl", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!"},
      {"bare-lf", "HTTP/1.1 200 OK\nContent-Length: 2\n\nok"},
      {"bare-lf-in-head", "HTTP/1.1 200 OK\r\nContent-Length: 2\nX-A: b\r\n\r\nok"},
      {"garbage-status", "HTX/9 garbage\r\nContent-Length: 2\r\n\r\nok"},
      {"obs-fold", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: a\r\n b\r\n\r\nok"},
      {"nul-in-header", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: a\0b\r\n\r\nok"s},
      {"te-gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 2\r\n\r\nok"},
  };
  Backend::Behavior beh;
  beh.mode = Backend::Mode::Custom;
  beh.handler = [kinds](const BackendRequest& r) {
    for (const auto& [k, raw] : kinds)
      if (r.target == "/bad/" + k) return Reply{raw};
    return Reply{make_response(200, "fine\n", {{"X-Backend", "b"}, {"X-Conn", std::to_string(r.conn_id)}})};
  };
  Backend b("b", beh);
  TurnoutProcess t;
  // One worker: one pool, so "not pooled" is observable as a new upstream connection.
  t.start("workers: 1\n"
          "apps:\n"
          "  b: {servers: " + yaml_list({b.addr()}) + "}\n"
          "routes:\n"
          "  up.test: [b]\n");
  TURNOUT_INFO_STDERR(t);

  Client cl(t.port());
  auto warm = cl.get("up.test", "/warm");
  REQUIRE(warm);
  REQUIRE(warm->status == 200);
  for (const auto& [kind, raw] : kinds) {
    CAPTURE(kind);
    size_t before = b.request_count();
    auto r = cl.get("up.test", "/bad/" + kind);
    REQUIRE(r);
    CHECK(r->status == 502);
    CHECK(!r->header("X-Backend"));
    if (cl.conn().eof()) cl = Client(t.port());
    auto next = cl.get("up.test", "/next");
    REQUIRE(next);
    CHECK(next->status == 200);
    auto all = b.requests();
    REQUIRE(all.size() == before + 2);  // the malformed answer was not retried either
    std::vector<BackendRequest> reqs(all.begin() + static_cast<long>(before), all.end());
    CHECK(reqs[0].target == "/bad/" + kind);
    CHECK(reqs[1].target == "/next");
    // The next request went over a connection opened after the malformed answer.
    CHECK(reqs[1].conn_id != reqs[0].conn_id);
    CHECK(reqs[1].index_on_conn == 0);
    // turnout closed the malformed one: only the new connection stays open (pooled).
    CHECK(wait_until([&] { return b.open_connections() == 1; }, Ms(3000)));
  }
}
