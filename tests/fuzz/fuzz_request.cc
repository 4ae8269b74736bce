// libFuzzer target: a client's byte stream through HttpParser (Kind::Request), split into pieces
// chosen by the input, with decide_request_framing on every head and build_upstream_request for
// every accepted one, as ClientConnection + Exchange do.
//
// Input: see fuzz_http.h (SplitInput). flags & 3 picks the limits; flags & 4 an IPv6 client
// address, flags & 8 an empty one.
//
// Invariants checked:
//  - the Outcome contract of feed() (consumed <= input, NeedMore consumes all, paused/failed
//    parsers consume nothing, an error has a status and a reason);
//  - a request that passes framing has a status-free, consistent framing;
//  - the head sent upstream re-parses cleanly as one complete message with the same method,
//    target (absolute-form reduced to origin-form), route host and framing; it holds no
//    hop-by-hop header (except, when upgrading, "Connection: upgrade" and an Upgrade offering
//    exactly the allowed protocols the client offered: never h2c), exactly one Host,
//    one X-Forwarded-Proto, one Via ending in ours, X-Forwarded-For ending in the client address;
//    every end-to-end header passes byte for byte and in order, minus those named in Connection;
//  - the same stream fed in one piece and fed in pieces gives the same heads, bodies and message
//    boundaries (the parser does not depend on how reads split the input).
#include <cstddef>
#include <cstdint>
#include <string>

#include "turnout/http/error_status.h"
#include "fuzz_http.h"
#include "turnout/http/framing.h"
#include "turnout/http/host.h"
#include "turnout/http/rewrite.h"
#include "turnout/http/upgrade.h"

using namespace turnout;
using namespace turnout::fuzz;

namespace {

const Limits kUnlimited{0, 0, 0, 0};

// Parses one head sent upstream; it must end exactly at the end of `bytes`.
class Reparse : public HttpParser::Events {
 public:
  HeadAction on_head_complete() override {
    ++heads;
    return HeadAction::SkipBody;  // only the head was built; nothing follows it
  }
  void on_body(const char*, size_t) override { ++bodies; }
  void on_message_complete() override { ++messages; }
  int heads = 0;
  int bodies = 0;
  int messages = 0;
};

void check_upstream_request(const RequestHead& orig, const std::string& out, const ForwardContext& ctx) {
  RequestHead re;
  Reparse ev;
  HttpParser parser(HttpParser::Kind::Request, &re, &ev, kUnlimited);
  HttpParser::Outcome o = parser.feed(out.data(), out.size());
  FUZZ_CHECK(o.status == HttpParser::Status::MessageComplete && o.consumed == out.size(),
             "upstream head does not re-parse (status %d, consumed %zu of %zu, %d %s):\n  %s",
             static_cast<int>(o.status), o.consumed, out.size(), parser.error_status(), parser.error_reason().c_str(),
             printable(out).c_str());
  FUZZ_CHECK(ev.heads == 1 && ev.messages == 1 && ev.bodies == 0, "upstream head parsed as %d heads", ev.heads);
  Result<void> framed = decide_request_framing(re, kUnlimited);
  FUZZ_CHECK(framed.ok(), "upstream head refused by our own framing rules: %s\n  %s",
             framed.error().message.c_str(), printable(out).c_str());

  FUZZ_CHECK(re.method == orig.method && re.str(re.method_name) == orig.str(orig.method_name), "method changed:\n  %s",
             printable(out).c_str());
  FUZZ_CHECK(re.version_major == 1 && re.version_minor == 1, "upstream head is not HTTP/1.1");
  std::string_view target = orig.str(orig.target);
  std::string_view authority;
  std::string_view origin;
  std::string want_target(target);
  if (split_absolute_form(target, &authority, &origin)) {
    want_target = (origin.empty() || origin[0] != '/') ? "/" + std::string(origin) : std::string(origin);
  }
  FUZZ_CHECK(re.str(re.target) == want_target, "target '%s' became '%s'", printable(target).c_str(),
             printable(re.str(re.target)).c_str());
  FUZZ_CHECK(re.host == orig.host, "route host '%s' became '%s':\n  %s", orig.host.c_str(), re.host.c_str(),
             printable(out).c_str());
  FUZZ_CHECK(re.framing.kind == orig.framing.kind && re.framing.content_length == orig.framing.content_length,
             "framing %d/%llu became %d/%llu", static_cast<int>(orig.framing.kind),
             static_cast<unsigned long long>(orig.framing.content_length), static_cast<int>(re.framing.kind),
             static_cast<unsigned long long>(re.framing.content_length));

  // An upgrade offers upstream exactly the allowed protocols the client offered (never h2c).
  std::string_view offered = orig.str(orig.upgrade_protocols);
  bool offering = ctx.upgrade && !offered.empty();
  FUZZ_CHECK(!orig.upgrade || orig.method == HTTP_CONNECT || !offered.empty(), "upgrade without an offer");
  size_t connection = 0;
  size_t upgrade = 0;
  for (const HeaderField& h : re.headers) {
    if (!(token_flags(h.token) & kHopByHop)) continue;
    bool allowed = offering && (h.token == HeaderToken::Upgrade ||
                                (h.token == HeaderToken::Connection && iequals(re.value(h), "upgrade")));
    FUZZ_CHECK(allowed, "hop-by-hop header '%s' sent upstream:\n  %s", printable(re.name(h)).c_str(),
               printable(out).c_str());
    connection += h.token == HeaderToken::Connection;
    if (h.token == HeaderToken::Upgrade) {
      ++upgrade;
      FUZZ_CHECK(re.value(h) == offered, "Upgrade '%s' sent upstream, '%s' offered", printable(re.value(h)).c_str(),
                 printable(offered).c_str());
      for_each_list_element(re.value(h), [&](std::string_view p) {
        FUZZ_CHECK(upgrade_protocol_allowed(p), "protocol '%s' offered upstream", printable(p).c_str());
      });
    }
  }
  FUZZ_CHECK(connection == (offering ? 1u : 0u), "%zu Connection headers sent upstream", connection);
  FUZZ_CHECK(upgrade == (offering ? 1u : 0u), "%zu Upgrade headers sent upstream", upgrade);
  if (offering) FUZZ_CHECK(re.upgrade && re.str(re.upgrade_protocols) == offered, "the offer does not re-parse");
  FUZZ_CHECK(re.count(HeaderToken::Host) == 1, "%zu Host headers sent upstream", re.count(HeaderToken::Host));
  FUZZ_CHECK(re.count(HeaderToken::XForwardedProto) == 1, "X-Forwarded-Proto not set once");
  FUZZ_CHECK(re.value(*re.find(HeaderToken::XForwardedProto)) == ctx.proto, "X-Forwarded-Proto not ours");
  FUZZ_CHECK(re.count(HeaderToken::Via) == 1, "Via not sent once");
  std::string_view via = re.value(*re.find(HeaderToken::Via));
  FUZZ_CHECK(via.size() >= 11 && via.substr(via.size() - 11) == "1.1 turnout", "Via '%s' does not end in ours",
             printable(via).c_str());
  if (named_in_connection(orig, "Via")) {
    FUZZ_CHECK(via == "1.1 turnout", "Via named in Connection was forwarded: '%s'", printable(via).c_str());
  }
  size_t xff = re.count(HeaderToken::XForwardedFor);
  if (!ctx.client_ip.empty()) {
    FUZZ_CHECK(xff == 1, "%zu X-Forwarded-For headers", xff);
    std::string_view v = re.value(*re.find(HeaderToken::XForwardedFor));
    FUZZ_CHECK(v.size() >= ctx.client_ip.size() && v.substr(v.size() - ctx.client_ip.size()) == ctx.client_ip,
               "X-Forwarded-For '%s' does not end in the client address", printable(v).c_str());
  } else {
    FUZZ_CHECK(xff <= 1, "%zu X-Forwarded-For headers", xff);
  }
  std::string_view received_host = orig.host_header.len ? orig.str(orig.host_header) : authority;
  size_t xfh = re.count(HeaderToken::XForwardedHost);
  if (received_host.empty()) {
    FUZZ_CHECK(xfh == 0, "X-Forwarded-Host without a received host");
  } else {
    FUZZ_CHECK(xfh == 1 && re.value(*re.find(HeaderToken::XForwardedHost)) == received_host,
               "X-Forwarded-Host is not the received host '%s'", printable(received_host).c_str());
  }

  std::vector<std::string> want = passed_headers(orig, &orig);
  std::vector<std::string> got = passed_headers(re, nullptr);
  FUZZ_CHECK(want == got, "end-to-end headers changed: %zu sent, %zu expected:\n  %s", got.size(), want.size(),
             printable(out).c_str());
}

// The request side of a client connection.
class Client : public HttpParser::Events {
 public:
  Client(const Limits& limits, std::string_view client_ip)
      : limits_(limits), client_ip_(client_ip), parser_(HttpParser::Kind::Request, &head_, this, limits_) {}

  HttpParser& parser() { return parser_; }
  std::string transcript;

  HeadAction on_head_complete() override {
    FUZZ_CHECK(head_.version_major == 1, "head of version %d.%d reached the owner", head_.version_major,
               head_.version_minor);
    if (limits_.max_header_bytes) {
      FUZZ_CHECK(head_.storage.size() <= limits_.max_header_bytes, "a %zu-byte head passed a %u-byte limit",
                 head_.storage.size(), limits_.max_header_bytes);
    }
    if (limits_.max_headers) {
      FUZZ_CHECK(head_.headers.size() <= limits_.max_headers, "%zu header fields passed a limit of %u",
                 head_.headers.size(), limits_.max_headers);
    }
    Result<void> framed = decide_request_framing(head_, limits_);
    if (!framed) {
      int code = http_status(framed.error().kind);
      FUZZ_CHECK(code == 400 || code == 413, "framing error code %d (%s)", code, framed.error().message.c_str());
      FUZZ_CHECK(!framed.error().message.empty(), "framing error without a message");
      transcript += "reject " + std::to_string(code) + "\n";
      return HeadAction::Reject;
    }
    FUZZ_CHECK(head_.framing.kind == BodyKind::None || head_.framing.kind == BodyKind::Length ||
                   head_.framing.kind == BodyKind::Chunked,
               "request framing %d", static_cast<int>(head_.framing.kind));
    if (limits_.max_body_bytes && head_.framing.kind == BodyKind::Length) {
      FUZZ_CHECK(head_.framing.content_length <= limits_.max_body_bytes, "body over the limit accepted");
    }
    FUZZ_CHECK(head_.host.empty() || normalize_host(head_.host) == head_.host, "route host '%s' is not normalised",
               printable(head_.host).c_str());

    ForwardContext ctx;
    ctx.client_ip = client_ip_;
    ctx.upgrade = head_.upgrade;
    std::string out = "prefix";  // build_upstream_request appends: what is there must stay
    build_upstream_request(head_, head_.framing, ctx, out);
    FUZZ_CHECK(out.compare(0, 6, "prefix") == 0, "build_upstream_request overwrote its output");
    out.erase(0, 6);
    check_upstream_request(head_, out, ctx);
    transcript += out;
    body_expected_ = head_.framing.kind;
    body_.clear();
    // As ClientConnection: an upgrade request is parsed to its end too (a body it carries is
    // forwarded as framed); a tunnel could only start after it.
    return HeadAction::Continue;
  }

  void on_body(const char* at, size_t len) override {
    FUZZ_CHECK(len > 0, "empty on_body");
    FUZZ_CHECK(body_expected_ != BodyKind::None, "body bytes for a message without a body");
    body_.append(at, len);
  }

  void on_message_complete() override {
    if (body_expected_ == BodyKind::Length) {
      FUZZ_CHECK(body_.size() == head_.framing.content_length, "Content-Length %llu but %zu body bytes",
                 static_cast<unsigned long long>(head_.framing.content_length), body_.size());
    }
    check_trailers();
    transcript += "body " + std::to_string(body_.size()) + ":" + body_ + "\n";
    body_.clear();
    body_expected_ = BodyKind::None;
  }

 private:
  // The trailer section as relayed (build_last_chunk) ends the chunked body where it should, and
  // re-parses to exactly the fields a trailer may carry: a trailer can neither end the message
  // early nor start a request. With the head it stays within the limits.
  void check_trailers() {
    const MessageHead& t = parser_.trailers();
    FUZZ_CHECK(t.headers.empty() || body_expected_ == BodyKind::Chunked, "trailers without a chunked body");
    if (limits_.max_header_bytes) {
      FUZZ_CHECK(head_.storage.size() + t.storage.size() <= limits_.max_header_bytes,
                 "head and trailers of %zu bytes passed a %u-byte limit", head_.storage.size() + t.storage.size(),
                 limits_.max_header_bytes);
    }
    if (limits_.max_headers) {
      FUZZ_CHECK(head_.headers.size() + t.headers.size() <= limits_.max_headers,
                 "%zu head and trailer fields passed a limit of %u", head_.headers.size() + t.headers.size(),
                 limits_.max_headers);
    }
    std::string last;
    build_last_chunk(&t, last);
    transcript += "trailers " + last;
    struct Reparse : HttpParser::Events {
      int messages = 0;
      HeadAction on_head_complete() override { return HeadAction::Continue; }
      void on_body(const char*, size_t) override { FUZZ_CHECK(false, "the last chunk carried body bytes"); }
      void on_message_complete() override { ++messages; }
    } ev;
    Limits none;
    none.max_header_bytes = 0;
    none.max_headers = 0;
    RequestHead re;
    HttpParser p(HttpParser::Kind::Request, &re, &ev, none);
    std::string msg = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + last;
    HttpParser::Outcome o = p.feed(msg.data(), msg.size());
    FUZZ_CHECK(o.status == HttpParser::Status::MessageComplete && o.consumed == msg.size() && ev.messages == 1,
               "relayed trailers do not end the message where they should:\n  %s", printable(last).c_str());
    const MessageHead& rt = p.trailers();
    size_t k = 0;
    for (const HeaderField& h : t.headers) {
      if (!allowed_in_trailer(h.token, t.name(h))) continue;
      FUZZ_CHECK(k < rt.headers.size() && rt.name(rt.headers[k]) == t.name(h) && rt.value(rt.headers[k]) == t.value(h),
                 "trailer field %zu changed when relayed:\n  %s", k, printable(last).c_str());
      FUZZ_CHECK(allowed_in_trailer(rt.headers[k].token, rt.name(rt.headers[k])), "a forbidden trailer relayed");
      ++k;
    }
    FUZZ_CHECK(k == rt.headers.size(), "relayed trailers re-parse to %zu fields, %zu sent", rt.headers.size(), k);
  }

  Limits limits_;
  std::string client_ip_;
  RequestHead head_;
  HttpParser parser_;
  std::string body_;
  BodyKind body_expected_ = BodyKind::None;
};

std::string run(const SplitInput& in, const std::vector<size_t>& pieces) {
  Limits limits = limits_profile(in.flags);
  std::string_view ip = (in.flags & 8) ? "" : (in.flags & 4) ? "2001:db8::1" : "192.0.2.7";
  Client client(limits, ip);
  DriveEnd end = drive(client.parser(), in.data, in.size, pieces, client.transcript);
  if (end == DriveEnd::Consumed) {
    // The client closed its side: an incomplete request is reported, a complete one is not.
    bool mid = client.parser().in_message();
    bool ok = client.parser().finish();
    client.transcript += ok ? "eof ok\n" : "eof truncated\n";
    if (!mid) FUZZ_CHECK(ok, "finish() between messages failed");
  }
  if (end == DriveEnd::Error) {
    int status = client.parser().error_status();
    FUZZ_CHECK(status == 400 || status == 414 || status == 431 || status == 501 || status == 505,
               "request error status %d (%s)", status, client.parser().error_reason().c_str());
  }
  return client.transcript;
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
