#include "turnout/http/error_status.h"

namespace turnout {

namespace {
struct Pair {
  ErrorKind kind;
  int status;
};
constexpr Pair kPairs[] = {
    {ErrorKind::Invalid, 400},          {ErrorKind::Unauthorized, 401},    {ErrorKind::Forbidden, 403},
    {ErrorKind::NotFound, 404},         {ErrorKind::MethodNotAllowed, 405}, {ErrorKind::Conflict, 409},
    {ErrorKind::Gone, 410},             {ErrorKind::PreconditionFailed, 412}, {ErrorKind::TooLarge, 413},
    {ErrorKind::UriTooLong, 414},       {ErrorKind::HeadersTooLarge, 431}, {ErrorKind::Internal, 500},
    {ErrorKind::NotImplemented, 501},   {ErrorKind::BadGateway, 502},      {ErrorKind::Unavailable, 503},
    {ErrorKind::Timeout, 504},          {ErrorKind::VersionNotSupported, 505},
};
}  // namespace

int http_status(ErrorKind kind) {
  for (const Pair& p : kPairs)
    if (p.kind == kind) return p.status;
  return kind == ErrorKind::Usage ? 400 : 500;
}

ErrorKind error_kind_of_status(int status) {
  for (const Pair& p : kPairs)
    if (p.status == status) return p.kind;
  return status >= 500 ? ErrorKind::Internal : ErrorKind::Invalid;
}

}  // namespace turnout
