// Host handling for the http layer: the route key of a Host header or an absolute-form
// authority, and the split of an absolute-form request-target. Pure functions, any thread.
// normalize_host is also declared by route/route_table.h (the route layer's own copy, since http
// must not depend on route); both follow the same contract until the two are merged.
#pragma once

#include <string>
#include <string_view>

namespace turnout {

// Host header (or absolute-form authority) -> lookup key: port stripped, lower-cased, one
// trailing dot removed. "[::1]:8080" -> "[::1]". Returns "" for an empty or invalid host
// (bytes outside the reg-name / IP-literal grammar, a non-numeric port, empty labels),
// which callers answer with 400.
std::string normalize_host(std::string_view host);

// If `target` is an absolute-form request-target ("http://authority/path?q", scheme http or
// https, any case), sets *authority and *origin (path and query; "" when absent; any fragment
// dropped) and returns true. Views point into `target`.
bool split_absolute_form(std::string_view target, std::string_view* authority, std::string_view* origin);

}  // namespace turnout
