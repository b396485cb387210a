/* Text rules shared by every layer: UTF-8 validation and length, the boolean
 * header grammar, RFC 3339 timestamps and URL encoding. */
#ifndef JP_CORE_TEXT_H
#define JP_CORE_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Number of characters (code points) in s[0..n), or -1 when the bytes are not
 * well-formed UTF-8 (overlong forms, surrogates, > U+10FFFF) or contain NUL. */
long utf8_length(const char *s, size_t n);
/* Replaces, in s[0..n), bytes that are not valid UTF-8 and control
 * characters with '?' (but newline, carriage return and tab when
 * keep_lines), so the text keeps its size. */
void text_sanitize(char *s, size_t n, bool keep_lines);

/* Parses true|false|1|0, case-insensitive. Returns 1 or 0, or -1 otherwise. */
int parse_bool(const char *s);

#define JP_RFC3339_LEN 20 /* 2025-10-29T12:05:10Z, without NUL */

/* Formats unix seconds as RFC 3339 UTC with seconds. */
void rfc3339_format(int64_t unix_seconds, char out[JP_RFC3339_LEN + 1]);

/* Parses YYYY-MM-DDTHH:MM:SSZ (also with a numeric offset or a fraction, which
 * is dropped). Returns 0 and sets *out, or -1. */
int rfc3339_parse(const char *s, int64_t *out);

/* Percent-encodes s (RFC 3986 unreserved characters stay) into out of size
 * cap. Returns the length written, or -1 when it does not fit. */
long url_encode(const char *s, char *out, size_t cap);

#endif
