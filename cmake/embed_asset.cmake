# Turns a file into a C++ source holding its bytes, at build time (no xxd or other tool needed):
#   cmake -DINPUT=page.html -DOUTPUT=page_html.cc -DSYMBOL=kStatusPageHtml -DNAMESPACE=turnout -P embed_asset.cmake
# The source defines `extern const unsigned char SYMBOL[]` (the bytes, no terminating NUL) and
# `extern const std::size_t SYMBOL_size`. The asset stays an ordinary file in the tree, edited
# and reviewed as what it is (HTML), and the binary serves exactly its bytes.
foreach(var INPUT OUTPUT SYMBOL NAMESPACE)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "embed_asset.cmake: -D${var}=... is required")
  endif()
endforeach()

file(READ "${INPUT}" hex HEX)
string(LENGTH "${hex}" hex_len)
math(EXPR size "${hex_len} / 2")
# Two hex digits per byte -> "0xNN," ; then one line per 16 bytes so the file stays diffable.
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "((0x[0-9a-f][0-9a-f],){16})" "\\1\n    " bytes "${bytes}")
get_filename_component(input_name "${INPUT}" NAME)

set(content "// Generated at build time from ${input_name} by cmake/embed_asset.cmake. Do not edit.
#include <cstddef>

namespace ${NAMESPACE} {

extern const unsigned char ${SYMBOL}[];
extern const std::size_t ${SYMBOL}_size;

// One byte more than the file (a 0), so that an empty asset is still a valid array.
const unsigned char ${SYMBOL}[] = {
    ${bytes}0x00};
const std::size_t ${SYMBOL}_size = ${size};

}  // namespace ${NAMESPACE}
")

file(WRITE "${OUTPUT}" "${content}")
