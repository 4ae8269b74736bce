// ChunkLineScanner: checks one chunk-size line of a chunked body (RFC 9112 7.1, 7.1.1) as its
// bytes arrive, in O(1) memory, and yields the chunk size.
//
//   chunk-size [ chunk-ext ] CRLF
//   chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
//   chunk-ext-val = token / quoted-string (with quoted-pair)
//
// llhttp 8.1 in strict mode refuses valid lines ("2 ;a=b", "2;a=b;c=d", "2;a = b",
// "2;a=\"b\\\"c\""), and its lenient flags are never set, so HttpParser checks the line here
// and gives llhttp only "HEX\r\n": extensions are not forwarded (turnout re-chunks bodies
// anyway). Refused: a bare CR or LF, any control byte or DEL outside a quoted string's HTAB,
// an unterminated quoted string, whitespace not followed by ';' or '=', an empty or non-hex
// size, a size over 2^64-1, and a line longer than kMaxChunkLineBytes.
// Plain value; owned by one HttpParser.
#pragma once

#include <cstddef>
#include <cstdint>

namespace turnout {

// Bytes of a chunk-size line before its CRLF (size, whitespace and extensions). Real clients
// send no extension, or a signature of under 100 bytes; 256 bounds what a peer can make us
// read per chunk without any body byte.
inline constexpr size_t kMaxChunkLineBytes = 256;

class ChunkLineScanner {
 public:
  enum class Status { NeedMore, Done, Error };

  // Scans from the start of a line (after reset()). Consumes bytes through the line's LF at
  // most: *used is how many. Done: size() is the chunk size. Error: error() says why.
  Status feed(const char* data, size_t len, size_t* used);
  void reset() { *this = ChunkLineScanner(); }
  uint64_t size() const { return size_; }
  const char* error() const { return error_; }

 private:
  enum class State : uint8_t {
    Size,            // hex digits
    BeforeSemicolon, // BWS after the size or an extension: only ';' may follow
    BeforeName,      // after ';' (BWS)
    Name,            // chunk-ext-name
    AfterName,       // BWS after a name: '=' or ';'
    BeforeValue,     // after '=' (BWS)
    Token,           // token value
    Quoted,          // inside a quoted string
    QuotedPair,      // after '\' in a quoted string
    AfterQuoted,     // just after the closing quote
    LF,              // CR seen: LF must follow
  };

  Status fail(const char* why);

  uint64_t size_ = 0;          // chunk size so far
  size_t bytes_ = 0;           // bytes of the line so far, CR excluded
  bool digit_ = false;         // a hex digit of the size was seen
  State state_ = State::Size;
  const char* error_ = nullptr;  // static reason once failed
};

}  // namespace turnout
