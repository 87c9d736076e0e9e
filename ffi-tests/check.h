/*
 * The little test harness shared by the C tests: CHECK, CHECK_ST, RUN,
 * atomic int helpers (load, store, bump) and a portable millisecond sleep. Include once, from the test's .c file.
 */
#ifndef PEERDISC_FFI_TESTS_CHECK_H
#define PEERDISC_FFI_TESTS_CHECK_H

#include <stdio.h>
#include <time.h>

#include "peerdisc.h"

static int g_passed = 0;
static int g_failed = 0;
static int g_case_failed = 0;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      const char *le_ = peerdisc_last_error();                                 \
      fprintf(stderr, "  %s:%d: CHECK failed: %s (last error: %s)\n",          \
              __FILE__, __LINE__, #cond, le_ ? le_ : "none");                  \
      g_case_failed = 1;                                                       \
    }                                                                          \
  } while (0)

#define CHECK_ST(call, expected)                                               \
  do {                                                                         \
    peerdisc_status st_ = (call);                                              \
    if (st_ != (expected)) {                                                   \
      const char *le_ = peerdisc_last_error();                                 \
      fprintf(stderr, "  %s:%d: %s returned %s, expected %s (last error: %s)\n", \
              __FILE__, __LINE__, #call, peerdisc_status_str(st_),             \
              peerdisc_status_str(expected), le_ ? le_ : "none");              \
      g_case_failed = 1;                                                       \
    }                                                                          \
  } while (0)

#define RUN(test)                                                              \
  do {                                                                         \
    g_case_failed = 0;                                                         \
    test();                                                                    \
    if (g_case_failed) {                                                       \
      g_failed++;                                                              \
      fprintf(stderr, "FAIL %s\n", #test);                                     \
    } else {                                                                   \
      g_passed++;                                                              \
      printf("ok   %s\n", #test);                                            \
    }                                                                          \
  } while (0)

/* Ints shared with a callback thread: always read and written through
 * these (GCC/Clang __atomic builtins, sequentially consistent). */
static inline int load(const int *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }
static inline void store(int *p, int v) { __atomic_store_n(p, v, __ATOMIC_SEQ_CST); }
static inline int bump(int *p) { return __atomic_add_fetch(p, 1, __ATOMIC_SEQ_CST); }

static void sleep_ms(long ms) {
  struct timespec ts;
  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (ms % 1000) * 1000000L;
  nanosleep(&ts, NULL);
}

#endif
