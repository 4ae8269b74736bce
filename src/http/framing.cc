// Framing decisions (RFC 9112 section 6.3) and the request checks that protect routing and the
// upstream from ambiguous heads. Everything that could be read two ways is an error: turnout
// never guesses, and it regenerates the framing headers it sends (rewrite.cc).
#include "turnout/http/framing.h"

#include <llhttp.h>

#include "turnout/http/host.h"
#include "turnout/http/upgrade.h"

namespace turnout {
namespace {

// Checks the Content-Length and Transfer-Encoding fields shared by both directions and fills
// `framing` with Length, Chunked or None (no framing header). `kind`: Invalid for a request
// (400), BadGateway for a response (502).
Result<void> decide_body_headers(const MessageHead& head, ErrorKind code, Framing* framing) {
  const HeaderField* cl = nullptr;
  const HeaderField* te = nullptr;
  size_t cl_count = 0;
  size_t te_count = 0;
  for (const HeaderField& h : head.headers) {
    if (h.token == HeaderToken::ContentLength) {
      cl = cl ? cl : &h;
      ++cl_count;
    } else if (h.token == HeaderToken::TransferEncoding) {
      te = te ? te : &h;
      ++te_count;
    }
  }
  if (cl && te) return make_error(code, "both Content-Length and Transfer-Encoding");
  if (cl_count > 1) return make_error(code, "duplicate Content-Length");
  if (te_count > 1) return make_error(code, "more than one Transfer-Encoding");
  if (cl) {
    uint64_t n = 0;
    if (!parse_content_length(head.value(*cl), &n)) return make_error(code, "invalid Content-Length");
    framing->kind = BodyKind::Length;
    framing->content_length = n;
    return {};
  }
  if (te) {
    // Only a lone "chunked" is accepted: any other coding would be forwarded as a body whose
    // encoding the next hop is no longer told about (we regenerate Transfer-Encoding).
    if (!iequals(head.value(*te), "chunked")) return make_error(code, "unsupported Transfer-Encoding");
    if (head.version_major == 1 && head.version_minor == 0) {
      return make_error(code, "Transfer-Encoding in an HTTP/1.0 message");  // RFC 9112 6.1
    }
    framing->kind = BodyKind::Chunked;
    framing->content_length = 0;
    return {};
  }
  framing->kind = BodyKind::None;
  framing->content_length = 0;
  return {};
}

}  // namespace

bool parse_content_length(std::string_view value, uint64_t* out) {
  if (value.empty() || value.size() > 19) return false;  // 19 digits always fit in 64 bits
  uint64_t n = 0;
  for (char c : value) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = n;
  return true;
}

Result<void> decide_request_framing(RequestHead& head, const Limits& limits) {
  Framing framing;
  if (auto r = decide_body_headers(head, ErrorKind::Invalid, &framing); !r) return r;
  if (framing.kind == BodyKind::Length && limits.max_body_bytes != 0 &&
      framing.content_length > limits.max_body_bytes) {
    return make_error(ErrorKind::TooLarge, "request body too large");
  }

  const HeaderField* host = nullptr;
  size_t host_count = 0;
  for (const HeaderField& h : head.headers) {
    if (h.token == HeaderToken::Host) {
      host = host ? host : &h;
      ++host_count;
    }
  }
  if (host_count > 1) return make_error(ErrorKind::Invalid, "more than one Host");
  if (!host && head.version_major == 1 && head.version_minor >= 1) return make_error(ErrorKind::Invalid, "missing Host");

  // Normalised straight into the head's buffer (pooled with the head: no allocation per request).
  std::string& host_key = head.host;
  host_key.clear();
  if (host) {
    std::string_view v = head.value(*host);
    normalize_host_into(v, host_key);
    // An empty Host is legal (RFC 9112 3.2) and routes like an unknown host, and so does a
    // reg-name that is not a hostname (host.h); junk is not.
    if (host_key.empty() && !v.empty() && !valid_reg_name_host(v)) return make_error(ErrorKind::Invalid, "invalid Host");
  }

  std::string_view target = head.str(head.target);
  std::string_view authority;
  std::string_view origin;
  if (split_absolute_form(target, &authority, &origin)) {
    std::string key = normalize_host(authority);
    if (key.empty() && !valid_reg_name_host(authority)) return make_error(ErrorKind::Invalid, "invalid authority in request target");
    if (host) {
      bool agree = key.empty() ? host_key.empty() && same_reg_name_host(authority, head.value(*host)) : key == host_key;
      if (!agree) return make_error(ErrorKind::Invalid, "request target authority disagrees with Host");
    }
    host_key = std::move(key);
  } else if (head.method == HTTP_CONNECT) {
    if (normalize_host(target).empty()) return make_error(ErrorKind::Invalid, "invalid CONNECT target");
  } else if (target != "*" && (target.empty() || target[0] != '/')) {
    return make_error(ErrorKind::Invalid, "invalid request target");
  } else if (target == "*" && head.method != HTTP_OPTIONS) {
    return make_error(ErrorKind::Invalid, "asterisk target outside OPTIONS");
  }

  bool expect_continue = false;
  for (const HeaderField& h : head.headers) {
    if (h.token == HeaderToken::Expect && iequals(head.value(h), "100-continue")) expect_continue = true;
  }

  head.framing = framing;
  head.host_header = host ? host->value : Slice{};
  head.expect_continue = expect_continue;
  decide_request_upgrade(head);
  return {};
}

Result<void> decide_response_framing(ResponseHead& head, uint8_t request_method) {
  // RFC 9112 4: status-code = 3DIGIT; RFC 9110 15: 100..599. llhttp takes "HTTP/1.1 \r\n" as 0.
  if (head.status < 100 || head.status > 599) return make_error(ErrorKind::BadGateway, "upstream status code out of range");
  Framing framing;
  if (auto r = decide_body_headers(head, ErrorKind::BadGateway, &framing); !r) return r;
  uint16_t s = head.status;
  if (s / 100 == 1 || s == 204 || s == 304 || request_method == HTTP_HEAD) {
    framing = Framing{};
  } else if (request_method == HTTP_CONNECT && s / 100 == 2) {
    framing = Framing{};
    head.upgrade = true;  // the connection is a tunnel from here on
  } else if (framing.kind == BodyKind::None) {
    framing.kind = BodyKind::UntilClose;
    head.keep_alive = false;  // the end of the body is the end of the connection
  }
  head.framing = framing;
  return {};
}

}  // namespace turnout
