// Reading a whole file into memory: the config, certificate and key files, and what `turnout
// ctl` sends from files. Small files only (the caller knows what it reads); blocking I/O, so
// main thread or ctl, never a worker loop.
#pragma once

#include <string>

#include "turnout/common/error.h"

namespace turnout {

// The bytes of the file at `path`. On failure an ErrorKind::Io whose message is
// "<path>: <reason>" (e.g. "/etc/turnout/a.pem: No such file or directory"), for the caller to
// prefix with what the file was for.
Result<std::string> read_file(const std::string& path);

}  // namespace turnout
