// PersistentMap<V>: an immutable hash map from string keys to V with structural sharing.
//
// A hash array mapped trie (CHAMP layout): 64-way nodes indexed by 6 bits of a 64-bit key hash,
// top bits first. Each node is one allocation holding its sub-node pointers, its entries and
// its entries' key bytes, so a lookup is one hash plus about log64(n) hops (4 at 1M entries)
// and no further pointer chase to compare the key. set() and erase() copy only the nodes on
// the path to the key (O(log n), no key re-allocation); everything else is shared.
//
// Value semantics: copying a map is O(1) (one reference count). Nodes are never modified once
// published and carry atomic reference counts, so maps can be copied, read and destroyed on any
// thread; the last owner frees the nodes. Builder constructs a large map bottom-up in
// O(n log n) without path copying (config load, state file).
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <new>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace turnout {

namespace persistent_map_detail {

// Hash of a key; the final mix spreads entropy into the top bits, which the trie uses first.
inline uint64_t hash_key(std::string_view key) {
  uint64_t h = std::hash<std::string_view>{}(key);
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return h;
}

// The default hasher of PersistentMap; tests substitute a weak one to force deep paths and
// full-hash collisions.
struct KeyHash {
  uint64_t operator()(std::string_view key) const { return hash_key(key); }
};

// Without -mpopcnt, std::popcount is a libgcc call on x86-64; this inline form is cheaper.
inline uint32_t popcount64(uint64_t x) {
#if defined(__POPCNT__) || !defined(__x86_64__)
  return static_cast<uint32_t>(std::popcount(x));
#else
  x = x - ((x >> 1) & 0x5555555555555555ULL);
  x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
  x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
  return static_cast<uint32_t>((x * 0x0101010101010101ULL) >> 56);
#endif
}

}  // namespace persistent_map_detail

template <class V, class Hash = persistent_map_detail::KeyHash>
class PersistentMap {
 public:
  class Builder;

  PersistentMap() = default;
  PersistentMap(const PersistentMap& other) : root_(other.root_), size_(other.size_) { retain(root_); }
  PersistentMap(PersistentMap&& other) noexcept
      : root_(std::exchange(other.root_, nullptr)), size_(std::exchange(other.size_, 0)) {}
  PersistentMap& operator=(const PersistentMap& other) {
    PersistentMap copy(other);
    swap(copy);
    return *this;
  }
  PersistentMap& operator=(PersistentMap&& other) noexcept {
    PersistentMap moved(std::move(other));
    swap(moved);
    return *this;
  }
  ~PersistentMap() { release(root_); }

  void swap(PersistentMap& other) noexcept {
    std::swap(root_, other.root_);
    std::swap(size_, other.size_);
  }

  // The value stored under `key`, or nullptr. Valid as long as this map (or a copy) lives.
  const V* find(std::string_view key) const {
    const Node* node = root_;
    if (node == nullptr) return nullptr;
    const uint64_t hash = Hash{}(key);
    for (int shift = kTopShift;; shift -= kBits) {
      if (shift < 0) {
        const Slot* slots = node->slots();
        for (uint32_t i = 0; i < node->ndata; ++i)
          if (node->matches(slots[i], hash, key)) return &slots[i].value;
        return nullptr;
      }
      const uint64_t bit = uint64_t{1} << ((hash >> shift) & kMask);
      if (node->datamap & bit) {
        const Slot& slot = node->slots()[index_of(node->datamap, bit)];
        return node->matches(slot, hash, key) ? &slot.value : nullptr;
      }
      if (!(node->nodemap & bit)) return nullptr;
      node = node->children()[index_of(node->nodemap, bit)];
    }
  }

  bool contains(std::string_view key) const { return find(key) != nullptr; }

  // A map with `key` set to `value` (inserted or replaced); this map is unchanged.
  PersistentMap set(std::string_view key, V value) const {
    Source source{Hash{}(key), key, &value};
    PersistentMap out;
    if (root_ == nullptr) {
      out.root_ = single(source, kTopShift);
      out.size_ = 1;
      return out;
    }
    bool replaced = false;
    out.root_ = insert(root_, kTopShift, source, replaced);
    out.size_ = size_ + (replaced ? 0 : 1);
    return out;
  }

  // A map without `key`; shares everything with this map when `key` is absent.
  PersistentMap erase(std::string_view key) const {
    if (root_ == nullptr) return *this;
    bool found = false;
    Node* root = remove(root_, kTopShift, Hash{}(key), key, found);
    if (!found) return *this;
    PersistentMap out;
    out.root_ = root;
    out.size_ = size_ - 1;
    return out;
  }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  // Calls fn(const std::string& key, const V& value) for every entry, in unspecified order.
  // Keys are stored inline in the nodes: the string passed is a scratch copy, valid during the
  // call only.
  template <class Fn>
  void for_each(Fn&& fn) const {
    std::string scratch;
    if (root_ != nullptr) visit(root_, fn, scratch);
  }

  // True when both maps share the same root (cheap identity test for tests and diffing).
  bool same_root(const PersistentMap& other) const { return root_ == other.root_; }

 private:
  static constexpr int kBits = 6;                // 64-way nodes
  static constexpr uint64_t kMask = 63;
  static constexpr int kTopShift = 64 - kBits;   // level 0 uses the top 6 bits of the hash
  // Below level 9 (shift 4) hashes have matched on 60 bits: a collision node (linear list).

  // One entry of a node; its key bytes live at the end of the same node.
  struct Slot {
    uint64_t hash;     // Hash{}(key), kept so nodes can be split without rehashing
    uint32_t key_off;  // offset of the key bytes from the start of the node
    uint32_t key_len;  // bytes of the key
    V value;           // owned by the node
  };

  // An entry on its way into a node: key bytes borrowed, value moved from `*value`.
  struct Source {
    uint64_t hash;         // Hash{}(key)
    std::string_view key;  // copied into the node
    V* value;              // moved from
  };

  // Header of one node, followed in the same allocation by Node*[nchild], Slot[ndata] and the
  // key bytes. A collision node has both bitmaps 0 and its entries in any order.
  struct Node {
    mutable std::atomic<uint32_t> refs;  // owners: parent nodes and map roots
    uint32_t ndata;                      // entries stored in this node
    uint32_t nchild;                     // sub-nodes
    uint32_t key_bytes;                  // total length of the keys of this node's entries
    uint64_t datamap;                    // slots holding an entry
    uint64_t nodemap;                    // slots holding a sub-node

    char* bytes() { return reinterpret_cast<char*>(this); }
    const char* bytes() const { return reinterpret_cast<const char*>(this); }
    Node** children() { return reinterpret_cast<Node**>(bytes() + sizeof(Node)); }
    Node* const* children() const { return reinterpret_cast<Node* const*>(bytes() + sizeof(Node)); }
    Slot* slots() { return reinterpret_cast<Slot*>(bytes() + slots_offset(nchild)); }
    const Slot* slots() const { return reinterpret_cast<const Slot*>(bytes() + slots_offset(nchild)); }
    std::string_view key(const Slot& slot) const { return {bytes() + slot.key_off, slot.key_len}; }
    bool matches(const Slot& slot, uint64_t hash, std::string_view key) const {
      return slot.hash == hash && slot.key_len == key.size() &&
             (key.empty() || std::memcmp(bytes() + slot.key_off, key.data(), key.size()) == 0);
    }
  };
  static_assert(alignof(Slot) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__);
  static_assert(sizeof(Node) % alignof(Node*) == 0);

  static constexpr size_t slots_offset(uint32_t nchild) {
    size_t off = sizeof(Node) + nchild * sizeof(Node*);
    return (off + alignof(Slot) - 1) / alignof(Slot) * alignof(Slot);
  }
  static constexpr size_t keys_offset(uint32_t nchild, uint32_t ndata) {
    return slots_offset(nchild) + ndata * sizeof(Slot);
  }
  static uint32_t index_of(uint64_t map, uint64_t bit) { return persistent_map_detail::popcount64(map & (bit - 1)); }
  static uint64_t bit_at(uint64_t hash, int shift) { return uint64_t{1} << ((hash >> shift) & kMask); }

  // A node with uninitialised children, slots and keys; the caller fills them (Filler).
  static Node* allocate(uint64_t datamap, uint64_t nodemap, uint32_t ndata, uint32_t nchild, size_t key_bytes) {
    void* mem = ::operator new(keys_offset(nchild, ndata) + key_bytes);
    return new (mem) Node{{1}, ndata, nchild, static_cast<uint32_t>(key_bytes), datamap, nodemap};
  }

  // Appends entries to a freshly allocated node, in slot order.
  struct Filler {
    Node* node;
    uint32_t next = 0;    // next slot
    uint32_t key_off;     // where the next key's bytes go
    explicit Filler(Node* n) : node(n), key_off(static_cast<uint32_t>(keys_offset(n->nchild, n->ndata))) {}
    template <class U>
    void place(uint64_t hash, std::string_view key, U&& value) {
      const auto len = static_cast<uint32_t>(key.size());
      new (node->slots() + next++) Slot{hash, key_off, len, V(std::forward<U>(value))};
      if (len != 0) std::memcpy(node->bytes() + key_off, key.data(), len);
      key_off += len;
    }
    void move_in(const Source& source) { place(source.hash, source.key, std::move(*source.value)); }
    void copy_in(const Node* from, const Slot& slot) { place(slot.hash, from->key(slot), slot.value); }
  };

  static void retain(const Node* node) {
    if (node != nullptr) node->refs.fetch_add(1, std::memory_order_relaxed);
  }
  static void release(const Node* node) {
    if (node == nullptr || node->refs.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    Node* mut = const_cast<Node*>(node);
    Slot* slots = mut->slots();
    for (uint32_t i = 0; i < mut->ndata; ++i) slots[i].~Slot();
    Node** children = mut->children();
    for (uint32_t i = 0; i < mut->nchild; ++i) release(children[i]);
    mut->~Node();
    ::operator delete(static_cast<void*>(mut));
  }

  // One copy-on-write step: `old` with at most one entry and one child dropped and at most one
  // of each added, every other entry copied and every other child shared.
  struct Edit {
    uint64_t datamap = 0;
    uint64_t nodemap = 0;
    int drop_entry = -1;                // index in old, not copied
    const Source* add_entry = nullptr;  // placed at add_entry_at (index in the new node)
    int add_entry_at = -1;
    int drop_child = -1;                // index in old, not shared
    Node* add_child = nullptr;          // owned reference, placed at add_child_at
    int add_child_at = -1;
  };
  static Node* rebuild(const Node* old, const Edit& edit) {
    const uint32_t ndata = old->ndata - (edit.drop_entry >= 0) + (edit.add_entry != nullptr);
    const uint32_t nchild = old->nchild - (edit.drop_child >= 0) + (edit.add_child != nullptr);
    size_t key_bytes = old->key_bytes;
    if (edit.drop_entry >= 0) key_bytes -= old->slots()[edit.drop_entry].key_len;
    if (edit.add_entry != nullptr) key_bytes += edit.add_entry->key.size();
    Node* node = allocate(edit.datamap, edit.nodemap, ndata, nchild, key_bytes);
    Filler fill(node);
    const Slot* src = old->slots();
    for (uint32_t i = 0;; ++i) {
      if (edit.add_entry != nullptr && static_cast<int>(fill.next) == edit.add_entry_at) fill.move_in(*edit.add_entry);
      if (i == old->ndata) break;
      if (static_cast<int>(i) != edit.drop_entry) fill.copy_in(old, src[i]);
    }
    Node** cdst = node->children();
    Node* const* csrc = old->children();
    uint32_t j = 0;
    for (uint32_t i = 0;; ++i) {
      if (edit.add_child != nullptr && static_cast<int>(j) == edit.add_child_at) cdst[j++] = edit.add_child;
      if (i == old->nchild) break;
      if (static_cast<int>(i) != edit.drop_child) {
        retain(csrc[i]);
        cdst[j++] = csrc[i];
      }
    }
    return node;
  }

  // A node holding one entry (a root).
  static Node* single(const Source& source, int shift) {
    Node* node = allocate(shift < 0 ? 0 : bit_at(source.hash, shift), 0, 1, 0, source.key.size());
    Filler(node).move_in(source);
    return node;
  }

  // A sub-node at `shift` holding two entries whose hashes agree above `shift`.
  static Node* pair(const Source& a, const Source& b, int shift) {
    const size_t key_bytes = a.key.size() + b.key.size();
    if (shift < 0) {
      Node* node = allocate(0, 0, 2, 0, key_bytes);
      Filler fill(node);
      fill.move_in(a);
      fill.move_in(b);
      return node;
    }
    const uint64_t bit_a = bit_at(a.hash, shift), bit_b = bit_at(b.hash, shift);
    if (bit_a == bit_b) {
      Node* node = allocate(0, bit_a, 0, 1, 0);
      node->children()[0] = pair(a, b, shift - kBits);
      return node;
    }
    Node* node = allocate(bit_a | bit_b, 0, 2, 0, key_bytes);
    Filler fill(node);
    fill.move_in(bit_a < bit_b ? a : b);
    fill.move_in(bit_a < bit_b ? b : a);
    return node;
  }

  static Node* insert(const Node* node, int shift, const Source& source, bool& replaced) {
    Edit edit{node->datamap, node->nodemap};
    if (shift < 0) {
      const Slot* slots = node->slots();
      edit.add_entry = &source;
      edit.add_entry_at = static_cast<int>(node->ndata);
      for (uint32_t i = 0; i < node->ndata; ++i) {
        if (node->matches(slots[i], source.hash, source.key)) {
          replaced = true;
          edit.drop_entry = edit.add_entry_at = static_cast<int>(i);
          break;
        }
      }
      return rebuild(node, edit);
    }
    const uint64_t bit = bit_at(source.hash, shift);
    if (node->datamap & bit) {
      const int di = static_cast<int>(index_of(node->datamap, bit));
      const Slot& here = node->slots()[di];
      if (node->matches(here, source.hash, source.key)) {
        replaced = true;
        edit.drop_entry = edit.add_entry_at = di;
        edit.add_entry = &source;
        return rebuild(node, edit);
      }
      // Two keys in one slot: push both down into a new sub-node.
      V here_value(here.value);
      Source pushed{here.hash, node->key(here), &here_value};
      edit.datamap &= ~bit;
      edit.nodemap |= bit;
      edit.drop_entry = di;
      edit.add_child = pair(pushed, source, shift - kBits);
      edit.add_child_at = static_cast<int>(index_of(edit.nodemap, bit));
      return rebuild(node, edit);
    }
    if (node->nodemap & bit) {
      const int ci = static_cast<int>(index_of(node->nodemap, bit));
      edit.drop_child = edit.add_child_at = ci;
      edit.add_child = insert(node->children()[ci], shift - kBits, source, replaced);
      return rebuild(node, edit);
    }
    edit.datamap |= bit;
    edit.add_entry = &source;
    edit.add_entry_at = static_cast<int>(index_of(edit.datamap, bit));
    return rebuild(node, edit);
  }

  // The node without `key` (nullptr when it became empty); `found` false = nothing changed and
  // the return value is meaningless. A sub-node left with a single entry is folded into its
  // parent, so every sub-node keeps at least two entries below it.
  static Node* remove(const Node* node, int shift, uint64_t hash, std::string_view key, bool& found) {
    Edit edit{node->datamap, node->nodemap};
    if (shift < 0) {
      const Slot* slots = node->slots();
      for (uint32_t i = 0; i < node->ndata; ++i) {
        if (node->matches(slots[i], hash, key)) {
          found = true;
          if (node->ndata == 1) return nullptr;
          edit.drop_entry = static_cast<int>(i);
          return rebuild(node, edit);
        }
      }
      return nullptr;
    }
    const uint64_t bit = bit_at(hash, shift);
    if (node->datamap & bit) {
      const int di = static_cast<int>(index_of(node->datamap, bit));
      if (!node->matches(node->slots()[di], hash, key)) return nullptr;
      found = true;
      if (node->ndata == 1 && node->nchild == 0) return nullptr;
      edit.datamap &= ~bit;
      edit.drop_entry = di;
      return rebuild(node, edit);
    }
    if (!(node->nodemap & bit)) return nullptr;
    const int ci = static_cast<int>(index_of(node->nodemap, bit));
    Node* child = remove(node->children()[ci], shift - kBits, hash, key, found);
    if (!found) return nullptr;
    edit.drop_child = ci;
    if (child == nullptr) {
      edit.nodemap &= ~bit;
      if (node->ndata == 0 && node->nchild == 1) return nullptr;
      return rebuild(node, edit);
    }
    if (child->ndata == 1 && child->nchild == 0) {
      // Fold the child's last entry into this node's slot.
      const Slot& last = child->slots()[0];
      V last_value(last.value);
      Source folded{last.hash, child->key(last), &last_value};
      edit.nodemap &= ~bit;
      edit.datamap |= bit;
      edit.add_entry = &folded;
      edit.add_entry_at = static_cast<int>(index_of(edit.datamap, bit));
      Node* out = rebuild(node, edit);
      release(child);
      return out;
    }
    edit.add_child = child;
    edit.add_child_at = ci;
    return rebuild(node, edit);
  }

  template <class Fn>
  static void visit(const Node* node, Fn& fn, std::string& scratch) {
    const Slot* slots = node->slots();
    for (uint32_t i = 0; i < node->ndata; ++i) {
      scratch.assign(node->key(slots[i]));
      fn(static_cast<const std::string&>(scratch), slots[i].value);
    }
    Node* const* children = node->children();
    for (uint32_t i = 0; i < node->nchild; ++i) visit(children[i], fn, scratch);
  }

  const Node* root_ = nullptr;  // shared, immutable; nullptr when empty
  size_t size_ = 0;             // entries
};

// Builds a map from many entries at once: collects them (keys in one arena), sorts by hash and
// creates every node exactly once, bottom-up. Used for whole tables (config load, state file).
// Not thread-safe; one owner.
template <class V, class Hash>
class PersistentMap<V, Hash>::Builder {
 public:
  Builder() = default;
  // Starts from the entries of `base` (then set() adds or replaces).
  explicit Builder(const PersistentMap& base) {
    reserve(base.size());
    base.for_each([this](const std::string& key, const V& value) { set(key, value); });
  }

  void reserve(size_t n) { pending_.reserve(n); }
  // Adds or replaces `key` (the last set of a key wins).
  void set(std::string_view key, V value) {
    pending_.push_back(Pending{Hash{}(key), keys_.size(), key.size(), std::move(value)});
    keys_.append(key);
  }
  size_t pending() const { return pending_.size(); }

  // The map of every entry set so far; the builder is left empty.
  PersistentMap build() {
    std::vector<std::pair<uint64_t, uint32_t>> order;  // (hash, index in pending_)
    order.reserve(pending_.size());
    for (uint32_t i = 0; i < pending_.size(); ++i) order.emplace_back(pending_[i].hash, i);
    std::sort(order.begin(), order.end());
    dedupe(order);
    PersistentMap out;
    if (!order.empty()) {
      // Breadth first: the upper levels, which every lookup crosses, end up allocated next to
      // each other (fewer pages and TLB misses per lookup in a large map).
      Node* root = nullptr;
      std::vector<Task> tasks{Task{0, order.size(), kTopShift, &root}};
      for (size_t i = 0; i < tasks.size(); ++i) {
        const Task task = tasks[i];
        *task.slot = build_node(order, task, tasks);
      }
      out.root_ = root;
      out.size_ = order.size();
    }
    pending_.clear();
    keys_.clear();
    return out;
  }

 private:
  struct Pending {
    uint64_t hash;   // Hash{}(key)
    size_t key_off;  // in keys_
    size_t key_len;  // bytes of the key
    V value;         // moved into the node by build()
  };

  std::string_view key_of(uint32_t index) const {
    return std::string_view(keys_).substr(pending_[index].key_off, pending_[index].key_len);
  }
  Source source_of(uint32_t index) { return Source{pending_[index].hash, key_of(index), &pending_[index].value}; }

  // Keeps the last set of each key. Equal keys have equal hashes, so they are neighbours.
  void dedupe(std::vector<std::pair<uint64_t, uint32_t>>& order) const {
    size_t out = 0;
    for (size_t i = 0; i < order.size();) {
      size_t end = i + 1;
      while (end < order.size() && order[end].first == order[i].first) ++end;
      // Within one hash, sorted by index: a later set of the same key overrides an earlier one.
      for (size_t a = i; a < end; ++a) {
        bool overridden = false;
        for (size_t b = a + 1; b < end && !overridden; ++b) overridden = key_of(order[a].second) == key_of(order[b].second);
        if (!overridden) order[out++] = order[a];
      }
      i = end;
    }
    order.resize(out);
  }

  // One node to build: the entries order[lo, hi) that agree on the hash bits above `shift`.
  struct Task {
    size_t lo, hi;
    int shift;
    Node** slot;  // where the node goes (a parent's child pointer, or the root)
  };

  // Builds the node for `task`; its sub-nodes are appended to `tasks` for later.
  Node* build_node(const std::vector<std::pair<uint64_t, uint32_t>>& order, const Task& task, std::vector<Task>& tasks) {
    const size_t lo = task.lo, hi = task.hi;
    const int shift = task.shift;
    if (shift < 0) {
      size_t key_bytes = 0;
      for (size_t i = lo; i < hi; ++i) key_bytes += pending_[order[i].second].key_len;
      Node* node = allocate(0, 0, static_cast<uint32_t>(hi - lo), 0, key_bytes);
      Filler fill(node);
      for (size_t i = lo; i < hi; ++i) fill.move_in(source_of(order[i].second));
      return node;
    }
    uint64_t datamap = 0, nodemap = 0;
    uint32_t ndata = 0, nchild = 0;
    size_t key_bytes = 0;
    for (size_t i = lo; i < hi;) {
      const uint64_t bit = bit_at(order[i].first, shift);
      size_t end = i + 1;
      while (end < hi && bit_at(order[end].first, shift) == bit) ++end;
      if (end - i == 1) {
        datamap |= bit;
        ++ndata;
        key_bytes += pending_[order[i].second].key_len;
      } else {
        nodemap |= bit;
        ++nchild;
      }
      i = end;
    }
    Node* node = allocate(datamap, nodemap, ndata, nchild, key_bytes);
    Filler fill(node);
    uint32_t ci = 0;
    for (size_t i = lo; i < hi;) {
      const uint64_t bit = bit_at(order[i].first, shift);
      size_t end = i + 1;
      while (end < hi && bit_at(order[end].first, shift) == bit) ++end;
      if (end - i == 1)
        fill.move_in(source_of(order[i].second));
      else
        tasks.push_back(Task{i, end, shift - kBits, &node->children()[ci++]});
      i = end;
    }
    return node;
  }

  std::vector<Pending> pending_;  // in set() order
  std::string keys_;              // key bytes of pending_, back to back
};

}  // namespace turnout
