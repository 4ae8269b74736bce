#include <doctest/doctest.h>

#include <string>

#include "turnout/common/utf8.h"

using namespace turnout;

TEST_CASE("UTF-8: valid text of every length is accepted") {
  CHECK(is_valid_utf8(""));
  CHECK(is_valid_utf8("example.com /health"));
  CHECK(is_valid_utf8("caf\xc3\xa9"));              // U+00E9
  CHECK(is_valid_utf8("\xe2\x82\xac"));             // U+20AC
  CHECK(is_valid_utf8("\xef\xbf\xbd"));             // U+FFFD
  CHECK(is_valid_utf8("\xf0\x9f\x9a\x80"));         // U+1F680
  CHECK(is_valid_utf8("\xf4\x8f\xbf\xbf"));         // U+10FFFF, the last code point
  CHECK(is_valid_utf8(std::string("a\0b", 3)));     // NUL is valid UTF-8 (other layers refuse it)
}

TEST_CASE("UTF-8: bytes that are not UTF-8 are refused and located") {
  CHECK_FALSE(is_valid_utf8("/\xff"));
  CHECK(utf8_error_offset("/\xff") == 1);
  CHECK(utf8_error_offset("unix:\xd0") == 5);         // truncated 2-byte sequence
  CHECK(utf8_error_offset("ab\x80") == 2);            // lone continuation byte
  CHECK(utf8_error_offset("\xc0\xaf") == 0);          // overlong '/'
  CHECK(utf8_error_offset("\xe0\x80\xaf") == 0);      // overlong, 3 bytes
  CHECK(utf8_error_offset("\xf0\x80\x80\xaf") == 0);  // overlong, 4 bytes
  CHECK(utf8_error_offset("x\xed\xa0\x80") == 1);     // surrogate U+D800
  CHECK(utf8_error_offset("\xf4\x90\x80\x80") == 0);  // above U+10FFFF
  CHECK(utf8_error_offset("\xe2\x82") == 0);          // truncated at the end
  CHECK(utf8_error_offset("\xe2\x28\xa1") == 0);      // bad continuation
  CHECK(utf8_error_offset("ok\xc3\xa9\xf5") == 4);    // 0xF5 never appears in UTF-8
}
