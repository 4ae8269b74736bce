// Hex digits as HTTP writes them: chunk sizes (RFC 9112 7.1), percent-encoding (RFC 3986 2.1)
// and key logs. One definition for the parsers that read them.
#pragma once

namespace turnout {

// The value of one hex digit, in either case; -1 for any other byte.
constexpr int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace turnout
