/*
 * C tests of the peerdisc registry ABI. Compiled with -Wall -Wextra -Werror
 * as C99 and as C++, linked against the shared and the static library, run
 * under valgrind and AddressSanitizer in CI (scripts/test-ffi.sh).
 * Prints "ffi-c: N passed, M failed" and exits non-zero on any failure.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "peerdisc.h"

#include "check.h"

/* Waits up to 5 s for *p to reach v. */
static int wait_for(const int *p, int v) {
  int i;
  for (i = 0; i < 500; i++) {
    if (load(p) >= v) return 1;
    sleep_ms(10);
  }
  return 0;
}

static peerdisc_registry *new_registry(const char *config) {
  peerdisc_registry *reg = NULL;
  CHECK_ST(peerdisc_registry_new(config, &reg), PEERDISC_OK);
  CHECK(reg != NULL);
  return reg;
}

static void add_peer(peerdisc_registry *reg, const char *id, const char *tool) {
  char json[512];
  snprintf(json, sizeof json,
           "{\"node_id\":\"%s\",\"addresses\":[\"ws://10.0.0.1:8000\"],"
           "\"capabilities\":{\"tools\":[\"%s\"]}}",
           id, tool);
  CHECK_ST(peerdisc_registry_add(reg, json), PEERDISC_OK);
}

/* ---- versions and status ---- */

static void test_versions(void) {
  CHECK(peerdisc_abi_version() == PEERDISC_ABI_VERSION);
  CHECK(strcmp(peerdisc_version(), PEERDISC_VERSION) == 0);
  {
    char buf[64];
    snprintf(buf, sizeof buf, "%d.%d.%d", PEERDISC_VERSION_MAJOR,
             PEERDISC_VERSION_MINOR, PEERDISC_VERSION_PATCH);
    CHECK(strcmp(buf, PEERDISC_VERSION) == 0);
  }
  CHECK(strcmp(peerdisc_status_str(PEERDISC_OK), "PEERDISC_OK") == 0);
  CHECK(strcmp(peerdisc_status_str(PEERDISC_ERR_NOT_FOUND), "PEERDISC_ERR_NOT_FOUND") == 0);
  CHECK(strcmp(peerdisc_status_str(PEERDISC_TIMEOUT), "PEERDISC_TIMEOUT") == 0);
  CHECK(strcmp(peerdisc_status_str(-9999), "PEERDISC_UNKNOWN_STATUS") == 0);
  CHECK(sizeof(peerdisc_status) == 4);
}

/* ---- hard cases: NULL, UTF-8, JSON, sizes ---- */

static void test_null_arguments(void) {
  peerdisc_registry *reg = new_registry(NULL);
  char *json = (char *)"untouched";
  size_t len = 77;
  bool yes = true;
  double h = -1.0;
  /* A non-NULL sentinel, so that a failing call writing NULL would show. */
  static char sub_sentinel;
  peerdisc_subscription *const sub_untouched = (peerdisc_subscription *)(void *)&sub_sentinel;
  peerdisc_subscription *sub = sub_untouched;

  peerdisc_registry_free(NULL);
  peerdisc_subscription_free(NULL);
  peerdisc_string_free(NULL);

  CHECK_ST(peerdisc_registry_new(NULL, NULL), PEERDISC_ERR_NULL_ARGUMENT);
  CHECK(peerdisc_last_error() != NULL);
  CHECK(strstr(peerdisc_last_error(), "registry_out") != NULL);
  CHECK(peerdisc_last_error_status() == PEERDISC_ERR_NULL_ARGUMENT);
  CHECK_ST(peerdisc_registry_add(NULL, "{}"), PEERDISC_ERR_NULL_ARGUMENT);
  CHECK_ST(peerdisc_registry_add(reg, NULL), PEERDISC_ERR_NULL_ARGUMENT);
  CHECK_ST(peerdisc_registry_upsert(reg, NULL, NULL), PEERDISC_ERR_NULL_ARGUMENT);
  CHECK_ST(peerdisc_registry_get(reg, NULL, &json), PEERDISC_ERR_NULL_ARGUMENT);
  CHECK_ST(peerdisc_registry_get(reg, "a", NULL), PEERDISC_ERR_NULL_ARGUMENT);
  CHECK_ST(peerdisc_registry_get(NULL, "a", &json), PEERDISC_ERR_NULL_ARGUMENT);
  CHECK_ST(peerdisc_registry_len(NULL, &len), PEERDISC_ERR_NULL_ARGUMENT);
  CHECK_ST(peerdisc_registry_len(reg, NULL), PEERDISC_ERR_NULL_ARGUMENT);
  CHECK_ST(peerdisc_registry_contains(reg, NULL, &yes), PEERDISC_ERR_NULL_ARGUMENT);
  CHECK_ST(peerdisc_registry_contains(reg, "a", NULL), PEERDISC_ERR_NULL_ARGUMENT);
  CHECK_ST(peerdisc_registry_peer_health(reg, "a", NULL), PEERDISC_ERR_NULL_ARGUMENT);
  CHECK_ST(peerdisc_registry_peer_health(NULL, "a", &h), PEERDISC_ERR_NULL_ARGUMENT);
  CHECK_ST(peerdisc_registry_peer_health(reg, NULL, &h), PEERDISC_ERR_NULL_ARGUMENT);
  CHECK_ST(peerdisc_registry_peer_health(reg, "a", &h), PEERDISC_ERR_NOT_FOUND);
  CHECK_ST(peerdisc_registry_list(reg, NULL, NULL), PEERDISC_ERR_NULL_ARGUMENT);
  CHECK_ST(peerdisc_registry_list(NULL, NULL, &json), PEERDISC_ERR_NULL_ARGUMENT);
  CHECK_ST(peerdisc_registry_find_by_capability(reg, PEERDISC_CAPABILITY_TOOL, NULL, &json),
           PEERDISC_ERR_NULL_ARGUMENT);
  CHECK_ST(peerdisc_registry_remove(reg, NULL, NULL), PEERDISC_ERR_NULL_ARGUMENT);
  CHECK_ST(peerdisc_registry_cleanup(NULL, NULL, NULL), PEERDISC_ERR_NULL_ARGUMENT);
  CHECK_ST(peerdisc_registry_stats(reg, NULL), PEERDISC_ERR_NULL_ARGUMENT);
  CHECK_ST(peerdisc_registry_on_event(reg, NULL, NULL, NULL, NULL), PEERDISC_ERR_NULL_ARGUMENT);
  CHECK_ST(peerdisc_registry_subscribe(reg, NULL), PEERDISC_ERR_NULL_ARGUMENT);
  CHECK_ST(peerdisc_registry_subscribe(NULL, &sub), PEERDISC_ERR_NULL_ARGUMENT);
  CHECK_ST(peerdisc_subscription_next_event(NULL, 0, &json), PEERDISC_ERR_NULL_ARGUMENT);
  /* Outputs are written only on success. */
  CHECK(strcmp(json, "untouched") == 0);
  CHECK(len == 77);
  CHECK(yes);
  CHECK(h == -1.0);
  CHECK(sub == sub_untouched);
  peerdisc_registry_free(reg);
}

static void test_invalid_utf8_and_json(void) {
  peerdisc_registry *reg = new_registry(NULL);
  char *json = NULL;
  bool yes = true;
  CHECK_ST(peerdisc_registry_contains(reg, "bad\xff\xfe", &yes), PEERDISC_ERR_INVALID_UTF8);
  CHECK(yes);
  CHECK(strstr(peerdisc_last_error(), "UTF-8") != NULL);
  CHECK_ST(peerdisc_registry_add(reg, "{\"node_id\":\"\xc3\x28\"}"), PEERDISC_ERR_INVALID_UTF8);
  CHECK_ST(peerdisc_registry_add(reg, "{not json"), PEERDISC_ERR_INVALID_JSON);
  CHECK_ST(peerdisc_registry_add(reg, "[]"), PEERDISC_ERR_INVALID_JSON);
  CHECK_ST(peerdisc_registry_add(reg, "{\"node_id\":\"a\",\"bogus\":1}"), PEERDISC_ERR_INVALID_JSON);
  /* A value breaking its rule (here the node id) is INVALID_ARGUMENT. */
  CHECK_ST(peerdisc_registry_add(reg, "{\"node_id\":\"has space\"}"), PEERDISC_ERR_INVALID_ARGUMENT);
  CHECK_ST(peerdisc_registry_upsert(reg, "", NULL), PEERDISC_ERR_INVALID_JSON);
  CHECK_ST(peerdisc_registry_list(reg, "{\"limit\":\"x\"}", &json), PEERDISC_ERR_INVALID_JSON);
  CHECK(json == NULL);
  CHECK_ST(peerdisc_registry_find_by_capability(reg, 42, "x", &json), PEERDISC_ERR_INVALID_ARGUMENT);
  CHECK_ST(peerdisc_registry_new("{\"capacity\":0}", NULL), PEERDISC_ERR_NULL_ARGUMENT);
  {
    peerdisc_registry *r2 = NULL;
    CHECK_ST(peerdisc_registry_new("{\"capacity\":0}", &r2), PEERDISC_ERR_INVALID_ARGUMENT);
    CHECK_ST(peerdisc_registry_new("{\"capacity\":-1}", &r2), PEERDISC_ERR_INVALID_ARGUMENT);
    CHECK_ST(peerdisc_registry_new("{\"capacity\":\"5\"}", &r2), PEERDISC_ERR_INVALID_JSON);
    CHECK_ST(peerdisc_registry_new("{\"unknown\":1}", &r2), PEERDISC_ERR_INVALID_JSON);
    CHECK(r2 == NULL);
  }
  /* Oversized: 2 MiB of JSON. */
  {
    size_t n = 2u << 20;
    char *big = (char *)malloc(n + 1);
    CHECK(big != NULL);
    if (big) {
      memset(big, ' ', n);
      big[0] = '{';
      big[n - 1] = '}';
      big[n] = '\0';
      CHECK_ST(peerdisc_registry_add(reg, big), PEERDISC_ERR_TOO_LARGE);
      CHECK_ST(peerdisc_registry_list(reg, big, &json), PEERDISC_ERR_TOO_LARGE);
      free(big);
    }
  }
  /* Valid JSON beyond a model limit (more than 16 addresses). */
  {
    char rec[4096];
    int i;
    size_t off = (size_t)snprintf(rec, sizeof rec, "{\"node_id\":\"many\",\"addresses\":[");
    for (i = 0; i < 20; i++)
      off += (size_t)snprintf(rec + off, sizeof rec - off, "%s\"ws://10.0.0.%d:80\"", i ? "," : "", i + 1);
    snprintf(rec + off, sizeof rec - off, "]}");
    CHECK_ST(peerdisc_registry_upsert(reg, rec, NULL), PEERDISC_ERR_INVALID_ARGUMENT);
  }
  {
    size_t len = 1;
    CHECK_ST(peerdisc_registry_len(reg, &len), PEERDISC_OK);
    CHECK(len == 0);
  }
  peerdisc_registry_free(reg);
}

/* ---- the registry's calls ---- */

static void test_registry_roundtrip(void) {
  peerdisc_registry *reg = new_registry("{\"capacity\":1000,\"dead_retention_ms\":0}");
  char *json = NULL;
  size_t len = 0;
  bool yes = false;
  double health = 0;
  peerdisc_upsert_outcome outcome = PEERDISC_UPSERT_IGNORED;

  add_peer(reg, "alpha", "search");
  add_peer(reg, "beta", "search");
  add_peer(reg, "gamma", "calc");
  CHECK_ST(peerdisc_registry_add(reg, "{\"node_id\":\"alpha\"}"), PEERDISC_ERR_ALREADY_EXISTS);
  CHECK_ST(peerdisc_registry_upsert(reg, "{\"node_id\":\"delta\",\"version\":1}", &outcome), PEERDISC_OK);
  CHECK(outcome == PEERDISC_UPSERT_ADDED);
  CHECK_ST(peerdisc_registry_upsert(reg, "{\"node_id\":\"delta\",\"version\":2,\"capabilities\":{\"agents\":[\"planner\"]}}", &outcome), PEERDISC_OK);
  CHECK(outcome == PEERDISC_UPSERT_UPDATED);
  CHECK_ST(peerdisc_registry_upsert(reg, "{\"node_id\":\"delta\",\"version\":2}", &outcome), PEERDISC_OK);
  CHECK(outcome == PEERDISC_UPSERT_IGNORED);

  CHECK_ST(peerdisc_registry_len(reg, &len), PEERDISC_OK);
  CHECK(len == 4);
  CHECK_ST(peerdisc_registry_contains(reg, "beta", &yes), PEERDISC_OK);
  CHECK(yes);
  CHECK_ST(peerdisc_registry_contains(reg, "nope", &yes), PEERDISC_OK);
  CHECK(!yes);
  CHECK_ST(peerdisc_registry_peer_health(reg, "beta", &health), PEERDISC_OK);
  CHECK(health == 0.5);
  CHECK_ST(peerdisc_registry_peer_health(reg, "nope", &health), PEERDISC_ERR_NOT_FOUND);

  CHECK_ST(peerdisc_registry_get(reg, "alpha", &json), PEERDISC_OK);
  CHECK(json && strstr(json, "\"node_id\":\"alpha\"") && strstr(json, "search"));
  peerdisc_string_free(json);
  json = NULL;
  CHECK_ST(peerdisc_registry_get(reg, "nope", &json), PEERDISC_ERR_NOT_FOUND);
  CHECK(json == NULL);
  CHECK(strstr(peerdisc_last_error(), "nope") != NULL);

  CHECK_ST(peerdisc_registry_find_by_capability(reg, PEERDISC_CAPABILITY_TOOL, "search", &json), PEERDISC_OK);
  CHECK(json && strstr(json, "alpha") && strstr(json, "beta") && !strstr(json, "gamma"));
  peerdisc_string_free(json);
  CHECK_ST(peerdisc_registry_find_by_capability(reg, PEERDISC_CAPABILITY_AGENT, "planner", &json), PEERDISC_OK);
  CHECK(json && strstr(json, "delta"));
  peerdisc_string_free(json);
  CHECK_ST(peerdisc_registry_find_by_capability(reg, PEERDISC_CAPABILITY_PROMPT, "none", &json), PEERDISC_OK);
  CHECK(json && strcmp(json, "[]") == 0);
  peerdisc_string_free(json);

  CHECK_ST(peerdisc_registry_list(reg, NULL, &json), PEERDISC_OK);
  CHECK(json && json[0] == '[' && strstr(json, "gamma"));
  peerdisc_string_free(json);
  CHECK_ST(peerdisc_registry_list(reg, "{\"capability\":{\"kind\":\"tool\",\"name\":\"search\"},\"limit\":1}", &json), PEERDISC_OK);
  CHECK(json && strstr(json, "alpha") && !strstr(json, "beta"));
  peerdisc_string_free(json);

  CHECK_ST(peerdisc_registry_set_connection_state(reg, "alpha", PEERDISC_CONNECTION_CONNECTED), PEERDISC_OK);
  CHECK_ST(peerdisc_registry_set_connection_state(reg, "alpha", 99), PEERDISC_ERR_INVALID_ARGUMENT);
  CHECK_ST(peerdisc_registry_list(reg, "{\"connection_state\":\"connected\"}", &json), PEERDISC_OK);
  CHECK(json && strstr(json, "alpha") && !strstr(json, "beta"));
  peerdisc_string_free(json);

  CHECK_ST(peerdisc_registry_remove(reg, "beta", &json), PEERDISC_OK);
  CHECK(json && strstr(json, "beta"));
  peerdisc_string_free(json);
  CHECK_ST(peerdisc_registry_remove(reg, "beta", NULL), PEERDISC_ERR_NOT_FOUND);

  CHECK_ST(peerdisc_registry_set_liveness(reg, "gamma", PEERDISC_LIVENESS_DEAD), PEERDISC_OK);
  CHECK_ST(peerdisc_registry_set_liveness(reg, "nope", PEERDISC_LIVENESS_DEAD), PEERDISC_ERR_NOT_FOUND);
  CHECK_ST(peerdisc_registry_set_liveness(reg, "gamma", -1), PEERDISC_ERR_INVALID_ARGUMENT);
  len = 0;
  CHECK_ST(peerdisc_registry_cleanup(reg, &len, &json), PEERDISC_OK);
  CHECK(len == 1);
  CHECK(json && strcmp(json, "[\"gamma\"]") == 0);
  peerdisc_string_free(json);
  CHECK_ST(peerdisc_registry_cleanup(reg, NULL, NULL), PEERDISC_OK);

  CHECK_ST(peerdisc_registry_stats(reg, &json), PEERDISC_OK);
  CHECK(json && strstr(json, "\"total\":2") && strstr(json, "\"capacity\":1000"));
  peerdisc_string_free(json);
  peerdisc_registry_free(reg);
}

static void test_full(void) {
  peerdisc_registry *reg = new_registry("{\"capacity\":1}");
  add_peer(reg, "a", "t");
  CHECK_ST(peerdisc_registry_set_connection_state(reg, "a", PEERDISC_CONNECTION_CONNECTED), PEERDISC_OK);
  CHECK_ST(peerdisc_registry_add(reg, "{\"node_id\":\"b\"}"), PEERDISC_ERR_FULL);
  peerdisc_registry_free(reg);
}

/* ---- pulled events ---- */

static void test_subscription(void) {
  peerdisc_registry *reg = new_registry(NULL);
  peerdisc_subscription *sub = NULL;
  char *json = NULL;
  CHECK_ST(peerdisc_registry_subscribe(reg, &sub), PEERDISC_OK);
  CHECK_ST(peerdisc_subscription_next_event(sub, 0, &json), PEERDISC_TIMEOUT);
  CHECK_ST(peerdisc_subscription_next_event(sub, 20, &json), PEERDISC_TIMEOUT);
  CHECK(json == NULL);
  add_peer(reg, "a", "t");
  CHECK_ST(peerdisc_registry_remove(reg, "a", NULL), PEERDISC_OK);
  CHECK_ST(peerdisc_subscription_next_event(sub, 1000, &json), PEERDISC_OK);
  CHECK(json && strstr(json, "\"type\":\"added\""));
  peerdisc_string_free(json);
  json = NULL;
  peerdisc_registry_free(reg);
  /* Queued events survive the registry; then the stream is closed. */
  CHECK_ST(peerdisc_subscription_next_event(sub, -1, &json), PEERDISC_OK);
  CHECK(json && strstr(json, "\"type\":\"removed\""));
  peerdisc_string_free(json);
  json = NULL;
  CHECK_ST(peerdisc_subscription_next_event(sub, -1, &json), PEERDISC_CLOSED);
  CHECK_ST(peerdisc_subscription_next_event(sub, 10, &json), PEERDISC_CLOSED);
  CHECK(json == NULL);
  peerdisc_subscription_free(sub);
}

/* ---- pushed events ---- */

typedef struct {
  peerdisc_registry *reg;
  int calls;
  int finalized;
  int in_callback;
  int returned;
  int free_inside;
  int reentered_ok;
  int late_calls;
  int freed;
  int register_status;
  long sleep_ms;
} ctx_t;

static void ctx_init(ctx_t *c) { memset(c, 0, sizeof *c); }

static void count_cb(void *ud, const char *event_json) {
  ctx_t *c = (ctx_t *)ud;
  if (load(&c->freed)) bump(&c->late_calls);
  if (event_json && strstr(event_json, "\"type\"")) bump(&c->calls);
}

static void finalizer(void *ud) { bump(&((ctx_t *)ud)->finalized); }

static void test_callback_and_finalizer(void) {
  ctx_t c;
  uint64_t id = 0;
  ctx_init(&c);
  c.reg = new_registry(NULL);
  CHECK_ST(peerdisc_registry_on_event(c.reg, count_cb, &c, finalizer, &id), PEERDISC_OK);
  add_peer(c.reg, "a", "t");
  add_peer(c.reg, "b", "t");
  CHECK(wait_for(&c.calls, 2));
  CHECK(load(&c.finalized) == 0);
  CHECK_ST(peerdisc_registry_remove_callback(c.reg, id), PEERDISC_OK);
  CHECK(load(&c.finalized) == 1);
  CHECK_ST(peerdisc_registry_remove_callback(c.reg, id), PEERDISC_ERR_NOT_FOUND);
  add_peer(c.reg, "c", "t");
  sleep_ms(50);
  CHECK(load(&c.calls) == 2);
  /* A second callback, finalized by free. */
  CHECK_ST(peerdisc_registry_on_event(c.reg, count_cb, &c, finalizer, NULL), PEERDISC_OK);
  peerdisc_registry_free(c.reg);
  CHECK(load(&c.finalized) == 2);
}

/* A callback that calls back into the library, on the same registry. */
static void reentrant_cb(void *ud, const char *event_json) {
  ctx_t *c = (ctx_t *)ud;
  size_t len = 0;
  char *json = NULL;
  (void)event_json;
  if (peerdisc_registry_len(c->reg, &len) == PEERDISC_OK && len >= 1 &&
      peerdisc_registry_list(c->reg, NULL, &json) == PEERDISC_OK) {
    peerdisc_string_free(json);
    /* Adding from inside a callback emits more events (bounded here). */
    if (bump(&c->calls) == 1) {
      peerdisc_registry_upsert(c->reg, "{\"node_id\":\"from-callback\",\"version\":1}", NULL);
    }
    bump(&c->reentered_ok);
  }
}

static void test_callback_reenters(void) {
  ctx_t c;
  bool yes = false;
  ctx_init(&c);
  c.reg = new_registry(NULL);
  CHECK_ST(peerdisc_registry_on_event(c.reg, reentrant_cb, &c, finalizer, NULL), PEERDISC_OK);
  add_peer(c.reg, "a", "t");
  CHECK(wait_for(&c.reentered_ok, 2));
  CHECK_ST(peerdisc_registry_contains(c.reg, "from-callback", &yes), PEERDISC_OK);
  CHECK(yes);
  peerdisc_registry_free(c.reg);
  CHECK(load(&c.finalized) == 1);
}

/* Frees its own registry from inside the callback. */
static void free_inside_cb(void *ud, const char *event_json) {
  ctx_t *c = (ctx_t *)ud;
  (void)event_json;
  if (load(&c->freed)) {
    bump(&c->late_calls);
    return;
  }
  bump(&c->calls);
  peerdisc_registry_free(c->reg);
  store(&c->freed, 1);
  /* The finalizer waits for this call to return. */
  sleep_ms(20);
  if (load(&c->finalized) != 0) bump(&c->late_calls);
  store(&c->returned, 1);
}

static void test_free_inside_own_callback(void) {
  ctx_t c;
  int i;
  ctx_init(&c);
  c.reg = new_registry(NULL);
  CHECK_ST(peerdisc_registry_on_event(c.reg, free_inside_cb, &c, finalizer, NULL), PEERDISC_OK);
  add_peer(c.reg, "a", "t");
  CHECK(wait_for(&c.finalized, 1));
  CHECK(load(&c.returned) == 1);
  for (i = 0; i < 5; i++) sleep_ms(10);
  CHECK(load(&c.calls) == 1);
  CHECK(load(&c.late_calls) == 0);
  CHECK(load(&c.finalized) == 1);
}

/* Blocks inside the callback while the main thread frees the registry. */
static void slow_cb(void *ud, const char *event_json) {
  ctx_t *c = (ctx_t *)ud;
  size_t len = 0;
  (void)event_json;
  if (load(&c->freed)) bump(&c->late_calls);
  bump(&c->calls);
  store(&c->in_callback, 1);
  sleep_ms(c->sleep_ms);
  /* The handle is still valid: free waits for this call to return. */
  if (peerdisc_registry_len(c->reg, &len) == PEERDISC_OK) bump(&c->reentered_ok);
  /* Registering during free is refused, and its finalizer never runs. */
  store(&c->register_status, peerdisc_registry_on_event(c->reg, count_cb, c, finalizer, NULL));
  store(&c->returned, 1);
}

static void test_callback_while_other_thread_frees(void) {
  ctx_t c;
  int i;
  ctx_init(&c);
  c.sleep_ms = 150;
  c.reg = new_registry(NULL);
  CHECK_ST(peerdisc_registry_on_event(c.reg, slow_cb, &c, finalizer, NULL), PEERDISC_OK);
  for (i = 0; i < 10; i++) {
    char id[16];
    snprintf(id, sizeof id, "p%d", i);
    add_peer(c.reg, id, "t");
  }
  CHECK(wait_for(&c.in_callback, 1));
  peerdisc_registry_free(c.reg);
  store(&c.freed, 1);
  /* free returned only after the running call returned and finalized. */
  CHECK(load(&c.returned) == 1);
  CHECK(load(&c.finalized) == 1);
  CHECK(load(&c.reentered_ok) == 1);
  CHECK(load(&c.register_status) == PEERDISC_ERR_INVALID_STATE);
  sleep_ms(200);
  /* No events after free, though 9 were still queued. */
  CHECK(load(&c.calls) == 1);
  CHECK(load(&c.late_calls) == 0);
  CHECK(load(&c.finalized) == 1);
}

typedef struct {
  peerdisc_registry *reg;
  int base;
  int errors;
} worker_t;

static void *worker(void *arg) {
  worker_t *w = (worker_t *)arg;
  int i;
  for (i = 0; i < 200; i++) {
    char id[32];
    char missing[48];
    char quoted[52];
    char *json_out = NULL;
    const char *le;
    bool yes = false;
    snprintf(id, sizeof id, "w%d-%d", w->base, i);
    /* The last error is per thread: each thread fails with an id of its
     * own, then makes calls that succeed (they leave the last error alone)
     * while the other threads fail with theirs, and must still find its own
     * id in its last error. With one global last error, the other threads'
     * failures would overwrite it. */
    snprintf(missing, sizeof missing, "missing-w%d-%d", w->base, i);
    snprintf(quoted, sizeof quoted, "\"%s\"", missing);
    if (peerdisc_registry_get(w->reg, missing, &json_out) != PEERDISC_ERR_NOT_FOUND ||
        json_out != NULL)
      w->errors++;
    if (peerdisc_registry_upsert(w->reg, "{\"node_id\":\"shared\",\"version\":1}", NULL) != PEERDISC_OK) w->errors++;
    {
      char json[128];
      snprintf(json, sizeof json, "{\"node_id\":\"%s\"}", id);
      if (peerdisc_registry_add(w->reg, json) != PEERDISC_OK) w->errors++;
    }
    if (peerdisc_registry_contains(w->reg, id, &yes) != PEERDISC_OK || !yes) w->errors++;
    le = peerdisc_last_error();
    if (le == NULL || strstr(le, quoted) == NULL ||
        peerdisc_last_error_status() != PEERDISC_ERR_NOT_FOUND)
      w->errors++;
  }
  return NULL;
}

static void test_events_after_free_with_threads(void) {
  ctx_t c;
  pthread_t t[4];
  worker_t w[4];
  int i;
  size_t len = 0;
  ctx_init(&c);
  c.reg = new_registry(NULL);
  CHECK_ST(peerdisc_registry_on_event(c.reg, count_cb, &c, finalizer, NULL), PEERDISC_OK);
  for (i = 0; i < 4; i++) {
    w[i].reg = c.reg;
    w[i].base = i;
    w[i].errors = 0;
    pthread_create(&t[i], NULL, worker, &w[i]);
  }
  for (i = 0; i < 4; i++) {
    pthread_join(t[i], NULL);
    CHECK(w[i].errors == 0);
  }
  CHECK_ST(peerdisc_registry_len(c.reg, &len), PEERDISC_OK);
  CHECK(len == 801);
  peerdisc_registry_free(c.reg);
  store(&c.freed, 1);
  {
    int after = load(&c.calls);
    sleep_ms(100);
    CHECK(load(&c.calls) == after);
  }
  CHECK(load(&c.late_calls) == 0);
  CHECK(load(&c.finalized) == 1);
}

int main(void) {
  RUN(test_versions);
  RUN(test_null_arguments);
  RUN(test_invalid_utf8_and_json);
  RUN(test_registry_roundtrip);
  RUN(test_full);
  RUN(test_subscription);
  RUN(test_callback_and_finalizer);
  RUN(test_callback_reenters);
  RUN(test_free_inside_own_callback);
  RUN(test_callback_while_other_thread_frees);
  RUN(test_events_after_free_with_threads);
  printf("ffi-c: %d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
