// The one place where a message's body framing is decided and where ambiguous or smuggling-prone
// heads are rejected (RFC 9112 section 6). Pure functions over a parsed head; any thread.
#pragma once

#include <cstdint>

#include "turnout/common/error.h"
#include "turnout/config/config.h"
#include "turnout/http/message.h"

namespace turnout {

// Validates a complete request head and decides its framing, host and flags. Fills
// head.framing, head.host (normalize_host of Host or of the absolute-form authority; "" for
// an empty Host or a reg-name that is not a hostname, which match no route), head.host_header,
// head.expect_continue, and the Upgrade offer (decide_request_upgrade, upgrade.h).
// Errors (code 400 unless noted): CL together with TE; more than one CL field or a list of
// differing values; CL not pure digits (signs, spaces, empty) or overflowing; TE whose final
// coding is not exactly "chunked" or that lists anything besides chunked; missing Host on
// HTTP/1.1; more than one Host; a Host that is not a valid reg-name (host.h); absolute-form
// authority disagreeing with Host;
// a body over limits.max_body_bytes with a known length (413).
Result<void> decide_request_framing(RequestHead& head, const Limits& limits);

// Decides a response's framing given the request method (HEAD) and status: 1xx/204/304 and
// responses to HEAD have no body; CONNECT 2xx tunnels; else TE chunked, else CL, else until
// close. Rejects the same ambiguities as requests (code 502: the upstream is at fault).
Result<void> decide_response_framing(ResponseHead& head, uint8_t request_method);

// Parses a Content-Length value: digits only, no sign, no whitespace, at most 19 digits.
bool parse_content_length(std::string_view value, uint64_t* out);

}  // namespace turnout
