// libFuzzer target: the state file's reader on damaged input. A crash may tear the journal and a
// disk may damage anything; loading must then resume the acknowledged state or refuse cleanly.
//
// Input: the text of a journal (lines of {"version", "changes"} or {"version", "table"}).
//  1. parse_state_doc (the SAX reader of snapshots and journal lines) on the whole input: never
//     throws; what it accepts builds, and round-trips through the state file's own bytes.
//  2. A StateStore in /dev/shm is reset to a known table (version 1), its journal replaced by the
//     input, and loaded by a fresh StateStore: the result is the table (Loaded) or a 500 with the
//     files moved aside; never a crash. A Loaded store is then stable (a second load gives the
//     same table) and ready to append (an appended change survives a third load).
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "turnout/http/error_status.h"
#include "fuzz_actions.h"
#include "fuzz_check.h"
#include "fuzz_durable.h"
#include "turnout/common/log.h"
#include "turnout/state/state_store.h"

using namespace turnout;
using namespace turnout::fuzz;

namespace {

void remove_state(const std::string& path) {
  for (const char* suffix : {"", ".journal", ".old", ".journal.old", ".tmp"}) ::unlink((path + suffix).c_str());
}

// A directory on tmpfs (fsync is cheap there), removed when the fuzzer exits. The path is never
// freed, so the exit handler can still read it after static destructors ran.
const std::string& state_dir() {
  static const std::string* dir = [] {
    auto* d = new std::string("/dev/shm/turnout-fuzz-state-" + std::to_string(::getpid()));
    ::mkdir(d->c_str(), 0700);
    std::atexit([] {
      remove_state(state_dir() + "/state.json");
      ::rmdir(state_dir().c_str());
    });
    return d;
  }();
  return *dir;
}

void write_file(const std::string& path, std::string_view bytes) {
  FILE* f = std::fopen(path.c_str(), "wb");
  FUZZ_CHECK(f != nullptr, "open %s: %d", path.c_str(), errno);
  FUZZ_CHECK(std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size(), "write %s", path.c_str());
  std::fclose(f);
}

bool exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

void parse_doc(std::string_view text) {
  Result<StateDoc> doc = parse_state_doc(text);
  if (!doc) {
    FUZZ_CHECK(!doc.error().message.empty(), "parse_state_doc error without a message");
    return;
  }
  if (doc->table) {
    Result<RouteTablePtr> t = build_table(*doc->table, doc->version.value_or(1));
    if (t) check_snapshot_round_trip(**t);
  }
  if (doc->changes) {
    FUZZ_CHECK(doc->changes->is_array(), "changes is not an array");
    for (const nlohmann::json& c : *doc->changes) {
      Result<Change> change = change_from_json(c);
      if (change) check_change_round_trip(*change);
    }
  }
}

void load_journal(std::string_view journal) {
  const std::string path = state_dir() + "/state.json";
  remove_state(path);
  Result<RouteTablePtr> base = build_table(base_config(), 1);
  FUZZ_CHECK(base.ok(), "base table");
  {
    StateStore store(path);
    Result<void> r = store.reset(*base, "cafe");
    FUZZ_CHECK(r.ok(), "reset: %s", r.error().message.c_str());
  }
  write_file(path + ".journal", journal);

  RouteTablePtr loaded;
  {
    StateStore store(path);
    Result<StateStore::Loaded> r = store.load("cafe");
    if (!r) {
      FUZZ_CHECK(r.error().kind == ErrorKind::Internal, "load error %d: %s", http_status(r.error().kind), r.error().message.c_str());
      FUZZ_CHECK(exists(path + ".journal.old") && !exists(path + ".journal"),
                 "a damaged journal was not moved aside (%s)", r.error().message.c_str());
      return;
    }
    FUZZ_CHECK(r->kind == StateStore::LoadKind::Loaded && r->table, "load of a matching snapshot gave kind %d",
               static_cast<int>(r->kind));
    loaded = r->table;
    FUZZ_CHECK(loaded->version() >= 1, "loaded version %llu", static_cast<unsigned long long>(loaded->version()));
  }
  // Stable: the torn tail is gone, a second start resumes the same table.
  StateStore store(path);
  Result<StateStore::Loaded> again = store.load("cafe");
  FUZZ_CHECK(again.ok() && again->table, "second load failed: %s", again.ok() ? "no table" : again.error().message.c_str());
  FUZZ_CHECK(table_to_json(*again->table) == table_to_json(*loaded) && again->table->version() == loaded->version(),
             "second load differs from the first");
  if (loaded->version() == UINT64_MAX) return;
  // Ready to append: an acknowledged change survives the next start.
  Change c;
  c.op = Change::Op::Map;
  c.host = "fuzz-appended.example";
  c.app = loaded->find_app("example") ? "example" : "";
  if (c.app.empty()) return;
  Result<RouteTablePtr> next = apply_changes(*again->table, std::span<const Change>(&c, 1), loaded->version() + 1);
  FUZZ_CHECK(next.ok(), "map on the loaded table: %s", next.error().message.c_str());
  Result<void> appended = store.append(*next, std::span<const Change>(&c, 1));
  FUZZ_CHECK(appended.ok(), "append after load: %s", appended.error().message.c_str());
  StateStore third(path);
  Result<StateStore::Loaded> after = third.load("cafe");
  FUZZ_CHECK(after.ok() && after->table, "load after append failed: %s",
             after.ok() ? "no table" : after.error().message.c_str());
  FUZZ_CHECK(table_to_json(*after->table) == table_to_json(**next) && after->table->version() == (*next)->version(),
             "the appended change was lost at the next load");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  set_log_level(LogLevel::Error);  // torn-entry warnings would drown the fuzzer's output
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    parse_doc(text);
    load_journal(text);
  } catch (const std::exception& e) {
    FUZZ_CHECK(false, "exception escaped the state layer: %s", e.what());
  }
  return 0;
}
