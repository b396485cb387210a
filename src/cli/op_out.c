/* The operator client's output (the API's JSON, tables, key: value lines,
 * times) and its input files (scripts, site lists): op.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/op.h"
#include "core/text.h"

/* ---- output --------------------------------------------------------------- */

char *op_dump(json_t *obj)
{
    char *s = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    return s;
}

void op_print_json(json_t *v)
{
    char *s = json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY);
    if (s)
        printf("%s\n", s);
    free(s);
}

void op_print_one(const struct op *o, json_t *obj, const char *id_key)
{
    if (o->json)
        op_print_json(obj);
    else if (o->quiet)
        printf("%s\n", json_string_value(json_object_get(obj, id_key)));
    else
        op_show(o, obj);
}

void op_print_list(const struct op *o, json_t *arr, const char *id_key, const char *const *cols,
                   const char *const *keys, size_t ncols)
{
    if (o->json)
        op_print_json(arr);
    else if (o->quiet)
        for (size_t i = 0; i < json_array_size(arr); i++)
            printf("%s\n", json_string_value(json_object_get(json_array_get(arr, i), id_key)));
    else
        op_table(o, arr, cols, keys, ncols);
}

void op_time(const struct op *o, const json_t *v, char *out, size_t cap)
{
    int64_t t;
    const char *s = json_string_value(v);
    if (!s || rfc3339_parse(s, &t)) {
        snprintf(out, cap, "%s", s ? s : "-");
        return;
    }
    time_t tt = (time_t)t;
    struct tm tm;
    if (o->utc)
        gmtime_r(&tt, &tm);
    else
        localtime_r(&tt, &tm);
    strftime(out, cap, o->utc ? "%Y-%m-%d %H:%M:%SZ" : "%Y-%m-%d %H:%M:%S", &tm);
}

void op_cell(const struct op *o, const char *key, const json_t *v, char *out, size_t cap)
{
    size_t kn = strlen(key);
    if (!v || json_is_null(v))
        snprintf(out, cap, "-");
    else if (json_is_string(v) && kn > 3 && !strcmp(key + kn - 3, "_at"))
        op_time(o, v, out, cap);
    else if (json_is_string(v))
        snprintf(out, cap, "%s", json_string_value(v));
    else if (json_is_true(v) || json_is_false(v))
        snprintf(out, cap, "%s", json_is_true(v) ? "yes" : "no");
    else if (json_is_integer(v))
        snprintf(out, cap, "%lld", (long long)json_integer_value(v));
    else {
        char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        snprintf(out, cap, "%s", s ? s : "?");
        free(s);
    }
    for (char *p = out; *p; p++) /* one line per row */
        if (*p == '\n' || *p == '\r' || *p == '\t')
            *p = ' ';
}

/* characters, not bytes, for alignment (bytes when not UTF-8) */
static size_t width(const char *s)
{
    long n = utf8_length(s, strlen(s));
    return n < 0 ? strlen(s) : (size_t)n;
}

#define CELL_MAX 256

/* Two passes over the rows (widths, then the lines): no copy of the cells,
 * so a fleet's list costs what its JSON does. */
void op_table(const struct op *o, json_t *arr, const char *const *cols, const char *const *keys,
              size_t ncols)
{
    size_t rows = json_array_size(arr), *w = calloc(ncols, sizeof *w);
    char cell[CELL_MAX];
    if (!w)
        return;
    for (size_t c = 0; c < ncols; c++)
        w[c] = width(cols[c]);
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < ncols; c++) {
            op_cell(o, keys[c], json_object_get(json_array_get(arr, r), keys[c]), cell, CELL_MAX);
            if (width(cell) > w[c])
                w[c] = width(cell);
        }
    for (size_t r = 0; r <= rows; r++)
        for (size_t c = 0; c < ncols; c++) {
            if (r == 0)
                snprintf(cell, sizeof cell, "%s", cols[c]);
            else
                op_cell(o, keys[c], json_object_get(json_array_get(arr, r - 1), keys[c]), cell,
                        CELL_MAX);
            if (c + 1 < ncols)
                printf("%s%*s  ", cell, (int)(w[c] - width(cell)), "");
            else
                printf("%s\n", cell);
        }
    free(w);
}

void op_show(const struct op *o, json_t *obj)
{
    const char *k;
    json_t *v;
    size_t w = 0;
    json_object_foreach(obj, k, v) if (strlen(k) > w) w = strlen(k);
    json_object_foreach(obj, k, v)
    {
        if (json_is_string(v) && strchr(json_string_value(v), '\n')) { /* a script, a line */
            printf("%s:\n", k);
            const char *s = json_string_value(v);
            for (const char *e; *s; s = e + (*e == '\n')) {
                e = s + strcspn(s, "\n");
                printf("    %.*s\n", (int)(e - s), s);
            }
            continue;
        }
        char cell[4096];
        op_cell(o, k, v, cell, sizeof cell);
        printf("%s:%*s %s\n", k, (int)(w - strlen(k)), "", cell);
    }
}

/* ---- files ------------------------------------------------------------- */

char *op_read_text(const char *who, const char *path, size_t max, size_t *len)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f) {
        fprintf(stderr, "%s: cannot read %s: %s\n", who, path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(max + 1);
    size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
    bool err = ferror(f);
    if (f != stdin)
        fclose(f);
    char big[64];
    snprintf(big, sizeof big, "larger than %zu KiB", max / 1024);
    const char *why = !buf      ? "out of memory"
                      : err     ? strerror(errno)
                      : n > max ? big
                      : n == 0  ? "empty"
                                : NULL;
    if (!why && utf8_length(buf, n) < 0)
        why = "not UTF-8 text";
    if (why) {
        fprintf(stderr, "%s: %s: %s\n", who, strcmp(path, "-") ? path : "standard input", why);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}
