#include "turnout/common/file.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

using namespace turnout;

TEST_CASE("read_file returns every byte, NULs included, and names the path when it cannot") {
  char dir[] = "/tmp/turnout-file-XXXXXX";
  REQUIRE(::mkdtemp(dir) != nullptr);
  const std::string path = std::string(dir) + "/f.bin";
  const std::string bytes("line one\n\0binary\xff tail", 21);
  { std::ofstream(path, std::ios::binary) << bytes; }
  Result<std::string> r = read_file(path);
  REQUIRE(r);
  CHECK(*r == bytes);

  Result<std::string> missing = read_file(std::string(dir) + "/absent.pem");
  REQUIRE(!missing);
  CHECK(missing.error().kind == ErrorKind::Io);
  CHECK(missing.error().message == std::string(dir) + "/absent.pem: No such file or directory");

  Result<std::string> a_dir = read_file(dir);  // a directory opens but cannot be read
  REQUIRE(!a_dir);
  CHECK(a_dir.error().message == std::string(dir) + ": Is a directory");
  std::remove(path.c_str());
  ::rmdir(dir);
}
