/*
 * C tests of the peerdisc node ABI: two nodes on 127.0.0.1 meet through a
 * bootstrap node; queries, capability updates, stop twice, use after stop,
 * a callback that calls back in, freeing a node from inside its own
 * callback, and NULL / bad input. Compiled with -Wall -Wextra -Werror as C99
 * and as C++, linked shared and static, run under valgrind and
 * AddressSanitizer in CI (scripts/test-ffi.sh).
 * Prints "ffi-c-node: N passed, M failed" and exits non-zero on a failure.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "peerdisc.h"

#include "check.h"


static peerdisc_node *start_node(const char *config) {
  peerdisc_node *n = NULL;
  CHECK_ST(peerdisc_node_new(config, &n), PEERDISC_OK);
  if (n) {
    CHECK_ST(peerdisc_node_start(n), PEERDISC_OK);
  }
  return n;
}

/* A seed and a node that joins through it; both wait for each other. */
static void start_pair(peerdisc_node **seed, peerdisc_node **joiner) {
  char *addr = NULL;
  char config[512];
  uint32_t count = 0;
  *seed = start_node("{\"node_id\": \"c-seed\", \"capabilities\": {\"tools\": [\"search\"]}}");
  *joiner = NULL;
  if (!*seed) return;
  CHECK_ST(peerdisc_node_address(*seed, &addr), PEERDISC_OK);
  if (!addr) return;
  snprintf(config, sizeof config,
           "{\"node_id\": \"c-joiner\", \"bootstrap\": [\"%s\"], "
           "\"capabilities\": {\"agents\": [\"planner\"]}}",
           addr);
  peerdisc_string_free(addr);
  *joiner = start_node(config);
  if (!*joiner) return;
  CHECK_ST(peerdisc_node_wait_for_peers(*joiner, 1, 10000, &count), PEERDISC_OK);
  CHECK_ST(peerdisc_node_wait_for_peers(*seed, 1, 10000, &count), PEERDISC_OK);
  CHECK(count == 1);
}

static void test_null_and_bad_input(void) {
  peerdisc_node *n = NULL;
  CHECK_ST(peerdisc_node_new(NULL, NULL), PEERDISC_ERR_NULL_ARGUMENT);
  CHECK_ST(peerdisc_node_start(NULL), PEERDISC_ERR_NULL_ARGUMENT);
  CHECK_ST(peerdisc_node_stop(NULL), PEERDISC_ERR_NULL_ARGUMENT);
  peerdisc_node_free(NULL);
  CHECK_ST(peerdisc_node_new("{\"listen\": 5}", &n), PEERDISC_ERR_INVALID_JSON);
  CHECK(n == NULL);
  CHECK_ST(peerdisc_node_new("{\"bogus\": 1}", &n), PEERDISC_ERR_INVALID_JSON);
  CHECK_ST(peerdisc_node_new("{\"bootstrap\": [\"http://x:1\"]}", &n),
           PEERDISC_ERR_INVALID_ARGUMENT);
  CHECK(strstr(peerdisc_last_error(), "bootstrap") != NULL);
  CHECK_ST(peerdisc_node_new("{\"\xff\"}", &n), PEERDISC_ERR_INVALID_UTF8);
  CHECK(n == NULL);
}

static void test_meet_query_update_stop(void) {
  peerdisc_node *seed, *joiner;
  char *json = NULL;
  int i;
  start_pair(&seed, &joiner);
  if (!seed || !joiner) goto out;
  CHECK_ST(peerdisc_node_discover_bootstrap(joiner, &json), PEERDISC_OK);
  if (json) {
    CHECK(strstr(json, "c-seed") != NULL);
    peerdisc_string_free(json);
    json = NULL;
  }
  CHECK_ST(peerdisc_node_find_by_capability(joiner, PEERDISC_CAPABILITY_TOOL, "search", &json),
           PEERDISC_OK);
  if (json) {
    CHECK(strstr(json, "\"c-seed\"") != NULL);
    peerdisc_string_free(json);
    json = NULL;
  }
  CHECK_ST(peerdisc_node_update_capabilities(joiner, "{\"tools\": [\"fresh\"]}"), PEERDISC_OK);
  for (i = 0; i < 500; i++) {
    int found = 0;
    CHECK_ST(peerdisc_node_find_by_capability(seed, PEERDISC_CAPABILITY_TOOL, "fresh", &json),
             PEERDISC_OK);
    if (json) {
      found = strstr(json, "c-joiner") != NULL;
      peerdisc_string_free(json);
      json = NULL;
    }
    if (found) break;
    sleep_ms(20);
  }
  CHECK(i < 500);
  CHECK_ST(peerdisc_node_stats(seed, &json), PEERDISC_OK);
  if (json) {
    CHECK(strstr(json, "\"node_id\":\"c-seed\"") != NULL);
    peerdisc_string_free(json);
    json = NULL;
  }
  /* Stop twice; use after stop. */
  CHECK_ST(peerdisc_node_stop(joiner), PEERDISC_OK);
  CHECK_ST(peerdisc_node_stop(joiner), PEERDISC_OK);
  CHECK_ST(peerdisc_node_update_capabilities(joiner, "{}"), PEERDISC_ERR_INVALID_STATE);
  CHECK_ST(peerdisc_node_address(joiner, &json), PEERDISC_ERR_INVALID_STATE);
  CHECK(json == NULL);
  CHECK_ST(peerdisc_node_peers(joiner, &json), PEERDISC_OK);
  peerdisc_string_free(json);
out:
  peerdisc_node_free(joiner);
  peerdisc_node_free(seed);
}

/* Shared with the callback thread: the ints are read and written only
 * through load/store/bump (check.h). `node` and `free_self` are set before
 * the callback is registered; the callback clears `node` before it returns,
 * and the main thread reads it only after seeing `finalized`. */
struct probe {
  peerdisc_node *node;
  int calls;
  int reentered;
  int finalized;
  int free_self;
};

static void on_event(void *user_data, const char *event_json) {
  struct probe *p = (struct probe *)user_data;
  char *json = NULL;
  bump(&p->calls);
  if (event_json == NULL) return;
  if (load(&p->free_self)) {
    if (p->node) {
      peerdisc_node_free(p->node);
      p->node = NULL;
    }
    return;
  }
  if (peerdisc_node_peers(p->node, &json) == PEERDISC_OK) {
    bump(&p->reentered);
    peerdisc_string_free(json);
  }
}

static void finalize(void *user_data) {
  struct probe *p = (struct probe *)user_data;
  bump(&p->finalized);
}

static void test_callback_reenters(void) {
  peerdisc_node *seed, *joiner;
  struct probe p;
  uint64_t id = 0;
  int i;
  memset(&p, 0, sizeof p);
  start_pair(&seed, &joiner);
  if (!seed || !joiner) goto out;
  p.node = seed;
  CHECK_ST(peerdisc_node_on_event(seed, on_event, &p, finalize, &id), PEERDISC_OK);
  CHECK_ST(peerdisc_node_update_capabilities(joiner, "{\"tools\": [\"t1\"]}"), PEERDISC_OK);
  for (i = 0; i < 500 && load(&p.reentered) == 0; i++) sleep_ms(10);
  CHECK(load(&p.reentered) > 0);
  CHECK_ST(peerdisc_node_remove_callback(seed, id), PEERDISC_OK);
  CHECK(load(&p.finalized) == 1);
  CHECK_ST(peerdisc_node_remove_callback(seed, id), PEERDISC_ERR_NOT_FOUND);
out:
  peerdisc_node_free(joiner);
  peerdisc_node_free(seed);
}

static void test_free_from_own_callback(void) {
  peerdisc_node *seed, *joiner;
  struct probe p;
  int i;
  memset(&p, 0, sizeof p);
  start_pair(&seed, &joiner);
  if (!seed || !joiner) {
    peerdisc_node_free(joiner);
    peerdisc_node_free(seed);
    return;
  }
  p.node = joiner;
  store(&p.free_self, 1);
  CHECK_ST(peerdisc_node_on_event(joiner, on_event, &p, finalize, NULL), PEERDISC_OK);
  CHECK_ST(peerdisc_node_update_capabilities(seed, "{\"tools\": [\"x\"]}"), PEERDISC_OK);
  for (i = 0; i < 1000 && load(&p.finalized) == 0; i++) sleep_ms(10);
  CHECK(load(&p.finalized) == 1);
  CHECK(load(&p.calls) == 1);
  CHECK(p.node == NULL);
  peerdisc_node_free(seed);
}

int main(void) {
  RUN(test_null_and_bad_input);
  RUN(test_meet_query_update_stop);
  RUN(test_callback_reenters);
  RUN(test_free_from_own_callback);
  printf("ffi-c-node: %d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
