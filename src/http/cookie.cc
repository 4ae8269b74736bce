#include "turnout/http/cookie.h"

#include "turnout/http/header.h"

namespace turnout {

bool has_cookie(const MessageHead& head, std::string_view name, std::string_view value) {
  for (const HeaderField& h : head.headers) {
    if (h.token != HeaderToken::Cookie) continue;
    if (for_each_cookie(head.value(h), [&](std::string_view n, std::string_view v) { return n == name && v == value; }))
      return true;
  }
  return false;
}

std::string_view find_cookie(const MessageHead& head, std::string_view name, bool& found) {
  std::string_view out;
  found = false;
  for (const HeaderField& h : head.headers) {
    if (h.token != HeaderToken::Cookie) continue;
    found = for_each_cookie(head.value(h), [&](std::string_view n, std::string_view v) {
      if (n != name) return false;
      out = v;
      return true;
    });
    if (found) break;
  }
  return out;
}

bool has_header_value(const MessageHead& head, std::string_view name, std::string_view value) {
  for (const HeaderField& h : head.headers)
    if (head.value(h) == value && iequals(head.name(h), name)) return true;
  return false;
}

}  // namespace turnout
