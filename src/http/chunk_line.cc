// Chunk-size line grammar, byte by byte (see chunk_line.h).
#include "turnout/http/chunk_line.h"

#include <array>
#include <limits>
#include <string_view>

#include "turnout/common/hex.h"
#include "turnout/http/header.h"

namespace turnout {
namespace {

bool is_ws(unsigned char c) { return c == ' ' || c == '\t'; }

// qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text
bool is_qdtext(unsigned char c) { return c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c != 0x5c && c != 0x7f); }

// quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
bool is_quotable(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

}  // namespace

ChunkLineScanner::Status ChunkLineScanner::fail(const char* why) {
  error_ = why;
  return Status::Error;
}

ChunkLineScanner::Status ChunkLineScanner::feed(const char* data, size_t len, size_t* used) {
  if (error_) {
    *used = 0;
    return Status::Error;
  }
  size_t i = 0;
  Status st = Status::NeedMore;
  for (; i < len && st == Status::NeedMore; ++i) {
    auto c = static_cast<unsigned char>(data[i]);
    if (state_ == State::LF) {
      if (c != '\n') st = fail("bare CR in chunk size line");
      else st = Status::Done;
      continue;
    }
    if (c == '\r') {
      // CRLF may end the line after the size, a name or a value, never after whitespace
      // (no BWS before CRLF in the grammar) nor inside a quoted string.
      bool can_end = state_ == State::Name || state_ == State::Token || state_ == State::AfterQuoted ||
                     (state_ == State::Size && digit_);
      if (!can_end) {
        st = fail(state_ == State::Quoted || state_ == State::QuotedPair ? "unterminated quoted string in chunk extension"
                                                                          : "invalid chunk size line");
      } else {
        state_ = State::LF;
      }
      continue;
    }
    if (++bytes_ > kMaxChunkLineBytes) {
      st = fail("chunk size line too long");
      continue;
    }
    if (c == '\n') {
      st = fail("bare LF in chunk size line");
      continue;
    }
    switch (state_) {
      case State::Size: {
        int v = hex_value(c);
        if (v >= 0) {
          if (size_ > (std::numeric_limits<uint64_t>::max() >> 4)) {
            st = fail("chunk size too large");
          } else {
            size_ = (size_ << 4) | static_cast<uint64_t>(v);
            digit_ = true;
          }
        } else if (!digit_) {
          st = fail("invalid chunk size");
        } else if (is_ws(c)) {
          state_ = State::BeforeSemicolon;
        } else if (c == ';') {
          state_ = State::BeforeName;
        } else {
          st = fail("invalid chunk size");
        }
        break;
      }
      case State::BeforeSemicolon:
        if (c == ';') state_ = State::BeforeName;
        else if (!is_ws(c)) st = fail("invalid chunk extension");
        break;
      case State::BeforeName:
        if (kTchar[c]) state_ = State::Name;
        else if (!is_ws(c)) st = fail("invalid chunk extension name");
        break;
      case State::Name:
        if (kTchar[c]) break;
        if (c == '=') state_ = State::BeforeValue;
        else if (c == ';') state_ = State::BeforeName;
        else if (is_ws(c)) state_ = State::AfterName;
        else st = fail("invalid chunk extension name");
        break;
      case State::AfterName:
        if (c == '=') state_ = State::BeforeValue;
        else if (c == ';') state_ = State::BeforeName;
        else if (!is_ws(c)) st = fail("invalid chunk extension");
        break;
      case State::BeforeValue:
        if (c == '"') state_ = State::Quoted;
        else if (kTchar[c]) state_ = State::Token;
        else if (!is_ws(c)) st = fail("invalid chunk extension value");
        break;
      case State::Token:
        if (kTchar[c]) break;
        if (c == ';') state_ = State::BeforeName;
        else if (is_ws(c)) state_ = State::BeforeSemicolon;
        else st = fail("invalid chunk extension value");
        break;
      case State::Quoted:
        if (c == '"') state_ = State::AfterQuoted;
        else if (c == '\\') state_ = State::QuotedPair;
        else if (!is_qdtext(c)) st = fail("invalid character in chunk extension quoted string");
        break;
      case State::QuotedPair:
        if (is_quotable(c)) state_ = State::Quoted;
        else st = fail("invalid quoted-pair in chunk extension");
        break;
      case State::AfterQuoted:
        if (c == ';') state_ = State::BeforeName;
        else if (is_ws(c)) state_ = State::BeforeSemicolon;
        else st = fail("invalid chunk extension value");
        break;
      case State::LF:
        break;  // handled above
    }
  }
  *used = i;
  return st;
}

}  // namespace turnout
