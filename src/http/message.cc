// MessageHead lookups and reuse. clear() keeps the capacity of storage and headers so that a
// keep-alive connection parses its next head without allocating.
#include "turnout/http/message.h"

namespace turnout {

const HeaderField* MessageHead::find(HeaderToken token) const {
  for (const HeaderField& h : headers) {
    if (h.token == token) return &h;
  }
  return nullptr;
}

size_t MessageHead::count(HeaderToken token) const {
  size_t n = 0;
  for (const HeaderField& h : headers) n += (h.token == token);
  return n;
}

void MessageHead::clear() {
  storage.clear();
  headers.clear();
  version_major = 1;
  version_minor = 1;
  keep_alive = true;
  upgrade = false;
}

void RequestHead::clear() {
  MessageHead::clear();
  method = 0;
  method_name = {};
  target = {};
  host.clear();
  host_header = {};
  expect_continue = false;
  upgrade_protocols = {};
  framing = {};
}

void ResponseHead::clear() {
  MessageHead::clear();
  status = 0;
  reason = {};
  framing = {};
}

}  // namespace turnout
