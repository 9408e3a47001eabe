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

/* Run qemu-img with the NULL-terminated arguments; it must succeed. */
void qemu_img (const char *arg, ...) __attribute__((sentinel));

#endif
