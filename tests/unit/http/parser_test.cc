#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "turnout/http/error_status.h"
#include "turnout/http/framing.h"
#include "turnout/http/parser.h"
#include "turnout/http/request_line.h"

using namespace turnout;
using HeadAction = HttpParser::Events::HeadAction;
using Status = HttpParser::Status;

namespace {

// What a connection would do: decide framing at head complete (requests) and record what the
// parser delivered, so a test sees exactly what the proxy would act on.
struct Recorder : HttpParser::Events {
  HttpParser::Kind kind;
  RequestHead req;
  ResponseHead res;
  Limits limits;
  HeadAction action = HeadAction::Continue;
  bool decide = true;            // run decide_*_framing like the proxy does
  uint8_t request_method = HTTP_GET;
  int framing_error = 0;         // status decided by framing.cc, if it rejected
  std::vector<std::string> heads;  // summary of each completed head
  std::vector<std::string> bodies;  // body of each completed message
  std::string body;              // body of the message in progress
  std::vector<std::string> trailers;  // trailer fields of each completed message ("N=V|...")
  const HttpParser* parser = nullptr;  // to read its trailers at message complete
  int completes = 0;

  explicit Recorder(HttpParser::Kind k) : kind(k) {}
  MessageHead* head() { return kind == HttpParser::Kind::Request ? static_cast<MessageHead*>(&req) : &res; }

  std::string summary() {
    MessageHead& h = *head();
    std::string s;
    if (kind == HttpParser::Kind::Request) {
      s = std::string(req.str(req.method_name)) + " " + std::string(req.str(req.target));
    } else {
      s = std::to_string(res.status) + " " + std::string(res.str(res.reason));
    }
    s += " HTTP/" + std::to_string(h.version_major) + "." + std::to_string(h.version_minor);
    s += h.keep_alive ? " ka" : " close";
    if (h.upgrade) s += " upgrade";
    for (const HeaderField& f : h.headers) {
      s += "|" + std::string(h.name(f)) + "=" + std::string(h.value(f));
      if (f.token != HeaderToken::Other) s += "*";
    }
    return s;
  }

  HeadAction on_head_complete() override {
    heads.push_back(summary());
    body.clear();
    if (decide) {
      auto r = kind == HttpParser::Kind::Request ? decide_request_framing(req, limits)
                                                 : decide_response_framing(res, request_method);
      if (!r) {
        framing_error = http_status(r.error().kind);
        return HeadAction::Reject;
      }
    }
    return action;
  }
  void on_body(const char* at, size_t len) override { body.append(at, len); }
  void on_message_complete() override {
    ++completes;
    bodies.push_back(body);
    std::string t;
    if (parser) {
      const MessageHead& tr = parser->trailers();
      for (const HeaderField& f : tr.headers) {
        if (!t.empty()) t += "|";
        t += std::string(tr.name(f)) + "=" + std::string(tr.value(f));
      }
    }
    trailers.push_back(t);
  }
};

struct Run {
  std::vector<std::string> heads;
  std::vector<std::string> bodies;
  std::vector<std::string> trailers;
  Status last = Status::NeedMore;
  int error = 0;  // status the client would get (framing's or the parser's)
  std::string reason;
  size_t upgrade_at = 0;  // stream offset of the first tunnel byte
};

// Feeds `raw` in pieces of `step` bytes (0 = all at once), resuming after every message.
Run run(HttpParser::Kind kind, std::string_view raw, size_t step = 0, Limits limits = {},
        HeadAction action = HeadAction::Continue, uint8_t request_method = HTTP_GET) {
  Recorder rec(kind);
  rec.limits = limits;
  rec.action = action;
  rec.request_method = request_method;
  HttpParser parser(kind, rec.head(), &rec, rec.limits);
  parser.set_request_method(request_method);
  rec.parser = &parser;
  Run out;
  size_t pos = 0;
  while (pos < raw.size()) {
    size_t n = step == 0 ? raw.size() - pos : std::min(step, raw.size() - pos);
    size_t fed = 0;
    while (fed < n) {
      HttpParser::Outcome o = parser.feed(raw.data() + pos + fed, n - fed);
      out.last = o.status;
      if (o.status == Status::NeedMore) {
        fed = n;
      } else if (o.status == Status::MessageComplete) {
        fed += o.consumed;
        parser.resume();
      } else if (o.status == Status::Upgrade) {
        out.upgrade_at = pos + fed + o.consumed;
        pos = raw.size();
        break;
      } else {
        out.error = rec.framing_error ? rec.framing_error : parser.error_status();
        out.reason = parser.error_reason();
        pos = raw.size();
        break;
      }
    }
    if (out.last == Status::Upgrade || out.last == Status::Error) break;
    pos += n;
  }
  out.heads = rec.heads;
  out.bodies = rec.bodies;
  out.trailers = rec.trailers;
  return out;
}

Run request(std::string_view raw, size_t step = 0, Limits limits = {}) {
  return run(HttpParser::Kind::Request, raw, step, limits);
}

const std::string kGet =
    "GET /index.html?q=1 HTTP/1.1\r\n"
    "Host: www.example.com\r\n"
    "User-Agent:   curl/8.0  \r\n"
    "Accept: */*\r\n"
    "X-Empty:\r\n"
    "Connection: keep-alive\r\n"
    "\r\n";

const std::string kChunkedPost =
    "POST /upload HTTP/1.1\r\n"
    "Host: a.example\r\n"
    "Transfer-Encoding: chunked\r\n"
    "\r\n"
    "5;name=value\r\nhello\r\n"
    "7\r\n, world\r\n"
    "0\r\n"
    "X-Trailer: t\r\n"
    "\r\n";

}  // namespace

TEST_CASE("a request head is parsed into owned storage with trimmed values and tokens") {
  Run r = request(kGet);
  REQUIRE(r.error == 0);
  REQUIRE(r.heads.size() == 1);
  CHECK(r.heads[0] ==
        "GET /index.html?q=1 HTTP/1.1 ka|Host=www.example.com*|User-Agent=curl/8.0|Accept=*/*|X-Empty=|"
        "Connection=keep-alive*");
  CHECK(r.bodies == std::vector<std::string>{""});
  CHECK(r.last == Status::MessageComplete);
}

TEST_CASE("feeding byte by byte or split at any point gives the same head and body") {
  for (const std::string& raw : {kGet, kChunkedPost}) {
    Run whole = request(raw);
    REQUIRE(whole.error == 0);
    Run bytes = request(raw, 1);
    CHECK(bytes.heads == whole.heads);
    CHECK(bytes.bodies == whole.bodies);
    for (size_t step = 2; step < raw.size(); ++step) {
      CAPTURE(step);
      Run r = request(raw, step);
      CHECK(r.error == 0);
      CHECK(r.heads == whole.heads);
      CHECK(r.bodies == whole.bodies);
    }
  }
}

TEST_CASE("pipelined requests pause after each message with the exact byte count") {
  std::string first = "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc";
  std::string second = "GET /b HTTP/1.1\r\nHost: a\r\n\r\n";
  std::string third = "GET /c HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
  std::string all = first + second + third;

  Recorder rec(HttpParser::Kind::Request);
  HttpParser parser(HttpParser::Kind::Request, &rec.req, &rec, rec.limits);
  HttpParser::Outcome o = parser.feed(all.data(), all.size());
  REQUIRE(o.status == Status::MessageComplete);
  CHECK(o.consumed == first.size());
  CHECK(rec.completes == 1);
  CHECK(rec.bodies[0] == "abc");
  CHECK_FALSE(parser.in_message());

  // Still paused: nothing more is parsed until the owner resumes.
  o = parser.feed(all.data() + first.size(), all.size() - first.size());
  CHECK(o.status == Status::MessageComplete);
  CHECK(o.consumed == 0);
  CHECK(rec.heads.size() == 1);

  parser.resume();
  size_t pos = first.size();
  o = parser.feed(all.data() + pos, all.size() - pos);
  REQUIRE(o.status == Status::MessageComplete);
  CHECK(o.consumed == second.size());
  CHECK(rec.req.str(rec.req.target) == "/b");
  CHECK(rec.req.keep_alive);

  parser.resume();
  pos += o.consumed;
  o = parser.feed(all.data() + pos, all.size() - pos);
  REQUIRE(o.status == Status::MessageComplete);
  CHECK(o.consumed == third.size());
  CHECK(rec.req.str(rec.req.target) == "/c");
  CHECK_FALSE(rec.req.keep_alive);
  CHECK(rec.req.framing.kind == BodyKind::None);
  CHECK(rec.completes == 3);
}

TEST_CASE("a chunked body is decoded; extensions and trailers are not part of it") {
  Run r = request(kChunkedPost);
  REQUIRE(r.error == 0);
  REQUIRE(r.bodies.size() == 1);
  CHECK(r.bodies[0] == "hello, world");
  // Trailer fields are kept apart, never added to the head.
  CHECK(r.heads[0] == "POST /upload HTTP/1.1 ka|Host=a.example*|Transfer-Encoding=chunked*");
  REQUIRE(r.trailers.size() == 1);
  CHECK(r.trailers[0] == "X-Trailer=t");
}

TEST_CASE("trailer fields are kept as received, fed whole or byte by byte, both directions") {
  for (size_t step : {size_t{0}, size_t{1}, size_t{3}}) {
    CAPTURE(step);
    std::string raw = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "3\r\nabc\r\n0\r\nX-Checksum:   sha=1  \r\nGrpc-Status:0\r\nX-Empty:\r\n\r\n";
    Run r = request(raw, step);
    REQUIRE(r.error == 0);
    REQUIRE(r.trailers.size() == 1);
    CHECK(r.trailers[0] == "X-Checksum=sha=1|Grpc-Status=0|X-Empty=");
    CHECK(r.bodies[0] == "abc");
    CHECK(r.heads[0] == "POST / HTTP/1.1 ka|Host=a*|Transfer-Encoding=chunked*");

    Run res = run(HttpParser::Kind::Response,
                  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n"
                  "grpc-status: 0\r\ngrpc-message: fine\r\n\r\n",
                  step);
    REQUIRE(res.error == 0);
    REQUIRE(res.trailers.size() == 1);
    CHECK(res.trailers[0] == "grpc-status=0|grpc-message=fine");
  }
}

TEST_CASE("trailers belong to their own message: none on the next, none without chunked") {
  std::string raw =
      "POST /1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-One: 1\r\n\r\n"
      "POST /2 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
      "POST /3 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi";
  Run r = request(raw);
  REQUIRE(r.error == 0);
  REQUIRE(r.trailers.size() == 3);
  CHECK(r.trailers[0] == "X-One=1");
  CHECK(r.trailers[1] == "");
  CHECK(r.trailers[2] == "");
}

TEST_CASE("a trailer section changes no framing and cannot start a request") {
  // Framing fields in a trailer are kept (the writer drops them) and do nothing: the message
  // ends at the empty line, and what follows is the next request, parsed only after resume.
  std::string raw =
      "POST /1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
      "Content-Length: 40\r\nHost: evil\r\n\r\n"
      "GET /2 HTTP/1.1\r\nHost: a\r\n\r\n";
  for (size_t step : {size_t{0}, size_t{1}}) {
    Run r = request(raw, step);
    REQUIRE(r.error == 0);
    REQUIRE(r.heads.size() == 2);
    CHECK(r.heads[1] == "GET /2 HTTP/1.1 ka|Host=a*");
    CHECK(r.trailers[0] == "Content-Length=40|Host=evil");
    CHECK(r.bodies[0] == "");
  }
  // A field name that is no token, or whitespace before the colon, is refused like a head's.
  const std::string chunked = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
  // llhttp refuses a Transfer-Encoding field in a trailer section outright.
  CHECK(request(chunked + "0\r\nTransfer-Encoding: chunked\r\n\r\n").error == 400);
  CHECK(request(chunked + "0\r\nBad Name: x\r\n\r\n").error == 400);
  CHECK(request(chunked + "0\r\nX : y\r\n\r\n").error == 400);
  CHECK(request(chunked + "0\r\n: y\r\n\r\n").error == 400);
  CHECK(request(chunked + "0\r\nX: a\x01b\r\n\r\n").error == 400);
  CHECK(request(chunked + "0\r\nGET / HTTP/1.1\r\n\r\n").error == 400);
  CHECK(run(HttpParser::Kind::Response,
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nBad Name: x\r\n\r\n")
            .error == 502);
}

TEST_CASE("a trailer section counts against the head's limits, together with its head") {
  Limits limits;
  limits.max_header_bytes = 100;
  limits.max_headers = 3;
  const std::string head = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";  // 56 bytes
  REQUIRE(head.size() == 56);
  // 56 + 44 = 100: exactly the limit.
  std::string fits = head + "0\r\nX: " + std::string(44 - 7, 't') + "\r\n\r\n";
  Run ok = request(fits, 0, limits);
  CHECK(ok.error == 0);
  CHECK(ok.trailers.size() == 1);
  std::string over = head + "0\r\nX: " + std::string(44 - 6, 't') + "\r\n\r\n";
  for (size_t step : {size_t{0}, size_t{1}}) {
    Run r = request(over, step, limits);
    CHECK(r.error == 431);
    CHECK(r.reason == "trailer section too large");
  }
  // Fields: two in the head, so one trailer field fits and a second is one too many.
  CHECK(request(head + "0\r\nA: 1\r\n\r\n", 0, limits).error == 0);
  Run many = request(head + "0\r\nA: 1\r\nB: 2\r\n\r\n", 0, limits);
  CHECK(many.error == 431);
  CHECK(many.reason == "too many trailer fields");
}

TEST_CASE("a Content-Length body is delivered across feeds, and the head arrives before it") {
  std::string raw = "PUT /x HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n";
  Recorder rec(HttpParser::Kind::Request);
  HttpParser parser(HttpParser::Kind::Request, &rec.req, &rec, rec.limits);
  HttpParser::Outcome o = parser.feed(raw.data(), raw.size());
  CHECK(o.status == Status::NeedMore);
  CHECK(o.consumed == raw.size());
  REQUIRE(rec.heads.size() == 1);  // the owner can answer 100 Continue now
  CHECK(rec.req.expect_continue);
  CHECK(parser.in_message());
  o = parser.feed("01234", 5);
  CHECK(o.status == Status::NeedMore);
  o = parser.feed("56789GET", 8);
  REQUIRE(o.status == Status::MessageComplete);
  CHECK(o.consumed == 5);
  CHECK(rec.bodies[0] == "0123456789");
}

TEST_CASE("head size and header count limits answer 431") {
  Limits limits;
  limits.max_header_bytes = 64;
  limits.max_headers = 3;
  std::string exact = "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: " + std::string(64 - 16 - 9 - 9 - 2, 'p') + "\r\n\r\n";
  REQUIRE(exact.size() == 64);
  CHECK(request(exact, 0, limits).error == 0);
  std::string over = "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: " + std::string(64 - 16 - 9 - 9 - 1, 'p') + "\r\n\r\n";
  CHECK(request(over, 0, limits).error == 431);
  CHECK(request(over, 1, limits).error == 431);
  // A request line longer than the whole limit is 414 (URI Too Long); one within it counts
  // towards the head.
  CHECK(request("GET /" + std::string(80, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n", 0, limits).error == 414);
  CHECK(request("GET /" + std::string(40, 'a') + " HTTP/1.1\r\nHost: a\r\nX: 12345\r\n\r\n", 0, limits).error == 431);
  // Empty lines before the request line count too.
  std::string empty_lines;
  for (int i = 0; i < 40; ++i) empty_lines += "\r\n";
  CHECK(request(empty_lines + "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0, limits).error == 431);
  CHECK(request("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 1, limits).error == 0);
  // Endless whitespace never reaches a callback but is still counted.
  CHECK(request("GET / HTTP/1.1\r\nHost: a\r\nX:" + std::string(100, ' '), 7, limits).error == 431);
  CHECK(request("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nHost: a\r\n\r\n", 0, limits).error == 0);
  CHECK(request("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nHost: a\r\n\r\n", 0, limits).error == 431);
  // Trailers are bounded by the same byte limit.
  std::string trailers = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: " +
                         std::string(70, 't') + "\r\n\r\n";
  CHECK(request(trailers, 0, limits).error == 431);
}

TEST_CASE("smuggling and malformed requests are rejected with 400") {
  const std::string post = "POST / HTTP/1.1\r\nHost: a\r\n";
  const std::string chunked = post + "Transfer-Encoding: chunked\r\n\r\n";
  struct Case {
    std::string_view what;
    std::string raw;
  };
  const Case cases[] = {
      {"CL + TE", post + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
      {"TE + CL", post + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"},
      {"duplicate equal CL", post + "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello"},
      {"duplicate differing CL", post + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"},
      {"CL list", post + "Content-Length: 5, 5\r\n\r\nhello"},
      {"CL plus sign", post + "Content-Length: +5\r\n\r\nhello"},
      {"CL minus sign", post + "Content-Length: -5\r\n\r\nhello"},
      {"CL inner space", post + "Content-Length: 5 5\r\n\r\nhello"},
      {"CL non-digit", post + "Content-Length: 5x\r\n\r\nhello"},
      {"CL hex", post + "Content-Length: 0x5\r\n\r\nhello"},
      {"CL empty", post + "Content-Length: \r\n\r\n"},
      {"CL overflow", post + "Content-Length: 99999999999999999999999\r\n\r\n"},
      {"TE chunked, gzip", post + "Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n"},
      {"TE gzip", post + "Transfer-Encoding: gzip\r\n\r\n"},
      {"TE gzip, chunked", post + "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"},
      {"TE chunked<TAB>", post + "Transfer-Encoding: chunked\t\r\n\r\n0\r\n\r\n"},
      {"TE chunked<VT>", post + "Transfer-Encoding: chunked\x0b\r\n\r\n0\r\n\r\n"},
      {"TE xchunked", post + "Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n"},
      {"TE twice", post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
      {"TE on HTTP/1.0", "POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
      {"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n c\r\n\r\n"},
      {"obs-fold with tab", "GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n\tc\r\n\r\n"},
      {"whitespace before first header", "GET / HTTP/1.1\r\n Host: a\r\n\r\n"},
      {"bare CR in header", "GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n"},
      {"bare CR in request line", "GET /\r HTTP/1.1\r\nHost: a\r\n\r\n"},
      {"bare LF everywhere", "GET / HTTP/1.1\nHost: a\n\n"},
      {"bare LF after request line", "GET / HTTP/1.1\nHost: a\r\n\r\n"},
      {"bare LF between headers", "GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n"},
      {"bare LF ending the head", "GET / HTTP/1.1\r\nHost: a\r\n\n"},
      {"NUL in value", std::string("GET / HTTP/1.1\r\nHost: a\r\nX: b\0c\r\n\r\n", 36)},
      {"NUL in name", std::string("GET / HTTP/1.1\r\nHost: a\r\nX\0Y: b\r\n\r\n", 36)},
      {"SOH in value", "GET / HTTP/1.1\r\nHost: a\r\nX: b\x01" "c\r\n\r\n"},
      {"ESC in value", "GET / HTTP/1.1\r\nHost: a\r\nX: b\x1b" "c\r\n\r\n"},
      {"DEL in value", "GET / HTTP/1.1\r\nHost: a\r\nX: b\x7f" "c\r\n\r\n"},
      {"control byte in target", "GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n"},
      {"whitespace before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n"},
      {"tab before colon", "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n"},
      {"empty header name", "GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n"},
      {"non-token header name", "GET / HTTP/1.1\r\nHost: a\r\nX(y): b\r\n\r\n"},
      {"chunk size overflow", chunked + "fffffffffffffffff\r\n"},
      {"chunk size sign", chunked + "-5\r\nhello\r\n0\r\n\r\n"},
      {"chunk size plus", chunked + "+5\r\nhello\r\n0\r\n\r\n"},
      {"chunk size 0x", chunked + "0x5\r\nhello\r\n0\r\n\r\n"},
      {"chunk size space", chunked + "5 \r\nhello\r\n0\r\n\r\n"},
      {"chunk size empty", chunked + "\r\nhello\r\n0\r\n\r\n"},
      {"chunk size bare LF", chunked + "5\nhello\r\n0\r\n\r\n"},
      {"chunk data longer than size", chunked + "5\r\nhelloXX\r\n0\r\n\r\n"},
      {"chunk data bare LF", chunked + "5\r\nhello\n0\r\n\r\n"},
      {"last chunk bare LF", chunked + "0\n\r\n"},
      {"bare LF ending chunked body", chunked + "5\r\nhello\r\n0\r\n\n"},
      {"bare LF in trailer", chunked + "0\r\nX: y\n\r\n"},
      {"bare LF after trailer", chunked + "0\r\nX: y\r\n\n"},
      {"obs-fold in trailer", chunked + "0\r\nX: y\r\n z\r\n\r\n"},
      {"over-long chunk extension", chunked + "5;" + std::string(300, 'e') + "\r\nhello\r\n0\r\n\r\n"},
      {"many chunk extensions", chunked + "5" + [] {
         std::string s;
         for (int i = 0; i < 100; ++i) s += ";ab=cd";
         return s;
       }() + "\r\nhello\r\n0\r\n\r\n"},
      {"multiple Host", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"},
      {"multiple equal Host", "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n"},
      {"missing Host on 1.1", "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n"},
      {"invalid Host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n"},
      {"absolute-form disagreeing with Host", "GET http://victim.example/ HTTP/1.1\r\nHost: a\r\n\r\n"},
      {"space in target", "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n"},
      {"HTTP/0.9", "GET /\r\n\r\n"},
      {"RTSP/1.0", "OPTIONS / RTSP/1.0\r\nHost: a\r\n\r\n"},
      {"ICE/1.0", "SOURCE / ICE/1.0\r\nHost: a\r\n\r\n"},
      {"two spaces after the method", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n"},
      {"lower-case HEAD", "head / HTTP/1.1\r\nHost: a\r\n\r\n"},
      {"PRI on HTTP/1.1", "PRI / HTTP/1.1\r\nHost: a\r\n\r\n"},
      {"chunk extension with a bare CR", chunked + "5;a=b\rc\r\nhello\r\n0\r\n\r\n"},
      {"chunk extension with a NUL", chunked + std::string("5;a=b\0\r\nhello\r\n0\r\n\r\n", 20)},
      {"chunk extension unterminated quote", chunked + "5;a=\"b\r\nhello\r\n0\r\n\r\n"},
      {"chunk extension with a control byte", chunked + "5;a=b\x01\r\nhello\r\n0\r\n\r\n"},
      {"chunk extension followed by whitespace", chunked + "5;a=b \r\nhello\r\n0\r\n\r\n"},
      {"last chunk with an invalid extension", chunked + "5\r\nhello\r\n0;a==b\r\n\r\n"},
      {"bad method", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n"},
      {"relative target", "GET index.html HTTP/1.1\r\nHost: a\r\n\r\n"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    Run whole = request(c.raw);
    CHECK(whole.last == Status::Error);
    CHECK(whole.error == 400);
    CHECK_FALSE(whole.reason.empty());
    CHECK(whole.bodies.empty());  // never a complete message that could be forwarded
    Run bytes = request(c.raw, 1);
    CHECK(bytes.error == 400);
  }
}

TEST_CASE("a leading empty line is tolerated, HTTP/2 heads get 505") {
  Run r = request("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
  CHECK(r.error == 0);
  CHECK(r.heads.size() == 1);
  CHECK(request("GET / HTTP/2.0\r\nHost: a\r\n\r\n").error == 505);
  CHECK(request("GET / HTTP/3.0\r\nHost: a\r\n\r\n").error == 505);
  CHECK(request("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").error == 505);
  CHECK(request("\r\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n").error == 400);
  CHECK(request("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n").error == 400);
}

TEST_CASE("HTTP/1.2 to 1.9 are handled as HTTP/1.1 (RFC 9110 2.5)") {
  for (char minor = '2'; minor <= '9'; ++minor) {
    std::string raw = std::string("POST /v HTTP/1.") + minor + "\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi";
    for (size_t step : {size_t(0), size_t(1)}) {
      Run r = request(raw, step);
      REQUIRE(r.error == 0);
      REQUIRE(r.heads.size() == 1);
      CHECK(r.heads[0] == "POST /v HTTP/1.1 ka|Host=a*|Content-Length=2*");
      CHECK(r.bodies[0] == "hi");
    }
  }
}

TEST_CASE("extension methods are parsed with the framing of any request") {
  const std::string raw =
      "QUERY /search HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nq=abc"
      "BREW /pot HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\ntea\r\n0\r\n\r\n"
      "MKCOLA /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
      "PLAY /m HTTP/1.1\r\nHost: a\r\n\r\n";
  for (size_t step : {size_t(0), size_t(1), size_t(3)}) {
    CAPTURE(step);
    Recorder rec(HttpParser::Kind::Request);
    HttpParser parser(HttpParser::Kind::Request, &rec.req, &rec, rec.limits);
    std::vector<uint8_t> methods;
    size_t pos = 0;
    while (pos < raw.size()) {
      size_t n = step == 0 ? raw.size() - pos : std::min(step, raw.size() - pos);
      HttpParser::Outcome o = parser.feed(raw.data() + pos, n);
      INFO(parser.error_reason());
      REQUIRE(o.status != Status::Error);
      pos += o.status == Status::NeedMore ? n : o.consumed;
      if (o.status == Status::MessageComplete) {
        methods.push_back(rec.req.method);
        parser.resume();
      }
    }
    REQUIRE(rec.heads.size() == 4);
    CHECK(rec.heads[0] == "QUERY /search HTTP/1.1 ka|Host=a*|Content-Type=text/plain|Content-Length=5*");
    CHECK(rec.heads[1] == "BREW /pot HTTP/1.1 ka|Host=a*|Transfer-Encoding=chunked*");
    CHECK(rec.heads[2] == "MKCOLA /x HTTP/1.0 ka|Connection=keep-alive*");
    CHECK(rec.heads[3] == "PLAY /m HTTP/1.1 ka|Host=a*");
    CHECK(rec.bodies == std::vector<std::string>{"q=abc", "tea", "", ""});
    CHECK(methods == std::vector<uint8_t>{kMethodExtension, kMethodExtension, kMethodExtension, kMethodExtension});
  }
  // The stand-in llhttp parses never leaks: a known method keeps its own id.
  Run get = request("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  CHECK(get.heads[0] == "GET / HTTP/1.1 ka|Host=a*");
}

TEST_CASE("an over-long request line is 414, an over-long method 501, a long head 431") {
  Limits limits;
  limits.max_header_bytes = 256;
  std::string target = "/" + std::string(300, 'u');
  for (size_t step : {size_t(0), size_t(1), size_t(17)}) {
    CAPTURE(step);
    CHECK(request("GET " + target + " HTTP/1.1\r\nHost: a\r\n\r\n", step, limits).error == 414);
    // Refused before its end arrives: the line is never complete.
    CHECK(request("GET " + target, step, limits).error == 414);
    CHECK(request(std::string(40, 'M') + " / HTTP/1.1\r\nHost: a\r\n\r\n", step, limits).error == 501);
    CHECK(request("\x16\x03\x01\x02\x05", step, limits).error == 400);  // TLS to a plain port
    CHECK(request("GET /" + std::string(200, 'u') + " HTTP/1.1\r\nHost: a\r\nX: " + std::string(60, 'x') +
                  "\r\n\r\n", step, limits).error == 431);
    CHECK(request("GET /" + std::string(200, 'u') + " HTTP/1.1\r\nHost: a\r\n\r\n", step, limits).error == 0);
  }
}

TEST_CASE("valid chunk extensions (RFC 9112 7.1.1) are accepted and not part of the body") {
  const std::string head = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (std::string_view line : {"2;a=b;c=d", "2 ;a=b", "2; a=b", "2;a = b", "2;a=\"b\\\"c\"", "2\t;a=b", "2;a",
                                "2;a=\"semi;colon\"", "2 ; a ; b = \"c\""}) {
    CAPTURE(line);
    std::string raw = head + std::string(line) + "\r\nxy\r\n3;last=\"1\"\r\nzzz\r\n0;end=yes\r\nT: 1\r\n\r\n";
    for (size_t step : {size_t(0), size_t(1), size_t(5)}) {
      Run r = request(raw, step);
      CHECK(r.error == 0);
      REQUIRE(r.bodies.size() == 1);
      CHECK(r.bodies[0] == "xyzzz");
      CHECK(r.last == Status::MessageComplete);
    }
  }
}

TEST_CASE("chunk data is handed out from the caller's buffer (no copy)") {
  const std::string raw =
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5 ; x=\"y\"\r\nhello\r\n0\r\n\r\n";
  struct Spans : Recorder {
    using Recorder::Recorder;
    std::vector<const char*> at;
    void on_body(const char* p, size_t len) override {
      at.push_back(p);
      Recorder::on_body(p, len);
    }
  } rec(HttpParser::Kind::Request);
  HttpParser parser(HttpParser::Kind::Request, &rec.req, &rec, rec.limits);
  HttpParser::Outcome o = parser.feed(raw.data(), raw.size());
  REQUIRE(o.status == Status::MessageComplete);
  REQUIRE(rec.at.size() == 1);
  CHECK(rec.at[0] == raw.data() + raw.find("hello"));
  CHECK(rec.body == "hello");
}

TEST_CASE("chunk sizes and extensions within bounds are accepted") {
  std::string raw = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "A;ext=" + std::string(200, 'v') + "\r\n0123456789\r\n"
                    "00000\r\n\r\n";
  Run r = request(raw);
  REQUIRE(r.error == 0);
  CHECK(r.bodies[0] == "0123456789");
}

TEST_CASE("HTTP/1.0 keep-alive follows the Connection header") {
  Run close = request("GET / HTTP/1.0\r\n\r\n");
  REQUIRE(close.heads.size() == 1);
  CHECK(close.heads[0] == "GET / HTTP/1.0 close");
  Run ka = request("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
  CHECK(ka.heads[0] == "GET / HTTP/1.0 ka|Connection=Keep-Alive*");
}

TEST_CASE("an upgrade request stops after its head; the rest is tunnel data") {
  std::string head = "GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
  std::string raw = head + "\x81\x05hello";
  Recorder rec(HttpParser::Kind::Request);
  rec.action = HeadAction::Upgrade;
  HttpParser parser(HttpParser::Kind::Request, &rec.req, &rec, rec.limits);
  HttpParser::Outcome o = parser.feed(raw.data(), raw.size());
  REQUIRE(o.status == Status::Upgrade);
  CHECK(o.consumed == head.size());
  CHECK(rec.req.upgrade);
  CHECK(rec.completes == 0);
  CHECK(rec.body.empty());
  CHECK(parser.feed("x", 1).status == Status::Upgrade);  // stays a tunnel

  // Split feeding finds the same boundary.
  Run bytes = run(HttpParser::Kind::Request, raw, 1, {}, HeadAction::Upgrade);
  CHECK(bytes.last == Status::Upgrade);
  CHECK(bytes.upgrade_at == head.size());
}

TEST_CASE("an upgrade the owner declines is parsed as an ordinary request") {
  std::string raw = "GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
                    "GET /next HTTP/1.1\r\nHost: a\r\n\r\n";
  Run r = request(raw);
  CHECK(r.error == 0);
  REQUIRE(r.heads.size() == 2);
  CHECK(r.heads[1] == "GET /next HTTP/1.1 ka|Host=a*");
  CHECK(r.last == Status::MessageComplete);
}

TEST_CASE("Reject from the owner stops the parser for good") {
  Recorder rec(HttpParser::Kind::Request);
  rec.action = HeadAction::Reject;
  HttpParser parser(HttpParser::Kind::Request, &rec.req, &rec, rec.limits);
  std::string raw = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
  CHECK(parser.feed(raw.data(), raw.size()).status == Status::Error);
  CHECK(parser.error_status() == 400);
  CHECK(parser.feed(raw.data(), raw.size()).status == Status::Error);
  CHECK_FALSE(parser.finish());
}

TEST_CASE("finish() reports a truncated request") {
  Recorder rec(HttpParser::Kind::Request);
  HttpParser parser(HttpParser::Kind::Request, &rec.req, &rec, rec.limits);
  CHECK(parser.finish());  // nothing started
  std::string part = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc";
  CHECK(parser.feed(part.data(), part.size()).status == Status::NeedMore);
  CHECK_FALSE(parser.finish());
}

TEST_CASE("responses: status, reason, bodies by framing") {
  Run r = run(HttpParser::Kind::Response, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nServer: x\r\n\r\nhi");
  REQUIRE(r.error == 0);
  CHECK(r.heads[0] == "200 OK HTTP/1.1 ka|Content-Length=2*|Server=x");
  CHECK(r.bodies[0] == "hi");

  Run chunked = run(HttpParser::Kind::Response,
                    "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 1);
  REQUIRE(chunked.error == 0);
  CHECK(chunked.bodies[0] == "abc");

  Run no_reason = run(HttpParser::Kind::Response, "HTTP/1.1 204\r\n\r\n");
  REQUIRE(no_reason.error == 0);
  CHECK(no_reason.heads[0] == "204  HTTP/1.1 ka");
}

TEST_CASE("responses: garbage or ambiguous heads are upstream errors (502)") {
  for (std::string_view raw : {std::string_view("HTPT/1.1 200 OK\r\n\r\n"), std::string_view("HTTP/1.1 2000 OK\r\n\r\n"),
                               std::string_view("HTTP/1.1 OK\r\n\r\n"), std::string_view("<html>\r\n"),
                               std::string_view("HTTP/1.1 200 OK\nContent-Length: 0\n\n"),
                               std::string_view("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\n"),
                               std::string_view("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n"),
                               std::string_view("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
                               std::string_view("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"),
                               std::string_view("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nabc"),
                               std::string_view("HTTP/2.0 200 OK\r\n\r\n")}) {
    CAPTURE(raw);
    Run r = run(HttpParser::Kind::Response, raw);
    CHECK(r.last == Status::Error);
    CHECK(r.error == 502);
  }
}

TEST_CASE("responses: 100 Continue then the final response on one parser") {
  std::string cont = "HTTP/1.1 100 Continue\r\n\r\n";
  std::string final_res = "HTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\ndone";
  std::string raw = cont + final_res;
  Recorder rec(HttpParser::Kind::Response);
  HttpParser parser(HttpParser::Kind::Response, &rec.res, &rec, rec.limits);
  parser.set_request_method(HTTP_POST);
  HttpParser::Outcome o = parser.feed(raw.data(), raw.size());
  REQUIRE(o.status == Status::MessageComplete);
  CHECK(o.consumed == cont.size());
  CHECK(rec.res.status == 100);
  CHECK(rec.bodies[0] == "");
  parser.resume();
  o = parser.feed(raw.data() + cont.size(), raw.size() - cont.size());
  REQUIRE(o.status == Status::MessageComplete);
  CHECK(o.consumed == final_res.size());
  CHECK(rec.res.status == 201);
  CHECK(rec.bodies[1] == "done");

  // The same with every byte fed separately.
  Run bytes = run(HttpParser::Kind::Response, raw, 1, {}, HeadAction::Continue, HTTP_POST);
  CHECK(bytes.error == 0);
  CHECK(bytes.heads.size() == 2);
  CHECK(bytes.bodies == std::vector<std::string>{"", "done"});
}

TEST_CASE("responses without a body: HEAD, 204, 304 even with Content-Length") {
  std::string head_res = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n";
  std::string next = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx";
  std::string raw = head_res + next;
  Recorder rec(HttpParser::Kind::Response);
  rec.request_method = HTTP_HEAD;
  HttpParser parser(HttpParser::Kind::Response, &rec.res, &rec, rec.limits);
  parser.set_request_method(HTTP_HEAD);
  HttpParser::Outcome o = parser.feed(raw.data(), raw.size());
  REQUIRE(o.status == Status::MessageComplete);
  CHECK(o.consumed == head_res.size());  // the 1000 announced bytes are not waited for
  CHECK(rec.bodies[0] == "");
  CHECK(rec.res.keep_alive);
  CHECK(rec.res.framing.kind == BodyKind::None);
  CHECK(rec.heads[0] == "200 OK HTTP/1.1 ka|Content-Length=1000*");
  parser.resume();
  parser.set_request_method(HTTP_GET);  // the next pipelined request was a GET
  rec.request_method = HTTP_GET;
  o = parser.feed(raw.data() + head_res.size(), next.size());
  REQUIRE(o.status == Status::MessageComplete);
  CHECK(rec.bodies[1] == "x");

  for (std::string_view status : {"204 No Content", "304 Not Modified"}) {
    CAPTURE(status);
    std::string raw = "HTTP/1.1 " + std::string(status) + "\r\nContent-Length: 5\r\n\r\n" + next;
    Run s = run(HttpParser::Kind::Response, raw);
    REQUIRE(s.error == 0);
    CHECK(s.bodies == std::vector<std::string>{"", "x"});
  }
}

TEST_CASE("responses: a body until close completes on finish()") {
  Recorder rec(HttpParser::Kind::Response);
  HttpParser parser(HttpParser::Kind::Response, &rec.res, &rec, rec.limits);
  std::string raw = "HTTP/1.1 200 OK\r\n\r\nsome bytes";
  CHECK(parser.feed(raw.data(), raw.size()).status == Status::NeedMore);
  CHECK_FALSE(rec.res.keep_alive);
  CHECK(rec.completes == 0);
  CHECK(parser.finish());
  CHECK(rec.completes == 1);
  CHECK(rec.bodies[0] == "some bytes");

  Recorder rec2(HttpParser::Kind::Response);
  HttpParser truncated(HttpParser::Kind::Response, &rec2.res, &rec2, rec2.limits);
  std::string part = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort";
  CHECK(truncated.feed(part.data(), part.size()).status == Status::NeedMore);
  CHECK_FALSE(truncated.finish());
  CHECK(truncated.error_status() == 502);
}

TEST_CASE("responses: 101 Switching Protocols becomes a tunnel when the owner upgrades") {
  std::string head = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
  std::string raw = head + "frames";
  Run r = run(HttpParser::Kind::Response, raw, 0, {}, HeadAction::Upgrade);
  CHECK(r.last == Status::Upgrade);
  CHECK(r.upgrade_at == head.size());
  REQUIRE(r.heads.size() == 1);
  CHECK(r.heads[0] == "101 Switching Protocols HTTP/1.1 ka upgrade|Upgrade=websocket*|Connection=Upgrade*");
}

TEST_CASE("a control byte is found at any offset of a long line; obs-text and HTAB pass") {
  const std::string prefix = "GET / HTTP/1.1\r\nHost: a\r\nX-Long: ";
  const std::string value(40, 'v');
  for (unsigned char ctl : {0x00, 0x01, 0x0b, 0x1f, 0x7f}) {
    for (size_t at = 0; at < value.size(); ++at) {
      std::string v = value;
      v[at] = static_cast<char>(ctl);
      CAPTURE(int(ctl));
      CAPTURE(at);
      CHECK(request(prefix + v + "\r\n\r\n").error == 400);
    }
  }
  std::string text = "caf\xc3\xa9 \x80\xff\tend \xe2\x82\xac" + std::string(20, 'x');
  Run ok = request(prefix + text + "\r\n\r\n");
  REQUIRE(ok.error == 0);
  CHECK(ok.heads[0] == "GET / HTTP/1.1 ka|Host=a*|X-Long=" + text);
}

TEST_CASE("CONNECT: the request and a 2xx answer become tunnels when the owner upgrades") {
  std::string req = "CONNECT db.internal:5432 HTTP/1.1\r\nHost: db.internal:5432\r\n\r\n";
  Run r = run(HttpParser::Kind::Request, req + "\x16\x03\x01", 0, {}, HeadAction::Upgrade);
  CHECK(r.last == Status::Upgrade);
  CHECK(r.upgrade_at == req.size());
  REQUIRE(r.heads.size() == 1);
  CHECK(r.heads[0] == "CONNECT db.internal:5432 HTTP/1.1 ka upgrade|Host=db.internal:5432*");

  std::string res = "HTTP/1.1 200 Connection Established\r\n\r\n";
  Run t = run(HttpParser::Kind::Response, res + "\x16\x03\x03", 1, {}, HeadAction::Upgrade, HTTP_CONNECT);
  CHECK(t.last == Status::Upgrade);
  CHECK(t.upgrade_at == res.size());
  REQUIRE(t.heads.size() == 1);
  CHECK(t.heads[0] == "200 Connection Established HTTP/1.1 close upgrade");  // never reused for HTTP

  // Declined (e.g. no CONNECT support): an ordinary bodiless request, the next one follows.
  Run declined = request(req + "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  CHECK(declined.error == 0);
  CHECK(declined.heads.size() == 2);
}

TEST_CASE("raw fixtures: every tests/fixtures/http/<status>_*.http gets that status, ok_* is accepted") {
  namespace fs = std::filesystem;
  size_t seen = 0;
  for (const fs::directory_entry& e : fs::directory_iterator(fs::path(TURNOUT_FIXTURES) / "http")) {
    if (e.path().extension() != ".http") continue;
    std::ifstream in(e.path(), std::ios::binary);
    std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::string name = e.path().filename().string();
    CAPTURE(name);
    int expected = name.rfind("ok_", 0) == 0 ? 0 : std::atoi(name.c_str());
    REQUIRE(!raw.empty());
    CHECK(request(raw).error == expected);
    CHECK(request(raw, 1).error == expected);
    ++seen;
  }
  CHECK(seen >= 20);
}

TEST_CASE("SkipBody from the owner: no body is read and a length-less answer stays keep-alive") {
  // A response to HEAD whose request method the owner tracks itself (set_request_method not
  // called): the owner's SkipBody alone must stop llhttp from reading until close.
  struct Skipper : HttpParser::Events {
    ResponseHead head;
    int completes = 0;
    std::string body;
    HeadAction on_head_complete() override { return HeadAction::SkipBody; }
    void on_body(const char* at, size_t len) override { body.append(at, len); }
    void on_message_complete() override { ++completes; }
  } owner;
  Limits limits;
  HttpParser parser(HttpParser::Kind::Response, &owner.head, &owner, limits);
  std::string first = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n";
  std::string raw = first + "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
  HttpParser::Outcome o = parser.feed(raw.data(), raw.size());
  REQUIRE(o.status == Status::MessageComplete);
  CHECK(o.consumed == first.size());
  CHECK(owner.head.keep_alive);
  CHECK(owner.body.empty());
  parser.resume();
  o = parser.feed(raw.data() + first.size(), raw.size() - first.size());
  CHECK(o.status == Status::MessageComplete);
  CHECK(owner.head.status == 404);
}
