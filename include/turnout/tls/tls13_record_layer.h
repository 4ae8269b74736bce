// Tls13RecordLayer: TLS 1.3 record protection (RFC 8446 section 5) for one connection after its
// handshake, from the two application traffic secrets, without an SSL object.
//
// Why: an OpenSSL SSL object costs about 13 KiB for as long as its connection lives, most of it
// handshake state no longer used once the connection is open. A server connection whose
// handshake is done hands its traffic secrets and sequence numbers over to this class
// (TlsEngine decides when) and frees the SSL: what stays is the keys, the IVs and two counters,
// about 200 bytes. The AEAD contexts are not per connection: each thread keeps one per direction
// and re-keys it only when another connection uses it.
//
// It seals and opens whole records and derives the next keys on a KeyUpdate; the framing of
// records out of a byte stream, the content types, alerts and KeyUpdate messages are the
// engine's. Owned by one TlsEngine; one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace turnout {

class Tls13RecordLayer {
 public:
  static constexpr size_t kHeader = 5;          // type, legacy version, length
  static constexpr size_t kTag = 16;            // every TLS 1.3 AEAD's tag
  static constexpr size_t kMaxPlaintext = 16384;  // 2^14
  static constexpr size_t kMaxCiphertext = kMaxPlaintext + 256;  // record length limit (5.2)

  // Content types.
  static constexpr uint8_t kAlert = 21, kHandshake = 22, kApplicationData = 23;

  // `suite`: the IANA id of the negotiated TLS 1.3 cipher suite (0x1301-0x1303); the secrets
  // are the client's and server's application traffic secrets (hash-length bytes). `read_seq`
  // and `write_seq`: records already protected under them. nullptr for an unsupported suite
  // or a secret of the wrong length.
  static std::unique_ptr<Tls13RecordLayer> create(uint16_t suite, std::string_view read_secret,
                                                  std::string_view write_secret, uint64_t read_seq,
                                                  uint64_t write_seq);
  ~Tls13RecordLayer();
  Tls13RecordLayer(const Tls13RecordLayer&) = delete;
  Tls13RecordLayer& operator=(const Tls13RecordLayer&) = delete;

  // Appends `len` bytes of content `type` to `out` as records of at most kMaxPlaintext each
  // (one empty record for len 0). False when the write sequence is exhausted or OpenSSL fails.
  bool seal(uint8_t type, const char* data, size_t len, std::string& out);
  // The same for the bytes of `parts` taken as one run: a record spans parts, so many small
  // pieces (a batch of HTTP/2 frames and the bodies they reference) cost the peer one record
  // to open, not one each. No empty record when the parts hold no byte.
  bool seal(uint8_t type, const std::string_view* parts, size_t count, std::string& out);

  enum class Open : uint8_t { Ok, BadMac, Overflow, Unexpected };
  // Opens one complete record `rec` (header included; its length field already checked to be
  // `len - kHeader`, at most kMaxCiphertext). The content goes to `out`, which has room for
  // len - kHeader - kTag bytes; `type` and `got` say what it is.
  Open open(const unsigned char* rec, size_t len, char* out, uint8_t& type, size_t& got);
  // Opens `rec` with the *write* keys at `seq`, without changing any state: checks that a record
  // this layer would have produced is what another implementation produced (the hand-over check).
  bool opens_as_written(const unsigned char* rec, size_t len, uint64_t seq);

  // KeyUpdate (4.6.3): the next traffic secret, keys and IV of one direction; its sequence
  // number starts again at 0.
  bool update_read_key();
  bool update_write_key();

  uint64_t read_seq() const { return read_.seq; }
  uint64_t write_seq() const { return write_.seq; }

 private:
  struct Direction {
    unsigned char secret[48];
    unsigned char key[32];
    unsigned char iv[12];
    uint64_t seq = 0;
    uint64_t key_id = 0;  // this thread's id of the key now in `key`: the AEAD caches re-key on change
  };
  Tls13RecordLayer() = default;
  bool derive(Direction& d);  // key and IV from d.secret
  // One record of `n` content bytes: parts[0] from `off` on, then the next parts.
  bool seal_one(uint8_t type, const std::string_view* parts, size_t count, size_t off, size_t n, std::string& out);
  bool next_secret(Direction& d);

  Direction read_;
  Direction write_;
  uint8_t suite_index_ = 0;  // 0 AES-128-GCM/SHA-256, 1 AES-256-GCM/SHA-384, 2 ChaCha20-Poly1305/SHA-256
};

}  // namespace turnout
