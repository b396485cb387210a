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

/* --config FILE: the options of a file, one "key = value" line each (the
 * long option's name; '#' starts a comment; a value may be quoted with "").
 * An option without a value is "key = true" (false, no, off: left out).
 * out->argv is argv[0], the file's options, then the rest of argv without
 * --config FILE: what the command line says after them wins. Without
 * --config, out->argv is a copy of argv. 0, or -1 with the reason (and the
 * line) in err. */
struct option;
struct opt_argv {
    int argc;
    char **argv; /* owned, with its strings */
};
int opt_config_expand(int argc, char **argv, const struct option *longopts, struct opt_argv *out,
                      char *err, size_t errlen);
void opt_argv_free(struct opt_argv *a);

#endif
