#include "turnout/http/h2_headers.h"

#include <llhttp.h>

#include <algorithm>
#include <charconv>

#include "turnout/http/error_status.h"
#include "turnout/http/framing.h"
#include "turnout/http/header.h"
#include "turnout/http/request_line.h"

namespace turnout {

namespace {

constexpr size_t kFieldOverhead = 32;  // RFC 9113 6.5.2: the size of a field counts 32 more

bool has_upper(std::string_view s) {
  for (char c : s)
    if (c >= 'A' && c <= 'Z') return true;
  return false;
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!is_tchar(c)) return false;
  return true;
}

// RFC 9113 8.2.1: no NUL, CR or LF anywhere; no leading or trailing SP / HTAB.
bool valid_value(std::string_view v) {
  for (char c : v)
    if (c == '\0' || c == '\r' || c == '\n') return false;
  if (!v.empty() && (v.front() == ' ' || v.front() == '\t' || v.back() == ' ' || v.back() == '\t')) return false;
  return true;
}

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// Names listed in the Connection fields of `head` (dropped with it).
bool named_in_connection(const MessageHead& head, std::string_view name) {
  bool found = false;
  for (const HeaderField& h : head.headers) {
    if (h.token != HeaderToken::Connection) continue;
    for_each_list_element(head.value(h), [&](std::string_view el) { found = found || iequals(el, name); });
  }
  return found;
}

// Fields an HTTP/2 message never carries (RFC 9113 8.2.2), and the ones regenerated.
bool dropped_towards_h2(const MessageHead& head, const HeaderField& h, bool any_connection) {
  if (token_flags(h.token) & (kHopByHop | kFraming)) return true;
  return any_connection && named_in_connection(head, head.name(h));
}

// RFC 9113 8.2.2: fields that only mean something to one HTTP/1.1 connection; in an HTTP/2 header
// or trailer block they make the message malformed.
bool connection_specific(HeaderToken t) {
  switch (t) {
    case HeaderToken::Connection:
    case HeaderToken::KeepAlive:
    case HeaderToken::ProxyConnection:
    case HeaderToken::TransferEncoding:
    case HeaderToken::Upgrade:
    case HeaderToken::Http2Settings:
      return true;
    default:
      return false;
  }
}

void push_lower(std::string& storage, std::string_view name, std::string_view& out) {
  size_t at = storage.size();
  for (char c : name) storage.push_back(lower(c));
  out = std::string_view(storage).substr(at, name.size());
}

}  // namespace

void H2RequestBuilder::begin(RequestHead* head, const Limits* limits) {
  head_ = head;
  limits_ = limits;
  head_->clear();
  cookie_.clear();
  authority_.clear();
  host_.clear();
  method_ = path_ = Slice{};
  bytes_ = fields_ = 0;
  cl_ = 0;
  reason_ = {};
  status_ = 0;
  error_ = H2HeadError::None;
  has_method_ = has_scheme_ = has_path_ = has_authority_ = has_host_ = false;
  regular_seen_ = false;
  has_cl_ = false;
}

H2HeadError H2RequestBuilder::fail(H2HeadError e, int status, std::string_view why) {
  if (error_ == H2HeadError::None) {
    error_ = e;
    status_ = status;
    reason_ = why;
  }
  return error_;
}

void H2RequestBuilder::append_field(std::string_view name, std::string_view value) {
  std::string& s = head_->storage;
  HeaderField f;
  f.name = Slice{static_cast<uint32_t>(s.size()), static_cast<uint32_t>(name.size())};
  s.append(name);
  f.value = Slice{static_cast<uint32_t>(s.size()), static_cast<uint32_t>(value.size())};
  s.append(value);
  f.token = lookup_token(name);
  head_->headers.push_back(f);
}

H2HeadError H2RequestBuilder::add(std::string_view name, std::string_view value) {
  if (error_ != H2HeadError::None) return error_;
  bytes_ += name.size() + value.size() + kFieldOverhead;
  ++fields_;
  // Counted over the whole block, whatever number of CONTINUATION frames carried it.
  if (limits_ && limits_->max_header_bytes && bytes_ > limits_->max_header_bytes)
    return fail(H2HeadError::Respond, 431, "request header block too large");
  if (limits_ && limits_->max_headers && fields_ > limits_->max_headers + 4)  // + the pseudo-headers
    return fail(H2HeadError::Respond, 431, "too many request header fields");
  if (name.empty()) return fail(H2HeadError::Malformed, 400, "empty header name");
  if (!valid_value(value)) return fail(H2HeadError::Malformed, 400, "invalid header value");
  if (name[0] == ':') {
    if (regular_seen_) return fail(H2HeadError::Malformed, 400, "pseudo-header after a regular field");
    auto once = [&](bool& seen) {
      if (seen) return false;
      seen = true;
      return true;
    };
    std::string& s = head_->storage;
    if (name == ":method") {
      if (!once(has_method_) || !is_token(value)) return fail(H2HeadError::Malformed, 400, "bad :method");
      method_ = Slice{static_cast<uint32_t>(s.size()), static_cast<uint32_t>(value.size())};
      s.append(value);
    } else if (name == ":path") {
      if (!once(has_path_) || value.empty()) return fail(H2HeadError::Malformed, 400, "bad :path");
      path_ = Slice{static_cast<uint32_t>(s.size()), static_cast<uint32_t>(value.size())};
      s.append(value);
    } else if (name == ":scheme") {
      if (!once(has_scheme_) || value.empty()) return fail(H2HeadError::Malformed, 400, "bad :scheme");
    } else if (name == ":authority") {
      if (!once(has_authority_)) return fail(H2HeadError::Malformed, 400, "more than one :authority");
      authority_.assign(value);
    } else {
      // :protocol (extended CONNECT) is not offered; :status belongs to responses.
      return fail(H2HeadError::Malformed, 400, "unknown pseudo-header");
    }
    return H2HeadError::None;
  }
  regular_seen_ = true;
  if (has_upper(name) || !is_token(name)) return fail(H2HeadError::Malformed, 400, "invalid header name");
  HeaderToken t = lookup_token(name);
  if (connection_specific(t)) return fail(H2HeadError::Malformed, 400, "connection-specific header field");
  switch (t) {
    case HeaderToken::TE:
      if (value != "trailers") return fail(H2HeadError::Malformed, 400, "te other than trailers");
      return H2HeadError::None;  // hop-by-hop: not forwarded over HTTP/1.1
    case HeaderToken::Host:
      if (!once_host()) return fail(H2HeadError::Malformed, 400, "more than one host");
      host_.assign(value);
      return H2HeadError::None;  // Host is written once, in finish()
    case HeaderToken::ContentLength: {
      uint64_t n = 0;
      if (!parse_content_length(value, &n) || (has_cl_ && n != cl_))
        return fail(H2HeadError::Malformed, 400, "invalid content-length");
      if (has_cl_) return H2HeadError::None;  // the same value twice: sent once
      has_cl_ = true;
      cl_ = n;
      break;
    }
    default:
      if (name == "cookie") {
        // RFC 9113 8.2.3: crumbs are joined with "; " into one field for HTTP/1.1.
        if (!cookie_.empty()) cookie_.append("; ");
        cookie_.append(value);
        return H2HeadError::None;
      }
      break;
  }
  append_field(name, value);
  return H2HeadError::None;
}

bool H2RequestBuilder::once_host() {
  if (has_host_) return false;
  has_host_ = true;
  return true;
}

H2HeadError H2RequestBuilder::finish(bool end_stream) {
  if (error_ != H2HeadError::None) return error_;
  RequestHead& h = *head_;
  if (!has_method_) return fail(H2HeadError::Malformed, 400, "missing :method");
  std::string_view method = h.str(method_);
  if (method == "CONNECT") return fail(H2HeadError::Respond, 501, "CONNECT is not supported over HTTP/2");
  if (!has_scheme_ || !has_path_) return fail(H2HeadError::Malformed, 400, "missing :scheme or :path");
  if (has_authority_ && has_host_ && !iequals(authority_, host_))
    return fail(H2HeadError::Malformed, 400, ":authority and host differ");
  if (!cookie_.empty()) append_field("cookie", cookie_);
  // Host first, as an HTTP/1.1 client writes it; an absent one is an empty Host (routes like
  // an unknown host).
  append_field("host", has_authority_ ? std::string_view(authority_) : std::string_view(host_));
  std::rotate(h.headers.begin(), h.headers.end() - 1, h.headers.end());
  h.method_name = method_;
  h.target = path_;
  method = h.str(method_);  // storage grew above: the earlier view may be stale
  int id = http_method_id(method);
  h.method = id >= 0 ? static_cast<uint8_t>(id) : kMethodExtension;
  h.version_major = 1;
  h.version_minor = 1;
  h.keep_alive = true;
  if (auto r = decide_request_framing(h, *limits_); !r) {
    int st = http_status(r.error().kind);
    return fail(H2HeadError::Respond, st == 500 ? 400 : st, st == 413 ? "request body too large" : "bad request");
  }
  if (end_stream) {
    if (has_cl_ && cl_ != 0) return fail(H2HeadError::Malformed, 400, "content-length without DATA");
    h.framing = Framing{has_cl_ ? BodyKind::Length : BodyKind::None, 0};
  } else if (!has_cl_) {
    // A body of unknown length: chunked towards the server.
    h.framing = Framing{BodyKind::Chunked, 0};
  }
  return H2HeadError::None;
}

void H2TrailerBuilder::begin(MessageHead* trailers, const Limits* limits, size_t head_bytes, size_t head_fields) {
  trailers_ = trailers;
  limits_ = limits;
  trailers_->clear();
  bytes_ = head_bytes;
  fields_ = head_fields;
  reason_ = {};
  error_ = H2HeadError::None;
}

H2HeadError H2TrailerBuilder::fail(H2HeadError e, std::string_view why) {
  if (error_ == H2HeadError::None) {
    error_ = e;
    reason_ = why;
  }
  return error_;
}

H2HeadError H2TrailerBuilder::add(std::string_view name, std::string_view value) {
  if (error_ != H2HeadError::None) return error_;
  bytes_ += name.size() + value.size() + kFieldOverhead;
  ++fields_;
  if (limits_ && limits_->max_header_bytes && bytes_ > limits_->max_header_bytes)
    return fail(H2HeadError::Respond, "request trailers too large");
  if (limits_ && limits_->max_headers && fields_ > limits_->max_headers + 4)  // as the head block
    return fail(H2HeadError::Respond, "too many request trailer fields");
  // RFC 9113 8.1: a trailer block carries no pseudo-header.
  if (!name.empty() && name[0] == ':') return fail(H2HeadError::Malformed, "pseudo-header in trailers");
  if (has_upper(name) || !is_token(name)) return fail(H2HeadError::Malformed, "invalid trailer name");
  if (!valid_value(value)) return fail(H2HeadError::Malformed, "invalid trailer value");
  HeaderToken t = lookup_token(name);
  if (connection_specific(t)) return fail(H2HeadError::Malformed, "connection-specific trailer field");
  if (t == HeaderToken::TE && value != "trailers") return fail(H2HeadError::Malformed, "te other than trailers");
  std::string& s = trailers_->storage;
  HeaderField f;
  f.name = Slice{static_cast<uint32_t>(s.size()), static_cast<uint32_t>(name.size())};
  s.append(name);
  f.value = Slice{static_cast<uint32_t>(s.size()), static_cast<uint32_t>(value.size())};
  s.append(value);
  f.token = t;
  trailers_->headers.push_back(f);
  return H2HeadError::None;
}

void build_h2_response_fields(const ResponseHead& head, const Framing& framing, std::string& storage,
                              std::vector<std::pair<std::string_view, std::string_view>>& out) {
  out.clear();
  storage.clear();
  // Nothing below appends past this: the views taken stay valid.
  storage.reserve(head.storage.size() + 64);
  char num[24];
  auto r = std::to_chars(num, num + sizeof num, static_cast<unsigned>(head.status));
  size_t at = storage.size();
  storage.append(num, r.ptr);
  out.emplace_back(":status", std::string_view(storage).substr(at));
  bool any_connection = head.find(HeaderToken::Connection) != nullptr;
  bool metadata_cl = framing.kind == BodyKind::None && head.status / 100 != 1 && head.status != 204;
  for (const HeaderField& h : head.headers) {
    if (metadata_cl && h.token == HeaderToken::ContentLength) {
      out.emplace_back("content-length", head.value(h));
      metadata_cl = false;  // one is enough
      continue;
    }
    if (dropped_towards_h2(head, h, any_connection)) continue;
    std::string_view name;
    push_lower(storage, head.name(h), name);
    out.emplace_back(name, head.value(h));
  }
  if (framing.kind == BodyKind::Length) {
    r = std::to_chars(num, num + sizeof num, framing.content_length);
    at = storage.size();
    storage.append(num, r.ptr);
    out.emplace_back("content-length", std::string_view(storage).substr(at));
  }
  out.emplace_back("via", "1.1 turnout");
}

void build_h2_trailer_fields(const MessageHead& trailers, std::string& storage,
                             std::vector<std::pair<std::string_view, std::string_view>>& out) {
  out.clear();
  storage.clear();
  // Names and values are both copied: the trailers belong to a server connection that may parse
  // its next response before this stream's trailer HEADERS frame is written. Nothing below
  // appends past this reservation, so the views taken stay valid.
  storage.reserve(trailers.storage.size());
  for (const HeaderField& h : trailers.headers) {
    std::string_view name = trailers.name(h);
    if (!allowed_in_trailer(h.token, name)) continue;  // connection-specific ones among them
    std::string_view lname;
    push_lower(storage, name, lname);
    size_t at = storage.size();
    storage.append(trailers.value(h));
    out.emplace_back(lname, std::string_view(storage).substr(at));
  }
}

}  // namespace turnout
