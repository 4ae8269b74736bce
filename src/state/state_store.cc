#include "turnout/state/state_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "state_doc.h"
#include "table_codec_internal.h"
#include "turnout/common/log.h"

namespace turnout {

using nlohmann::json;

namespace {

constexpr uint64_t kCompactEntries = 1024;         // journal lines before a compaction
constexpr uint64_t kCompactMinBytes = 64 * 1024;   // below this the journal is never "too big"

Error sys_error(const std::string& what, const std::string& path, int err) {
  return make_error(ErrorKind::Internal, "state: " + what + " " + path + ": " + std::strerror(err));
}

// write() until everything is out; the caller fdatasyncs. Returns 0 or an errno.
int write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return 0;
}

// Whole file into `out`; ENOENT yields false with no error.
Result<bool> read_file(const std::string& path, std::string* out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return false;
    return sys_error("cannot open", path, errno);
  }
  out->clear();
  char buf[1 << 16];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return sys_error("cannot read", path, err);
    }
    if (n == 0) break;
    out->append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return true;
}

std::string dir_of(const std::string& path) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  return dir.empty() ? "." : dir;
}

// Makes renames and file creations in `path`'s directory durable.
Result<void> fsync_dir(const std::string& path) {
  std::string dir = dir_of(path);
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return sys_error("cannot open directory", dir, errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return sys_error("cannot fsync directory", dir, err);
  return {};
}

// temp file, fsync, rename over `path`, fsync the directory: `path` is the old or the new
// content after a crash at any point, never a mix.
Result<void> replace_file(const std::string& path, std::string_view bytes) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return sys_error("cannot create", tmp, errno);
  int err = write_all(fd, bytes);
  if (err == 0 && ::fsync(fd) != 0) err = errno;
  ::close(fd);
  if (err != 0) {
    ::unlink(tmp.c_str());
    return sys_error("cannot write", tmp, err);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    err = errno;
    ::unlink(tmp.c_str());
    return sys_error("cannot rename over", path, err);
  }
  return fsync_dir(path);
}

// Moves `from` aside to `to` if it exists.
Result<void> move_aside(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0 && errno != ENOENT) return sys_error("cannot rename", from, errno);
  return {};
}

// ,"meta":{...}: a history entry. Its summary is ours (names and a config path): bytes that are
// not UTF-8 are replaced rather than refusing the change they describe.
std::string meta_text(const HistoryEntry& entry) {
  return ",\"meta\":" + history_to_json(entry).dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<std::string> snapshot_text(const RouteTable& table, const std::string& config_hash, const HistoryEntry& entry) {
  // config_hash is hex digits, written by us.
  std::string out = "{\"config_hash\":" + json(config_hash).dump() + ",\"version\":" + std::to_string(table.version()) +
                    ",\"table\":";
  if (auto ok = append_table_text(table, out); !ok) return ok.error();
  out += meta_text(entry);
  out += "}\n";
  return out;
}

}  // namespace

StateStore::StateStore(std::string path) : path_(std::move(path)) {}

StateStore::~StateStore() {
  if (journal_fd_ >= 0) ::close(journal_fd_);
}

std::string StateStore::journal_path() const { return path_ + ".journal"; }

Result<void> StateStore::open_journal() {
  if (journal_fd_ >= 0) return {};
  std::string jp = journal_path();
  bool existed = ::access(jp.c_str(), F_OK) == 0;
  journal_fd_ = ::open(jp.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (journal_fd_ < 0) return sys_error("cannot open", jp, errno);
  if (!existed) return fsync_dir(jp);
  return {};
}

void StateStore::close_journal() {
  if (journal_fd_ >= 0) ::close(journal_fd_);
  journal_fd_ = -1;
}

Result<StateStore::Loaded> StateStore::load(const std::string& config_hash) {
  config_hash_ = config_hash;
  close_journal();
  last_.reset();
  recent_.clear();
  journal_entries_ = 0;
  journal_bytes_ = 0;
  compacted_bytes_ = 0;
  lines_after_snapshot_ = 0;
  const std::string jp = journal_path();

  // Damaged content (not an I/O error) is kept aside, so the reset() that follows a failed
  // load cannot destroy what an operator may want to inspect.
  auto corrupt = [&](const std::string& message) -> Error {
    bool kept = move_aside(path_, path_ + ".old").ok() && move_aside(jp, jp + ".old").ok() && fsync_dir(path_).ok();
    return make_error(ErrorKind::Internal, "state: " + message + (kept ? " (state moved aside to " + path_ + ".old)" : ""));
  };

  std::string text;
  auto found = read_file(path_, &text);
  if (!found) return found.error();
  if (!*found) {
    // A journal without its snapshot can only be left over from an older state: keep it
    // out of the way so its versions can never be replayed over a fresh table.
    if (::access(jp.c_str(), F_OK) == 0) {
      TLOG_WARN("state journal without a snapshot, moved aside", "journal={} to={}", jp, jp + ".old");
      if (auto moved = move_aside(jp, jp + ".old"); !moved) return moved.error();
    }
    return Loaded{LoadKind::None, nullptr};
  }

  auto snap = parse_state_doc(text);
  if (!snap || !snap->config_hash || !snap->version || !snap->table || snap->changes)
    return corrupt(path_ + " is not a turnout state file" + (snap ? std::string() : " (" + snap.error().message + ")"));

  if (*snap->config_hash != config_hash) {
    if (auto moved = move_aside(path_, path_ + ".old"); !moved) return moved.error();
    if (auto moved = move_aside(jp, jp + ".old"); !moved) return moved.error();
    if (auto synced = fsync_dir(path_); !synced) return synced.error();
    return Loaded{LoadKind::ConfigNewer, nullptr};
  }

  auto table = build_table(*snap->table, *snap->version);
  if (!table) return corrupt(path_ + ": " + table.error().message);
  snapshot_bytes_ = text.size();
  RouteTablePtr current = std::move(*table);
  remember(current, history_from_json(snap->meta.value_or(json()), current->version()));
  snap = Error{};  // free the specs before the journal is read

  // Replay the journal. Only its last line may be bad: a crash mid-append tears it, and that
  // change was never acknowledged. A bad line anywhere else means the file was damaged.
  auto has_journal = read_file(jp, &text);
  if (!has_journal) return has_journal.error();
  if (!*has_journal) text.clear();
  size_t good_end = 0;  // bytes of whole, valid lines
  uint64_t line_no = 0;
  while (good_end < text.size()) {
    ++line_no;
    size_t nl = text.find('\n', good_end);
    bool last = nl == std::string::npos || nl + 1 == text.size();
    std::string_view line(text.data() + good_end, (nl == std::string::npos ? text.size() : nl) - good_end);
    std::string problem;
    Result<StateDoc> entry = Error{};
    if (nl == std::string::npos) {
      problem = "no line end";
    } else {
      entry = parse_state_doc(line);
      if (!entry)
        problem = entry.error().message;
      else if (!entry->version || entry->config_hash || entry->table.has_value() == entry->changes.has_value())
        problem = "not a journal entry";
    }
    if (!problem.empty()) {
      if (!last) return corrupt(jp + ":" + std::to_string(line_no) + " is corrupt (" + problem + ")");
      TLOG_WARN("state journal ends with a torn entry, ignored", "journal={} line={} bytes={}", jp, line_no,
                text.size() - good_end);
      break;
    }
    const uint64_t entry_version = *entry->version;
    if (entry_version > current->version()) {  // older ones are already in the snapshot
      Result<RouteTablePtr> next = Error{};
      if (entry->table) {
        next = build_table(*entry->table, entry_version);
      } else {
        std::vector<Change> changes;
        for (const json& c : *entry->changes) {
          auto change = change_from_json(c);
          if (!change) return corrupt(jp + ":" + std::to_string(line_no) + ": " + change.error().message);
          changes.push_back(std::move(*change));
        }
        next = apply_changes(*current, changes, entry_version);
      }
      if (!next)
        return corrupt(jp + ":" + std::to_string(line_no) + " does not apply: " + next.error().message);
      current = std::move(*next);
      remember(current, history_from_json(entry->meta.value_or(json()), entry_version));
      ++lines_after_snapshot_;
    }
    ++journal_entries_;
    good_end = nl + 1;
  }

  if (auto opened = open_journal(); !opened) return opened.error();
  if (good_end < text.size()) {  // drop the torn tail, or the next append would follow it
    if (::ftruncate(journal_fd_, static_cast<off_t>(good_end)) != 0 || ::fdatasync(journal_fd_) != 0)
      return sys_error("cannot truncate", jp, errno);
  }
  journal_bytes_ = good_end;
  compacted_bytes_ = 0;
  last_ = current;
  return Loaded{LoadKind::Loaded, std::move(current), std::vector<Version>(recent_.begin(), recent_.end())};
}

void StateStore::remember(const RouteTablePtr& table, const HistoryEntry& entry) {
  HistoryEntry e = entry;
  e.version = table->version();
  recent_.push_back(Version{table, std::move(e)});
  while (recent_.size() > kHistoryKept) recent_.pop_front();
}

Result<void> StateStore::reset(const RouteTablePtr& table, const std::string& config_hash, const HistoryEntry& entry) {
  Result<std::string> snap = snapshot_text(*table, config_hash, entry);
  if (!snap) return snap.error();
  config_hash_ = config_hash;
  if (auto written = replace_file(path_, *snap); !written) return written.error();
  snapshot_bytes_ = snap->size();
  // The snapshot is durable first: a crash before the truncate leaves journal entries whose
  // versions the snapshot already covers, and load() skips those.
  if (auto opened = open_journal(); !opened) return opened.error();
  if (::ftruncate(journal_fd_, 0) != 0 || ::fdatasync(journal_fd_) != 0)
    return sys_error("cannot truncate", journal_path(), errno);
  journal_entries_ = 0;
  journal_bytes_ = 0;
  compacted_bytes_ = 0;
  lines_after_snapshot_ = 0;
  last_ = table;
  recent_.clear();
  remember(table, entry);
  return {};
}

Result<void> StateStore::append(const RouteTablePtr& table_after, std::span<const Change> changes,
                                const HistoryEntry& entry) {
  std::string line = "{\"version\":" + std::to_string(table_after->version()) + ",\"changes\":[";
  for (size_t i = 0; i < changes.size(); ++i) {
    if (i > 0) line += ',';
    // Strings arrive through admin JSON (already UTF-8) or a config reload (checked by the
    // loader); a change that still is not UTF-8 is refused, never written with bytes replaced.
    try {
      line += change_to_json(changes[i]).dump();
    } catch (const json::type_error&) {
      return make_error(ErrorKind::Internal, "state: a change holds text that is not valid UTF-8; the state file cannot hold it");
    }
  }
  line += "]";
  line += meta_text(entry);
  line += "}\n";
  return append_line(table_after, entry, line);
}

Result<void> StateStore::append_table(const RouteTablePtr& table, const HistoryEntry& entry) {
  std::string line = "{\"version\":" + std::to_string(table->version()) + ",\"table\":";
  if (auto ok = append_table_text(*table, line); !ok) return ok.error();
  line += meta_text(entry);
  line += "}\n";
  return append_line(table, entry, line);
}

Result<void> StateStore::append_line(const RouteTablePtr& table_after, const HistoryEntry& entry,
                                     std::string_view line) {
  if (!last_) return make_error(ErrorKind::Internal, "state: " + path_ + " is not open (load or reset it first)");
  // load() skips entries at or below the version it has reached: a non-increasing version
  // would be acknowledged now and silently lost at the next start.
  if (table_after->version() <= last_->version())
    return make_error(ErrorKind::Internal, "state: version " + std::to_string(table_after->version()) + " does not follow " +
                               std::to_string(last_->version()));
  if (auto opened = open_journal(); !opened) return opened.error();
  int err = write_all(journal_fd_, line);
  if (err == 0 && ::fdatasync(journal_fd_) != 0) err = errno;
  if (err != 0) {
    // Not acknowledged: take the bytes back so neither a replay nor the next append sees them.
    if (::ftruncate(journal_fd_, static_cast<off_t>(journal_bytes_)) == 0) ::fdatasync(journal_fd_);
    return sys_error("cannot append to", journal_path(), err);
  }
  journal_bytes_ += line.size();
  ++journal_entries_;
  ++lines_after_snapshot_;
  last_ = table_after;
  remember(table_after, entry);
  // Only bytes appended since the last compaction count: the lines it kept for the history may
  // be large (rollbacks hold whole tables) and must not make every append compact again.
  if (journal_entries_ >= kCompactEntries ||
      journal_bytes_ - compacted_bytes_ > std::max(4 * snapshot_bytes_, kCompactMinBytes)) {
    // The change is already durable in the journal; a failed compaction only delays the next.
    if (auto compacted = compact(); !compacted)
      TLOG_ERROR("state compaction failed", "error={}", log_quote(compacted.error().message));
  }
  return {};
}

Result<void> StateStore::compact() {
  // Keep the last versions' lines (the history survives a restart); the snapshot becomes the
  // version just before them. recent_'s last `keep` entries are the journal's last `keep` lines.
  const size_t keep = static_cast<size_t>(std::min<uint64_t>(lines_after_snapshot_, recent_.size() - 1));
  const Version& base = recent_[recent_.size() - 1 - keep];
  std::string tail;
  if (keep > 0) {
    std::string text;
    auto found = read_file(journal_path(), &text);
    if (!found) return found.error();
    size_t start = text.size();  // text ends with '\n' (whole lines only are acknowledged)
    for (size_t n = 0; n < keep && start > 0; ++n) {
      size_t nl = start >= 2 ? text.rfind('\n', start - 2) : std::string::npos;
      start = nl == std::string::npos ? 0 : nl + 1;
    }
    tail = text.substr(start);
  }
  Result<std::string> snap = snapshot_text(*base.table, config_hash_, base.entry);
  if (!snap) return snap.error();
  if (auto written = replace_file(path_, *snap); !written) return written.error();
  snapshot_bytes_ = snap->size();
  // The snapshot is durable first: a crash before the journal is replaced leaves lines at or
  // below its version, which load() skips.
  if (keep == 0) {
    if (::ftruncate(journal_fd_, 0) != 0 || ::fdatasync(journal_fd_) != 0)
      return sys_error("cannot truncate", journal_path(), errno);
  } else {
    if (auto written = replace_file(journal_path(), tail); !written) return written.error();
    close_journal();  // the old fd names the replaced file
    if (auto opened = open_journal(); !opened) return opened.error();
  }
  journal_entries_ = keep;
  journal_bytes_ = tail.size();
  compacted_bytes_ = tail.size();
  lines_after_snapshot_ = keep;
  return {};
}

}  // namespace turnout
