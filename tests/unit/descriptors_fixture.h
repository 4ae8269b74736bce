// Descriptor helpers for unit tests: whether an fd is open, and DescriptorsExhausted, which makes
// the process unable to open another descriptor (EMFILE) for as long as it lives.
#pragma once

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

namespace turnout::test {

inline bool fd_open(int fd) { return ::fcntl(fd, F_GETFD) != -1 || errno != EBADF; }

// Uses up every descriptor the process may open: lowers the soft limit to just above what is
// open, then fills the rest. release() (or the destructor) gives them back and restores the limit.
// Assert nothing while exhausted: a failing assertion could not even be reported.
struct DescriptorsExhausted {
  rlimit saved{};
  std::vector<int> fillers;
  int fill_errno = 0;  // why the last open failed (EMFILE expected)
  DescriptorsExhausted() {
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved) == 0);
    int highest = 0;
    for (int fd = 0; fd < 4096; ++fd)
      if (fd_open(fd)) highest = fd;
    rlimit low = saved;
    low.rlim_cur = static_cast<rlim_t>(highest + 8);
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
    for (int fd; (fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;) fillers.push_back(fd);
    fill_errno = errno;
  }
  void release() {
    for (int fd : fillers) ::close(fd);
    fillers.clear();
    CHECK(::setrlimit(RLIMIT_NOFILE, &saved) == 0);  // after the fillers are closed: reportable
  }
  ~DescriptorsExhausted() { release(); }
};

}  // namespace turnout::test
