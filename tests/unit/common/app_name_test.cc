#include <doctest/doctest.h>

#include "turnout/common/app_name.h"

using turnout::valid_app_name;

TEST_CASE("app names: [A-Za-z0-9_.-]+, the one grammar of the config file and the admin API") {
  CHECK(valid_app_name("app2"));
  CHECK(valid_app_name("Blue-Green_v1.2"));
  CHECK(valid_app_name("."));
  CHECK(valid_app_name("-"));

  CHECK_FALSE(valid_app_name(""));
  CHECK_FALSE(valid_app_name("a b"));        // would split a ctl argument
  CHECK_FALSE(valid_app_name("a/b"));        // would change an admin path
  CHECK_FALSE(valid_app_name("a%2Fb"));      // nor through percent-encoding
  CHECK_FALSE(valid_app_name("app\n"));      // nor forge a log line
  CHECK_FALSE(valid_app_name("caf\xc3\xa9"));  // ASCII only
  CHECK_FALSE(valid_app_name(std::string_view("a\0b", 3)));
}
