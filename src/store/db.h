/* The SQL driver interface under the store (engine.c and the sql_*.c files).
 * A driver opens connections, runs one statement with positional parameters
 * (?1, ?2, ... in the SQL text; the PostgreSQL driver turns them into $1, $2,
 * ...), and hands back the whole result. Everything else (the operations,
 * group commit, the heartbeat buffer) is written once above it. */
#ifndef JP_STORE_DB_H
#define JP_STORE_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum db_kind { DB_ARG_NULL, DB_ARG_NULL_INT, DB_ARG_TEXT, DB_ARG_INT, DB_ARG_BLOB };

struct db_arg {
    enum db_kind kind;
    const char *p; /* TEXT (NUL-terminated) or BLOB */
    size_t len;    /* BLOB */
    int64_t i;     /* INT */
};

static inline struct db_arg db_text_arg(const char *s)
{
    return (struct db_arg){s ? DB_ARG_TEXT : DB_ARG_NULL, s, 0, 0};
}
#define DB_TEXT(s) db_text_arg(s)
#define DB_INT(v) ((struct db_arg){DB_ARG_INT, NULL, 0, (v)})
#define DB_NUM(v)                                                                                  \
    ((v) >= 0 ? DB_INT(v) : (struct db_arg){DB_ARG_NULL_INT, NULL, 0, 0}) /* -1: NULL */
#define DB_BLOB(p, n) ((struct db_arg){DB_ARG_BLOB, (p), (n), 0})
#define DB_NULLV ((struct db_arg){DB_ARG_NULL, NULL, 0, 0})

struct db;     /* one connection */
struct db_res; /* a whole result */

enum db_dialect { DB_SQLITE, DB_POSTGRES };

enum db_status {
    DB_OK = 0,
    DB_ERROR,  /* the statement failed (logged) */
    DB_UNIQUE, /* a unique constraint was violated */
};

struct db_driver {
    enum db_dialect dialect;
    /* Opens a connection (writer: may create the database). */
    struct db *(*connect)(const char *url, bool writer, bool relaxed, char *err, size_t errlen);
    void (*close)(struct db *c);
    /* Reconnects a broken connection; 0 when it is usable. */
    int (*check)(struct db *c);
    /* Runs sql; res (may be NULL when not wanted) gets the rows. */
    enum db_status (*run)(struct db *c, const char *sql, const struct db_arg *args, int nargs,
                          struct db_res **res);
    /* Runs sql whose result nobody reads (NULL: run does). A driver may queue
     * it (PostgreSQL's writer, inside a transaction): its failure then fails
     * the next statement run on c, so the savepoint release or the COMMIT
     * after it fails, never silently. */
    enum db_status (*run_later)(struct db *c, const char *sql, const struct db_arg *args,
                                int nargs);
    /* Rows changed by the last statement. */
    long (*changes)(struct db *c);
    /* Applies migrations (safe when several processes start at once). */
    int (*migrate)(struct db *c, char *err, size_t errlen);
    /* The statement that opens a write transaction. */
    const char *begin_write;
    /* Upkeep the writer runs once a batch is answered (NULL: none). */
    void (*after_commit)(struct db *c);
    /* Run with ?1 = the ids, comma-separated, of the sites a transaction
     * queued jobs for, before its COMMIT (NULL: single process). */
    const char *notify_sql;
    /* Calls fn(ctx, site id) for every site any process queued jobs for, from a
     * thread of its own, until listen_stop (NULL: not supported); and
     * up(ctx, true) each time it starts listening (announcements before may
     * have been missed), up(ctx, false) when it lost its connection. */
    void *(*listen_start)(const char *url, void (*fn)(void *ctx, const char *site_id),
                          void (*up)(void *ctx, bool listening), void *ctx);
    void (*listen_stop)(void *listener);
};

/* The schema version both drivers migrate to. Adding a migration:
 * 1. append it to migrations[] in sqlite.c and in postgres.c (the same
 *    tables, columns and indexes in each dialect; partial index predicates
 *    in the same words as the queries that use them);
 * 2. bump JP_SCHEMA_VERSION: each driver checks at compile time that its
 *    list has exactly this many entries;
 * 3. never edit an applied migration: databases in the field have run it.
 * Each one runs in one transaction; PostgreSQL nodes take an advisory lock,
 * so nodes started together migrate once. */
#define JP_SCHEMA_VERSION 10

/* The columns of the stats roll-up tables, as migration 6 created them (k:
 * the site's stats_key)
 * (frozen: a later change is a migration of its own). */
#define JP_ROLLUP_COLS_V6                                                                          \
    "k BIGINT NOT NULL, ts BIGINT NOT NULL, samples BIGINT NOT NULL, cpu_sum BIGINT,"              \
    " cpu_n BIGINT NOT NULL, cpu_min BIGINT, cpu_max BIGINT, mem_sum BIGINT, mem_n BIGINT NOT"     \
    " NULL, mem_min BIGINT, mem_max BIGINT, disk_sum BIGINT, disk_n BIGINT NOT NULL, disk_min"     \
    " BIGINT, disk_max BIGINT, uptime BIGINT, PRIMARY KEY (k, ts)"

extern const struct db_driver db_sqlite;
extern const struct db_driver db_postgres;

/* Results, for every driver. Cells are NUL-terminated text (integers in
 * decimal, booleans as 0/1 or t/f), or NULL. */
struct db_res {
    size_t rows, cols;
    char **cell; /* row-major, rows * cols; NULL for SQL NULL */
    size_t *len; /* byte length of each cell */
    size_t ncell, cap;
};

void db_res_free(struct db_res *r);
const char *db_text(const struct db_res *r, size_t row, size_t col);
size_t db_len(const struct db_res *r, size_t row, size_t col);
/* The integer in a cell; dflt when NULL. 't'/'f' read as 1/0. */
int64_t db_int(const struct db_res *r, size_t row, size_t col, int64_t dflt);
bool db_null(const struct db_res *r, size_t row, size_t col);
/* A malloc'ed copy of a cell (NULL when NULL). */
char *db_dup(const struct db_res *r, size_t row, size_t col);

/* Builds a result from rows appended one cell at a time (drivers use this). */
struct db_res *db_res_new(size_t cols);
int db_res_add(struct db_res *r, const char *p, size_t len, bool null);

#endif
