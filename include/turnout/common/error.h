// Result<T>: a value or an error message, turnout's stand-in for C++23 std::expected.
// Used across layers so that only config/ ever deals in exceptions (yaml-cpp throws).
// Plain value type: any thread, any owner.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace turnout {

// A failure that is reported to a user (admin API, ctl, log). `code` is an HTTP-like status
// when the error crosses the admin API (400 bad input, 404 unknown, 409 conflict, 500 internal).
struct Error {
  int code = 400;       // status the admin API answers with
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

inline Error make_error(int code, std::string message) { return Error{code, std::move(message)}; }

}  // namespace turnout
