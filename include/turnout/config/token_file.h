// The admin bearer token kept in a file (admin.token_file): created with a random token at the
// first start of a turnout that has a TCP admin listener and no admin.token, reused afterwards,
// and read by `turnout ctl -c`. The file is the secret: it must be a regular file that only its
// owner can read or write (mode 0600 or stricter), or it is refused.
// Plain functions, any thread; used by app/Server at start and by ctl.
#pragma once

#include <string>

#include "turnout/common/error.h"

namespace turnout {

// What load_or_create_token_file() found.
struct TokenFile {
  std::string token;     // the token, without surrounding whitespace
  bool created = false;  // this call generated the file
};

// Reads the token at `path`. Errors (meant for the operator) when the file is missing, is not a
// regular file, is empty, or is readable or writable by group or others.
Result<std::string> read_token_file(const std::string& path);

// Reads the token at `path`, or, when there is no file there, creates it (O_EXCL, mode 0600,
// whatever the umask) holding a fresh random token: 32 bytes from getrandom(), as 64 hex digits.
Result<TokenFile> load_or_create_token_file(const std::string& path);

}  // namespace turnout
