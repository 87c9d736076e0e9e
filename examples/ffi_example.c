/*
 * A small C program using the peerdisc registry through its C ABI.
 *
 * Build and run (from the repository root, after `cargo build --release`):
 *   cc -std=c99 -Wall -Wextra -Iinclude examples/ffi_example.c \
 *      -Ltarget/release -lpeerdisc -Wl,-rpath,$PWD/target/release -o ffi_example
 *   ./ffi_example
 * or, with the library installed: cc ... $(pkg-config --cflags --libs peerdisc)
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "peerdisc.h"

/* Prints the error of the last failing call and exits. */
static void check(peerdisc_status st, const char *what) {
  if (st != PEERDISC_OK) {
    const char *msg = peerdisc_last_error();
    fprintf(stderr, "%s failed: %s: %s\n", what, peerdisc_status_str(st), msg ? msg : "");
    exit(1);
  }
}

static void on_event(void *user_data, const char *event_json) {
  int *count = (int *)user_data;
  /* One event at a time, on the registry's event thread. */
  __atomic_add_fetch(count, 1, __ATOMIC_SEQ_CST);
  printf("event: %.60s...\n", event_json);
}

int main(void) {
  peerdisc_registry *reg = NULL;
  peerdisc_subscription *sub = NULL;
  char *json = NULL;
  size_t len = 0;
  int count = 0;

  if (peerdisc_abi_version() != PEERDISC_ABI_VERSION) {
    fprintf(stderr, "library ABI %u, header ABI %d\n", peerdisc_abi_version(), PEERDISC_ABI_VERSION);
    return 1;
  }
  printf("peerdisc %s\n", peerdisc_version());

  check(peerdisc_registry_new("{\"capacity\": 1000}", &reg), "registry_new");
  check(peerdisc_registry_subscribe(reg, &sub), "subscribe");
  check(peerdisc_registry_on_event(reg, on_event, &count, NULL, NULL), "on_event");

  check(peerdisc_registry_add(reg,
            "{\"node_id\": \"node_abc123\", \"addresses\": [\"ws://127.0.0.1:8000\"],"
            " \"capabilities\": {\"agents\": [\"planner\"], \"tools\": [\"search\"]}}"),
        "add");
  check(peerdisc_registry_upsert(reg, "{\"node_id\": \"node_def456\", \"version\": 1,"
                                      " \"capabilities\": {\"tools\": [\"search\", \"calc\"]}}", NULL),
        "upsert");

  check(peerdisc_registry_len(reg, &len), "len");
  printf("%zu peers\n", len);

  check(peerdisc_registry_find_by_capability(reg, PEERDISC_CAPABILITY_TOOL, "search", &json), "find");
  printf("offering tool 'search': %s\n", json);
  peerdisc_string_free(json);

  /* A failing call: the status says what kind, peerdisc_last_error() why. */
  if (peerdisc_registry_get(reg, "nobody", &json) == PEERDISC_ERR_NOT_FOUND)
    printf("expected error: %s\n", peerdisc_last_error());

  /* Pulled events. */
  while (peerdisc_subscription_next_event(sub, 100, &json) == PEERDISC_OK) {
    printf("pulled: %.40s...\n", json);
    peerdisc_string_free(json);
  }

  /* Freeing the registry drops events not delivered yet: wait for ours. */
  for (int i = 0; i < 500 && __atomic_load_n(&count, __ATOMIC_SEQ_CST) < 2; i++) {
    struct timespec ts = {0, 10 * 1000000L};
    nanosleep(&ts, NULL);
  }

  check(peerdisc_registry_stats(reg, &json), "stats");
  printf("stats: %s\n", json);
  peerdisc_string_free(json);

  /* Waits for a running callback; no callback runs after it returns. */
  peerdisc_registry_free(reg);
  peerdisc_subscription_free(sub);
  printf("callback saw %d events\n", count);
  return count == 2 ? 0 : 1;
}
