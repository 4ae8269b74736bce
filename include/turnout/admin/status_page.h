// The browser status page served at `GET /` on the admin listeners (DESIGN.md, Admin API).
//
// One self-contained HTML document: inline CSS and vanilla JS, no external resource. The page
// holds no data of its own; its script fetches /v1/status, /v1/routes, /v1/apps and /v1/history
// every 2 s and renders routes (host -> apps with weights), apps with their servers (health,
// request rates computed from the deltas of per-server "requests"), the table version and the
// recent changes. Everything it inserts into the DOM goes through textContent or attributes,
// never through HTML parsing, since hostnames and app names are operator input.
// Pure functions over static data, any thread.
#pragma once

#include <string_view>

#include "turnout/admin/api.h"

namespace turnout {

// The whole page (static, lives for the program's lifetime).
std::string_view status_page_html();

// The Content-Security-Policy the page is served with: fetches go to the page's own origin only,
// and only the page's inline script and style run. No frames, forms, plugins or base changes.
std::string_view status_page_csp();

// The answer to `GET /`: the page as text/html; charset=utf-8 with its CSP and hardening headers.
AdminResponse status_page_response();

}  // namespace turnout
