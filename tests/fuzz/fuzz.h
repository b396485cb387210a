/* Shared by the libFuzzer targets: a NUL-terminated copy of the input, and an
 * assertion that survives -DNDEBUG. */
#ifndef JP_FUZZ_H
#define JP_FUZZ_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MUST(c)                                                                                    \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "property failed: %s (%s:%d)\n", #c, __FILE__, __LINE__);              \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static inline char *fuzz_str(const uint8_t *d, size_t n)
{
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, d, n);
        s[n] = '\0';
    }
    return s;
}
#endif
