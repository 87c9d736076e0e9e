/*
 * C tests of the header's contract (issue 17), written from the header
 * alone: every JSON argument refuses arrays, scalars and null; one status
 * per kind of error (an invalid node id is INVALID_ARGUMENT at every call
 * that takes one; a value outside its rule INVALID_ARGUMENT; a wrong shape
 * INVALID_JSON); last-error messages are capped at
 * PEERDISC_LAST_ERROR_MAX_LEN; the typed accessors; wait_for_peers on a
 * node never started. Prints "ffi-c: N passed, M failed".
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peerdisc.h"

#include "check.h"

static const char *const NOT_OBJECTS[] = {"[5]",  "[]",    "[\"zz\"]", "[[\"dead\"]]", "5",
                                          "\"x\"", "true", "null",     " [ ] "};
#define N_NOT_OBJECTS (sizeof NOT_OBJECTS / sizeof NOT_OBJECTS[0])

static peerdisc_registry *new_registry(void) {
  peerdisc_registry *reg = NULL;
  CHECK_ST(peerdisc_registry_new(NULL, &reg), PEERDISC_OK);
  return reg;
}

static void test_json_arguments_must_be_objects(void) {
  peerdisc_registry *reg = new_registry();
  peerdisc_node *node = NULL;
  size_t i, len = 9;
  CHECK_ST(peerdisc_node_new(NULL, &node), PEERDISC_OK);
  for (i = 0; i < N_NOT_OBJECTS; i++) {
    const char *j = NOT_OBJECTS[i];
    peerdisc_registry *r = NULL;
    peerdisc_node *n = NULL;
    char *out = NULL;
    CHECK_ST(peerdisc_registry_new(j, &r), PEERDISC_ERR_INVALID_JSON);
    CHECK(r == NULL);
    CHECK_ST(peerdisc_registry_add(reg, j), PEERDISC_ERR_INVALID_JSON);
    CHECK_ST(peerdisc_registry_upsert(reg, j, NULL), PEERDISC_ERR_INVALID_JSON);
    CHECK_ST(peerdisc_registry_list(reg, j, &out), PEERDISC_ERR_INVALID_JSON);
    CHECK(out == NULL);
    CHECK_ST(peerdisc_node_new(j, &n), PEERDISC_ERR_INVALID_JSON);
    CHECK(n == NULL);
    CHECK_ST(peerdisc_node_update_capabilities(node, j), PEERDISC_ERR_INVALID_JSON);
  }
  /* Nested objects given as arrays, too. */
  {
    char *out = NULL;
    peerdisc_node *n = NULL;
    CHECK_ST(peerdisc_registry_list(reg, "{\"capability\":[\"tool\",\"search\"]}", &out),
             PEERDISC_ERR_INVALID_JSON);
    CHECK_ST(peerdisc_registry_add(reg, "{\"node_id\":\"a\",\"capabilities\":[[\"x\"]]}"),
             PEERDISC_ERR_INVALID_JSON);
    CHECK_ST(peerdisc_registry_add(reg, "{\"node_id\":\"a\",\"capabilities\":{\"tools\":[[\"x\",null]]}}"),
             PEERDISC_ERR_INVALID_JSON);
    CHECK_ST(peerdisc_node_new("{\"registry\":[5]}", &n), PEERDISC_ERR_INVALID_JSON);
    CHECK(n == NULL);
  }
  CHECK_ST(peerdisc_registry_len(reg, &len), PEERDISC_OK);
  CHECK(len == 0);
  peerdisc_node_free(node);
  peerdisc_registry_free(reg);
}

static void test_invalid_node_id_everywhere(void) {
  peerdisc_registry *reg = new_registry();
  char long_id[201];
  const char *ids[5];
  size_t i;
  memset(long_id, 'a', 200);
  long_id[200] = '\0';
  ids[0] = "";
  ids[1] = "a b";
  ids[2] = long_id;
  ids[3] = "a/b";
  ids[4] = "caf\xc3\xa9";
  for (i = 0; i < 5; i++) {
    const char *id = ids[i];
    char *json = NULL;
    bool yes = true;
    double h = -1.0;
    peerdisc_liveness l = PEERDISC_LIVENESS_LEFT;
    peerdisc_connection_state cs = PEERDISC_CONNECTION_FAILED;
    uint64_t ms = 7;
    peerdisc_peer *peer = NULL;
    char rec[512];
    CHECK_ST(peerdisc_registry_get(reg, id, &json), PEERDISC_ERR_INVALID_ARGUMENT);
    CHECK_ST(peerdisc_registry_contains(reg, id, &yes), PEERDISC_ERR_INVALID_ARGUMENT);
    CHECK_ST(peerdisc_registry_peer_health(reg, id, &h), PEERDISC_ERR_INVALID_ARGUMENT);
    CHECK_ST(peerdisc_registry_remove(reg, id, &json), PEERDISC_ERR_INVALID_ARGUMENT);
    CHECK_ST(peerdisc_registry_set_liveness(reg, id, PEERDISC_LIVENESS_DEAD), PEERDISC_ERR_INVALID_ARGUMENT);
    CHECK_ST(peerdisc_registry_set_connection_state(reg, id, PEERDISC_CONNECTION_CONNECTED),
             PEERDISC_ERR_INVALID_ARGUMENT);
    CHECK_ST(peerdisc_registry_peer_liveness(reg, id, &l), PEERDISC_ERR_INVALID_ARGUMENT);
    CHECK_ST(peerdisc_registry_peer_connection_state(reg, id, &cs), PEERDISC_ERR_INVALID_ARGUMENT);
    CHECK_ST(peerdisc_registry_peer_last_seen_ms(reg, id, &ms), PEERDISC_ERR_INVALID_ARGUMENT);
    CHECK_ST(peerdisc_registry_peer(reg, id, &peer), PEERDISC_ERR_INVALID_ARGUMENT);
    snprintf(rec, sizeof rec, "{\"node_id\":\"%s\"}", id);
    CHECK_ST(peerdisc_registry_add(reg, rec), PEERDISC_ERR_INVALID_ARGUMENT);
    CHECK_ST(peerdisc_registry_upsert(reg, rec, NULL), PEERDISC_ERR_INVALID_ARGUMENT);
    /* Outputs are written only on success. */
    CHECK(json == NULL && yes && h == -1.0 && l == PEERDISC_LIVENESS_LEFT &&
          cs == PEERDISC_CONNECTION_FAILED && ms == 7 && peer == NULL);
  }
  {
    bool yes = true;
    char *json = NULL;
    CHECK_ST(peerdisc_registry_contains(reg, "nobody", &yes), PEERDISC_OK);
    CHECK(!yes);
    CHECK_ST(peerdisc_registry_get(reg, "nobody", &json), PEERDISC_ERR_NOT_FOUND);
  }
  peerdisc_registry_free(reg);
}

static void test_values_outside_rules(void) {
  peerdisc_registry *r = NULL;
  peerdisc_node *n = NULL;
  char *out = NULL;
  peerdisc_registry *reg = new_registry();
  CHECK_ST(peerdisc_registry_new("{\"capacity\":0}", &r), PEERDISC_ERR_INVALID_ARGUMENT);
  CHECK_ST(peerdisc_registry_new("{\"capacity\":-1}", &r), PEERDISC_ERR_INVALID_ARGUMENT);
  CHECK_ST(peerdisc_registry_new("{\"capacity\":\"5\"}", &r), PEERDISC_ERR_INVALID_JSON);
  CHECK(r == NULL);
  CHECK_ST(peerdisc_node_new("{\"listen\":\"not an address\"}", &n), PEERDISC_ERR_INVALID_ARGUMENT);
  CHECK(strstr(peerdisc_last_error(), "address") != NULL);
  CHECK_ST(peerdisc_node_new("{\"bootstrap\":[\"not a url\"]}", &n), PEERDISC_ERR_INVALID_ARGUMENT);
  CHECK_ST(peerdisc_node_new("{\"registry\":{\"capacity\":0}}", &n), PEERDISC_ERR_INVALID_ARGUMENT);
  CHECK_ST(peerdisc_node_new("{\"node_id\":\"a b\"}", &n), PEERDISC_ERR_INVALID_ARGUMENT);
  CHECK_ST(peerdisc_node_new("{\"listen\":5}", &n), PEERDISC_ERR_INVALID_JSON);
  CHECK(n == NULL);
  /* The list filter: liveness takes an array, connection_state one string. */
  CHECK_ST(peerdisc_registry_list(reg, "{\"liveness\":[\"alive\",\"dead\"],\"connection_state\":\"connected\"}", &out),
           PEERDISC_OK);
  CHECK(out && strcmp(out, "[]") == 0);
  peerdisc_string_free(out);
  out = NULL;
  CHECK_ST(peerdisc_registry_list(reg, "{\"liveness\":[\"zombie\"]}", &out), PEERDISC_ERR_INVALID_ARGUMENT);
  CHECK_ST(peerdisc_registry_list(reg, "{\"liveness\":\"alive\"}", &out), PEERDISC_ERR_INVALID_JSON);
  CHECK_ST(peerdisc_registry_list(reg, "{\"connection_state\":[\"connected\"]}", &out),
           PEERDISC_ERR_INVALID_JSON);
  CHECK(out == NULL);
  peerdisc_registry_free(reg);
}

static void test_last_error_is_capped(void) {
  peerdisc_registry *reg = new_registry();
  size_t n = PEERDISC_MAX_INPUT_LEN;
  char *big = (char *)malloc(n + 64);
  char *json = NULL;
  CHECK(big != NULL);
  if (big) {
    /* A 1 MiB node id. */
    memset(big, 'z', n);
    big[n] = '\0';
    CHECK_ST(peerdisc_registry_get(reg, big, &json), PEERDISC_ERR_INVALID_ARGUMENT);
    CHECK(strlen(peerdisc_last_error()) <= PEERDISC_LAST_ERROR_MAX_LEN);
    CHECK(strstr(peerdisc_last_error(), "zzzz") != NULL);
    /* A filter naming an unknown 500 KB state: serde quotes it, the library cuts it. */
    memset(big, 'q', n);
    memcpy(big, "{\"liveness\":[\"", 14);
    memcpy(big + 500000, "\"]}", 4);
    CHECK_ST(peerdisc_registry_list(reg, big, &json), PEERDISC_ERR_INVALID_ARGUMENT);
    CHECK(strlen(peerdisc_last_error()) <= PEERDISC_LAST_ERROR_MAX_LEN);
    CHECK(strstr(peerdisc_last_error(), "...") != NULL);
    free(big);
  }
  peerdisc_registry_free(reg);
}

static void test_typed_accessors(void) {
  peerdisc_registry *reg = new_registry();
  peerdisc_liveness l = PEERDISC_LIVENESS_ALIVE;
  peerdisc_connection_state cs = PEERDISC_CONNECTION_FAILED;
  uint64_t ms = 0;
  peerdisc_peer *peer = NULL;
  size_t count = 0, i;
  const char *s = NULL;
  CHECK_ST(peerdisc_registry_add(reg,
                                 "{\"node_id\":\"alpha\",\"addresses\":[\"ws://10.0.0.1:8000\",\"wss://example.org/p\"],"
                                 "\"capabilities\":{\"agents\":[\"planner\"],\"tools\":[\"search\",\"calc\"]},"
                                 "\"last_seen_ms\":1764000000123,\"liveness\":\"suspect\"}"),
           PEERDISC_OK);
  CHECK_ST(peerdisc_registry_set_connection_state(reg, "alpha", PEERDISC_CONNECTION_CONNECTED), PEERDISC_OK);
  CHECK_ST(peerdisc_registry_peer_liveness(reg, "alpha", &l), PEERDISC_OK);
  CHECK(l == PEERDISC_LIVENESS_SUSPECT);
  CHECK_ST(peerdisc_registry_peer_connection_state(reg, "alpha", &cs), PEERDISC_OK);
  CHECK(cs == PEERDISC_CONNECTION_CONNECTED);
  CHECK_ST(peerdisc_registry_peer_last_seen_ms(reg, "alpha", &ms), PEERDISC_OK);
  CHECK(ms == 1764000000123ULL);
  CHECK_ST(peerdisc_registry_peer_liveness(reg, "beta", &l), PEERDISC_ERR_NOT_FOUND);
  CHECK_ST(peerdisc_registry_peer_last_seen_ms(reg, "alpha", NULL), PEERDISC_ERR_NULL_ARGUMENT);

  CHECK_ST(peerdisc_registry_peer(reg, "alpha", &peer), PEERDISC_OK);
  CHECK_ST(peerdisc_peer_address_count(peer, &count), PEERDISC_OK);
  CHECK(count == 2);
  CHECK_ST(peerdisc_peer_address(peer, 0, &s), PEERDISC_OK);
  CHECK(s && strcmp(s, "ws://10.0.0.1:8000") == 0);
  CHECK_ST(peerdisc_peer_address(peer, 1, &s), PEERDISC_OK);
  CHECK(s && strcmp(s, "wss://example.org/p") == 0);
  CHECK_ST(peerdisc_peer_address(peer, 2, &s), PEERDISC_ERR_INVALID_ARGUMENT);
  CHECK_ST(peerdisc_peer_capability_count(peer, PEERDISC_CAPABILITY_TOOL, &count), PEERDISC_OK);
  CHECK(count == 2);
  for (i = 0; i < count; i++) CHECK_ST(peerdisc_peer_capability(peer, PEERDISC_CAPABILITY_TOOL, i, &s), PEERDISC_OK);
  CHECK(s && strcmp(s, "calc") == 0);
  CHECK_ST(peerdisc_peer_capability_count(peer, PEERDISC_CAPABILITY_PROMPT, &count), PEERDISC_OK);
  CHECK(count == 0);
  CHECK_ST(peerdisc_peer_capability(peer, PEERDISC_CAPABILITY_PROMPT, 0, &s), PEERDISC_ERR_INVALID_ARGUMENT);
  CHECK_ST(peerdisc_peer_capability_count(peer, 7, &count), PEERDISC_ERR_INVALID_ARGUMENT);
  /* The snapshot outlives the registry. */
  peerdisc_registry_free(reg);
  CHECK_ST(peerdisc_peer_capability(peer, PEERDISC_CAPABILITY_AGENT, 0, &s), PEERDISC_OK);
  CHECK(s && strcmp(s, "planner") == 0);
  peerdisc_peer_free(peer);
  peerdisc_peer_free(NULL);
}

static void test_wait_for_peers_never_started(void) {
  peerdisc_node *n = NULL;
  uint32_t count = 99;
  CHECK_ST(peerdisc_node_new(NULL, &n), PEERDISC_OK);
  sleep_ms(1);
  CHECK_ST(peerdisc_node_wait_for_peers(n, 1, 30, &count), PEERDISC_TIMEOUT);
  CHECK(count == 99);
  CHECK_ST(peerdisc_node_wait_for_peers(n, 0, 30, &count), PEERDISC_OK);
  CHECK(count == 0);
  peerdisc_node_free(n);
}

int main(void) {
  RUN(test_json_arguments_must_be_objects);
  RUN(test_invalid_node_id_everywhere);
  RUN(test_values_outside_rules);
  RUN(test_last_error_is_capped);
  RUN(test_typed_accessors);
  RUN(test_wait_for_peers_never_started);
  printf("ffi-c: %d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
