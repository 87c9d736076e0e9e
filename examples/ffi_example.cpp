// A small C++ program using the peerdisc C ABI, with RAII wrappers.
//
// Build and run (from the repository root, after `cargo build --release`):
//   c++ -std=c++17 -Wall -Wextra -Iinclude examples/ffi_example.cpp
//       -Ltarget/release -lpeerdisc -Wl,-rpath,$PWD/target/release -o ffi_example_cpp
// (one line).
//   ./ffi_example_cpp
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include "peerdisc.h"

namespace {

struct Error : std::runtime_error {
  peerdisc_status status;
  Error(peerdisc_status st, const std::string &what)
      : std::runtime_error(what + ": " + peerdisc_status_str(st) + ": " +
                           (peerdisc_last_error() ? peerdisc_last_error() : "")),
        status(st) {}
};

void check(peerdisc_status st, const char *what) {
  if (st != PEERDISC_OK) throw Error(st, what);
}

// Takes ownership of a string from the library.
std::string take(char *s) {
  std::unique_ptr<char, decltype(&peerdisc_string_free)> owned(s, peerdisc_string_free);
  return owned ? std::string(owned.get()) : std::string();
}

class Registry {
 public:
  explicit Registry(const char *config = nullptr) {
    check(peerdisc_registry_new(config, &raw_), "peerdisc_registry_new");
  }
  ~Registry() { peerdisc_registry_free(raw_); }
  Registry(const Registry &) = delete;
  Registry &operator=(const Registry &) = delete;

  void add(const std::string &peer_json) {
    check(peerdisc_registry_add(raw_, peer_json.c_str()), "add");
  }
  size_t size() const {
    size_t n = 0;
    check(peerdisc_registry_len(raw_, &n), "len");
    return n;
  }
  std::string find(peerdisc_capability_kind kind, const std::string &name) const {
    char *json = nullptr;
    check(peerdisc_registry_find_by_capability(raw_, kind, name.c_str(), &json), "find");
    return take(json);
  }
  // A C++ callable as a callback: the finalizer deletes it once no further
  // call can come.
  template <class F>
  uint64_t on_event(F f) {
    auto *boxed = new F(std::move(f));
    uint64_t id = 0;
    peerdisc_status st = peerdisc_registry_on_event(
        raw_,
        [](void *ud, const char *json) noexcept { (*static_cast<F *>(ud))(json); },
        boxed, [](void *ud) noexcept { delete static_cast<F *>(ud); }, &id);
    if (st != PEERDISC_OK) {
      delete boxed;  // on failure the finalizer never runs
      throw Error(st, "on_event");
    }
    return id;
  }

 private:
  peerdisc_registry *raw_ = nullptr;
};

}  // namespace

int main() {
  try {
    std::atomic<int> events{0};
    {
      Registry reg(R"({"capacity": 100})");
      reg.on_event([&events](const char *json) {
        events++;
        std::printf("event: %.50s...\n", json);
      });
      reg.add(R"({"node_id": "cpp-node", "capabilities": {"prompts": ["summarize"]}})");
      std::printf("%zu peer(s); prompt 'summarize': %s\n", reg.size(),
                  reg.find(PEERDISC_CAPABILITY_PROMPT, "summarize").c_str());
      // Events are delivered on the registry's thread; freeing the registry
      // drops those not delivered yet, so wait for ours.
      for (int i = 0; i < 500 && events.load() < 1; i++)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      try {
        reg.add(R"({"node_id": "cpp-node"})");
      } catch (const Error &e) {
        std::printf("expected error: %s\n", e.what());
      }
    }  // ~Registry: waits for a running callback, then runs the finalizer
    std::printf("callback saw %d event(s)\n", events.load());
    return events.load() == 1 ? 0 : 1;
  } catch (const std::exception &e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
