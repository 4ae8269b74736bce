// The request-line check (RFC 9112 3): what llhttp 8.1 cannot express. llhttp knows a fixed
// list of methods (RFC 9110 9.1 allows any token), takes "RTSP/1.0" and "ICE/1.0" for HTTP, and
// refuses HTTP/1.2..1.9, which RFC 9110 2.5 says to handle as 1.1. So HttpParser reads the
// request line itself, checks it here, and hands llhttp a line it knows how to parse (see
// parser.cc). Pure functions; any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "turnout/common/error.h"

namespace turnout {

// Longest method accepted; a longer one is 501 (RFC 9112 3: "a method longer than any that it
// implements"). The longest registered method, UPDATEREDIRECTREF, has 17 bytes.
inline constexpr size_t kMaxMethodBytes = 32;

// Value of RequestHead::method for a method llhttp has no code for (QUERY, BREW, ...): a token
// forwarded as received, framed like any ordinary request. Not an llhttp_method_t value.
inline constexpr uint8_t kMethodExtension = 0xff;

struct RequestLine {
  std::string_view method;     // as received, a token
  std::string_view target;     // as received: 1*(VCHAR); llhttp checks it further
  uint8_t method_id = 0;       // llhttp_method_t of an HTTP method llhttp knows, else kMethodExtension
  uint8_t version_minor = 1;   // 0 or 1: HTTP/1.2..1.9 are handled as 1.1 (RFC 9110 2.5)
};

// Checks one request line, without its CRLF: method SP request-target SP HTTP-version, single
// spaces, nothing else. Fills *out (views into `line`) or answers:
//   400  not a token method, a method that differs from a standard one only in case ("get",
//        "Head": a server that folds case would frame it unlike turnout), PRI (the HTTP/2
//        preface), extra or missing spaces, a byte outside VCHAR in the target, a protocol
//        other than HTTP ("RTSP/1.0", "ICE/1.0"), a malformed version ("HTTP/1.10", "HTTP/1");
//   501  a method longer than kMaxMethodBytes;
//   505  HTTP/0.x, HTTP/2.0 and above (HTTP/2 only with prior knowledge, never in HTTP/1 syntax).
Result<void> parse_request_line(std::string_view line, RequestLine* out);

// Checks the beginning of a request line that is still arriving, so a long line of garbage is
// refused at once rather than after max_header_bytes: the same 400/501 answers for the method,
// as soon as they can be told. `part` is the line's first bytes, without CR or LF.
Result<void> check_request_line_prefix(std::string_view part);

// llhttp_method_t of a method llhttp parses in an HTTP/1.x request line, matched exactly; -1
// for any other token (including llhttp's RTSP-only methods, which it refuses with HTTP/).
int http_method_id(std::string_view method);

}  // namespace turnout
