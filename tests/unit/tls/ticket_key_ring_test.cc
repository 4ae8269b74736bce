#include "turnout/tls/ticket_key_ring.h"

#include <doctest/doctest.h>

using namespace turnout;

namespace {
constexpr int64_t kHour = 3600 * 1000;
}

TEST_CASE("rotation makes a new encrypting key and keeps the previous ones for decryption") {
  auto ring = TicketKeyRing::create(1000);
  REQUIRE(ring.ok());
  TicketKeyRingPtr r = *ring;
  CHECK(r->size() == 1);
  CHECK(r->next_rotation_unix_ms() == 1000 + kHour);
  TicketKey first = r->current();
  TicketKey got;
  CHECK(r->find(first.name.data(), &got) == TicketKeyRing::Match::Current);

  REQUIRE(r->rotate(1000 + kHour).ok());
  TicketKey second = r->current();
  CHECK(second.name != first.name);
  CHECK(second.aes != first.aes);
  CHECK(second.hmac != first.hmac);
  CHECK(r->next_rotation_unix_ms() == 1000 + 2 * kHour);
  // The previous key still opens its tickets (and the client gets a fresh one).
  CHECK(r->find(first.name.data(), &got) == TicketKeyRing::Match::Previous);
  CHECK(got.aes == first.aes);
  CHECK(got.hmac == first.hmac);
  CHECK(r->find(second.name.data(), &got) == TicketKeyRing::Match::Current);

  // A ticket lives kLifetime: its key is kept until it has been replaced that long.
  REQUIRE(r->rotate(1000 + 2 * kHour).ok());
  CHECK(r->size() == TicketKeyRing::kKeep);
  CHECK(r->find(first.name.data(), &got) == TicketKeyRing::Match::Previous);
  REQUIRE(r->rotate(1000 + 3 * kHour).ok());
  CHECK(r->size() == TicketKeyRing::kKeep);
  CHECK(r->find(first.name.data(), &got) == TicketKeyRing::Match::Unknown);
  CHECK(r->find(second.name.data(), &got) == TicketKeyRing::Match::Previous);
}

TEST_CASE("an unknown key name is not found") {
  auto r = TicketKeyRing::create(0);
  REQUIRE(r.ok());
  unsigned char name[16] = {};
  TicketKey got;
  CHECK((*r)->find(name, &got) == TicketKeyRing::Match::Unknown);
}

TEST_CASE("two rings hold different keys") {
  auto a = TicketKeyRing::create(0), b = TicketKeyRing::create(0);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  TicketKey ka = (*a)->current();
  TicketKey got;
  CHECK((*b)->find(ka.name.data(), &got) == TicketKeyRing::Match::Unknown);
  CHECK(ka.aes != (*b)->current().aes);
}

TEST_CASE("encode and decode carry every key, its role and its age") {
  auto ring = TicketKeyRing::create(5);
  REQUIRE(ring.ok());
  TicketKeyRingPtr r = *ring;
  TicketKey old = r->current();
  REQUIRE(r->rotate(7 + kHour).ok());
  TicketKey cur = r->current();
  auto copy = TicketKeyRing::decode(r->encode());
  REQUIRE_MESSAGE(copy.ok(), copy.error().message);
  TicketKeyRingPtr c = *copy;
  CHECK(c->size() == 2);
  TicketKey got;
  REQUIRE(c->find(cur.name.data(), &got) == TicketKeyRing::Match::Current);
  CHECK(got.aes == cur.aes);
  CHECK(got.hmac == cur.hmac);
  REQUIRE(c->find(old.name.data(), &got) == TicketKeyRing::Match::Previous);
  CHECK(got.aes == old.aes);
  CHECK(c->next_rotation_unix_ms() == r->next_rotation_unix_ms());
}

TEST_CASE("malformed hand-off text is refused") {
  CHECK_FALSE(TicketKeyRing::decode("").ok());
  CHECK_FALSE(TicketKeyRing::decode("12:abcd").ok());
  CHECK_FALSE(TicketKeyRing::decode("x:" + std::string(160, 'a')).ok());
  CHECK_FALSE(TicketKeyRing::decode("1:" + std::string(159, 'a') + "g").ok());
  CHECK_FALSE(TicketKeyRing::decode("1:" + std::string(160, 'a') + ";").ok());
  CHECK(TicketKeyRing::decode("1:" + std::string(160, 'a')).ok());
}
