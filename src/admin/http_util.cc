#include "turnout/admin/http_util.h"

#include <fmt/format.h>

#include "turnout/common/hex.h"

namespace turnout {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

RequestTarget split_target(std::string_view target) {
  // Absolute form: drop "scheme://authority".
  if (size_t scheme = target.find("://"); scheme != std::string_view::npos && target.front() != '/') {
    size_t slash = target.find('/', scheme + 3);
    target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
  }
  RequestTarget out;
  size_t q = target.find('?');
  out.path = target.substr(0, q);
  if (q != std::string_view::npos) out.query = target.substr(q + 1);
  if (size_t hash = out.query.find('#'); hash != std::string_view::npos) out.query = out.query.substr(0, hash);
  return out;
}

std::optional<std::string> percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    int hi = hex_value(text[i + 1]);
    int lo = hex_value(text[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    char c = static_cast<char>(hi * 16 + lo);
    if (c == '\0') return std::nullopt;
    out += c;
    i += 2;
  }
  return out;
}

std::optional<std::string> query_param(std::string_view query, std::string_view key) {
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    size_t eq = pair.find('=');
    std::string_view name = pair.substr(0, eq);
    std::string_view value = eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    std::optional<std::string> decoded_name = percent_decode(name);
    if (!decoded_name || *decoded_name != key) continue;
    std::string plus_spaced(value);
    for (char& c : plus_spaced) {
      if (c == '+') c = ' ';  // form encoding, which is what a query uses
    }
    return percent_decode(plus_spaced);
  }
  return std::nullopt;
}

bool query_flag(std::string_view query, std::string_view key) {
  std::optional<std::string> v = query_param(query, key);
  return v && (v->empty() || *v == "1" || *v == "true" || *v == "yes");
}

Result<uint64_t> parse_if_match(std::string_view value) {
  std::string_view v = trim(value);
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  if (v.empty() || v.size() > 19) return make_error(ErrorKind::Invalid, fmt::format("invalid If-Match \"{}\": expected a table version", value));
  uint64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return make_error(ErrorKind::Invalid, fmt::format("invalid If-Match \"{}\": expected a table version", value));
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  return n;
}

const char* admin_reason_phrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Unknown";
  }
}

}  // namespace turnout
