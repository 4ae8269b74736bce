// Request-line grammar (RFC 9112 3, 2.3) and the method table shared with llhttp.
#include "turnout/http/request_line.h"

#include <llhttp.h>

#include <array>

#include "turnout/http/header.h"

namespace turnout {
namespace {

struct MethodName {
  std::string_view name;
  uint8_t id;
};

// Methods llhttp parses after an "HTTP/" version (its HTTP_METHOD_MAP), by name.
constexpr MethodName kHttpMethods[] = {
#define TURNOUT_METHOD(num, name, string) {#string, num},
    HTTP_METHOD_MAP(TURNOUT_METHOD)
#undef TURNOUT_METHOD
};

// Every method name llhttp knows, RTSP's and PRI included: the names a case variant of which
// is refused.
constexpr std::string_view kAllMethodNames[] = {
#define TURNOUT_METHOD(num, name, string) #string,
    HTTP_ALL_METHOD_MAP(TURNOUT_METHOD)
#undef TURNOUT_METHOD
};

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// The method part of a line, as far as it has arrived (`complete`: the SP after it was seen).
Result<void> check_method(std::string_view method, bool complete) {
  if (method.size() > kMaxMethodBytes) return make_error(ErrorKind::NotImplemented, "method too long");
  for (char c : method) {
    if (!is_tchar(c)) return make_error(ErrorKind::Invalid, "invalid method");
  }
  if (complete && method.empty()) return make_error(ErrorKind::Invalid, "invalid request line");
  return {};
}

}  // namespace

int http_method_id(std::string_view method) {
  for (const MethodName& m : kHttpMethods) {
    if (m.name == method) return m.id;
  }
  return -1;
}

Result<void> check_request_line_prefix(std::string_view part) {
  size_t sp = part.find(' ');
  return check_method(part.substr(0, sp), sp != std::string_view::npos);
}

Result<void> parse_request_line(std::string_view line, RequestLine* out) {
  size_t sp1 = line.find(' ');
  std::string_view method = line.substr(0, sp1);
  if (auto r = check_method(method, true); !r) return r;
  if (sp1 == std::string_view::npos) return make_error(ErrorKind::Invalid, "invalid request line");
  size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return make_error(ErrorKind::Invalid, "invalid request line");  // HTTP/0.9 or garbage
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (target.empty() || version.find(' ') != std::string_view::npos) {
    return make_error(ErrorKind::Invalid, "invalid request line");  // two spaces in a row, or a third part
  }
  for (char ch : target) {
    // VCHAR only: SP ends the target; controls, DEL and obs-text have no place in a URI.
    auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7f) return make_error(ErrorKind::Invalid, "invalid character in request target");
  }

  // HTTP-version = HTTP-name "/" DIGIT "." DIGIT, HTTP-name = %s"HTTP" (case-sensitive).
  size_t slash = version.find('/');
  if (slash == std::string_view::npos || version.substr(0, slash) != "HTTP") {
    return make_error(ErrorKind::Invalid, "not an HTTP request");  // RTSP/1.0, ICE/1.0, garbage
  }
  if (version.size() != 8 || slash != 4 || !is_digit(version[5]) || version[6] != '.' || !is_digit(version[7])) {
    return make_error(ErrorKind::Invalid, "invalid HTTP version");
  }
  if (version[5] != '1') return make_error(ErrorKind::VersionNotSupported, "unsupported HTTP version");

  int id = http_method_id(method);
  if (id < 0) {
    for (std::string_view known : kAllMethodNames) {
      if (known == "PRI" ? iequals(method, known) : (iequals(method, known) && method != known)) {
        return make_error(ErrorKind::Invalid, known == "PRI" ? "PRI is the HTTP/2 preface, not a method"
                                              : "method differs from a standard method only in case");
      }
    }
  }
  out->method = method;
  out->target = target;
  out->method_id = id < 0 ? kMethodExtension : static_cast<uint8_t>(id);
  out->version_minor = version[7] == '0' ? 0 : 1;
  return {};
}

}  // namespace turnout
