/*
 * The cost of reading one peer from C (issue 17): the typed accessors
 * against peerdisc_registry_get (JSON + peerdisc_string_free), on a
 * registry of 1,000 peers, timed with clock_gettime over many calls.
 * Prints one line per call: "<name> <ns per call>". Not a test (no
 * assertion on time); built with -O2 against the release library:
 *   cargo build --release --lib && make -C ffi-tests bench
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "peerdisc.h"

#define PEERS 1000

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void die(const char *what, peerdisc_status st) {
  const char *le = peerdisc_last_error();
  fprintf(stderr, "%s: %s (%s)\n", what, peerdisc_status_str(st), le ? le : "");
  exit(1);
}

static char ids[PEERS][16];
static volatile uint64_t sink;

/* Runs `body` over the 1,000 ids `rounds` times; prints ns per call. */
#define BENCH(name, rounds, ...)                                            \
  do {                                                                      \
    int r_;                                                                 \
    unsigned long i_, n_ = (unsigned long)(rounds) * PEERS;                 \
    double best_ = 1e18;                                                    \
    for (r_ = 0; r_ < 5; r_++) {                                            \
      double t0_ = now_ns(), dt_;                                           \
      for (i_ = 0; i_ < n_; i_++) {                                         \
        const char *id = ids[(i_ * 7919UL) % PEERS];                        \
        __VA_ARGS__;                                                        \
      }                                                                     \
      dt_ = (now_ns() - t0_) / (double)n_;                                  \
      if (dt_ < best_) best_ = dt_;                                         \
    }                                                                       \
    printf("%-50s %8.1f ns/call (best of 5)\n", name, best_);              \
    fflush(stdout);                                                         \
  } while (0)

int main(void) {
  peerdisc_registry *reg = NULL;
  peerdisc_status st;
  int i;
  st = peerdisc_registry_new(NULL, &reg);
  if (st != PEERDISC_OK) die("new", st);
  for (i = 0; i < PEERS; i++) {
    char json[512];
    snprintf(ids[i], sizeof ids[i], "node_%05d", i);
    snprintf(json, sizeof json,
             "{\"node_id\":\"%.15s\",\"addresses\":[\"ws://10.0.%d.%d:8000\"],"
             "\"capabilities\":{\"agents\":[\"planner\"],\"tools\":[\"search\",\"tool_%d\"]},"
             "\"metadata\":{\"region\":\"eu-west\"},\"version\":1,\"last_seen_ms\":1764000000000}",
             ids[i], i / 250, i % 250 + 1, i % 10);
    st = peerdisc_registry_add(reg, json);
    if (st != PEERDISC_OK) die("add", st);
  }

  BENCH("peerdisc_registry_peer_liveness", 1000, {
    peerdisc_liveness l;
    if (peerdisc_registry_peer_liveness(reg, id, &l) != PEERDISC_OK) die("liveness", PEERDISC_ERR_INTERNAL);
    sink += (uint64_t)l;
  });
  BENCH("peerdisc_registry_peer_connection_state", 1000, {
    peerdisc_connection_state c;
    if (peerdisc_registry_peer_connection_state(reg, id, &c) != PEERDISC_OK) die("cs", PEERDISC_ERR_INTERNAL);
    sink += (uint64_t)c;
  });
  BENCH("peerdisc_registry_peer_last_seen_ms", 1000, {
    uint64_t ms;
    if (peerdisc_registry_peer_last_seen_ms(reg, id, &ms) != PEERDISC_OK) die("ms", PEERDISC_ERR_INTERNAL);
    sink += ms;
  });
  BENCH("peerdisc_registry_peer_health", 1000, {
    double h;
    if (peerdisc_registry_peer_health(reg, id, &h) != PEERDISC_OK) die("health", PEERDISC_ERR_INTERNAL);
    sink += (uint64_t)(h * 10);
  });
  BENCH("peerdisc_registry_contains", 1000, {
    bool b;
    if (peerdisc_registry_contains(reg, id, &b) != PEERDISC_OK) die("contains", PEERDISC_ERR_INTERNAL);
    sink += b;
  });
  BENCH("peerdisc_registry_peer + addresses + caps + free", 200, {
    peerdisc_peer *p;
    size_t n, k;
    int kind;
    const char *s;
    if (peerdisc_registry_peer(reg, id, &p) != PEERDISC_OK) die("peer", PEERDISC_ERR_INTERNAL);
    peerdisc_peer_address_count(p, &n);
    for (k = 0; k < n; k++) {
      peerdisc_peer_address(p, k, &s);
      sink += (uint64_t)s[0];
    }
    for (kind = 0; kind < 4; kind++) {
      peerdisc_peer_capability_count(p, kind, &n);
      for (k = 0; k < n; k++) {
        peerdisc_peer_capability(p, kind, k, &s);
        sink += (uint64_t)s[0];
      }
    }
    peerdisc_peer_free(p);
  });
  BENCH("peerdisc_registry_get (JSON) + string_free", 100, {
    char *json;
    if (peerdisc_registry_get(reg, id, &json) != PEERDISC_OK) die("get", PEERDISC_ERR_INTERNAL);
    sink += (uint64_t)json[0];
    peerdisc_string_free(json);
  });
  peerdisc_registry_free(reg);
  return sink == 42 ? 1 : 0;
}
