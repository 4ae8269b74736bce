#include "turnout/common/log.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <ctime>
#include <deque>
#include <mutex>
#include <thread>

namespace turnout {
namespace {

// The single writer: a queue of (fd, bytes) blocks drained by one thread. Bounded in bytes.
class LogWriter {
 public:
  static LogWriter& get() {
    static LogWriter* w = new LogWriter();  // never destroyed: threads may log during exit
    return *w;
  }

  void push(int fd, std::string&& bytes) {
    {
      std::lock_guard lock(mu_);
      if (queued_bytes_ + bytes.size() > kMaxQueuedBytes) {
        dropped_.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      queued_bytes_ += bytes.size();
      queue_.push_back(Block{fd, std::move(bytes)});
      if (!thread_.joinable() && !stopped_) thread_ = std::thread([this] { run(); });
    }
    cv_.notify_one();
  }

  void shutdown() {
    {
      std::lock_guard lock(mu_);
      stopped_ = true;
    }
    cv_.notify_one();
    if (thread_.joinable()) thread_.join();
    // Anything pushed after the thread stopped is written synchronously.
    std::lock_guard lock(mu_);
    for (auto& b : queue_) write_all(b.fd, b.bytes);
    queue_.clear();
    queued_bytes_ = 0;
  }

  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  struct Block {
    int fd;             // destination, owned by whoever opened it (stderr, stdout, access file)
    std::string bytes;  // complete lines
  };
  static constexpr size_t kMaxQueuedBytes = 64u << 20;

  static void write_all(int fd, const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
      ssize_t n = ::write(fd, s.data() + off, s.size() - off);
      if (n < 0) {
        if (errno == EINTR) continue;
        return;
      }
      off += static_cast<size_t>(n);
    }
  }

  void run() {
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [this] { return stopped_ || !queue_.empty(); });
      if (queue_.empty() && stopped_) return;
      std::deque<Block> batch;
      batch.swap(queue_);
      queued_bytes_ = 0;
      lock.unlock();
      for (auto& b : batch) write_all(b.fd, b.bytes);
      lock.lock();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Block> queue_;
  size_t queued_bytes_ = 0;
  bool stopped_ = false;
  std::thread thread_;
  std::atomic<uint64_t> dropped_{0};
};

std::atomic<int> g_level{static_cast<int>(LogLevel::Info)};
thread_local std::string t_thread_name = "main";
std::atomic<int> g_access_fd{-1};
std::string g_access_path;  // the file behind g_access_fd ("" for stdout/off); main thread only

const char* level_name(LogLevel l) {
  switch (l) {
    case LogLevel::Debug: return "debug";
    case LogLevel::Info: return "info";
    case LogLevel::Warn: return "warn";
    case LogLevel::Error: return "error";
  }
  return "info";
}

}  // namespace

bool parse_log_level(std::string_view text, LogLevel* out) {
  for (LogLevel l : {LogLevel::Debug, LogLevel::Info, LogLevel::Warn, LogLevel::Error}) {
    if (text == level_name(l)) {
      *out = l;
      return true;
    }
  }
  return false;
}

void set_log_level(LogLevel level) { g_level.store(static_cast<int>(level)); }
bool log_enabled(LogLevel level) { return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed); }
void set_log_thread_name(std::string_view name) { t_thread_name = std::string(name); }

std::string log_quote(std::string_view value) {
  bool needs = value.empty();
  for (char c : value)
    if (c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20) needs = true;
  if (!needs) return std::string(value);
  std::string out = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
      continue;
    }
    out += c;
  }
  out += '"';
  return out;
}

void log_write(LogLevel level, std::string_view msg, std::string_view fields) {
  using namespace std::chrono;
  auto now = system_clock::now();
  auto secs = system_clock::to_time_t(now);
  auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  std::string line = fmt::format("ts={:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z level={} thread={} msg={}",
                                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                                 tm.tm_sec, ms, level_name(level), t_thread_name, log_quote(msg));
  if (!fields.empty()) {
    line += ' ';
    line.append(fields);
  }
  line += '\n';
  LogWriter::get().push(STDERR_FILENO, std::move(line));
}

bool access_log_open(const std::string& target, std::string* error) {
  int old = g_access_fd.load();
  int fd = -1;
  if (target == "off") {
    fd = -1;
  } else if (target == "stdout") {
    fd = STDOUT_FILENO;
  } else {
    fd = ::open(target.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
      if (error) *error = fmt::format("cannot open access log '{}': {}", target, strerror(errno));
      return false;
    }
  }
  g_access_fd.store(fd);
  // An old file descriptor is left open: blocks already queued may still point at it.
  (void)old;
  g_access_path = fd > STDERR_FILENO ? target : std::string();
  return true;
}

bool access_log_reopen(std::string* error) {
  int fd = g_access_fd.load();
  if (fd <= STDERR_FILENO || g_access_path.empty()) return true;
  int fresh = ::open(g_access_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fresh < 0) {
    if (error) *error = fmt::format("cannot reopen access log '{}': {}", g_access_path, strerror(errno));
    return false;
  }
  // dup2 swaps the file under the number atomically: a write in progress on the writer thread
  // goes wholly to the old file or wholly to the new one.
  int rc = ::dup3(fresh, fd, O_CLOEXEC);
  int err = errno;
  ::close(fresh);
  if (rc < 0) {
    if (error) *error = fmt::format("cannot reopen access log '{}': {}", g_access_path, strerror(err));
    return false;
  }
  return true;
}

bool access_log_enabled() { return g_access_fd.load(std::memory_order_relaxed) >= 0; }

void access_log_submit(std::string&& block) {
  int fd = g_access_fd.load(std::memory_order_relaxed);
  if (fd < 0 || block.empty()) return;
  LogWriter::get().push(fd, std::move(block));
}

void log_shutdown() { LogWriter::get().shutdown(); }
uint64_t log_dropped_lines() { return LogWriter::get().dropped(); }

}  // namespace turnout
