#include "turnout/proxy/access_log.h"

#include <fmt/format.h>

#include <iterator>

#include "turnout/common/log.h"
#include "turnout/proxy/proxy_context.h"

namespace turnout {

namespace {
// JSON string body: quote and backslash escaped, control bytes as \u00XX.
std::string json_escape(std::string_view s) {
  std::string o;
  o.reserve(s.size());
  for (char c : s) {
    if (c == '"' || c == '\\') {
      o += '\\';
      o += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      o += fmt::format("\\u{:04x}", static_cast<unsigned char>(c));
    } else {
      o += c;
    }
  }
  return o;
}
}  // namespace

void AccessLog::format(std::string& out, const AccessRecord& r, std::string_view time, unsigned worker, bool json) {
  std::string_view host = r.host.empty() ? std::string_view("-") : r.host;
  std::string_view id = r.request_id.empty() ? std::string_view("-") : r.request_id;
  if (json) {
    fmt::format_to(std::back_inserter(out),
                   "{{\"time\":\"{}\",\"client\":\"{}\",\"host\":\"{}\",\"method\":\"{}\",\"target\":\"{}\","
                   "\"protocol\":\"{}\",\"status\":{},\"bytes\":{},\"app\":\"{}\",\"upstream\":\"{}\",\"duration_us\":{},\"worker\":{},"
                   "\"request_id\":\"{}\"}}\n",
                   time, r.client, json_escape(host), json_escape(r.method), json_escape(r.target), r.protocol, r.status, r.bytes,
                   json_escape(r.app), json_escape(r.upstream), r.duration_us, worker, id);
  } else {
    fmt::format_to(std::back_inserter(out), "{} {} {} {} {} {} {} {} {} {} {}us w{} {}\n", time, r.client, host,
                   r.method.empty() ? "-" : r.method, r.target.empty() ? "-" : r.target, r.protocol, r.status, r.bytes, r.app,
                   r.upstream, r.duration_us, worker, id);
  }
}

void AccessLog::write(ProxyContext& ctx, const AccessRecord& rec) {
  if (!access_log_enabled()) return;
  format(ctx.access_buf, rec, ctx.now_text(), ctx.worker_id, ctx.settings && ctx.settings->access_log_json);
  if (ctx.access_buf.size() > 32 * 1024) {
    access_log_submit(std::move(ctx.access_buf));
    ctx.access_buf.clear();
  }
}

}  // namespace turnout
