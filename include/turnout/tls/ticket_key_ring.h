// TicketKeyRing: the session ticket keys of one turnout process.
//
// One ring per process, installed on every server SSL_CTX it builds (also a context rebuilt by a
// reload), so a ticket issued by any worker, under any context of this process, resumes on any
// other. The ring, not OpenSSL, owns the keys: OpenSSL's built-in keys are per SSL_CTX and random
// at each start, which would lose every ticket on a rebuilt context or a binary upgrade.
//
// Keys: a 16-byte name, an AES-256-CBC key and an HMAC-SHA256 key, all from the CSPRNG
// (RAND_bytes / RAND_priv_bytes). The newest key encrypts; the older ones still decrypt (and the
// client is sent a fresh ticket under the newest), until they are older than a ticket can live.
// A ticket whose key is gone gets a full handshake, never an error. Keys are never logged and
// never written to the state file; they leave the process only in the binary-upgrade hand-off
// (encode()/decode()), to the successor that takes over our sockets.
//
// Threads: rotate() runs on the main loop (ProxyServer's timer); the ticket callback runs on the
// workers during handshakes. The keys sit behind a std::mutex held only to copy one 80-byte key
// out: taken once per handshake that issues or redeems a ticket (never per request), with a
// writer once an hour, so it is uncontended in practice and simpler to prove than a lock-free
// swap of a shared pointer.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "turnout/common/error.h"

typedef struct ssl_ctx_st SSL_CTX;

namespace turnout {

struct TicketKey {
  std::array<unsigned char, 16> name{};  // sent in the clear in each ticket: which key sealed it
  std::array<unsigned char, 32> aes{};   // AES-256-CBC key of the ticket body
  std::array<unsigned char, 32> hmac{};  // HMAC-SHA256 key over the ticket
  int64_t created_unix_ms = 0;           // when it was made (and began encrypting)
};

class TicketKeyRing;
using TicketKeyRingPtr = std::shared_ptr<TicketKeyRing>;

class TicketKeyRing {
 public:
  // A new encrypting key every hour...
  static constexpr std::chrono::seconds kRotation{3600};
  // ...and a ticket (and a cached TLS 1.2 session) lives two hours: the session timeout set on
  // every server context and the lifetime hint sent with each ticket.
  static constexpr std::chrono::seconds kLifetime{7200};
  // So a key stays for decryption until it has been replaced for kLifetime: the newest plus two.
  static constexpr size_t kKeep = 1 + static_cast<size_t>(kLifetime / kRotation);

  enum class Match { Current, Previous, Unknown };

  // A ring holding one fresh key created at `now_unix_ms`. Fails only if the CSPRNG does.
  static Result<TicketKeyRingPtr> create(int64_t now_unix_ms);
  // A ring from another process's encode() (binary upgrade), keys and creation times as sent.
  static Result<TicketKeyRingPtr> decode(std::string_view text);
  ~TicketKeyRing();
  TicketKeyRing(const TicketKeyRing&) = delete;
  TicketKeyRing& operator=(const TicketKeyRing&) = delete;

  // A fresh encrypting key; the previous ones keep decrypting, the oldest beyond kKeep is
  // dropped (wiped). On a CSPRNG failure the ring is unchanged and the error returned.
  Result<void> rotate(int64_t now_unix_ms);
  // When the encrypting key is due for replacement.
  int64_t next_rotation_unix_ms() const;
  // The encrypting key.
  TicketKey current() const;
  // The key named `name` (16 bytes), copied to `out` unless Unknown.
  Match find(const unsigned char* name, TicketKey* out) const;
  size_t size() const;
  // All keys, newest first, as text for the upgrade hand-off. Secret: never log or store it.
  std::string encode() const;

  // Makes `ctx` seal and open its tickets with this ring. The ring must outlive `ctx`
  // (ServerTlsContext holds it).
  void install(SSL_CTX* ctx);

 private:
  TicketKeyRing() = default;

  mutable std::mutex mu_;               // guards keys_ and count_ (see the header comment)
  std::array<TicketKey, kKeep> keys_{};  // newest first
  size_t count_ = 0;
};

}  // namespace turnout
