// HttpParser over llhttp 8.1 (built in loose mode; no lenient flag is ever set).
//
// llhttp accepts a few things turnout must not forward or act on: a bare LF ending the start
// line or the head, obs-fold continuation lines, whitespace before the colon, empty header
// names, HTTP/0.9 and 2.x versions, and a bare LF ending a chunked trailer section. So the head
// (and the trailer section) is first scanned byte by byte here, and names and versions are
// checked in the callbacks. The scan also counts head bytes for the 431 limit, start line and
// line endings included.
#include "turnout/http/parser.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>

namespace turnout {
namespace {

using HeadAction = HttpParser::Events::HeadAction;

constexpr uint32_t kMaxChunkExtensionBytes = 256;  // per chunk; real clients send none
constexpr uint32_t kResponseMinHeadBytes = 65536;  // upstreams may send large Set-Cookie heads
constexpr uint32_t kResponseMinHeaders = 256;

constexpr std::array<bool, 256> kTchar = [] {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}();

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
    s.in_message_ = true;
    s.head_done_ = false;
    s.field_state_ = 0;
    s.chunk_ext_bytes_ = 0;
    return 0;
  }

  static int on_method(llhttp_t* p, const char* at, size_t len) {
    HttpParser& s = self(p);
    extend(s.head_, static_cast<RequestHead*>(s.head_)->method_name, at, len);
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

  static int on_header_field(llhttp_t* p, const char* at, size_t len) {
    HttpParser& s = self(p);
    if (s.head_done_) return 0;  // trailer fields: checked by scan(), then dropped
    if (s.field_state_ != 1) {
      uint32_t max = s.max_header_count();
      if (max != 0 && s.head_->headers.size() >= max) {
        s.fail(s.kind_ == HttpParser::Kind::Request ? 431 : 502, "too many header fields");
        return HPE_USER;
      }
      s.head_->headers.emplace_back();
      s.field_state_ = 1;
    }
    extend(s.head_, s.head_->headers.back().name, at, len);
    return 0;
  }

  static int on_header_field_complete(llhttp_t* p) {
    HttpParser& s = self(p);
    if (s.head_done_) return 0;
    HeaderField& h = s.head_->headers.back();
    std::string_view name = s.head_->name(h);
    // llhttp lets "Host :" and ": x" through; a name is a non-empty token (RFC 9110 5.1).
    bool ok = !name.empty() &&
              std::all_of(name.begin(), name.end(), [](char c) { return kTchar[static_cast<unsigned char>(c)]; });
    if (!ok) {
      s.fail(s.kind_ == HttpParser::Kind::Request ? 400 : 502, "invalid header name");
      return HPE_USER;
    }
    h.token = lookup_token(name);
    h.value.off = static_cast<uint32_t>(s.head_->storage.size());
    s.field_state_ = 2;
    return 0;
  }

  static int on_header_value(llhttp_t* p, const char* at, size_t len) {
    HttpParser& s = self(p);
    if (s.head_done_) return 0;
    extend(s.head_, s.head_->headers.back().value, at, len);
    return 0;
  }

  static int on_header_value_complete(llhttp_t* p) {
    HttpParser& s = self(p);
    if (s.head_done_) return 0;
    HeaderField& h = s.head_->headers.back();
    const std::string& st = s.head_->storage;
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
      // llhttp parses HTTP/0.9 and 2.x heads; turnout speaks HTTP/1.x only.
      s.fail(request ? (p->http_major == 0 ? 400 : 505) : 502, "unsupported HTTP version");
      return -1;
    }
    bool skip = false;  // the message has no body whatever its headers say
    if (request) {
      auto* req = static_cast<RequestHead*>(head);
      req->method = p->method;
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
    return skip ? 1 : 0;
  }

  static int on_body(llhttp_t* p, const char* at, size_t len) {
    self(p).events_->on_body(at, len);
    return 0;
  }

  static int on_chunk_extension(llhttp_t* p, const char* at, size_t len) {
    HttpParser& s = self(p);
    s.chunk_ext_bytes_ += static_cast<uint32_t>(len);
    if (s.chunk_ext_bytes_ > kMaxChunkExtensionBytes) {
      s.fail(s.kind_ == HttpParser::Kind::Request ? 400 : 502, "chunk extensions too long");
      return HPE_USER;
    }
    return 0;
  }

  static int on_chunk_header(llhttp_t* p) {
    HttpParser& s = self(p);
    s.chunk_ext_bytes_ = 0;
    if (p->content_length == 0) {
      // Last chunk: pause so feed() can scan the trailer section from here (llhttp would
      // accept a bare LF ending it).
      s.pause_ = HttpParser::Pause::Trailers;
      return HPE_PAUSED;
    }
    return 0;
  }

  static int on_message_complete(llhttp_t* p) {
    HttpParser& s = self(p);
    s.in_message_ = false;
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
      st.on_method = on_method;
      st.on_url = on_url;
      st.on_status = on_status;
      st.on_header_field = on_header_field;
      st.on_header_field_complete = on_header_field_complete;
      st.on_header_value = on_header_value;
      st.on_header_value_complete = on_header_value_complete;
      st.on_headers_complete = on_headers_complete;
      st.on_body = on_body;
      st.on_chunk_extension_name = on_chunk_extension;
      st.on_chunk_extension_value = on_chunk_extension;
      st.on_chunk_header = on_chunk_header;
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

void HttpParser::fail(int status, const char* reason) {
  if (failed_) return;
  failed_ = true;
  error_status_ = status;
  error_reason_ = reason;
}

void HttpParser::start_scan(bool trailers) {
  scan_ = Scan::LineStart;
  scan_seen_line_ = trailers;  // a trailer section has no start line: its first empty line ends it
  line_len_ = 0;
  head_bytes_ = 0;
}

bool HttpParser::scan(const char* data, size_t len) {
  int bad = kind_ == Kind::Request ? 400 : 502;
  uint32_t max = max_head_bytes();
  size_t i = 0;
  while (i < len && scan_ != Scan::Off) {
    unsigned char c = static_cast<unsigned char>(data[i]);
    if (scan_ == Scan::SawCR) {
      if (c != '\n') {
        fail(bad, "bare CR in head");
        return false;
      }
      ++i;
      if (line_len_ == 0) {
        // Empty line: ends the head, or is one of the CRLFs tolerated before a start line.
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
    fail(kind_ == Kind::Request ? 431 : 502, head_done_ ? "trailer section too large" : "head too large");
    return false;
  }
  return true;
}

HttpParser::Outcome HttpParser::feed(const char* data, size_t len) {
  if (failed_) return {Status::Error, 0};
  if (upgrading_) return {Status::Upgrade, 0};
  if (paused_) return {Status::MessageComplete, 0};
  size_t pos = 0;
  for (;;) {
    if (scan_ != Scan::Off && !scan(data + pos, len - pos)) return {Status::Error, pos};
    llhttp_errno_t err = llhttp_execute(&parser_, data + pos, len - pos);
    if (err == HPE_OK) return {Status::NeedMore, len};
    // Callbacks that failed set error_* themselves; llhttp errors are reported with its reason.
    const char* at = llhttp_get_error_pos(&parser_);
    size_t off = at ? static_cast<size_t>(at - data) : pos;
    if (err == HPE_PAUSED && pause_ == Pause::Trailers) {
      pause_ = Pause::None;
      llhttp_resume(&parser_);
      start_scan(true);
      pos = off;
      continue;
    }
    if (err == HPE_PAUSED && pause_ == Pause::MessageComplete) {
      pause_ = Pause::None;
      paused_ = true;
      return {Status::MessageComplete, off};
    }
    if (err == HPE_PAUSED_UPGRADE && upgrading_) return {Status::Upgrade, off};
    const char* reason = llhttp_get_error_reason(&parser_);
    fail(kind_ == Kind::Request ? 400 : 502, reason ? reason : llhttp_errno_name(err));
    return {Status::Error, off};
  }
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
