// UTF-8 validation. Config text, admin JSON and the state file are UTF-8: a string that is not
// is refused where it enters (the config loader, `turnout ctl`) rather than silently replaced
// with U+FFFD — a replaced byte in a unix socket path or a health-check path would name a
// different thing after the next restart.
#pragma once

#include <cstddef>
#include <string_view>

namespace turnout {

// Strict RFC 3629: no overlong forms, no surrogates (U+D800..U+DFFF), nothing above U+10FFFF.
bool is_valid_utf8(std::string_view s);

// Offset of the first byte that breaks UTF-8, or s.size() when it is all valid.
size_t utf8_error_offset(std::string_view s);

}  // namespace turnout
