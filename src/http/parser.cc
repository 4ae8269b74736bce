// HttpParser over llhttp 8.1 (built in strict mode; no lenient flag is ever set).
//
// llhttp accepts a few things turnout must not forward or act on: a bare LF ending the head,
// obs-fold continuation lines, whitespace before the colon, empty header names, HTTP/0.9 and
// 2.x versions, RTSP/ and ICE/ request lines, and a bare LF ending a chunked trailer section.
// It also refuses valid input: extension methods, HTTP/1.2..1.9, and chunk extensions with
// whitespace, several parameters or quoted-pairs. So the request line and each chunk-size line
// are read and checked here (request_line.h, chunk_line.h) and given to llhttp in a form it
// parses, and each head and trailer section is scanned byte by byte before llhttp sees it
// (bad bytes, and the 431 limit, start line and line endings included). llhttp is only ever
// given a head up to its end, so it stops where our own reading of the body starts.
#include "turnout/http/error_status.h"
#include "turnout/http/parser.h"

#include <algorithm>
#include <charconv>
#include <array>
#include <cstring>
#include <limits>

#include "turnout/http/request_line.h"

namespace turnout {
namespace {

using HeadAction = HttpParser::Events::HeadAction;

constexpr uint32_t kResponseMinHeadBytes = 65536;  // upstreams may send large Set-Cookie heads
constexpr uint32_t kResponseMinHeaders = 256;

// Bytes that need no attention inside a head line: everything but CR, LF and the control
// bytes that may not appear in a head at all (HTAB is allowed).
constexpr std::array<bool, 256> kPlain = [] {
  std::array<bool, 256> t{};
  for (int c = 0; c < 256; ++c) t[c] = (c >= 0x20 && c != 0x7f) || c == '\t';
  return t;
}();

// True if none of the 8 bytes at `p` is below 0x20 or 0x7f (HTAB is sent to the byte loop).
// Bytes >= 0x80 (obs-text) pass: their high bit masks them out of both tests.
bool plain_word(const char* p) {
  constexpr uint64_t kOnes = 0x0101010101010101ull;
  constexpr uint64_t kHigh = 0x8080808080808080ull;
  uint64_t w;
  std::memcpy(&w, p, sizeof(w));
  uint64_t below_space = (w - 0x20 * kOnes) & ~w & kHigh;
  uint64_t del = w ^ (0x7f * kOnes);
  uint64_t is_del = (del - kOnes) & ~del & kHigh;
  return (below_space | is_del) == 0;
}

bool is_ows(char c) { return c == ' ' || c == '\t'; }

void extend(MessageHead* head, Slice& s, const char* at, size_t len) {
  if (s.len == 0) s.off = static_cast<uint32_t>(head->storage.size());
  head->storage.append(at, len);
  s.len += static_cast<uint32_t>(len);
}

}  // namespace

// llhttp calls these with the parser; they reach the HttpParser through parser_.data.
struct ParserCallbacks {
  static HttpParser& self(llhttp_t* p) { return *static_cast<HttpParser*>(p->data); }

  static int on_message_begin(llhttp_t* p) {
    HttpParser& s = self(p);
    // clear() is not virtual: reset the derived fields too.
    if (s.kind_ == HttpParser::Kind::Request) static_cast<RequestHead*>(s.head_)->clear();
    else static_cast<ResponseHead*>(s.head_)->clear();
    s.trailers_.clear();
    s.in_message_ = true;
    s.head_done_ = false;
    s.field_state_ = 0;
    return 0;
  }

  static int on_url(llhttp_t* p, const char* at, size_t len) {
    HttpParser& s = self(p);
    extend(s.head_, static_cast<RequestHead*>(s.head_)->target, at, len);
    return 0;
  }

  static int on_status(llhttp_t* p, const char* at, size_t len) {
    HttpParser& s = self(p);
    extend(s.head_, static_cast<ResponseHead*>(s.head_)->reason, at, len);
    return 0;
  }

  // Where the field being read goes: the head, or after it the trailer section (kept apart,
  // checked the same way).
  static MessageHead* fields(HttpParser& s) { return s.head_done_ ? &s.trailers_ : s.head_; }

  static int on_header_field(llhttp_t* p, const char* at, size_t len) {
    HttpParser& s = self(p);
    MessageHead* f = fields(s);
    if (s.field_state_ != 1) {
      // A trailer section shares the head's count: together they stay within max_headers.
      uint32_t max = s.max_header_count();
      if (max != 0 && s.head_->headers.size() + s.trailers_.headers.size() >= max) {
        s.fail(s.kind_ == HttpParser::Kind::Request ? 431 : 502,
               s.head_done_ ? "too many trailer fields" : "too many header fields");
        return HPE_USER;
      }
      f->headers.emplace_back();
      s.field_state_ = 1;
    }
    extend(f, f->headers.back().name, at, len);
    return 0;
  }

  static int on_header_field_complete(llhttp_t* p) {
    HttpParser& s = self(p);
    MessageHead* f = fields(s);
    HeaderField& h = f->headers.back();
    std::string_view name = f->name(h);
    // llhttp lets "Host :" and ": x" through; a name is a non-empty token (RFC 9110 5.1).
    bool ok = !name.empty() &&
              std::all_of(name.begin(), name.end(), is_tchar);
    if (!ok) {
      s.fail(s.kind_ == HttpParser::Kind::Request ? 400 : 502, "invalid header name");
      return HPE_USER;
    }
    h.token = lookup_token(name);
    h.value.off = static_cast<uint32_t>(f->storage.size());
    s.field_state_ = 2;
    return 0;
  }

  static int on_header_value(llhttp_t* p, const char* at, size_t len) {
    HttpParser& s = self(p);
    MessageHead* f = fields(s);
    extend(f, f->headers.back().value, at, len);
    return 0;
  }

  static int on_header_value_complete(llhttp_t* p) {
    HttpParser& s = self(p);
    MessageHead* f = fields(s);
    HeaderField& h = f->headers.back();
    const std::string& st = f->storage;
    while (h.value.len > 0 && is_ows(st[h.value.off])) {
      ++h.value.off;
      --h.value.len;
    }
    while (h.value.len > 0 && is_ows(st[h.value.off + h.value.len - 1])) --h.value.len;
    s.field_state_ = 0;
    return 0;
  }

  static int on_headers_complete(llhttp_t* p) {
    HttpParser& s = self(p);
    bool request = s.kind_ == HttpParser::Kind::Request;
    MessageHead* head = s.head_;
    s.head_done_ = true;
    head->version_major = p->http_major;
    head->version_minor = p->http_minor;
    if (p->http_major != 1) {
      // llhttp parses HTTP/0.9 and 2.x heads; turnout speaks HTTP/1.x only. (Requests never
      // get here: their version was checked with the request line.)
      s.fail(request ? (p->http_major == 0 ? 400 : 505) : 502, "unsupported HTTP version");
      return -1;
    }
    bool skip = false;  // the message has no body whatever its headers say
    if (request) {
      auto* req = static_cast<RequestHead*>(head);
      req->method = s.method_id_;  // llhttp's may be a stand-in (request_line.h)
      head->upgrade = p->upgrade != 0;
    } else {
      auto* res = static_cast<ResponseHead*>(head);
      res->status = p->status_code;
      uint16_t st = res->status;
      skip = st / 100 == 1 || st == 204 || st == 304 || s.request_method_ == HTTP_HEAD;
      bool tunnel = s.request_method_ == HTTP_CONNECT && st / 100 == 2;
      head->upgrade = p->upgrade != 0 || tunnel;
    }
    bool keep_alive = s.keep_alive(skip);
    head->keep_alive = keep_alive;

    HeadAction action = s.events_->on_head_complete();
    switch (action) {
      case HeadAction::Upgrade:
        s.upgrading_ = true;
        return 2;  // llhttp skips the body, completes the message and pauses with PAUSED_UPGRADE
      case HeadAction::Reject:
        s.fail(request ? 400 : 502, "rejected");
        return -1;
      case HeadAction::SkipBody:
        // A skipped body cannot need EOF to end; keep any value the owner set itself.
        if (!skip && head->keep_alive == keep_alive) head->keep_alive = s.keep_alive(true);
        skip = true;
        break;
      case HeadAction::Continue:
        break;
    }
    // Not upgrading: make llhttp treat the message as ordinary, or it would pause for a tunnel.
    p->upgrade = 0;
    // llhttp was given the head only: what follows is ours to read first if it is chunked.
    s.phase_ = !skip && (p->flags & F_CHUNKED) ? HttpParser::Phase::ChunkLine : HttpParser::Phase::Body;
    s.chunk_line_.reset();
    return skip ? 1 : 0;
  }

  static int on_body(llhttp_t* p, const char* at, size_t len) {
    self(p).events_->on_body(at, len);
    return 0;
  }

  static int on_chunk_header(llhttp_t* p) {
    HttpParser& s = self(p);
    if (p->content_length == 0) {
      // Last chunk: pause so feed() can scan the trailer section from here (llhttp would
      // accept a bare LF ending it).
      s.pause_ = HttpParser::Pause::Trailers;
      return HPE_PAUSED;
    }
    return 0;
  }

  static int on_chunk_complete(llhttp_t* p) {
    HttpParser& s = self(p);
    // llhttp calls this after the trailer section too: the message is complete then.
    if (s.phase_ == HttpParser::Phase::Trailers) return 0;
    // The chunk's data and CRLF are done: the next chunk-size line is read by chunk_line_.
    s.pause_ = HttpParser::Pause::ChunkLine;
    return HPE_PAUSED;
  }

  static int on_message_complete(llhttp_t* p) {
    HttpParser& s = self(p);
    s.in_message_ = false;
    s.phase_ = s.kind_ == HttpParser::Kind::Request ? HttpParser::Phase::StartLine : HttpParser::Phase::Head;
    s.start_scan(false);
    if (s.upgrading_) return 0;  // llhttp goes on to HPE_PAUSED_UPGRADE
    s.events_->on_message_complete();
    s.pause_ = HttpParser::Pause::MessageComplete;
    return HPE_PAUSED;
  }

  static const llhttp_settings_t& settings() {
    static const llhttp_settings_t kSettings = [] {
      llhttp_settings_t st;
      llhttp_settings_init(&st);
      st.on_message_begin = on_message_begin;
      st.on_url = on_url;
      st.on_status = on_status;
      st.on_header_field = on_header_field;
      st.on_header_field_complete = on_header_field_complete;
      st.on_header_value = on_header_value;
      st.on_header_value_complete = on_header_value_complete;
      st.on_headers_complete = on_headers_complete;
      st.on_body = on_body;
      st.on_chunk_header = on_chunk_header;
      st.on_chunk_complete = on_chunk_complete;
      st.on_message_complete = on_message_complete;
      return st;
    }();
    return kSettings;
  }
};

HttpParser::HttpParser(Kind kind, MessageHead* head, Events* events, const Limits& limits)
    : kind_(kind), head_(head), events_(events), limits_(limits) {
  // One static settings table for every parser: llhttp keeps only the pointer.
  llhttp_init(&parser_, kind == Kind::Request ? HTTP_REQUEST : HTTP_RESPONSE, &ParserCallbacks::settings());
  parser_.data = this;
  phase_ = kind == Kind::Request ? Phase::StartLine : Phase::Head;
  start_scan(false);
}

uint32_t HttpParser::max_head_bytes() const {
  if (kind_ == Kind::Request) return limits_.max_header_bytes;
  return limits_.max_header_bytes == 0 ? 0 : std::max(limits_.max_header_bytes, kResponseMinHeadBytes);
}

uint32_t HttpParser::max_header_count() const {
  if (kind_ == Kind::Request) return limits_.max_headers;
  return limits_.max_headers == 0 ? 0 : std::max(limits_.max_headers, kResponseMinHeaders);
}

bool HttpParser::keep_alive(bool skip_body) const {
  // llhttp_should_keep_alive, except that a body we skip cannot need EOF to end.
  bool conn;
  if (parser_.http_major > 0 && parser_.http_minor > 0) {
    conn = (parser_.flags & F_CONNECTION_CLOSE) == 0;
  } else {
    conn = (parser_.flags & F_CONNECTION_KEEP_ALIVE) != 0;
  }
  return conn && (skip_body || !llhttp_message_needs_eof(&parser_));
}

void HttpParser::fail(int status, std::string_view reason) {
  if (failed_) return;
  failed_ = true;
  error_status_ = status;
  error_reason_.assign(reason);
}

void HttpParser::fail_llhttp(llhttp_errno_t err) {
  // Callbacks that failed set error_* themselves; llhttp errors are reported with its reason.
  const char* reason = llhttp_get_error_reason(&parser_);
  fail(kind_ == Kind::Request ? 400 : 502, reason ? reason : llhttp_errno_name(err));
}

void HttpParser::start_scan(bool trailers) {
  scan_ = Scan::LineStart;
  scan_seen_line_ = trailers;  // a trailer section has no start line: its first empty line ends it
  line_len_ = 0;
  // A trailer section goes on counting from its head's bytes: together they stay within the
  // limit, so a message's fields never hold more than max_header_bytes.
  if (!trailers) head_bytes_ = 0;
  line_cr_ = false;
}

bool HttpParser::scan(const char* data, size_t len, size_t* used) {
  int bad = kind_ == Kind::Request ? 400 : 502;
  uint32_t max = max_head_bytes();
  size_t i = 0;
  *used = 0;
  while (i < len && scan_ != Scan::Off) {
    unsigned char c = static_cast<unsigned char>(data[i]);
    if (scan_ == Scan::SawCR) {
      if (c != '\n') {
        fail(bad, "bare CR in head");
        return false;
      }
      ++i;
      if (line_len_ == 0) {
        // Empty line: ends the head, or is one of the CRLFs tolerated before a status line.
        scan_ = scan_seen_line_ ? Scan::Off : Scan::LineStart;
      } else {
        scan_seen_line_ = true;
        scan_ = Scan::LineStart;
        line_len_ = 0;
      }
      continue;
    }
    if (scan_ == Scan::LineStart && scan_seen_line_ && (c == ' ' || c == '\t')) {
      fail(bad, "obs-fold or whitespace at start of header line");
      return false;
    }
    if (kPlain[c]) {
      // Fast path: the run of ordinary bytes up to the next CR, LF or control byte.
      size_t run = i + 1;
      while (run + 8 <= len && plain_word(data + run)) run += 8;
      while (run < len && kPlain[static_cast<unsigned char>(data[run])]) ++run;
      line_len_ += static_cast<uint32_t>(std::min<size_t>(run - i, 1u << 30));
      i = run;
      scan_ = Scan::InLine;
    } else if (c == '\r') {
      ++i;
      scan_ = Scan::SawCR;
    } else if (c == '\n') {
      fail(bad, "bare LF in head");
      return false;
    } else {
      fail(bad, "control character in head");
      return false;
    }
  }
  head_bytes_ += static_cast<uint32_t>(std::min<size_t>(i, std::numeric_limits<uint32_t>::max() - head_bytes_));
  if (max != 0 && head_bytes_ > max) {
    fail(kind_ == Kind::Request ? 431 : 502, phase_ == Phase::Trailers ? "trailer section too large" : "head too large");
    return false;
  }
  *used = i;
  return true;
}

bool HttpParser::read_request_line(const char* data, size_t len, size_t* used) {
  uint32_t max = max_head_bytes();
  size_t i = 0;
  *used = 0;
  // Empty lines before the request line (RFC 9112 2.2: a server SHOULD ignore at least one).
  // They count against the head limit, so a stream of them cannot go on for ever.
  while (!in_message_ && i < len) {
    char c = data[i];
    if (line_cr_) {
      if (c != '\n') {
        fail(400, "bare CR in head");
        return false;
      }
      line_cr_ = false;
      ++i;
      head_bytes_ += 2;
      if (max != 0 && head_bytes_ > max) {
        fail(431, "head too large");
        return false;
      }
    } else if (c == '\r') {
      line_cr_ = true;
      ++i;
    } else if (c == '\n') {
      fail(400, "bare LF in head");
      return false;
    } else {
      in_message_ = true;  // the request's first byte (llhttp has not seen it yet)
    }
  }
  *used = i;
  if (i == len) return true;

  const char* start = data + i;
  const char* nl = static_cast<const char*>(std::memchr(start, '\n', len - i));
  size_t seg = nl ? static_cast<size_t>(nl - start) : len - i;
  if (nl == nullptr || !line_.empty()) {
    // Split across reads: kept until its LF arrives, checked as far as it goes so that
    // garbage is refused at once, not after max_header_bytes of it.
    line_.append(start, seg);
    size_t cr = line_.find('\r');
    if (cr != std::string::npos && cr != line_.size() - 1) {  // only the last byte may be the CR of CRLF
      fail(400, "bare CR in request line");
      return false;
    }
    if (auto r = check_request_line_prefix(std::string_view(line_).substr(0, cr)); !r) {
      fail(http_status(r.error().kind), r.error().message);
      return false;
    }
  }
  std::string_view line = line_.empty() ? std::string_view(start, seg) : std::string_view(line_);
  if (max != 0 && line.size() > max) {
    fail(414, "request line too long");
    return false;
  }
  if (nl == nullptr) {
    *used = len;
    return true;
  }
  *used = i + seg + 1;
  if (line.empty() || line.back() != '\r') {
    fail(400, "bare LF in request line");
    return false;
  }
  // The line with its CRLF, in one piece: in the caller's buffer, or completed in line_.
  std::string_view with_crlf = std::string_view(start, seg + 1);
  if (!line_.empty()) {
    line_.push_back('\n');
    with_crlf = line_;
  }
  uint32_t before = head_bytes_;
  bool ok = start_request(with_crlf);
  line_.clear();
  if (!ok) return false;
  start_scan(true);  // the request line was the start line: the first empty line ends the head
  head_bytes_ = before + static_cast<uint32_t>(with_crlf.size());
  phase_ = Phase::Head;
  return true;
}

bool HttpParser::start_request(std::string_view with_crlf) {
  std::string_view line = with_crlf.substr(0, with_crlf.size() - 2);
  RequestLine rl;
  if (auto r = parse_request_line(line, &rl); !r) {
    fail(http_status(r.error().kind), r.error().message);
    return false;
  }
  method_id_ = rl.method_id;
  std::string_view version = line.substr(rl.method.size() + rl.target.size() + 2);
  if (rl.method_id != kMethodExtension && (version == "HTTP/1.1" || version == "HTTP/1.0")) {
    // The common case: llhttp parses the line as received, in one call.
    if (!execute_own(with_crlf.data(), with_crlf.size())) return false;
  } else {
    // llhttp gets the method, or for an extension method a stand-in (it frames every request
    // alike, CONNECT aside, and no stand-in is CONNECT); then " target " as received; then
    // HTTP/1.0 or HTTP/1.1 (1.2..1.9 are handled as 1.1). It still checks the target itself.
    std::string_view method = rl.method_id == kMethodExtension ? std::string_view("GET") : rl.method;
    std::string_view middle = line.substr(rl.method.size(), rl.target.size() + 2);
    std::string_view v = rl.version_minor == 0 ? "HTTP/1.0\r\n" : "HTTP/1.1\r\n";
    if (!execute_own(method.data(), method.size()) || !execute_own(middle.data(), middle.size()) ||
        !execute_own(v.data(), v.size())) {
      return false;
    }
  }
  // After on_message_begin cleared the head: the method as received, whatever llhttp saw.
  extend(head_, static_cast<RequestHead*>(head_)->method_name, rl.method.data(), rl.method.size());
  return true;
}

bool HttpParser::execute_own(const char* p, size_t n) {
  llhttp_errno_t err = llhttp_execute(&parser_, p, n);
  if (err == HPE_OK) return true;
  if (err == HPE_PAUSED && pause_ == Pause::Trailers) {
    // "0\r\n": the trailer section (or the final CRLF) comes next, from the caller's input.
    pause_ = Pause::None;
    llhttp_resume(&parser_);
    phase_ = Phase::Trailers;
    start_scan(true);
    return true;
  }
  fail_llhttp(err);
  return false;
}

bool HttpParser::execute(const char* data, size_t* pos, size_t n, Outcome* out) {
  llhttp_errno_t err = llhttp_execute(&parser_, data + *pos, n);
  if (err == HPE_OK) {
    *pos += n;
    return false;
  }
  const char* at = llhttp_get_error_pos(&parser_);
  size_t off = at ? static_cast<size_t>(at - data) : *pos;
  if (err == HPE_PAUSED) {
    Pause why = pause_;
    pause_ = Pause::None;
    switch (why) {
      case Pause::ChunkLine:
        llhttp_resume(&parser_);
        phase_ = Phase::ChunkLine;
        chunk_line_.reset();
        *pos = off;
        return false;
      case Pause::Trailers:
        llhttp_resume(&parser_);
        phase_ = Phase::Trailers;
        start_scan(true);
        *pos = off;
        return false;
      case Pause::MessageComplete:
        paused_ = true;
        *out = {Status::MessageComplete, off};
        return true;
      case Pause::None:
        break;
    }
  }
  if (err == HPE_PAUSED_UPGRADE && upgrading_) {
    *out = {Status::Upgrade, off};
    return true;
  }
  fail_llhttp(err);
  *out = {Status::Error, off};
  return true;
}

HttpParser::Outcome HttpParser::feed(const char* data, size_t len) {
  if (failed_) return {Status::Error, 0};
  if (upgrading_) return {Status::Upgrade, 0};
  if (paused_) return {Status::MessageComplete, 0};
  const int bad = kind_ == Kind::Request ? 400 : 502;
  size_t pos = 0;
  Outcome out;
  while (pos < len) {
    size_t used = 0;
    switch (phase_) {
      case Phase::StartLine:
        if (!read_request_line(data + pos, len - pos, &used)) return {Status::Error, pos + used};
        pos += used;
        break;
      case Phase::Head:
      case Phase::Trailers:
        if (!scan(data + pos, len - pos, &used)) return {Status::Error, pos};
        if (used == 0) {
          // The scan saw the section end but llhttp did not: never loop on it.
          fail(bad, "head end not recognised");
          return {Status::Error, pos};
        }
        if (execute(data, &pos, used, &out)) return out;
        break;
      case Phase::Body:
        if (execute(data, &pos, len - pos, &out)) return out;
        break;
      case Phase::ChunkLine: {
        ChunkLineScanner::Status st = chunk_line_.feed(data + pos, len - pos, &used);
        pos += used;
        if (st == ChunkLineScanner::Status::Error) {
          fail(bad, chunk_line_.error());
          return {Status::Error, pos};
        }
        if (st == ChunkLineScanner::Status::NeedMore) break;
        // llhttp gets the size only; extensions are not forwarded (bodies are re-chunked).
        char line[24];
        auto r = std::to_chars(line, line + 16, chunk_line_.size(), 16);
        *r.ptr++ = '\r';
        *r.ptr++ = '\n';
        phase_ = Phase::Body;  // or Trailers, set by execute_own after the last chunk
        if (!execute_own(line, static_cast<size_t>(r.ptr - line))) return {Status::Error, pos};
        break;
      }
    }
  }
  return {Status::NeedMore, len};
}

void HttpParser::resume() {
  if (!paused_) return;
  paused_ = false;
  llhttp_resume(&parser_);
}

bool HttpParser::finish() {
  if (failed_) return false;
  if (upgrading_ || !in_message_) return true;
  llhttp_errno_t err = llhttp_finish(&parser_);
  if ((err == HPE_OK || err == HPE_PAUSED) && !in_message_) {
    if (pause_ == Pause::MessageComplete) {
      pause_ = Pause::None;
      paused_ = true;
    }
    return true;
  }
  fail(kind_ == Kind::Request ? 400 : 502, "truncated message");
  return false;
}

}  // namespace turnout
