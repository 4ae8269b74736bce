#include "turnout/common/path_key.h"

#include <algorithm>

#include "turnout/common/hex.h"
#include "turnout/common/host.h"

namespace turnout {

namespace {

bool is_unreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

// RFC 3986 pchar without the escapes: unreserved, sub-delims, ':' and '@'.
bool is_plain_pchar(unsigned char c) {
  if (is_unreserved(c)) return true;
  switch (c) {
    case '!': case '$': case '&': case '\'': case '(': case ')': case '*': case '+': case ',': case ';':
    case '=': case ':': case '@':
      return true;
    default:
      return false;
  }
}

constexpr char kHexUpper[] = "0123456789ABCDEF";

}  // namespace

size_t normalize_request_path(std::string_view target, char* out) {
  if (target.empty() || target.front() != '/') return 0;
  size_t end = target.find_first_of("?#");
  if (end != std::string_view::npos) target = target.substr(0, end);
  // One pass, segment by segment: out[0, len) is the output buffer of RFC 3986 5.2.4. Each
  // segment is decoded in place after its '/', then dropped if it turned out a dot-segment.
  size_t len = 0;
  size_t i = 0;
  while (i < target.size()) {
    // target[i] == '/': a segment follows (possibly empty).
    size_t slash = len;
    out[len++] = '/';
    ++i;
    while (i < target.size() && target[i] != '/') {
      char c = target[i];
      if (c == '%' && i + 2 < target.size()) {
        int hi = hex_value(target[i + 1]);
        int lo = hex_value(target[i + 2]);
        if (hi >= 0 && lo >= 0) {
          auto byte = static_cast<unsigned char>(hi * 16 + lo);
          if (is_unreserved(byte)) {
            out[len++] = static_cast<char>(byte);
          } else {
            out[len++] = '%';
            out[len++] = kHexUpper[hi];
            out[len++] = kHexUpper[lo];
          }
          i += 3;
          continue;
        }
      }
      out[len++] = c;
      ++i;
    }
    std::string_view segment(out + slash + 1, len - slash - 1);
    bool last = i >= target.size();
    if (segment == ".") {
      len = slash;  // drop "/."; a final one leaves the directory's '/'
      if (last) out[len++] = '/';
    } else if (segment == "..") {
      len = slash;  // drop "/..", then the segment before it with its '/'
      while (len > 0 && out[len - 1] != '/') --len;
      if (len > 0) --len;
      if (last) out[len++] = '/';
    }
  }
  if (len == 0) out[len++] = '/';  // "/.." and the like end at the root
  return len;
}

std::string normalize_request_path(std::string_view target) {
  std::string out(target.size(), '\0');
  out.resize(normalize_request_path(target, out.data()));
  return out;
}

std::string canonical_route_path(std::string_view path, std::string* why) {
  auto fail = [&](std::string reason) {
    if (why != nullptr) *why = std::move(reason);
    return std::string();
  };
  if (path.empty() || path.front() != '/') return fail("a path must start with '/'");
  if (path.size() > 3 * kMaxRoutePathLength) return fail("the path is longer than " + std::to_string(kMaxRoutePathLength) + " bytes");
  for (size_t i = 0; i < path.size(); ++i) {
    auto c = static_cast<unsigned char>(path[i]);
    if (c == '?') return fail("a route path has no query ('?')");
    if (c == '#') return fail("a route path has no fragment ('#')");
    if (c == '%') {
      if (i + 2 >= path.size() || hex_value(path[i + 1]) < 0 || hex_value(path[i + 2]) < 0)
        return fail("'%' must start an escape of two hex digits");
      i += 2;
      continue;
    }
    if (c != '/' && !is_plain_pchar(c)) {
      if (c <= 0x20 || c >= 0x7f) return fail("a route path has no spaces, control or non-ASCII bytes (escape them as %HH)");
      return fail(std::string("'") + static_cast<char>(c) + "' must be escaped in a route path");
    }
  }
  // Dot-segments in a key are a mistake (the key would name another path than it reads), and
  // so is an empty segment: refuse both rather than store something else. A final '/' is fine.
  for (size_t start = 1; start <= path.size();) {
    size_t next = std::min(path.find('/', start), path.size());
    std::string_view raw = path.substr(start, next - start);
    bool last = next == path.size();
    if (raw.empty() && !last) return fail("a route path has no empty segment ('//')");
    if (!raw.empty() && normalize_request_path("/" + std::string(raw)) == "/")
      return fail("a route path has no '.' or '..' segment");
    start = next + 1;
  }
  std::string out = normalize_request_path(path);
  if (out.size() > 1 && out.back() == '/') out.pop_back();
  if (out == "/") return fail("the path '/' is the host's own route: use the host alone as the key");
  if (out.size() > kMaxRoutePathLength) return fail("the path is longer than " + std::to_string(kMaxRoutePathLength) + " bytes");
  return out;
}

std::string canonical_route_key(std::string_view raw, std::string* why) {
  auto fail = [&](std::string reason) {
    if (why != nullptr) *why = std::move(reason);
    return std::string();
  };
  size_t slash = raw.find('/');
  std::string key(raw.substr(0, slash));
  for (char& c : key)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  // The same grammar as request hosts (host.h), so a route can always be reached.
  bool valid_host;
  if (key.size() > 2 && key.front() == '[' && key.back() == ']') {
    valid_host = valid_ipv6_literal(std::string_view(key).substr(1, key.size() - 2));
  } else {
    if (key.size() > 1 && key.back() == '.') key.pop_back();
    valid_host = valid_hostname(key.rfind("*.", 0) == 0 ? std::string_view(key).substr(2) : std::string_view(key));
  }
  if (!valid_host) return fail("'" + std::string(raw.substr(0, slash)) + "' is not a hostname, an IP address or *.suffix");
  if (slash == std::string_view::npos) return key;
  std::string path = canonical_route_path(raw.substr(slash), why);
  if (path.empty()) return std::string();
  return key + path;
}

}  // namespace turnout
