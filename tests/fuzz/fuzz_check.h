// Shared by the libFuzzer targets: invariant checks that abort (so libFuzzer saves the input)
// and a printable form of the bytes involved.
#pragma once

#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace turnout::fuzz {

// A broken invariant: print what and where, then abort so libFuzzer records a crash.
[[noreturn]] inline void fail(const char* file, int line, const char* cond, const char* fmt, ...) {
  std::fprintf(stderr, "\nFUZZ INVARIANT BROKEN at %s:%d: %s\n  ", file, line, cond);
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(stderr, fmt, ap);
  va_end(ap);
  std::fprintf(stderr, "\n");
  std::abort();
}

#define FUZZ_CHECK(cond, ...)                                               \
  do {                                                                      \
    if (!(cond)) ::turnout::fuzz::fail(__FILE__, __LINE__, #cond, __VA_ARGS__); \
  } while (0)

// True if `id` is listed in $TURNOUT_FUZZ_KNOWN (comma-separated): a finding already reported
// whose check is skipped so that a campaign can go on looking for others. CI leaves it unset.
inline bool known(const char* id) {
  static const char* list = std::getenv("TURNOUT_FUZZ_KNOWN");
  if (list == nullptr) return false;
  std::string_view l(list);
  std::string_view want(id);
  size_t pos = 0;
  while (pos <= l.size()) {
    size_t comma = l.find(',', pos);
    if (comma == std::string_view::npos) comma = l.size();
    if (l.substr(pos, comma - pos) == want) return true;
    pos = comma + 1;
  }
  return false;
}

// Well-formed UTF-8 (what JSON text must hold): no stray continuation bytes, no overlongs,
// no surrogates, nothing above U+10FFFF.
inline bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xc2 && c <= 0xdf) {
      n = 1;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;
    for (size_t k = 1; k <= n; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += n + 1;
  }
  return true;
}

// A string with its bytes escaped, for invariant messages.
inline std::string printable(std::string_view s, size_t max = 4096) {
  std::string out;
  for (size_t i = 0; i < s.size() && i < max; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '\r') out += "\\r";
    else if (c == '\n') out += "\\n\n  ";
    else if (c < 0x20 || c >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    } else out += static_cast<char>(c);
  }
  if (s.size() > max) out += "...";
  return out;
}

}  // namespace turnout::fuzz
