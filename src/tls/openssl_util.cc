#include "openssl_util.h"

#include <openssl/err.h>

namespace turnout::tls_detail {

std::string openssl_error(const char* none) {
  unsigned long e = ERR_get_error();
  std::string out = none;
  if (e != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    out = buf;
  }
  ERR_clear_error();
  return out;
}

}  // namespace turnout::tls_detail
