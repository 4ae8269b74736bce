// Base64 (RFC 4648 section 4, standard alphabet, '=' padding): etcd's JSON gateway carries keys
// and values as base64 strings. Plain functions, any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace turnout {

std::string base64_encode(std::string_view bytes);
// Strict: only the standard alphabet, length a multiple of 4, padding only at the end, and the
// unused bits of the last symbol zero. nullopt for anything else.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace turnout
