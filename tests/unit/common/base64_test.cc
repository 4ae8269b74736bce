#include <doctest/doctest.h>

#include "turnout/common/base64.h"

using namespace turnout;

TEST_CASE("base64 encodes the RFC 4648 test vectors") {
  CHECK(base64_encode("") == "");
  CHECK(base64_encode("f") == "Zg==");
  CHECK(base64_encode("fo") == "Zm8=");
  CHECK(base64_encode("foo") == "Zm9v");
  CHECK(base64_encode("foob") == "Zm9vYg==");
  CHECK(base64_encode("fooba") == "Zm9vYmE=");
  CHECK(base64_encode("foobar") == "Zm9vYmFy");
  CHECK(base64_encode(std::string("\xff\xfe\x00", 3)) == "//4A");
}

TEST_CASE("base64 decodes what it encodes, all byte values included") {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (size_t n = 0; n <= all.size(); n += 37) {
    auto back = base64_decode(base64_encode(all.substr(0, n)));
    REQUIRE(back.has_value());
    CHECK(*back == all.substr(0, n));
  }
  CHECK(base64_decode("Zm9vYmE=").value() == "fooba");
}

TEST_CASE("base64 decoding refuses malformed text") {
  CHECK_FALSE(base64_decode("Zm9").has_value());       // not a multiple of 4
  CHECK_FALSE(base64_decode("Zm=v").has_value());      // padding in the middle
  CHECK_FALSE(base64_decode("Zg==Zm9v").has_value());  // padding before the end
  CHECK_FALSE(base64_decode("Zm9-").has_value());      // URL alphabet
  CHECK_FALSE(base64_decode("Zm9v\n").has_value());
  CHECK_FALSE(base64_decode("Zh==").has_value());      // non-canonical: bits below the padding
}
