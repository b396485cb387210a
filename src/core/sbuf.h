/* A growable string with a maximum size. Appends past the maximum (or a failed
 * allocation) mark the buffer failed; sbuf_take then returns NULL. */
#ifndef JP_CORE_SBUF_H
#define JP_CORE_SBUF_H

#include <stdbool.h>
#include <stddef.h>

struct sbuf {
    char *p; /* NUL-terminated when not failed */
    size_t len;
    size_t cap;
    size_t max; /* longest content allowed, in bytes */
    bool failed;
};

void sbuf_init(struct sbuf *b, size_t max);
void sbuf_add(struct sbuf *b, const char *s, size_t n);
void sbuf_puts(struct sbuf *b, const char *s);
void sbuf_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hands over the string (caller frees) and its length; NULL when failed. */
char *sbuf_take(struct sbuf *b, size_t *len);
void sbuf_free(struct sbuf *b);

#endif
