/* The RouterOS syntax highlighter (highlight.h). */
#include "core/highlight.h"

#include <stdbool.h>
#include <string.h>

#include "core/sbuf.h"

static const char *const commands[] = {
    "add",  "set",     "remove", "print", "export", "enable", "disable", "move",
    "find", "comment", "unset",  "edit",  "reset",  "run",    NULL,
};

static void esc(struct sbuf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        switch (s[i]) {
        case '<': sbuf_puts(b, "&lt;"); break;
        case '>': sbuf_puts(b, "&gt;"); break;
        case '&': sbuf_puts(b, "&amp;"); break;
        case '"': sbuf_puts(b, "&quot;"); break;
        case '\'': sbuf_puts(b, "&#39;"); break;
        default: sbuf_add(b, s + i, 1);
        }
    }
}

static void span(struct sbuf *b, const char *cls, const char *s, size_t n)
{
    sbuf_puts(b, "<span class=\"ros-");
    sbuf_puts(b, cls);
    sbuf_puts(b, "\">");
    esc(b, s, n);
    sbuf_puts(b, "</span>");
}

static bool word_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
}

static bool is_command(const char *s, size_t n)
{
    for (const char *const *c = commands; *c; c++)
        if (strlen(*c) == n && !memcmp(*c, s, n))
            return true;
    return false;
}

/* One line, without its newline. */
static void line(struct sbuf *b, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    esc(b, s, i);
    if (i < n && s[i] == '#') {
        span(b, "comment", s + i, n - i);
        return;
    }
    bool first = true;
    while (i < n) {
        char c = s[i];
        size_t j = i + 1;
        if (c == '/' && first) { /* a menu path: up to the first word that is not a menu */
            while (j < n && (word_char(s[j]) || s[j] == ' ' || s[j] == '/')) {
                size_t k = j;
                while (k < n && s[k] == ' ')
                    k++;
                size_t e = k;
                while (e < n && word_char(s[e]))
                    e++;
                if (e == k || is_command(s + k, e - k) || (e < n && s[e] == '='))
                    break;
                j = e;
            }
            span(b, "path", s + i, j - i);
        } else if (c == '"') {
            while (j < n && s[j] != '"')
                j += s[j] == '\\' && j + 1 < n ? 2 : 1;
            j = j < n ? j + 1 : n;
            span(b, "string", s + i, j - i);
        } else if (c == '$') {
            while (j < n && word_char(s[j]))
                j++;
            span(b, "variable", s + i, j - i);
        } else if (word_char(c)) {
            while (j < n && word_char(s[j]))
                j++;
            if (j < n && s[j] == '=') {
                span(b, "key", s + i, j - i);
            } else if (is_command(s + i, j - i)) {
                span(b, "command", s + i, j - i);
            } else if (strspn(s + i, "0123456789") >= j - i) {
                span(b, "number", s + i, j - i);
            } else {
                esc(b, s + i, j - i);
            }
        } else {
            esc(b, s + i, 1);
        }
        first = false;
        i = j;
    }
}

char *ros_highlight(const char *text, size_t n, size_t *len)
{
    struct sbuf b;
    sbuf_init(&b, 48 * n + 64); /* at most about 23 bytes a character (spans of one) */
    sbuf_puts(&b, "<pre class=\"ros\">");
    size_t i = 0;
    while (i < n) {
        const char *nl = memchr(text + i, '\n', n - i);
        size_t e = nl ? (size_t)(nl - text) : n;
        line(&b, text + i, e - i);
        if (nl)
            sbuf_puts(&b, "\n");
        i = nl ? e + 1 : n;
    }
    sbuf_puts(&b, "</pre>\n");
    return sbuf_take(&b, len);
}
