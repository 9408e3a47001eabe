/* Helpers shared by the cmocka unit tests. */
#ifndef COWHERD_TESTUTIL_H
#define COWHERD_TESTUTIL_H

#include <stdint.h>

#define QEMU_IMG "/usr/bin/qemu-img"

/* The current test's scratch directory (tu_tmpdir_make/remove). */
extern char tmpdir[64];

int tu_tmpdir_make (const char *prefix);
int tu_tmpdir_remove (void);
/* NAME inside tmpdir; from a small ring of buffers, never freed. */
const char *tpath (const char *name);

/* Big-endian stores, for hand-made image headers. */
void put32 (uint8_t *p, uint32_t v);
void put64 (uint8_t *p, uint64_t v);

/* Fail the test unless the pending cowherd error contains FRAG. */
void assert_error_contains (const char *frag);

/* Run qemu-img with the NULL-terminated arguments; it must succeed.  A
 * missing qemu-img skips the test. */
void qemu_img (const char *arg, ...) __attribute__((sentinel));

/* Skip the running test, saying why on stderr.  ctest sees the program
 * exit 77 (skipped) unless another test failed: a skip is never silent. */
void tu_skip (const char *fmt, ...) __attribute__((format (printf, 1, 2), noreturn));
/* Before any test: skip the whole program unless PATH is executable. */
void tu_require (const char *path, const char *package);
/* The program's exit status: failures, else 77 if a test skipped, else 0. */
int tu_exit_status (int failed);
#define tu_run_group_tests(tests, setup, teardown) \
  tu_exit_status (cmocka_run_group_tests (tests, setup, teardown))

#endif
