// Host handling for the http layer: the route key of a Host header or an absolute-form
// authority, and the split of an absolute-form request-target. Pure functions, any thread.
// normalize_host itself lives in common/host.h, shared with the route layer.
#pragma once

#include <string>
#include <string_view>

#include "turnout/common/host.h"

namespace turnout {

// If `target` is an absolute-form request-target ("http://authority/path?q", scheme http or
// https, any case), sets *authority and *origin (path and query; "" when absent; any fragment
// dropped) and returns true. Views point into `target`.
bool split_absolute_form(std::string_view target, std::string_view* authority, std::string_view* origin);

}  // namespace turnout
