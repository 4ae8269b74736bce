// libFuzzer target: an upstream's byte stream through HttpParser (Kind::Response), split into
// pieces chosen by the input, answering a request whose method is a fuzzed byte; every head goes
// through decide_response_framing and build_downstream_response the way UpstreamConnection +
// Exchange do (interim 1xx skipped, 101 only to a protocol the request offered and after the
// whole request, a body of unknown length re-framed as chunked for an HTTP/1.1 client).
//
// Input: see fuzz_http.h (SplitInput). The extra byte is the request method (llhttp_method_t,
// any value). flags & 3 picks the limits; flags & 4: the client speaks HTTP/1.0; flags & 8: the
// request asked to upgrade ("h2c, websocket": websocket is offered upstream); flags & 16: the
// client does not keep alive; flags & 32: EOF at the end; flags & 64: the request body was not
// all read when the response came.
//
// Invariants checked:
//  - the Outcome contract of feed() and finish();
//  - the head sent to the client re-parses cleanly as a response to the same method, with the
//    same status, the client's HTTP version and the framing decided for the client; it holds no
//    hop-by-hop header except "Connection: close"/"keep-alive" as the connection needs, or
//    Upgrade + "Connection: upgrade" on a 101; one Via ending in ours; every end-to-end header
//    passes byte for byte and in order, minus those named in Connection;
//  - the same stream fed whole and in pieces gives the same heads, bodies and boundaries.
#include <llhttp.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "turnout/http/error_status.h"
#include "fuzz_http.h"
#include "turnout/http/framing.h"
#include "turnout/http/rewrite.h"
#include "turnout/http/upgrade.h"

using namespace turnout;
using namespace turnout::fuzz;

namespace {

const Limits kUnlimited{0, 0, 0, 0};

struct Request {
  uint8_t method = HTTP_GET;
  uint8_t minor = 1;        // client's HTTP/1.x minor version
  bool upgrade = false;     // asked for Upgrade
  bool keep_alive = true;   // client keeps alive
  bool complete = true;     // the request body was all read when the response head came
};

class Reparse : public HttpParser::Events {
 public:
  HeadAction on_head_complete() override {
    ++heads;
    return HeadAction::SkipBody;
  }
  void on_body(const char*, size_t) override {}
  void on_message_complete() override { ++messages; }
  int heads = 0;
  int messages = 0;
};

void check_downstream_response(const ResponseHead& orig, const Framing& down, bool keep_alive, const Request& req,
                               const std::string& out) {
  ResponseHead re;
  Reparse ev;
  HttpParser parser(HttpParser::Kind::Response, &re, &ev, kUnlimited);
  parser.set_request_method(req.method);
  HttpParser::Outcome o = parser.feed(out.data(), out.size());
  FUZZ_CHECK((o.status == HttpParser::Status::MessageComplete || o.status == HttpParser::Status::Upgrade) &&
                 o.consumed == out.size(),
             "downstream head does not re-parse (status %d, consumed %zu of %zu, %d %s):\n  %s",
             static_cast<int>(o.status), o.consumed, out.size(), parser.error_status(), parser.error_reason().c_str(),
             printable(out).c_str());
  FUZZ_CHECK(ev.heads == 1, "downstream head parsed as %d heads", ev.heads);
  FUZZ_CHECK(re.status == orig.status, "status %u became %u", orig.status, re.status);
  FUZZ_CHECK(re.version_major == 1 && re.version_minor == req.minor, "version 1.%u sent to a 1.%u client",
             re.version_minor, req.minor);
  Result<void> framed = decide_response_framing(re, req.method);
  FUZZ_CHECK(framed.ok(), "downstream head refused by our own framing rules: %s\n  %s", framed.error().message.c_str(),
             printable(out).c_str());
  FUZZ_CHECK(re.framing.kind == down.kind && re.framing.content_length == down.content_length,
             "client sees framing %d/%llu, decided %d/%llu:\n  %s", static_cast<int>(re.framing.kind),
             static_cast<unsigned long long>(re.framing.content_length), static_cast<int>(down.kind),
             static_cast<unsigned long long>(down.content_length), printable(out).c_str());

  bool switching = orig.status == 101 && orig.upgrade;
  std::string want_connection = switching ? "upgrade" : !keep_alive ? "close" : req.minor == 0 ? "keep-alive" : "";
  size_t connection = 0;
  for (const HeaderField& h : re.headers) {
    if (!(token_flags(h.token) & kHopByHop)) continue;
    if (h.token == HeaderToken::Connection) {
      ++connection;
      FUZZ_CHECK(iequals(re.value(h), want_connection), "Connection: '%s' sent, wanted '%s':\n  %s",
                 printable(re.value(h)).c_str(), want_connection.c_str(), printable(out).c_str());
      continue;
    }
    FUZZ_CHECK(switching && h.token == HeaderToken::Upgrade, "hop-by-hop header '%s' sent to the client:\n  %s",
               printable(re.name(h)).c_str(), printable(out).c_str());
  }
  FUZZ_CHECK(connection == (want_connection.empty() ? 0u : 1u), "%zu Connection headers sent, wanted '%s'",
             connection, want_connection.c_str());
  if (req.minor == 1 && keep_alive) FUZZ_CHECK(re.keep_alive, "client would not keep alive");
  if (!keep_alive) FUZZ_CHECK(!re.keep_alive || switching, "client would keep alive");
  FUZZ_CHECK(re.count(HeaderToken::Via) == 1, "Via not sent once");
  std::string_view via = re.value(*re.find(HeaderToken::Via));
  FUZZ_CHECK(via.size() >= 11 && via.substr(via.size() - 11) == "1.1 turnout", "Via '%s' does not end in ours",
             printable(via).c_str());

  std::vector<std::string> want = passed_headers(orig, &orig);
  std::vector<std::string> got = passed_headers(re, nullptr);
  FUZZ_CHECK(want == got, "end-to-end headers changed: %zu sent, %zu expected:\n  %s", got.size(), want.size(),
             printable(out).c_str());
}

// The response side of one upstream connection serving one client exchange after another.
class Upstream : public HttpParser::Events {
 public:
  Upstream(const Limits& limits, const Request& req)
      : limits_(limits), req_(req), parser_(HttpParser::Kind::Response, &head_, this, limits_) {
    parser_.set_request_method(req.method);
    // The request as Exchange knows it: "Upgrade: h2c, websocket" offered upstream as websocket.
    if (req.upgrade) {
      HeaderField f;
      f.name = {0, 7};
      f.value = {7, 14};
      f.token = HeaderToken::Upgrade;
      offer_.storage = "Upgradeh2c, websocket";
      offer_.headers.push_back(f);
      offer_.upgrade = true;
      decide_request_upgrade(offer_);
    }
  }

  HttpParser& parser() { return parser_; }
  std::string transcript;

  HeadAction on_head_complete() override {
    FUZZ_CHECK(head_.version_major == 1, "head of version %d.%d reached the owner", head_.version_major,
               head_.version_minor);
    if (head_.status >= 100 && head_.status < 200 && head_.status != 101) {
      transcript += "interim " + std::to_string(head_.status) + "\n";
      body_expected_ = BodyKind::None;
      return HeadAction::SkipBody;
    }
    Result<void> framed = decide_response_framing(head_, req_.method);
    if (!framed) {
      FUZZ_CHECK(framed.error().kind == ErrorKind::BadGateway, "response framing error code %d", http_status(framed.error().kind));
      transcript += "reject\n";
      return HeadAction::Reject;
    }
    // RFC 9112 4: status-code = 3DIGIT; RFC 9110 15: 100..599. Anything else is a garbage
    // status line (502), never something to forward.
    FUZZ_CHECK(head_.status >= 100 && head_.status <= 599, "response with status %u accepted", head_.status);
    bool tunnel = head_.status == 101;
    if (tunnel && !check_switching_protocols(head_, offer_, req_.complete)) {
      transcript += "reject 101\n";
      return HeadAction::Reject;
    }
    if (tunnel) {
      // Only a protocol the client offered (WebSocket) reaches it, never h2c.
      for (const HeaderField& h : head_.headers) {
        if (h.token != HeaderToken::Upgrade) continue;
        for_each_list_element(head_.value(h), [](std::string_view p) {
          FUZZ_CHECK(upgrade_protocol_allowed(p), "101 to '%s' relayed", printable(p).c_str());
        });
      }
    }
    Framing down = head_.framing;
    bool client_11 = req_.minor >= 1;
    if (down.kind == BodyKind::UntilClose || (down.kind == BodyKind::Chunked && !client_11)) {
      down.kind = client_11 ? BodyKind::Chunked : BodyKind::UntilClose;
    }
    bool keep_alive = req_.keep_alive && !tunnel && down.kind != BodyKind::UntilClose && !(req_.upgrade && !tunnel);
    std::string out;
    build_downstream_response(head_, down, req_.minor, keep_alive, out);
    check_downstream_response(head_, down, keep_alive, req_, out);
    transcript += out;
    body_expected_ = head_.framing.kind;
    body_.clear();
    if (tunnel) return HeadAction::Upgrade;
    if (down.kind == BodyKind::None) return HeadAction::SkipBody;
    return HeadAction::Continue;
  }

  void on_body(const char* at, size_t len) override {
    FUZZ_CHECK(len > 0, "empty on_body");
    FUZZ_CHECK(body_expected_ != BodyKind::None, "body bytes for a response without a body (status %u)",
               head_.status);
    body_.append(at, len);
  }

  void on_message_complete() override {
    if (body_expected_ == BodyKind::Length) {
      FUZZ_CHECK(body_.size() == head_.framing.content_length, "Content-Length %llu but %zu body bytes",
                 static_cast<unsigned long long>(head_.framing.content_length), body_.size());
    }
    transcript += "body " + std::to_string(body_.size()) + ":" + body_ + "\n";
    body_.clear();
    body_expected_ = BodyKind::None;
  }

 private:
  Limits limits_;
  Request req_;
  RequestHead offer_;  // the request's upgrade offer, for check_switching_protocols
  ResponseHead head_;
  HttpParser parser_;
  std::string body_;
  BodyKind body_expected_ = BodyKind::None;
};

std::string run(const SplitInput& in, const std::vector<size_t>& pieces) {
  Request req;
  req.method = in.extra;
  req.minor = (in.flags & 4) ? 0 : 1;
  req.upgrade = (in.flags & 8) != 0;
  req.keep_alive = (in.flags & 16) == 0;
  req.complete = (in.flags & 64) == 0;
  Upstream up(limits_profile(in.flags), req);
  DriveEnd end = drive(up.parser(), in.data, in.size, pieces, up.transcript);
  if (end == DriveEnd::Consumed && (in.flags & 32)) {
    bool mid = up.parser().in_message();
    bool ok = up.parser().finish();
    up.transcript += ok ? "eof ok\n" : "eof truncated\n";
    if (!mid) FUZZ_CHECK(ok, "finish() between messages failed");
    if (ok) FUZZ_CHECK(!up.parser().in_message(), "in_message() after a successful finish()");
  }
  if (end == DriveEnd::Error) {
    FUZZ_CHECK(up.parser().error_status() == 502, "response error status %d (%s)", up.parser().error_status(),
               up.parser().error_reason().c_str());
  }
  return up.transcript;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  SplitInput in = decode_split_input(data, size);
  std::string whole = run(in, {});
  if (!in.pieces.empty()) {
    std::string split = run(in, in.pieces);
    FUZZ_CHECK(whole == split, "fed whole vs in pieces differ:\n--- whole\n  %s\n--- pieces\n  %s",
               printable(whole).c_str(), printable(split).c_str());
  }
  return 0;
}
