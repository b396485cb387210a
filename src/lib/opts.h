/* Small helpers for command-line parsing shared by the subcommands. */
#ifndef JP_LIB_OPTS_H
#define JP_LIB_OPTS_H

#include <stddef.h>

/* Parses a decimal integer in [min, max]; returns 0 or -1. */
int opt_long(const char *s, long min, long max, long *out);
/* Parses seconds: a decimal number, optionally followed by one unit of s, m,
 * h or d ("90", "15m", "24h"), in [min, max] seconds; returns 0 or -1. */
int opt_seconds(const char *s, long min, long max, long *out);

/* Reads the operator secret from --secret, else $JOBPLANE_SECRET, else the
 * file given. Returns a malloc'ed string or NULL (with a message in err). */
char *opt_secret(const char *flag_value, const char *file, char *err, size_t errlen);

#define JP_SECRET_MIN 16

/* Reads a whole file of at most max bytes into a malloc'ed, NUL-terminated
 * buffer (*len: its length). NULL with the reason in err (unreadable, larger
 * than max). */
char *opt_read_file(const char *path, size_t max, size_t *len, char *err, size_t errlen);

#endif
