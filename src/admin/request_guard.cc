#include "turnout/admin/request_guard.h"

#include <algorithm>
#include <cctype>
#include <utility>

#include <fmt/format.h>

namespace turnout {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Compares without an early exit, so the token cannot be guessed byte by byte from timings.
bool same_secret(std::string_view given, std::string_view secret) {
  if (given.size() != secret.size() || secret.empty()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < secret.size(); ++i) diff |= static_cast<unsigned char>(given[i] ^ secret[i]);
  return diff == 0;
}

size_t count_header(const AdminRequest& r, std::string_view name) {
  return static_cast<size_t>(std::count_if(r.headers.begin(), r.headers.end(),
                                           [&](const auto& h) { return h.first == name; }));
}

// Shown in an error message: printable ASCII only, bounded.
std::string shown(std::string_view s) {
  std::string out;
  for (unsigned char c : s.substr(0, 100)) out += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
  return out;
}

bool is_json_type(std::string_view content_type) {
  std::string_view media = content_type.substr(0, content_type.find(';'));
  while (!media.empty() && (media.back() == ' ' || media.back() == '\t')) media.remove_suffix(1);
  return lower(media) == "application/json";
}

}  // namespace

RequestGuard::RequestGuard(std::vector<std::string> authorities, std::string token, bool open_reads)
    : token_(std::move(token)), open_reads_(open_reads) {
  for (auto& a : authorities) allow_authority(std::move(a));
}

void RequestGuard::allow_authority(std::string authority) {
  authority = lower(authority);
  if (authority.empty() || own_authority(authority)) return;
  authorities_.push_back(std::move(authority));
}

std::vector<std::string> RequestGuard::loopback_authorities(int port) {
  std::vector<std::string> out;
  for (const char* host : {"127.0.0.1", "localhost", "[::1]"}) {
    out.push_back(fmt::format("{}:{}", host, port));
    if (port == 80) out.emplace_back(host);  // a browser leaves the default port out
  }
  return out;
}

bool RequestGuard::own_authority(std::string_view authority) const {
  std::string a = lower(authority);
  return std::find(authorities_.begin(), authorities_.end(), a) != authorities_.end();
}

bool RequestGuard::token_ok(const AdminRequest& request) const {
  if (count_header(request, "authorization") != 1) return false;
  std::string_view given = *request.header("authorization");
  constexpr std::string_view kBearer = "bearer ";
  if (given.size() <= kBearer.size() || lower(given.substr(0, kBearer.size())) != kBearer) return false;
  return same_secret(given.substr(kBearer.size()), token_);
}

RequestGuard::Verdict RequestGuard::check(const AdminRequest& request, bool has_body) const {
  // Host first: a rebound page learns nothing, not even whether it holds a valid token.
  const std::string* host = request.header("host");
  if (host == nullptr || count_header(request, "host") != 1 || !own_authority(*host)) {
    std::string own = authorities_.empty() ? std::string() : authorities_.front();
    return {403, host == nullptr
                     ? fmt::format("a request to the admin listener must name it in Host ({})", own)
                     : fmt::format("Host \"{}\" is not this admin listener ({}); refused (DNS rebinding)",
                                   shown(*host), own)};
  }
  if (size_t n = count_header(request, "origin"); n > 0) {
    std::string_view origin = *request.header("origin");
    constexpr std::string_view kHttp = "http://";
    bool own = n == 1 && origin.size() > kHttp.size() && lower(origin.substr(0, kHttp.size())) == kHttp &&
               own_authority(origin.substr(kHttp.size()));
    if (!own) return {403, fmt::format("cross-origin request from \"{}\" refused", shown(origin))};
  }
  bool read = request.method == "GET" || request.method == "HEAD";
  std::string_view path = std::string_view(request.target).substr(0, request.target.find('?'));
  bool page = read && path == "/";  // the status page document: no data, it asks for the token
  if (!page && !(read && open_reads_) && !token_ok(request)) {
    return {401, read ? "reads on this admin listener require Authorization: Bearer <token> (see admin.token_file, "
                        "or set admin.open_reads: true)"
                      : "changes on this admin listener require Authorization: Bearer <token> (see admin.token_file)"};
  }
  if (!read) {
    const std::string* type = request.header("content-type");
    if ((type != nullptr || has_body) && (type == nullptr || count_header(request, "content-type") != 1 ||
                                          !is_json_type(*type))) {
      return {403, fmt::format("a change must have Content-Type: application/json, not \"{}\"",
                               type ? shown(*type) : std::string("(none)"))};
    }
  }
  return {};
}

}  // namespace turnout
