/* Unified diff of two texts, line by line, with 3 lines of context. The common
 * head and tail are trimmed first; the rest is aligned by a longest common
 * subsequence when it fits DIFF_MAX_CELLS, else shown as replaced whole. */
#ifndef JP_CORE_DIFF_H
#define JP_CORE_DIFF_H

#include <stddef.h>

#define DIFF_MAX_CELLS (4u * 1024 * 1024)

/* Returns malloc'ed text starting "--- name_a\n+++ name_b\n" followed by the
 * hunks (none when the texts are equal), or NULL when out of memory or when the
 * diff would exceed max_out bytes. */
char *diff_unified(const char *a, size_t alen, const char *b, size_t blen, const char *name_a,
                   const char *name_b, size_t max_out);

#endif
