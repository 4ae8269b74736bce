// ErrorKind <-> HTTP status, where HTTP is spoken: the admin API's answers and the proxy's own
// error responses. Pure functions; any thread.
#pragma once

#include "turnout/common/error.h"

namespace turnout {

// The status answering an error of `kind` (500 for kinds with no HTTP meaning).
int http_status(ErrorKind kind);
// The kind of a status turnout answers itself (Invalid for an unknown 4xx, Internal for 5xx).
ErrorKind error_kind_of_status(int status);

}  // namespace turnout
