/*
 * C tests of gossip over the application's own transport
 * (peerdisc_gossip_*) and of the registry's write calls: three nodes, each
 * with its own registry, talk through an in-memory transport written here.
 * Compiled as C99 and as C++17.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define NODES 3
#define QUEUE_MAX 4096

typedef struct {
  char *from;
  char *to;
  char *msg;
} item;

/* The transport: one queue for every node, and the nodes by name. */
typedef struct transport transport;

typedef struct {
  transport *net;
  const char *name;
  peerdisc_registry *reg;
  peerdisc_gossip *gossip;
  int finalized;
} node;

struct transport {
  pthread_mutex_t lock;
  item queue[QUEUE_MAX];
  int len;
  int dropped;
  int cut; /* index of a node cut off, or -1 */
  node nodes[NODES];
};

static char *dup_str(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = (char *)malloc(n);
  memcpy(d, s, n);
  return d;
}

static void on_send(void *user_data, const char *to, const char *msg) {
  node *me = (node *)user_data;
  transport *net = me->net;
  pthread_mutex_lock(&net->lock);
  if (net->len < QUEUE_MAX) {
    item *it = &net->queue[net->len++];
    it->from = dup_str(me->name);
    it->to = dup_str(to);
    it->msg = dup_str(msg);
  } else {
    net->dropped++;
  }
  pthread_mutex_unlock(&net->lock);
}

static void on_finalize(void *user_data) { bump(&((node *)user_data)->finalized); }

static int index_of(transport *net, const char *name) {
  int i;
  for (i = 0; i < NODES; i++) {
    if (strcmp(net->nodes[i].name, name) == 0) return i;
  }
  return -1;
}

/* Delivers what is queued (outside the queue's lock: handling a message
 * sends more) and ticks every node. */
static void pump(transport *net) {
  item batch[QUEUE_MAX];
  int n, i;
  pthread_mutex_lock(&net->lock);
  n = net->len;
  memcpy(batch, net->queue, sizeof(item) * (size_t)n);
  net->len = 0;
  pthread_mutex_unlock(&net->lock);
  for (i = 0; i < n; i++) {
    int to = index_of(net, batch[i].to);
    int from = index_of(net, batch[i].from);
    if (to >= 0 && to != net->cut && from != net->cut) {
      peerdisc_status st = peerdisc_gossip_handle(net->nodes[to].gossip, batch[i].msg, batch[i].from);
      CHECK(st == PEERDISC_OK);
    }
    free(batch[i].from);
    free(batch[i].to);
    free(batch[i].msg);
  }
  for (i = 0; i < NODES; i++) {
    if (i != net->cut) CHECK_ST(peerdisc_gossip_tick(net->nodes[i].gossip), PEERDISC_OK);
  }
}

/* Whether `id` is listed in `reg` with this liveness ("alive", ...). */
static int has_liveness(peerdisc_registry *reg, const char *id, const char *liveness) {
  char *json = NULL;
  char want[64];
  int found;
  if (peerdisc_registry_get(reg, id, &json) != PEERDISC_OK) {
    peerdisc_last_error_clear();
    return 0;
  }
  snprintf(want, sizeof want, "\"liveness\":\"%s\"", liveness);
  found = strstr(json, want) != NULL;
  peerdisc_string_free(json);
  return found;
}

static int all_know_all(transport *net) {
  int i, j;
  for (i = 0; i < NODES; i++) {
    for (j = 0; j < NODES; j++) {
      if (i != j && !has_liveness(net->nodes[i].reg, net->nodes[j].name, "alive")) return 0;
    }
  }
  return 1;
}

static void setup(transport *net) {
  static const char *names[NODES] = {"c-a", "c-b", "c-c"};
  int i;
  memset(net, 0, sizeof *net);
  pthread_mutex_init(&net->lock, NULL);
  net->cut = -1;
  for (i = 0; i < NODES; i++) {
    char cfg[256];
    node *nd = &net->nodes[i];
    nd->net = net;
    nd->name = names[i];
    CHECK_ST(peerdisc_registry_new(NULL, &nd->reg), PEERDISC_OK);
    snprintf(cfg, sizeof cfg,
             "{\"node_id\": \"%s\", \"address\": \"ws://10.0.0.%d:8000\", "
             "\"capabilities\": {\"tools\": [\"tool-%d\"]}, \"rng_seed\": %d}",
             names[i], i + 1, i, i + 1);
    CHECK_ST(peerdisc_gossip_new(nd->reg, cfg, on_send, nd, on_finalize, &nd->gossip), PEERDISC_OK);
  }
}

static void teardown(transport *net) {
  int i;
  for (i = 0; i < NODES; i++) {
    peerdisc_gossip_free(net->nodes[i].gossip);
    CHECK(load(&net->nodes[i].finalized) == 1);
    peerdisc_registry_free(net->nodes[i].reg);
  }
  for (i = 0; i < net->len; i++) {
    free(net->queue[i].from);
    free(net->queue[i].to);
    free(net->queue[i].msg);
  }
  pthread_mutex_destroy(&net->lock);
}

static void test_three_nodes_over_a_c_transport(void) {
  transport *net = (transport *)malloc(sizeof(transport));
  char *json = NULL;
  int round;
  setup(net);
  /* b and c join through a. */
  CHECK_ST(peerdisc_gossip_join(net->nodes[1].gossip, "[\"c-a\"]"), PEERDISC_OK);
  CHECK_ST(peerdisc_gossip_join(net->nodes[2].gossip, "[\"c-a\"]"), PEERDISC_OK);
  for (round = 0; round < 500 && !all_know_all(net); round++) {
    pump(net);
    sleep_ms(10);
  }
  CHECK(all_know_all(net));
  /* c learned b's record (its tool) through gossip. */
  CHECK_ST(peerdisc_registry_find_by_capability(net->nodes[2].reg, PEERDISC_CAPABILITY_TOOL,
                                                "tool-1", &json),
           PEERDISC_OK);
  CHECK(json != NULL && strstr(json, "\"node_id\":\"c-b\"") != NULL);
  peerdisc_string_free(json);
  CHECK_ST(peerdisc_gossip_members(net->nodes[0].gossip, &json), PEERDISC_OK);
  CHECK(strstr(json, "\"c-b\"") != NULL && strstr(json, "\"c-c\"") != NULL);
  peerdisc_string_free(json);

  /* c is cut off: a and b declare it dead. */
  net->cut = 2;
  for (round = 0; round < 1500 && !(has_liveness(net->nodes[0].reg, "c-c", "dead") &&
                                    has_liveness(net->nodes[1].reg, "c-c", "dead"));
       round++) {
    pump(net);
    sleep_ms(10);
  }
  CHECK(has_liveness(net->nodes[0].reg, "c-c", "dead"));
  CHECK(has_liveness(net->nodes[1].reg, "c-c", "dead"));

  /* b leaves gracefully: a hears it. */
  CHECK_ST(peerdisc_gossip_leave(net->nodes[1].gossip), PEERDISC_OK);
  CHECK_ST(peerdisc_gossip_leave(net->nodes[1].gossip), PEERDISC_ERR_INVALID_STATE);
  for (round = 0; round < 500 && !has_liveness(net->nodes[0].reg, "c-b", "left"); round++) {
    pump(net);
    sleep_ms(10);
  }
  CHECK(has_liveness(net->nodes[0].reg, "c-b", "left"));
  CHECK(net->dropped == 0);
  teardown(net);
  free(net);
}

static void test_timer_thread_and_bad_input(void) {
  transport *net = (transport *)malloc(sizeof(transport));
  int round, sent = 0;
  setup(net);
  CHECK_ST(peerdisc_gossip_start(net->nodes[0].gossip), PEERDISC_OK);
  CHECK_ST(peerdisc_gossip_start(net->nodes[0].gossip), PEERDISC_ERR_INVALID_STATE);
  /* The timer thread sends the join retries by itself. */
  CHECK_ST(peerdisc_gossip_join(net->nodes[0].gossip, "[\"nobody\"]"), PEERDISC_OK);
  for (round = 0; round < 300 && !sent; round++) {
    pthread_mutex_lock(&net->lock);
    sent = net->len > 1;
    pthread_mutex_unlock(&net->lock);
    sleep_ms(10);
  }
  CHECK(sent);
  CHECK_ST(peerdisc_gossip_stop(net->nodes[0].gossip), PEERDISC_OK);
  CHECK_ST(peerdisc_gossip_stop(net->nodes[0].gossip), PEERDISC_OK);

  CHECK_ST(peerdisc_gossip_handle(net->nodes[0].gossip, "{not json", "c-b"),
           PEERDISC_ERR_INVALID_JSON);
  CHECK_ST(peerdisc_gossip_handle(net->nodes[0].gossip, "{}", "bad id"),
           PEERDISC_ERR_INVALID_ARGUMENT);
  CHECK_ST(peerdisc_gossip_handle(NULL, "{}", "c-b"), PEERDISC_ERR_NULL_ARGUMENT);
  CHECK_ST(peerdisc_gossip_join(net->nodes[0].gossip, "[\"bad id\"]"),
           PEERDISC_ERR_INVALID_ARGUMENT);
  {
    peerdisc_gossip *g = NULL;
    CHECK_ST(peerdisc_gossip_new(net->nodes[0].reg, "[]", on_send, NULL, NULL, &g),
             PEERDISC_ERR_INVALID_JSON);
    CHECK_ST(peerdisc_gossip_new(net->nodes[0].reg, "{\"node_id\": \"x\", \"extra\": 1}", on_send,
                                 NULL, NULL, &g),
             PEERDISC_ERR_INVALID_JSON);
    CHECK_ST(peerdisc_gossip_new(net->nodes[0].reg, "{\"node_id\": \"bad id\"}", on_send, NULL,
                                 NULL, &g),
             PEERDISC_ERR_INVALID_ARGUMENT);
    CHECK_ST(peerdisc_gossip_new(net->nodes[0].reg, "{\"node_id\": \"x\"}", NULL, NULL, NULL, &g),
             PEERDISC_ERR_NULL_ARGUMENT);
    CHECK(g == NULL);
  }
  /* A seed system announcement, bare, with Unix seconds. */
  CHECK_ST(peerdisc_gossip_handle(net->nodes[0].gossip,
                                  "{\"type\": \"gossip_announcement\", \"timestamp\": 1764000000.5, "
                                  "\"peers\": [{\"node_id\": \"seed-x\", \"address\": "
                                  "\"ws://10.0.0.9:8000\", \"agents\": [\"planner\"]}]}",
                                  "seed-x"),
           PEERDISC_OK);
  CHECK(has_liveness(net->nodes[0].reg, "seed-x", "alive"));
  teardown(net);
  free(net);
}

static void test_registry_write_calls(void) {
  peerdisc_registry *reg = NULL;
  double h1 = 0, h2 = 0;
  char *json = NULL;
  CHECK_ST(peerdisc_registry_new("{\"stale_after_ms\": 60000}", &reg), PEERDISC_OK);
  /* The seed system's peer dict; no times given: stamped now, so the
   * first cleanup keeps it. */
  CHECK_ST(peerdisc_registry_add(reg, "{\"node_id\": \"s1\", \"address\": \"ws://10.0.0.5:8000\", "
                                      "\"agents\": [\"a1\"], \"tools\": [\"t1\"]}"),
           PEERDISC_OK);
  {
    size_t removed = 99;
    CHECK_ST(peerdisc_registry_cleanup(reg, &removed, NULL), PEERDISC_OK);
    CHECK(removed == 0);
    CHECK(has_liveness(reg, "s1", "alive"));
  }
  CHECK_ST(peerdisc_registry_get(reg, "s1", &json), PEERDISC_OK);
  CHECK(strstr(json, "\"addresses\":[\"ws://10.0.0.5:8000/peerdisc\"]") != NULL);
  CHECK(strstr(json, "\"first_seen_ms\":0") == NULL);
  peerdisc_string_free(json);

  CHECK_ST(peerdisc_registry_record_success(reg, "s1", &h1), PEERDISC_OK);
  CHECK_ST(peerdisc_registry_record_failure(reg, "s1", &h2), PEERDISC_OK);
  CHECK(h1 > 0.5 && h2 < h1);
  CHECK_ST(peerdisc_registry_record_success(reg, "s1", NULL), PEERDISC_OK);
  CHECK_ST(peerdisc_registry_touch(reg, "s1"), PEERDISC_OK);
  CHECK_ST(peerdisc_registry_touch(reg, "nobody"), PEERDISC_ERR_NOT_FOUND);
  CHECK_ST(peerdisc_registry_touch(reg, "bad id"), PEERDISC_ERR_INVALID_ARGUMENT);
  CHECK_ST(peerdisc_registry_record_failure(reg, "bad id", NULL), PEERDISC_ERR_INVALID_ARGUMENT);

  CHECK_ST(peerdisc_registry_update(reg, "s1", "{\"tools\": [\"t2\"], \"liveness\": \"suspect\"}",
                                    &json),
           PEERDISC_OK);
  /* The version rose by itself; agents were kept. */
  CHECK(strstr(json, "\"version\":1") != NULL);
  CHECK(strstr(json, "\"tools\":[\"t2\"]") != NULL && strstr(json, "\"agents\":[\"a1\"]") != NULL);
  CHECK(strstr(json, "\"liveness\":\"suspect\"") != NULL);
  peerdisc_string_free(json);
  CHECK_ST(peerdisc_registry_update(reg, "s1", "{\"metadata\": {\"k\": \"v\"}}", NULL), PEERDISC_OK);
  CHECK_ST(peerdisc_registry_get(reg, "s1", &json), PEERDISC_OK);
  CHECK(strstr(json, "\"version\":2") != NULL && strstr(json, "\"k\":\"v\"") != NULL);
  peerdisc_string_free(json);
  CHECK_ST(peerdisc_registry_update(reg, "s1", "[]", NULL), PEERDISC_ERR_INVALID_JSON);
  CHECK_ST(peerdisc_registry_update(reg, "s1", "{\"colour\": 1}", NULL), PEERDISC_ERR_INVALID_JSON);
  CHECK_ST(peerdisc_registry_update(reg, "nobody", "{}", NULL), PEERDISC_ERR_NOT_FOUND);
  CHECK_ST(peerdisc_registry_update(reg, "s1", "{\"address\": \"http://x\"}", NULL),
           PEERDISC_ERR_INVALID_ARGUMENT);
  peerdisc_registry_free(reg);
}

static void test_node_shares_the_application_registry(void) {
  peerdisc_registry *reg = NULL, *view = NULL;
  peerdisc_node *n = NULL;
  size_t len = 0;
  CHECK_ST(peerdisc_registry_new(NULL, &reg), PEERDISC_OK);
  CHECK_ST(peerdisc_node_new_with_registry("{\"node_id\": \"c-node\"}", reg, &n), PEERDISC_OK);
  CHECK_ST(peerdisc_registry_add(reg, "{\"node_id\": \"by-hand\"}"), PEERDISC_OK);
  CHECK_ST(peerdisc_node_registry(n, &view), PEERDISC_OK);
  CHECK_ST(peerdisc_registry_len(view, &len), PEERDISC_OK);
  CHECK(len == 1);
  peerdisc_node_free(n);
  peerdisc_registry_free(reg);
  /* The view outlives both. */
  CHECK_ST(peerdisc_registry_len(view, &len), PEERDISC_OK);
  CHECK(len == 1);
  peerdisc_registry_free(view);
}

int main(void) {
  RUN(test_three_nodes_over_a_c_transport);
  RUN(test_timer_thread_and_bad_input);
  RUN(test_registry_write_calls);
  RUN(test_node_shares_the_application_registry);
  printf("ffi-c: %d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
