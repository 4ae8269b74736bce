// Builds parsed heads by hand for the http unit tests: fields appended to a head's storage the
// way the parser leaves them (names and values as Slices, tokens looked up).
#pragma once

#include <initializer_list>
#include <string_view>
#include <utility>

#include "turnout/http/message.h"

namespace turnout::test {

using Fields = std::initializer_list<std::pair<std::string_view, std::string_view>>;

// Appends `s` to h.storage; returns its Slice.
inline Slice put(MessageHead& h, std::string_view s) {
  Slice sl{static_cast<uint32_t>(h.storage.size()), static_cast<uint32_t>(s.size())};
  h.storage.append(s);
  return sl;
}

// Appends header fields in order, with their tokens.
inline void add_fields(MessageHead& h, Fields fields) {
  for (auto& [name, value] : fields) {
    HeaderField f;
    f.name = put(h, name);
    f.value = put(h, value);
    f.token = lookup_token(name);
    h.headers.push_back(f);
  }
}

}  // namespace turnout::test
