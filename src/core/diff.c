#include "core/diff.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/sbuf.h"

struct line {
    const char *p;
    size_t n;
};

/* Splits text into lines (without their '\n'); returns the count or -1. */
static long split(const char *t, size_t len, struct line **out)
{
    size_t cap = 64, n = 0;
    struct line *v = malloc(cap * sizeof *v);
    if (!v)
        return -1;
    size_t i = 0;
    while (i < len) {
        const char *nl = memchr(t + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - t) : len;
        if (n == cap) {
            cap *= 2;
            struct line *g = realloc(v, cap * sizeof *v);
            if (!g) {
                free(v);
                return -1;
            }
            v = g;
        }
        v[n].p = t + i;
        v[n].n = end - i;
        n++;
        i = end + 1;
    }
    *out = v;
    return (long)n;
}

static int same(const struct line *x, const struct line *y)
{
    return x->n == y->n && !memcmp(x->p, y->p, x->n);
}

enum { OP_EQ, OP_DEL, OP_INS };

struct op {
    unsigned char kind;
    size_t ai, bi; /* line index in a (EQ, DEL) and b (EQ, INS) */
};

static void emit_hunk(struct sbuf *out, const struct op *ops, size_t from, size_t to,
                      const struct line *a, const struct line *b)
{
    size_t a0 = 0, b0 = 0, an = 0, bn = 0;
    int first = 1;
    for (size_t k = from; k < to; k++) {
        if (first) {
            a0 = ops[k].ai;
            b0 = ops[k].bi;
            first = 0;
        }
        an += ops[k].kind != OP_INS;
        bn += ops[k].kind != OP_DEL;
    }
    sbuf_printf(out, "@@ -%zu,%zu +%zu,%zu @@\n", an ? a0 + 1 : a0, an, bn ? b0 + 1 : b0, bn);
    for (size_t k = from; k < to; k++) {
        const struct line *l = ops[k].kind == OP_INS ? &b[ops[k].bi] : &a[ops[k].ai];
        sbuf_add(out, ops[k].kind == OP_EQ ? " " : ops[k].kind == OP_DEL ? "-" : "+", 1);
        sbuf_add(out, l->p, l->n);
        sbuf_add(out, "\n", 1);
    }
}

char *diff_unified(const char *ta, size_t alen, const char *tb, size_t blen, const char *name_a,
                   const char *name_b, size_t max_out)
{
    struct line *a = NULL, *b = NULL;
    struct op *ops = NULL;
    uint32_t *dp = NULL;
    char *result = NULL;
    long na = split(ta, alen, &a), nb = split(tb, blen, &b);
    if (na < 0 || nb < 0)
        goto done;
    size_t head = 0, tail = 0;
    while (head < (size_t)na && head < (size_t)nb && same(&a[head], &b[head]))
        head++;
    while (tail < (size_t)na - head && tail < (size_t)nb - head &&
           same(&a[na - 1 - tail], &b[nb - 1 - tail]))
        tail++;
    size_t n = (size_t)na - head - tail, m = (size_t)nb - head - tail;
    ops = malloc(((size_t)na + (size_t)nb + 1) * sizeof *ops);
    if (!ops)
        goto done;
    size_t nops = 0;
    for (size_t i = 0; i < head; i++)
        ops[nops++] = (struct op){OP_EQ, i, i};
    if ((n + 1) * (m + 1) <= DIFF_MAX_CELLS &&
        (dp = malloc((n + 1) * (m + 1) * sizeof *dp)) != NULL) {
        /* dp[i][j]: LCS length of the middles from i and j on */
#define DP(i, j) dp[(i) * (m + 1) + (j)]
        for (size_t i = n + 1; i-- > 0;)
            for (size_t j = m + 1; j-- > 0;)
                DP(i, j) = (i == n || j == m) ? 0
                           : same(&a[head + i], &b[head + j])
                               ? DP(i + 1, j + 1) + 1
                               : (DP(i + 1, j) >= DP(i, j + 1) ? DP(i + 1, j) : DP(i, j + 1));
        size_t i = 0, j = 0;
        while (i < n || j < m) {
            if (i < n && j < m && same(&a[head + i], &b[head + j])) {
                ops[nops++] = (struct op){OP_EQ, head + i, head + j};
                i++, j++;
            } else if (j < m && (i == n || DP(i, j + 1) > DP(i + 1, j))) {
                ops[nops++] = (struct op){OP_INS, head + i, head + j};
                j++;
            } else {
                ops[nops++] = (struct op){OP_DEL, head + i, head + j};
                i++;
            }
        }
#undef DP
    } else { /* too large to align: the middle is replaced whole */
        for (size_t i = 0; i < n; i++)
            ops[nops++] = (struct op){OP_DEL, head + i, head};
        for (size_t j = 0; j < m; j++)
            ops[nops++] = (struct op){OP_INS, head + n, head + j};
    }
    for (size_t i = 0; i < tail; i++)
        ops[nops++] = (struct op){OP_EQ, head + n + i, head + m + i};

    struct sbuf out;
    sbuf_init(&out, max_out);
    sbuf_printf(&out, "--- %s\n+++ %s\n", name_a, name_b);
    /* Hunks: changes with up to 3 lines of context, merged when close. */
    size_t k = 0;
    while (k < nops) {
        while (k < nops && ops[k].kind == OP_EQ)
            k++;
        if (k == nops)
            break;
        size_t start = k >= 3 ? k - 3 : 0, end = k;
        for (;;) {
            while (end < nops && ops[end].kind != OP_EQ)
                end++;
            size_t eq = end;
            while (eq < nops && ops[eq].kind == OP_EQ && eq - end < 7)
                eq++;
            if (eq < nops && ops[eq].kind != OP_EQ) { /* next change within 6 lines: merge */
                end = eq;
                continue;
            }
            end = end + 3 < nops ? end + 3 : nops;
            break;
        }
        emit_hunk(&out, ops, start, end, a, b);
        k = end;
    }
    result = sbuf_take(&out, NULL);
done:
    free(a);
    free(b);
    free(ops);
    free(dp);
    return result;
}
