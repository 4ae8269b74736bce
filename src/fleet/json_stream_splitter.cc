#include "turnout/fleet/json_stream_splitter.h"

namespace turnout {

bool JsonStreamSplitter::step(char c) {
  if (depth_ == 0) {
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') return false;
    if (c != '{') {
      failed_ = true;
      return false;
    }
  }
  if (object_.size() >= max_object_) {
    failed_ = true;
    return false;
  }
  object_ += c;
  if (in_string_) {
    if (escaped_) escaped_ = false;
    else if (c == '\\') escaped_ = true;
    else if (c == '"') in_string_ = false;
    return false;
  }
  switch (c) {
    case '"': in_string_ = true; return false;
    case '{':
    case '[': ++depth_; return false;
    case '}':
    case ']':
      if (depth_ == 0) {  // cannot happen: depth_ is at least 1 inside an object
        failed_ = true;
        return false;
      }
      return --depth_ == 0;
    default: return false;
  }
}

}  // namespace turnout
