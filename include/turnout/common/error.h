// Result<T>: a value or an error message, turnout's stand-in for C++23 std::expected.
// Used across layers so that only config/ ever deals in exceptions (yaml-cpp throws).
// Plain value type: any thread, any owner.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>

namespace turnout {

// What went wrong, in terms a caller can act on. A kind is not a protocol code: each layer that
// speaks a protocol maps it there — the admin API and the proxy to HTTP statuses
// (http/error_status.h), ctl to its exit codes (ctl/ctl.h).
enum class ErrorKind : uint8_t {
  Invalid,              // bad input: a malformed request, value or file
  Unauthorized,         // no or wrong credentials
  Forbidden,            // credentials fine, action not allowed from there
  NotFound,             // names something that does not exist
  MethodNotAllowed,     // the resource exists, not with that method
  Conflict,             // valid, but refused in the current state (guard rails, If-Match, in use)
  Gone,                 // existed once, no longer kept (a rolled-off version)
  PreconditionFailed,
  TooLarge,             // a body over its limit
  UriTooLong,           // a request target over its limit
  HeadersTooLarge,      // a head over its limit
  Internal,             // turnout's own failure (I/O, out of resources)
  NotImplemented,       // valid, but not something turnout does
  BadGateway,           // an upstream answered wrongly or not at all
  Unavailable,          // temporarily refused (shutting down, handing over, no server)
  Timeout,              // a bounded wait ran out
  VersionNotSupported,  // an HTTP version turnout does not speak
  Usage,                // ctl: the command line is wrong
  Io,                   // ctl: turnout could not be reached or answered wrongly
};

// A failure that is reported to a user (admin API, ctl, log).
struct Error {
  ErrorKind kind = ErrorKind::Invalid;
  std::string message;  // one sentence, shown to the operator as is
};

template <class T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}                 // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}             // NOLINT
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

// Result<void>: success or an error.
template <>
class Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

inline Error make_error(ErrorKind kind, std::string message) { return Error{kind, std::move(message)}; }

}  // namespace turnout
