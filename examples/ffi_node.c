/*
 * Two peerdisc nodes on 127.0.0.1 from C: a bootstrap node offering the
 * tool "search", and a node that joins through it and finds the tool.
 * README.md quotes this file; scripts/test-ffi.sh builds and runs it.
 *
 * Build and run (from the repository root, after `cargo build --release`):
 *   cc -std=c99 -Wall -Wextra -Iinclude examples/ffi_node.c \
 *      -Ltarget/release -lpeerdisc -Wl,-rpath,"$PWD/target/release" -o ffi_node
 *   ./ffi_node
 */
#include <stdint.h>
#include <stdio.h>

#include "peerdisc.h"

/* Creates and starts a node; on failure says why and returns NULL. */
static peerdisc_node *start_node(const char *config_json) {
  peerdisc_node *node = NULL;
  if (peerdisc_node_new(config_json, &node) != PEERDISC_OK) {
    fprintf(stderr, "peerdisc_node_new: %s\n", peerdisc_last_error());
    return NULL;
  }
  if (peerdisc_node_start(node) != PEERDISC_OK) {
    fprintf(stderr, "peerdisc_node_start: %s\n", peerdisc_last_error());
    peerdisc_node_free(node);
    return NULL;
  }
  return node;
}

int main(void) {
  int rc = 1;
  char *seed_url = NULL, *json = NULL;
  char config[512];
  uint32_t peers = 0;
  peerdisc_node *node = NULL;
  /* Listens on 127.0.0.1, any free port (the default). */
  peerdisc_node *seed = start_node("{\"capabilities\": {\"tools\": [\"search\"]}}");
  if (!seed) return 1;
  if (peerdisc_node_address(seed, &seed_url) != PEERDISC_OK) {
    fprintf(stderr, "peerdisc_node_address: %s\n", peerdisc_last_error());
    goto out;
  }
  printf("bootstrap node at %s\n", seed_url);

  snprintf(config, sizeof config, "{\"bootstrap\": [\"%s\"]}", seed_url);
  node = start_node(config);
  if (!node) goto out;
  if (peerdisc_node_wait_for_peers(node, 1, 5000, &peers) != PEERDISC_OK) {
    fprintf(stderr, "no peer within 5 s: %s\n", peerdisc_last_error());
    goto out;
  }
  if (peerdisc_node_find_by_capability(node, PEERDISC_CAPABILITY_TOOL, "search", &json) !=
      PEERDISC_OK) {
    fprintf(stderr, "peerdisc_node_find_by_capability: %s\n", peerdisc_last_error());
    goto out;
  }
  printf("%u peer(s); offering tool 'search': %s\n", (unsigned)peers, json);
  peerdisc_string_free(json);
  rc = 0;
out:
  peerdisc_string_free(seed_url);
  peerdisc_node_free(node); /* leaves gracefully, joins every thread; NULL is fine */
  peerdisc_node_free(seed);
  return rc;
}
