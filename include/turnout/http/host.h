// Host handling for the http layer: the route key of a Host header or an absolute-form
// authority, and the split of an absolute-form request-target. Pure functions, any thread.
// normalize_host itself lives in common/host.h, shared with the route layer.
#pragma once

#include <string>
#include <string_view>

#include "turnout/common/host.h"

namespace turnout {

// True for a Host value (or absolute-form authority) that is a syntactically valid RFC 3986
// reg-name with an optional port: unreserved bytes, percent-encoded octets and sub-delims, but
// no ','. Such a host is legal on the wire, yet only hostnames are route keys (normalize_host):
// a reg-name that is not one (a=b, a!b, *.example.org, %41, a..b) matches no route and goes to
// default_app, else 404. ',' is refused: a Host that reads as a list of two is ambiguous.
bool valid_reg_name_host(std::string_view host);

// The same reg-name, ignoring ASCII case and any port: how an absolute-form authority that is
// not a hostname must agree with Host.
bool same_reg_name_host(std::string_view a, std::string_view b);

// If `target` is an absolute-form request-target ("http://authority/path?q", scheme http or
// https, any case), sets *authority and *origin (path and query; "" when absent; any fragment
// dropped) and returns true. Views point into `target`.
bool split_absolute_form(std::string_view target, std::string_view* authority, std::string_view* origin);

// The part of a request-target that path routes match (RouteTable::lookup): the origin form as
// is ("/api?q"), the path and query of an absolute form, "" for the authority form (CONNECT)
// and the asterisk form (OPTIONS *), which have no path. A view into `target`.
std::string_view routing_path(std::string_view target);

}  // namespace turnout
