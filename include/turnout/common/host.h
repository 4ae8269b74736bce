// Host names as turnout routes them. One definition shared by the http layer (the Host header
// and absolute-form authorities) and the route layer (route keys from config and the admin API),
// so a request and a route can never disagree on what a host is. Pure functions, any thread.
#pragma once

#include <string>
#include <string_view>

namespace turnout {

// Host header (or absolute-form authority) -> lookup key: port stripped, lower-cased, one
// trailing dot removed. "[::1]:8080" -> "[::1]". Returns "" for an empty or invalid host: bytes
// outside [A-Za-z0-9._-] (sub-delims and '*' would let a client address a wildcard key
// directly), empty labels, a non-numeric port, an invalid IPv6 literal. Callers answer 400.
std::string normalize_host(std::string_view host);

// The same into `out`, reusing its capacity: the request path normalises every Host into the
// pooled request head's buffer, so a long host name costs no allocation per request. `out` is
// left empty for an empty or invalid host.
void normalize_host_into(std::string_view host, std::string& out);

// A lower-case DNS-style name: labels of [a-z0-9_-], 1-63 bytes each, 253 bytes at most.
bool valid_hostname(std::string_view name);

// The text between the brackets of an IPv6 literal (lower-case hex, ':' and '.').
bool valid_ipv6_literal(std::string_view inner);

}  // namespace turnout
