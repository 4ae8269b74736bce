// What the tls layer's files share about OpenSSL itself: the error text of a failed call and
// the TLS 1.2 cipher profile used on both sides. Private to src/tls (OpenSSL stays in this layer).
#pragma once

#include <string>

namespace turnout::tls_detail {

// TLS 1.2 suites, for listeners and for connections to servers alike: forward secrecy and AEAD
// only (the usual "intermediate" profile). TLS 1.3 suites are OpenSSL's defaults, all AEAD.
inline constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// The oldest error OpenSSL queued on this thread, as text (`none` if the queue is empty), and
// the queue cleared, so the next failure is reported on its own.
std::string openssl_error(const char* none = "unknown OpenSSL error");

}  // namespace turnout::tls_detail
