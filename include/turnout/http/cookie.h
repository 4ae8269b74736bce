// Reading cookies of a request (RFC 6265 5.4 "name=value; name2=value2"), for route rules and
// affinity. Every Cookie field of the head is read (HTTP/1.1 clients may send several; HTTP/2
// crumbs arrive joined by h2_headers.cc). Allocation-free: views into the head. Any thread.
#pragma once

#include <string_view>

#include "turnout/http/message.h"

namespace turnout {

// Calls fn(name, value) for each cookie-pair of one Cookie field value, in order, names and
// values trimmed of spaces and tabs, a value's surrounding DQUOTEs kept (compared as sent).
// Pairs without '=' or with an empty name are skipped. Stops early when fn returns true;
// returns whether it did.
template <class Fn>
bool for_each_cookie(std::string_view field, Fn&& fn) {
  size_t i = 0;
  while (i < field.size()) {
    size_t end = field.find(';', i);
    if (end == std::string_view::npos) end = field.size();
    std::string_view pair = field.substr(i, end - i);
    i = end + 1;
    size_t eq = pair.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view name = pair.substr(0, eq), value = pair.substr(eq + 1);
    while (!name.empty() && (name.front() == ' ' || name.front() == '\t')) name.remove_prefix(1);
    while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    if (name.empty()) continue;
    if (fn(name, value)) return true;
  }
  return false;
}

// Whether some cookie `name` (case-sensitive) of `head` has exactly `value`.
bool has_cookie(const MessageHead& head, std::string_view name, std::string_view value);

// The value of the first cookie `name` of `head`; found = false when it has none.
std::string_view find_cookie(const MessageHead& head, std::string_view name, bool& found);

// Whether some field `name` (case-insensitive) of `head` has exactly `value`.
bool has_header_value(const MessageHead& head, std::string_view name, std::string_view value);

}  // namespace turnout
