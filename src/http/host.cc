// Host normalisation (the route key) and absolute-form splitting.
#include "turnout/http/host.h"

#include "turnout/http/header.h"

namespace turnout {

bool split_absolute_form(std::string_view target, std::string_view* authority, std::string_view* origin) {
  size_t scheme_len;
  if (target.size() >= 7 && iequals(target.substr(0, 7), "http://")) {
    scheme_len = 7;
  } else if (target.size() >= 8 && iequals(target.substr(0, 8), "https://")) {
    scheme_len = 8;
  } else {
    return false;
  }
  std::string_view rest = target.substr(scheme_len);
  size_t end = rest.find_first_of("/?#");
  if (end == std::string_view::npos) end = rest.size();
  *authority = rest.substr(0, end);
  std::string_view tail = rest.substr(end);
  size_t frag = tail.find('#');
  if (frag != std::string_view::npos) tail = tail.substr(0, frag);
  *origin = tail;
  return true;
}

}  // namespace turnout
