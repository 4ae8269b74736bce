// Shared by the HTTP fuzz targets: the decoding of an input into control bytes + a stream split
// into pieces, the loop that feeds a stream to an HttpParser the way a connection does (resume
// after each message), and header-list helpers for the rewrite invariants.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "turnout/http/parser.h"

namespace turnout::fuzz {

// An input of the HTTP targets:
//   byte 0        flags (meaning per target)
//   byte 1        extra control byte (the response target's request method; unused otherwise)
//   byte 2        n = number of piece sizes (mod 16)
//   bytes 3..3+n  piece sizes - 1 (1..256), used in a cycle to cut the stream
//   rest          the byte stream
// n = 0 feeds the stream in one piece. Inputs shorter than the header are all stream.
struct SplitInput {
  uint8_t flags = 0;
  uint8_t extra = 0;
  std::vector<size_t> pieces;  // empty: one piece
  const char* data = nullptr;
  size_t size = 0;
};

inline SplitInput decode_split_input(const uint8_t* data, size_t size) {
  SplitInput in;
  if (size < 3) {
    in.data = reinterpret_cast<const char*>(data);
    in.size = size;
    return in;
  }
  in.flags = data[0];
  in.extra = data[1];
  size_t n = data[2] % 16;
  size_t pos = 3;
  for (size_t i = 0; i < n && pos < size; ++i, ++pos) in.pieces.push_back(static_cast<size_t>(data[pos]) + 1);
  in.data = reinterpret_cast<const char*>(data + pos);
  in.size = size - pos;
  return in;
}

// Limits the HTTP targets choose from (flags & 3): the defaults, tiny ones (so 431/413 paths
// run), none at all, and a middle ground.
inline Limits limits_profile(uint8_t flags) {
  Limits l;
  switch (flags & 3) {
    case 0: break;
    case 1:
      l.max_header_bytes = 96;
      l.max_headers = 4;
      l.max_body_bytes = 16;
      break;
    case 2:
      l.max_header_bytes = 0;
      l.max_headers = 0;
      l.max_body_bytes = 0;
      break;
    default:
      l.max_header_bytes = 1024;
      l.max_headers = 20;
      l.max_body_bytes = 1000;
      break;
  }
  return l;
}

// How a stream ended in drive().
enum class DriveEnd { Consumed, Upgrade, Error };

// Feeds `size` bytes to `parser` in `pieces` the way a connection does: each MessageComplete is
// resumed at once (as if the answer had been sent) and feeding goes on from `consumed`. Appends
// split-independent events to `transcript` ("M@<offset>" per message, "U@<offset>", "E") and
// checks the Outcome contract on every feed().
inline DriveEnd drive(HttpParser& parser, const char* data, size_t size, const std::vector<size_t>& pieces,
                      std::string& transcript) {
  size_t pos = 0;
  size_t piece = 0;
  size_t feeds = 0;
  while (pos < size) {
    size_t want = pieces.empty() ? size - pos : pieces[piece++ % pieces.size()];
    size_t end = pos + want < size ? pos + want : size;
    size_t off = pos;
    while (off < end) {
      FUZZ_CHECK(++feeds <= 4 * size + 64, "no progress: %zu feed() calls for %zu bytes", feeds, size);
      size_t len = end - off;
      HttpParser::Outcome out = parser.feed(data + off, len);
      FUZZ_CHECK(out.consumed <= len, "consumed %zu of a %zu-byte feed", out.consumed, len);
      switch (out.status) {
        case HttpParser::Status::NeedMore:
          FUZZ_CHECK(out.consumed == len, "NeedMore consumed %zu of %zu", out.consumed, len);
          off = end;
          break;
        case HttpParser::Status::MessageComplete: {
          off += out.consumed;
          FUZZ_CHECK(!parser.in_message(), "in_message() after MessageComplete");
          transcript += "M@" + std::to_string(off) + "\n";
          // Paused: feeding again without resume() must not parse anything.
          HttpParser::Outcome again = parser.feed(data + off, end - off);
          FUZZ_CHECK(again.status == HttpParser::Status::MessageComplete && again.consumed == 0,
                     "feed() while paused returned status %d consumed %zu", static_cast<int>(again.status),
                     again.consumed);
          parser.resume();
          break;
        }
        case HttpParser::Status::Upgrade: {
          off += out.consumed;
          transcript += "U@" + std::to_string(off) + "\n";
          HttpParser::Outcome again = parser.feed(data + off, end - off);
          FUZZ_CHECK(again.status == HttpParser::Status::Upgrade && again.consumed == 0,
                     "feed() after Upgrade returned status %d consumed %zu", static_cast<int>(again.status),
                     again.consumed);
          return DriveEnd::Upgrade;
        }
        case HttpParser::Status::Error: {
          transcript += "E\n";
          FUZZ_CHECK(parser.error_status() != 0, "Error without an error_status (reason '%s')",
                     parser.error_reason().c_str());
          FUZZ_CHECK(!parser.error_reason().empty(), "Error %d without a reason", parser.error_status());
          HttpParser::Outcome again = parser.feed(data + off, end - off);
          FUZZ_CHECK(again.status == HttpParser::Status::Error && again.consumed == 0,
                     "feed() after Error returned status %d consumed %zu", static_cast<int>(again.status),
                     again.consumed);
          FUZZ_CHECK(!parser.finish(), "finish() after an error returned true");
          return DriveEnd::Error;
        }
      }
    }
    pos = end;
  }
  return DriveEnd::Consumed;
}

// Header names listed in a head's Connection fields, the way rewrite.cc collects them
// ("close" and names that are hop-by-hop anyway are connection options, not names to drop).
inline bool named_in_connection(const MessageHead& head, std::string_view name) {
  bool found = false;
  for (const HeaderField& h : head.headers) {
    if (h.token != HeaderToken::Connection) continue;
    for_each_list_element(head.value(h), [&](std::string_view el) {
      if (iequals(el, "close")) return;
      if (iequals(el, name)) found = true;
    });
  }
  return found;
}

// Headers that must pass byte for byte, in order: those turnout has no rule for.
inline bool end_to_end(const HeaderField& h) {
  return token_flags(h.token) == 0 && h.token != HeaderToken::Host && h.token != HeaderToken::XForwardedFor &&
         h.token != HeaderToken::Via;
}

// "name: value" lines of the end-to-end headers of `head` that are not named in `named_by`'s
// Connection fields.
inline std::vector<std::string> passed_headers(const MessageHead& head, const MessageHead* named_by) {
  std::vector<std::string> out;
  for (const HeaderField& h : head.headers) {
    if (!end_to_end(h)) continue;
    if (named_by && named_in_connection(*named_by, head.name(h))) continue;
    std::string line(head.name(h));
    line += ": ";
    line += head.value(h);
    out.push_back(std::move(line));
  }
  return out;
}

}  // namespace turnout::fuzz
