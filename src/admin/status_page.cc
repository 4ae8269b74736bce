// The status page behind `GET /`. The document is src/admin/status_page.html, embedded at build
// time (cmake/embed_asset.cmake writes its bytes into a generated source): all live data arrives
// through the JSON API, so nothing here formats operator input into HTML (the page's script
// escapes by building DOM nodes with textContent).
#include "turnout/admin/status_page.h"

#include <cstddef>

namespace turnout {

// Defined in the generated status_page_html.cc: the bytes of status_page.html (and a 0 after).
extern const unsigned char kStatusPageHtml[];
extern const std::size_t kStatusPageHtml_size;

namespace {

constexpr std::string_view kCsp =
    "default-src 'none'; connect-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

}  // namespace

std::string_view status_page_html() {
  return std::string_view(reinterpret_cast<const char*>(kStatusPageHtml), kStatusPageHtml_size);
}

std::string_view status_page_csp() { return kCsp; }

AdminResponse status_page_response() {
  AdminResponse r;
  r.content_type = "text/html; charset=utf-8";
  r.body = std::string(status_page_html());
  r.headers.emplace_back("Content-Security-Policy", std::string(kCsp));
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("X-Frame-Options", "DENY");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
  return r;
}

}  // namespace turnout
