#include "store/db.h"

#include <stdlib.h>
#include <string.h>

struct db_res *db_res_new(size_t cols)
{
    struct db_res *r = calloc(1, sizeof *r);
    if (r)
        r->cols = cols;
    return r;
}

int db_res_add(struct db_res *r, const char *p, size_t len, bool null)
{
    if (r->ncell == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        char **cell = realloc(r->cell, cap * sizeof *cell);
        if (!cell)
            return -1;
        r->cell = cell;
        size_t *l = realloc(r->len, cap * sizeof *l);
        if (!l)
            return -1;
        r->len = l;
        r->cap = cap;
    }
    char *copy = NULL;
    if (!null) {
        copy = malloc(len + 1);
        if (!copy)
            return -1;
        memcpy(copy, p, len);
        copy[len] = '\0';
    }
    r->cell[r->ncell] = copy;
    r->len[r->ncell] = len;
    r->ncell++;
    if (r->cols && r->ncell % r->cols == 0)
        r->rows = r->ncell / r->cols;
    return 0;
}

void db_res_free(struct db_res *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->ncell; i++)
        free(r->cell[i]);
    free(r->cell);
    free(r->len);
    free(r);
}

const char *db_text(const struct db_res *r, size_t row, size_t col)
{
    if (!r || row >= r->rows || col >= r->cols)
        return NULL;
    return r->cell[row * r->cols + col];
}

size_t db_len(const struct db_res *r, size_t row, size_t col)
{
    return db_text(r, row, col) ? r->len[row * r->cols + col] : 0;
}

bool db_null(const struct db_res *r, size_t row, size_t col)
{
    return db_text(r, row, col) == NULL;
}

int64_t db_int(const struct db_res *r, size_t row, size_t col, int64_t dflt)
{
    const char *t = db_text(r, row, col);
    if (!t)
        return dflt;
    if (t[0] == 't' && !t[1])
        return 1;
    if (t[0] == 'f' && !t[1])
        return 0;
    return strtoll(t, NULL, 10);
}

char *db_dup(const struct db_res *r, size_t row, size_t col)
{
    const char *t = db_text(r, row, col);
    if (!t)
        return NULL;
    size_t n = db_len(r, row, col);
    char *c = malloc(n + 1);
    if (c) {
        memcpy(c, t, n);
        c[n] = '\0';
    }
    return c;
}
