// Upgrade policy: the allow-list, the filtered offer sent upstream, and the check of a 101.
#include "turnout/http/upgrade.h"

#include <llhttp.h>

#include "turnout/http/header.h"

namespace turnout {
namespace {

// "websocket/13" -> "websocket"
std::string_view protocol_name(std::string_view protocol) { return protocol.substr(0, protocol.find('/')); }

}  // namespace

bool upgrade_protocol_allowed(std::string_view protocol) { return iequals(protocol_name(protocol), "websocket"); }

void decide_request_upgrade(RequestHead& head) {
  head.upgrade_protocols = {};
  if (!head.upgrade || head.method == HTTP_CONNECT) return;
  // The offer is rebuilt from the allowed elements of every Upgrade field, appended to the
  // head's own storage. Reserved first, so the appends below never reallocate it while `el`
  // points into it (the HAProxy 48afa73af class of bug); Slices are offsets and stay valid.
  size_t room = 0;
  for (const HeaderField& h : head.headers) {
    if (h.token == HeaderToken::Upgrade) room += 3 * h.value.len + 2;  // ", " per element at most
  }
  const size_t start = head.storage.size();
  head.storage.reserve(start + room);
  for (const HeaderField& h : head.headers) {
    if (h.token != HeaderToken::Upgrade) continue;
    for_each_list_element(head.value(h), [&](std::string_view el) {
      if (!upgrade_protocol_allowed(el)) return;
      if (head.storage.size() > start) head.storage.append(", ");
      head.storage.append(el.data(), el.size());
    });
  }
  head.upgrade_protocols = Slice{static_cast<uint32_t>(start), static_cast<uint32_t>(head.storage.size() - start)};
  if (head.upgrade_protocols.len == 0) head.upgrade = false;
}

Result<void> check_switching_protocols(const ResponseHead& res, const RequestHead& req, bool request_complete) {
  if (!req.upgrade || req.upgrade_protocols.len == 0) return make_error(ErrorKind::BadGateway, "101 to a request that offered no upgrade");
  std::string_view offered = req.str(req.upgrade_protocols);
  bool named = false;
  bool all_offered = true;
  for (const HeaderField& h : res.headers) {
    if (h.token != HeaderToken::Upgrade) continue;
    for_each_list_element(res.value(h), [&](std::string_view el) {
      named = true;
      bool found = false;
      for_each_list_element(offered, [&](std::string_view o) { found |= iequals(o, el); });
      all_offered &= found;
    });
  }
  if (!named) return make_error(ErrorKind::BadGateway, "101 without an Upgrade field");
  if (!all_offered) return make_error(ErrorKind::BadGateway, "101 to a protocol the request did not offer");
  if (!request_complete) return make_error(ErrorKind::BadGateway, "101 before the request body was complete");
  return {};
}

}  // namespace turnout
