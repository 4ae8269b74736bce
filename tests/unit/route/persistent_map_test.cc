#include "turnout/route/persistent_map.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <random>
#include <thread>
#include <atomic>
#include <string>
#include <vector>

using turnout::PersistentMap;

namespace {

// Only 8 distinct hashes: forces deep paths and full-hash collision nodes.
struct WeakHash {
  uint64_t operator()(std::string_view key) const {
    uint64_t h = 0;
    for (char c : key) h += static_cast<unsigned char>(c);
    return (h % 8) * 0x0123456789abcdefULL;
  }
};

// Only the lowest bits differ: every key shares the top 60 bits, so all land in collision nodes
// or one slot apart at the deepest level.
struct LowBitsHash {
  uint64_t operator()(std::string_view key) const { return key.size() % 32; }
};

template <class Map>
std::map<std::string, int> to_std(const Map& map) {
  std::map<std::string, int> out;
  map.for_each([&](const std::string& key, const int& value) {
    CHECK(out.emplace(key, value).second);  // each key visited once
  });
  return out;
}

template <class Map>
void check_same(const Map& map, const std::map<std::string, int>& expected, const std::vector<std::string>& keys) {
  REQUIRE(map.size() == expected.size());
  CHECK(map.empty() == expected.empty());
  for (const std::string& key : keys) {
    auto it = expected.find(key);
    const int* found = map.find(key);
    if (it == expected.end()) {
      CHECK(found == nullptr);
    } else {
      REQUIRE(found != nullptr);
      CHECK(*found == it->second);
    }
  }
  CHECK(to_std(map) == expected);
}

// Random set/erase against std::map, snapshotting both now and then; every snapshot must still
// hold exactly what it held when it was taken.
template <class Hash>
void random_ops(unsigned seed, int key_space, int ops) {
  using Map = PersistentMap<int, Hash>;
  std::mt19937 rng(seed);
  std::vector<std::string> keys;
  for (int i = 0; i < key_space; ++i) keys.push_back("host" + std::to_string(i) + ".example.com");
  keys.push_back("");  // the empty key is a key like any other

  Map map;
  std::map<std::string, int> model;
  std::vector<std::pair<Map, std::map<std::string, int>>> snapshots;
  for (int op = 0; op < ops; ++op) {
    const std::string& key = keys[rng() % keys.size()];
    if (rng() % 3 == 0) {
      map = map.erase(key);
      model.erase(key);
    } else {
      int value = static_cast<int>(rng() % 1000);
      map = map.set(key, value);
      model[key] = value;
    }
    if (op % 97 == 0) snapshots.emplace_back(map, model);
  }
  check_same(map, model, keys);
  for (const auto& [old_map, old_model] : snapshots) check_same(old_map, old_model, keys);
}

}  // namespace

TEST_CASE("an empty map finds nothing") {
  PersistentMap<int> map;
  CHECK(map.empty());
  CHECK(map.size() == 0);
  CHECK(map.find("a") == nullptr);
  CHECK(map.erase("a").empty());
  int visits = 0;
  map.for_each([&](const std::string&, const int&) { ++visits; });
  CHECK(visits == 0);
}

TEST_CASE("set returns a new map and leaves the original unchanged") {
  PersistentMap<std::string> a;
  auto b = a.set("example.com", "one");
  auto c = b.set("example.com", "two");
  auto d = c.set("www.example.com", "three");
  CHECK(a.find("example.com") == nullptr);
  REQUIRE(b.find("example.com") != nullptr);
  CHECK(*b.find("example.com") == "one");
  CHECK(*c.find("example.com") == "two");
  CHECK(c.size() == 1);
  CHECK(d.size() == 2);
  CHECK(*d.find("www.example.com") == "three");
  CHECK(c.find("www.example.com") == nullptr);
  auto e = d.erase("example.com");
  CHECK(e.size() == 1);
  CHECK(e.find("example.com") == nullptr);
  CHECK(*d.find("example.com") == "two");
}

TEST_CASE("erasing an absent key shares the whole map") {
  PersistentMap<int> map;
  for (int i = 0; i < 1000; ++i) map = map.set("k" + std::to_string(i), i);
  auto same = map.erase("absent");
  CHECK(same.same_root(map));
  CHECK(same.size() == 1000);
}

TEST_CASE("random operations match std::map, and old versions stay intact") {
  SUBCASE("real hash") { random_ops<turnout::persistent_map_detail::KeyHash>(1, 3000, 20000); }
  SUBCASE("real hash, small key space") { random_ops<turnout::persistent_map_detail::KeyHash>(2, 40, 5000); }
  SUBCASE("8 distinct hashes (collision nodes)") { random_ops<WeakHash>(3, 200, 5000); }
  SUBCASE("hashes differing in the low bits only") { random_ops<LowBitsHash>(4, 300, 5000); }
}

TEST_CASE("erasing everything leaves an empty map") {
  std::vector<std::string> keys;
  for (int i = 0; i < 5000; ++i) keys.push_back(std::to_string(i * 7919));
  PersistentMap<int> map;
  for (size_t i = 0; i < keys.size(); ++i) map = map.set(keys[i], static_cast<int>(i));
  auto full = map;
  std::shuffle(keys.begin(), keys.end(), std::mt19937(5));
  for (const std::string& key : keys) map = map.erase(key);
  CHECK(map.empty());
  CHECK(full.size() == 5000);
  CHECK(*full.find(std::to_string(42 * 7919)) == 42);
}

TEST_CASE("values are released when the last map holding them goes") {
  auto value = std::make_shared<int>(7);
  {
    PersistentMap<std::shared_ptr<int>> map;
    for (int i = 0; i < 300; ++i) map = map.set("k" + std::to_string(i), value);
    auto smaller = map.erase("k1");
    CHECK(value.use_count() > 300);
    map = {};
    CHECK(value.use_count() >= 300);  // `smaller` still holds 299 entries
    CHECK(*smaller.find("k2") == value);
  }
  CHECK(value.use_count() == 1);
}

TEST_CASE("builder: equal to repeated set, last set of a key wins") {
  using Map = PersistentMap<int>;
  using WeakMap = PersistentMap<int, WeakHash>;
  Map::Builder builder;
  WeakMap::Builder weak_builder;
  std::map<std::string, int> model;
  std::vector<std::string> keys;
  std::mt19937 rng(6);
  for (int i = 0; i < 20000; ++i) {
    std::string key = "h" + std::to_string(rng() % 8000);
    int value = i;
    builder.set(key, value);
    weak_builder.set(key, value);
    model[key] = value;
    keys.push_back(key);
  }
  keys.push_back("absent");
  Map map = builder.build();
  check_same(map, model, keys);
  check_same(weak_builder.build(), model, keys);

  // Built maps are ordinary maps: set/erase work on them and leave them intact.
  Map changed = map.set("h1", -1).erase(keys.front());
  CHECK(*changed.find("h1") == -1);
  CHECK(changed.find(keys.front()) == nullptr);
  check_same(map, model, keys);

  // A builder can start from a map.
  Map::Builder more(map);
  more.set("new", 1);
  Map extended = more.build();
  CHECK(extended.size() == map.size() + 1);
  CHECK(*extended.find("new") == 1);
}

namespace {

// A value that counts its copies: what a change copies is measured in values, not in time.
struct Counted {
  static inline uint64_t copies = 0;
  int v = 0;
  Counted() = default;
  explicit Counted(int x) : v(x) {}
  Counted(const Counted& o) : v(o.v) { ++copies; }
  Counted& operator=(const Counted& o) {
    v = o.v;
    ++copies;
    return *this;
  }
  Counted(Counted&&) noexcept = default;
  Counted& operator=(Counted&&) noexcept = default;
};

}  // namespace

TEST_CASE("a change to a large map copies a path, not the map") {
  PersistentMap<Counted>::Builder builder;
  const int n = 200000;
  builder.reserve(n);
  for (int i = 0; i < n; ++i) builder.set("route" + std::to_string(i) + ".example.com", Counted(i));
  auto map = builder.build();
  REQUIRE(map.size() == static_cast<size_t>(n));

  const int changes = 2000;
  PersistentMap<Counted> last = map;
  Counted::copies = 0;
  for (int i = 0; i < changes; ++i) last = map.set("route" + std::to_string(i) + ".example.com", Counted(-i));
  const uint64_t per_change = Counted::copies / changes;
  INFO("values copied per change: " << per_change);
  // A path copy copies the entries of the few nodes on one path (at most 64 per node); a
  // whole-map copy would copy all 200,000.
  CHECK(per_change <= 64 * 8);
  CHECK(last.find("route1999.example.com")->v == -1999);
  CHECK(map.find("route1999.example.com")->v == 1999);
  CHECK(map.find("route0.example.com")->v == 0);
}

TEST_CASE("versions can be read and dropped on other threads while new ones are made") {
  PersistentMap<std::shared_ptr<int>>::Builder builder;
  for (int i = 0; i < 20000; ++i) builder.set("k" + std::to_string(i), std::make_shared<int>(i));
  auto map = builder.build();
  std::vector<std::thread> readers;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([copy = map, t, &wrong]() mutable {
      for (int i = 0; i < 20000; ++i) {
        const auto* value = copy.find("k" + std::to_string(i));
        if (value == nullptr || **value != i) wrong.fetch_add(1);
        if (i % 1000 == t) copy = copy.erase("k" + std::to_string(i));  // private versions, shared nodes
      }
    });
  }
  for (int i = 0; i < 2000; ++i) map = map.set("k" + std::to_string(i), std::make_shared<int>(-i));
  for (auto& reader : readers) reader.join();
  CHECK(wrong.load() == 0);
  CHECK(**map.find("k5") == -5);
}
