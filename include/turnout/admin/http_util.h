// Small HTTP helpers of the admin API: request-target splitting, percent-decoding, query
// parameters, If-Match and reason phrases. Pure functions, any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "turnout/common/error.h"

namespace turnout {

// "/v1/routes/a?wait=1" -> path "/v1/routes/a", query "wait=1". An absolute-form target
// ("http://x/v1/routes") is reduced to its path first.
struct RequestTarget {
  std::string_view path;   // starts with '/' for origin-form targets
  std::string_view query;  // without the '?', "" when absent
};
RequestTarget split_target(std::string_view target);

// "%2F" -> "/". '+' stays '+' (it is not a space in a path). nullopt for a malformed escape
// ("%G1", "%2") or an encoded NUL.
std::optional<std::string> percent_decode(std::string_view text);

// The decoded value of query parameter `key` ("wait" in "a=1&wait=1"); nullopt when absent,
// "" for "wait" or "wait=".
std::optional<std::string> query_param(std::string_view query, std::string_view key);

// A query flag: present and one of "", "1", "true", "yes".
bool query_flag(std::string_view query, std::string_view key);

// If-Match value -> version. Accepts `7` and `"7"` (an entity tag) with optional spaces around.
// Error 400 for anything else.
Result<uint64_t> parse_if_match(std::string_view value);

// "OK", "Not Found", ...; "Unknown" for codes the admin API never sends.
const char* admin_reason_phrase(int status);

}  // namespace turnout
