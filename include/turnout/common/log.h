// Logging: turnout's own log lines (levelled, logfmt-structured, to stderr) and the access log
// (text or JSON lines, to stdout or a file). Both are written by one background writer thread,
// so a worker's loop never blocks on a slow terminal, pipe or disk.
//
// Own log line:   ts=2026-11-26T21:30:00.123Z level=info thread=w1 msg="listening" addr=127.0.0.1:8080
// Callers format the key=value tail with fmt; values with spaces must be quoted by the caller
// (log_quote()). Any thread may log. The writer drops lines (and counts them) rather than let
// memory grow if its sink stalls.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace turnout {

enum class LogLevel { Debug = 0, Info = 1, Warn = 2, Error = 3 };

// Parses "debug" | "info" | "warn" | "error".
bool parse_log_level(std::string_view text, LogLevel* out);
void set_log_level(LogLevel level);
bool log_enabled(LogLevel level);

// Names the calling thread in its log lines ("main", "w0", "w1", ...).
void set_log_thread_name(std::string_view name);

// Emits one line: ts, level, thread, msg, then `fields` (already "k=v k2=v2").
void log_write(LogLevel level, std::string_view msg, std::string_view fields);

// Quotes a value for logfmt if it contains spaces, quotes or '=' (and escapes them).
std::string log_quote(std::string_view value);

template <class... Args>
void log_at(LogLevel level, std::string_view msg, fmt::format_string<Args...> fields, Args&&... args) {
  if (!log_enabled(level)) return;
  log_write(level, msg, fmt::format(fields, std::forward<Args>(args)...));
}
inline void log_at(LogLevel level, std::string_view msg) {
  if (log_enabled(level)) log_write(level, msg, {});
}

#define TLOG_DEBUG(...) ::turnout::log_at(::turnout::LogLevel::Debug, __VA_ARGS__)
#define TLOG_INFO(...) ::turnout::log_at(::turnout::LogLevel::Info, __VA_ARGS__)
#define TLOG_WARN(...) ::turnout::log_at(::turnout::LogLevel::Warn, __VA_ARGS__)
#define TLOG_ERROR(...) ::turnout::log_at(::turnout::LogLevel::Error, __VA_ARGS__)

// Access-log destination. Workers batch lines in their own buffer and hand whole blocks to
// the writer (one short lock per block, not per request).
// target: "stdout" | "off" | a file path (opened for append). Returns false with a message.
bool access_log_open(const std::string& target, std::string* error);
bool access_log_enabled();
// Reopens the access log file by its path (after logrotate renamed it): the new file takes the
// old descriptor's number (dup2), so lines already queued and every later one land in it and no
// descriptor leaks. No-op for stdout / off. Main thread, like access_log_open.
bool access_log_reopen(std::string* error);
void access_log_submit(std::string&& block);  // takes a block of complete lines

// Flushes everything queued and stops the writer thread (at exit, after workers joined).
void log_shutdown();

// Lines dropped because the writer could not keep up.
uint64_t log_dropped_lines();

}  // namespace turnout
