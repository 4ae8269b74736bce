// JsonStreamSplitter: cuts a byte stream of concatenated JSON objects (a watch response body:
// one object per etcd message, separated by newlines, split across HTTP chunks and reads
// anywhere) into whole objects. It tracks braces outside strings only; the objects themselves
// are parsed by the caller. Owned by one EtcdWatch; main loop.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace turnout {

class JsonStreamSplitter {
 public:
  // An object larger than this fails the stream (a 100k-key watch response fits easily).
  static constexpr size_t kMaxObjectBytes = 256u << 20;

  explicit JsonStreamSplitter(size_t max_object = kMaxObjectBytes) : max_object_(max_object) {}

  // Feeds bytes; `fn(std::string_view object)` runs for each object completed by them, in order.
  // Returns false (and stays failed) on bytes outside an object other than whitespace, or an
  // object over the limit.
  template <class Fn>
  bool feed(std::string_view bytes, Fn&& fn) {
    for (char c : bytes) {
      if (failed_) return false;
      if (!step(c)) continue;
      fn(std::string_view(object_));
      object_.clear();
    }
    return !failed_;
  }

  bool failed() const { return failed_; }
  // True between an object's first byte and its last.
  bool in_object() const { return depth_ > 0; }

 private:
  // Takes one byte; true when it closed a top-level object (then object_ holds it whole).
  bool step(char c);

  std::string object_;       // the object being collected
  size_t max_object_;
  uint32_t depth_ = 0;       // open braces/brackets of the current object
  bool in_string_ = false;   // inside a JSON string
  bool escaped_ = false;     // the previous string byte was a backslash
  bool failed_ = false;
};

}  // namespace turnout
