// Paths as turnout routes them ("example.com/api" route keys). One definition shared by the
// config and admin API (keys) and the proxy (request targets), so a key and a request can never
// disagree on what a path is. Pure functions, any thread.
//
// Matching form (RFC 3986 6.2.2): percent-encoded unreserved characters (ALPHA DIGIT - . _ ~)
// decoded, other percent-encodings kept with upper-case hex ("%2f" -> "%2F", which stays one
// byte of a segment, never a separator), dot-segments removed (5.2.4), query and fragment
// dropped; case kept. The request itself is always forwarded as received: this form is only
// compared against route keys.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace turnout {

// Longest path a route key may have, in bytes after canonicalisation.
inline constexpr size_t kMaxRoutePathLength = 1024;

// The matching form of an origin-form request target ("/a/./b?q" -> "/a/b") written into `out`,
// which must hold at least target.size() bytes (the form is never longer). Returns its length;
// 0 when `target` does not start with '/' (asterisk, authority form: no path). A malformed
// escape ("%zz", "%4") is kept as its bytes, so it can only fail to match.
size_t normalize_request_path(std::string_view target, char* out);

// The same into a string (tests, and request paths too long for a caller's stack buffer).
std::string normalize_request_path(std::string_view target);

// The path part of a route key in its stored form, or "" with `*why` set when it is not one:
// starts with '/', bytes are RFC 3986 pchar or '/', escapes are %HH, no empty, "." or ".."
// segment (also encoded), not the bare "/" (that is the host's own key), at most
// kMaxRoutePathLength bytes. Stored form: the matching form above, without a trailing '/'
// ("/api/" and "/%61pi" are both stored as "/api").
std::string canonical_route_path(std::string_view path, std::string* why);

// A route key as given in config or the admin API ("Example.COM./api/") -> its stored form
// ("example.com/api"): the host part (a hostname, an IP literal in brackets, or "*." and a
// hostname) lower-cased with one trailing dot dropped, then '/' and canonical_route_path of the
// rest, if any. "" with `*why` set when it is not a key.
std::string canonical_route_key(std::string_view raw, std::string* why);

// Splits a stored key at its first '/': "example.com/api" -> ("example.com", "/api");
// a bare host key has an empty path.
inline std::string_view route_key_host(std::string_view key) { return key.substr(0, key.find('/')); }
inline std::string_view route_key_path(std::string_view key) {
  size_t slash = key.find('/');
  return slash == std::string_view::npos ? std::string_view() : key.substr(slash);
}

}  // namespace turnout
