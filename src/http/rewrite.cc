// Outgoing heads. Each is built by appending to `out` from the parsed head's own storage:
// nothing here holds a view into `out`, so growing it can never corrupt what is still to be
// copied (HAProxy 48afa73af). No allocation per header: Connection-named headers are looked
// up in place, and the combined X-Forwarded-For / Via values are written field by field.
#include "turnout/http/rewrite.h"

#include <array>
#include <charconv>

#include "turnout/http/host.h"

namespace turnout {
namespace {

// The header names listed in the Connection fields of a head, collected once. Lists are split
// with bounds checks and empty elements skipped, so "Connection: , X-Forwarded-For" still
// names X-Forwarded-For (Go CVE-2021-33197). "close" and names that are hop-by-hop anyway are
// not kept, so the usual "Connection: keep-alive" costs nothing per header. Past kMax names
// the lists are searched again for each header instead (no allocation, no overflow).
class ConnectionNames {
 public:
  explicit ConnectionNames(const MessageHead& head) : head_(head) {
    for (const HeaderField& h : head.headers) {
      if (h.token != HeaderToken::Connection) continue;
      for_each_list_element(head.value(h), [this](std::string_view el) {
        if (!counts(el)) return;
        if (count_ < kMax) names_[count_] = el;
        ++count_;
      });
    }
  }

  // "close" is a connection option, not a header name; hop-by-hop names are dropped anyway.
  static bool counts(std::string_view el) {
    return !iequals(el, "close") && !(token_flags(lookup_token(el)) & kHopByHop);
  }

  bool empty() const { return count_ == 0; }

  bool contains(std::string_view name) const {
    if (count_ == 0) return false;
    if (count_ <= kMax) {
      for (size_t i = 0; i < count_; ++i) {
        if (iequals(names_[i], name)) return true;
      }
      return false;
    }
    bool found = false;
    for (const HeaderField& h : head_.headers) {
      if (h.token != HeaderToken::Connection) continue;
      // Same filter as the constructor: the answer must not depend on how many names there are.
      for_each_list_element(head_.value(h), [&](std::string_view el) { found |= counts(el) && iequals(el, name); });
      if (found) return true;
    }
    return false;
  }

 private:
  static constexpr size_t kMax = 16;
  const MessageHead& head_;
  std::array<std::string_view, kMax> names_{};  // views into head_.storage
  size_t count_ = 0;                            // names seen, may exceed kMax
};

// Whether a received header is copied as is. Framing, hop-by-hop and Connection-named headers
// are dropped; `keep_upgrade` keeps Upgrade for a protocol switch, `keep_framing` keeps the
// framing headers of a response that has no body anyway. X-Forwarded-For and Via are combined
// by the callers and X-Forwarded-Proto/-Host replaced (requests only).
bool pass_through(const MessageHead& head, const HeaderField& h, const ConnectionNames& named, bool keep_upgrade,
                  bool keep_framing = false) {
  uint32_t flags = token_flags(h.token);
  if (flags & kFraming) return keep_framing;
  if (flags & kHopByHop) return keep_upgrade && h.token == HeaderToken::Upgrade;
  if (h.token == HeaderToken::Via) return false;
  // Host must reach the upstream whatever the client lists; the others we generate anyway.
  if (h.token != HeaderToken::Host && named.contains(head.name(h))) return false;
  return true;
}

void append_header(std::string& out, std::string_view name, std::string_view value) {
  out.append(name);
  out.append(": ");
  out.append(value);
  out.append("\r\n");
}

void append_number(std::string& out, uint64_t n) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), n);
  out.append(buf, r.ptr);
}

// Writes "Name: v1, v2, ..., extra\r\n" from every field with `token`, then `extra`. When the
// received Connection header names the field, the received values are hop-by-hop and dropped.
void append_combined(std::string& out, const MessageHead& head, HeaderToken token, std::string_view name,
                     std::string_view extra, bool drop_received = false) {
  out.append(name);
  out.append(": ");
  bool first = true;
  for (const HeaderField& h : head.headers) {
    if (h.token != token || drop_received) continue;
    std::string_view v = head.value(h);
    if (v.empty()) continue;
    if (!first) out.append(", ");
    out.append(v);
    first = false;
  }
  if (!extra.empty()) {
    if (!first) out.append(", ");
    out.append(extra);
  }
  out.append("\r\n");
}

void append_framing(std::string& out, const Framing& framing) {
  if (framing.kind == BodyKind::Length) {
    out.append("Content-Length: ");
    append_number(out, framing.content_length);
    out.append("\r\n");
  } else if (framing.kind == BodyKind::Chunked) {
    out.append("Transfer-Encoding: chunked\r\n");
  }
}

size_t estimate(const MessageHead& head) { return head.storage.size() + head.headers.size() * 4 + 256; }

constexpr std::string_view kVia = "1.1 turnout";

}  // namespace

void build_upstream_request(const RequestHead& head, const Framing& framing, const ForwardContext& ctx,
                            std::string& out) {
  out.reserve(out.size() + estimate(head) + ctx.client_ip.size());
  std::string_view target = head.str(head.target);
  std::string_view authority;
  std::string_view origin;
  bool absolute = split_absolute_form(target, &authority, &origin);

  out.append(head.str(head.method_name));
  out.push_back(' ');
  if (absolute) {
    if (origin.empty() || origin[0] != '/') out.push_back('/');
    out.append(origin);
  } else {
    out.append(target);
  }
  out.append(" HTTP/1.1\r\n");

  const HeaderField* host = head.find(HeaderToken::Host);
  std::string_view received_host = host ? head.value(*host) : authority;
  if (!host) append_header(out, "Host", received_host);  // HTTP/1.0 or absolute-form without Host

  ConnectionNames named(head);
  bool has_xff = false;
  bool kept_proto = false, kept_host = false;  // a trusted proxy's -Proto / -Host passed through
  const bool trusted = ctx.trust == ForwardTrust::Trusted;
  for (const HeaderField& h : head.headers) {
    if (h.token == HeaderToken::XForwardedFor) {
      has_xff = true;
      continue;
    }
    if (token_flags(h.token) & kRewrittenByProxy) {
      // A TLS terminator in front says the client spoke https: from a trusted peer that is
      // the truth, and our own "http" would be a lie.
      if (!trusted || named.contains(head.name(h)) || head.value(h).empty()) continue;
      append_header(out, head.name(h), head.value(h));
      (h.token == HeaderToken::XForwardedProto ? kept_proto : kept_host) = true;
      continue;
    }
    // Upgrade never passes as received: the offer is regenerated below from the allowed
    // protocols only, so "Upgrade: h2c, websocket" reaches the server as "websocket".
    if (!pass_through(head, h, named, false)) continue;
    append_header(out, head.name(h), head.value(h));
  }
  // Appended to, never trusted: the client's own claims stay first and ours is last. An
  // X-Forwarded-For named in Connection is dropped (the client may retract its own claim).
  // With trusted_proxies set, an untrusted peer's claims are dropped altogether.
  if (has_xff && named.contains("X-Forwarded-For")) has_xff = false;
  if (ctx.trust == ForwardTrust::Untrusted) has_xff = false;
  if (has_xff) {
    append_combined(out, head, HeaderToken::XForwardedFor, "X-Forwarded-For", ctx.client_ip);
  } else if (!ctx.client_ip.empty()) {
    append_header(out, "X-Forwarded-For", ctx.client_ip);
  }
  if (!kept_proto) append_header(out, "X-Forwarded-Proto", ctx.proto);
  if (!kept_host && !received_host.empty()) append_header(out, "X-Forwarded-Host", received_host);
  if (!ctx.request_id.empty()) append_header(out, "X-Request-Id", ctx.request_id);
  append_combined(out, head, HeaderToken::Via, "Via", kVia, named.contains("Via"));
  append_framing(out, framing);
  std::string_view protocols = head.str(head.upgrade_protocols);
  if (ctx.upgrade && !protocols.empty()) {
    append_header(out, "Upgrade", protocols);
    out.append("Connection: upgrade\r\n");
  }
  out.append("\r\n");
}

void build_downstream_response(const ResponseHead& head, const Framing& framing, uint8_t client_minor_version,
                               bool keep_alive, std::string& out) {
  out.reserve(out.size() + estimate(head));
  bool switching = head.status == 101 && head.upgrade;
  out.append(client_minor_version == 0 ? "HTTP/1.0 " : "HTTP/1.1 ");
  append_number(out, head.status);
  out.push_back(' ');
  std::string_view reason = head.str(head.reason);
  out.append(reason.empty() ? reason_phrase(head.status) : reason);
  out.append("\r\n");

  // A HEAD or 304 response announces the length of a body it does not carry (RFC 9110 8.6):
  // that metadata is forwarded as received (framing.cc validated it); no body follows.
  // 1xx and 204 must not carry it, nor a 2xx to CONNECT.
  bool metadata_only = framing.kind == BodyKind::None && head.status / 100 != 1 && head.status != 204 && !head.upgrade;
  ConnectionNames named(head);
  for (const HeaderField& h : head.headers) {
    if (!pass_through(head, h, named, switching, metadata_only)) continue;
    // RFC 9112 6.1: no Transfer-Encoding to a client that did not speak HTTP/1.1, not even as
    // metadata of a body that is not sent.
    if (h.token == HeaderToken::TransferEncoding && client_minor_version == 0) continue;
    append_header(out, head.name(h), head.value(h));
  }
  append_combined(out, head, HeaderToken::Via, "Via", kVia, named.contains("Via"));
  if (!metadata_only) append_framing(out, framing);
  if (switching) {
    out.append("Connection: upgrade\r\n");
  } else if (!keep_alive) {
    out.append("Connection: close\r\n");
  } else if (client_minor_version == 0) {
    out.append("Connection: keep-alive\r\n");
  }
  out.append("\r\n");
}

void build_last_chunk(const MessageHead* trailers, std::string& out) {
  out.append("0\r\n");
  if (trailers) {
    for (const HeaderField& h : trailers->headers) {
      std::string_view name = trailers->name(h);
      if (!allowed_in_trailer(h.token, name)) continue;
      out.append(name);
      out.append(": ");
      out.append(trailers->value(h));
      out.append("\r\n");
    }
  }
  out.append("\r\n");
}

void build_error_response(int status, std::string_view body, bool keep_alive, std::string& out) {
  out.reserve(out.size() + body.size() + 128);
  out.append("HTTP/1.1 ");
  append_number(out, static_cast<uint64_t>(status));
  out.push_back(' ');
  out.append(reason_phrase(status));
  out.append("\r\nContent-Type: text/plain\r\nContent-Length: ");
  append_number(out, body.size() + 1);
  out.append("\r\n");
  if (!keep_alive) out.append("Connection: close\r\n");
  out.append("\r\n");
  out.append(body);
  out.push_back('\n');
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 417: return "Expectation Failed";
    case 421: return "Misdirected Request";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

}  // namespace turnout
