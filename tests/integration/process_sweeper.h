// Processes a test starts through turnout itself: a binary upgrade spawns the new process from
// the old one, which then exits, so those are not the harness's children. A ProcessSweeper makes
// the test process a child subreaper, so the orphans are reparented to it and their exit status
// can be read with waitpid, and SIGKILLs every pid turnout logged when the test case ends.
#pragma once

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "integration/harness.h"

namespace turnout::test {

// How a pid that is not (or no longer) the harness's child ended, as far as this process can tell.
struct PidEnd {
  bool exited = false;         // gone or a zombie
  std::optional<int> code;     // exit code (128+signal) when we reaped it ourselves
};

// 'Z' state in /proc/PID/stat: exited, not reaped by whoever is its parent.
inline bool is_zombie(pid_t pid) {
  std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  size_t close_paren = stat.rfind(')');
  return close_paren != std::string::npos && close_paren + 2 < stat.size() && stat[close_paren + 2] == 'Z';
}

// Polls `pid` once: reaps it when it is our (reparented) child, else looks at kill(0) and /proc.
inline PidEnd poll_pid(pid_t pid) {
  PidEnd end;
  int st = 0;
  pid_t r = ::waitpid(pid, &st, WNOHANG);
  if (r == pid) {
    end.exited = true;
    end.code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return end;
  }
  if (r == 0) return end;  // our child, still running
  // Not our child (its parent is alive and will reap it) or already reaped by someone.
  if (::kill(pid, 0) != 0 && errno == ESRCH) end.exited = true;
  else if (is_zombie(pid)) end.exited = true;
  return end;
}

// Waits until `pid` has exited; the end as poll_pid saw it (exited false on timeout).
inline PidEnd wait_pid_exit(pid_t pid, Ms timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    PidEnd e = poll_pid(pid);
    if (e.exited || Clock::now() >= deadline) return e;
    std::this_thread::sleep_for(Ms(10));
  }
}

// Every turnout pid a log mentions: "started the new process pid=N" and "ready ... pid=N".
inline std::set<pid_t> pids_in_log(const std::string& log) {
  std::set<pid_t> out;
  static const std::regex re(R"re(msg="?(ready|upgrade: started the new process)"?\s.*?\bpid=([0-9]+))re");
  std::istringstream in(log);
  std::string line;
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_search(line, m, re)) out.insert(static_cast<pid_t>(std::stol(m[2].str())));
  }
  return out;
}

// Kills, at scope exit, every process the test started through turnout: the pids handed to
// add() and every pid the turnout log names. Declared after the TurnoutProcess it watches, so it
// runs first (the harness then kills and reaps its own child).
class ProcessSweeper {
 public:
  explicit ProcessSweeper(const TurnoutProcess& proc) : proc_(proc) {
    // Orphaned successors are reparented to us: they can be reaped and their status read.
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  }
  ~ProcessSweeper() {
    std::set<pid_t> all = pids_;
    for (pid_t p : pids_in_log(proc_.stderr_text())) all.insert(p);
    all.erase(proc_.pid());  // the harness's own child: killed and reaped by its destructor
    for (pid_t p : all) {
      if (p > 1 && !poll_pid(p).exited) ::kill(p, SIGKILL);
    }
    for (pid_t p : all) {
      if (p > 1) wait_pid_exit(p, Ms(2000));
    }
  }
  ProcessSweeper(const ProcessSweeper&) = delete;
  ProcessSweeper& operator=(const ProcessSweeper&) = delete;

  void add(pid_t p) { pids_.insert(p); }

 private:
  const TurnoutProcess& proc_;  // whose log names the pids
  std::set<pid_t> pids_;        // pids seen in /v1/status answers
};

}  // namespace turnout::test
