#include "turnout/common/file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace turnout {

Result<std::string> read_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_error(ErrorKind::Io, fmt::format("{}: {}", path, std::strerror(errno)));
  std::string bytes;
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      bytes.append(buf, static_cast<size_t>(n));
    } else if (n == 0) {
      break;
    } else if (errno != EINTR) {
      int err = errno;  // e.g. EISDIR: a directory opens but cannot be read
      ::close(fd);
      return make_error(ErrorKind::Io, fmt::format("{}: {}", path, std::strerror(err)));
    }
  }
  ::close(fd);
  return bytes;
}

}  // namespace turnout
