/* What a storage backend provides behind store.h. Each backend embeds
 * struct store as its first member and points ops at its table. */
#ifndef JP_STORE_BACKEND_H
#define JP_STORE_BACKEND_H

#include "store/store.h"

struct store_ops {
    void (*close)(struct store *st);
    enum store_result (*site_create)(struct store *, const char *, const char *, const char *,
                                     struct site *);
    enum store_result (*site_get)(struct store *, const char *, const char *, struct site *);
    enum store_result (*site_list)(struct store *, const char *, struct site_list *);
    /* as == NULL: wait and return the result; else queue and return (store_async) */
    enum store_result (*job_create)(struct store *, const char *, const struct job_request *,
                                    struct job *, struct store_async *);
    enum store_result (*job_get)(struct store *, const char *, const char *, const char *,
                                 struct job *);
    enum store_result (*job_list)(struct store *, const char *, const struct job_query *,
                                  struct job_list *);
    enum store_result (*job_cancel)(struct store *, const char *, const char *, const char *,
                                    char *);
    enum store_result (*job_site)(struct store *, const char *, char *);
    enum store_result (*site_adopt)(struct store *, const char *, const char *,
                                    const struct device_facts *, struct site *);
    enum store_result (*site_by_device)(struct store *, const char *, struct site *);
    enum store_result (*site_rotate_device)(struct store *, const char *, const char *,
                                            const char *);
    enum store_result (*site_delete)(struct store *, const char *, const char *);
    enum store_result (*site_teardown_done)(struct store *, const char *);
    void (*watch_jobs)(struct store *, void (*)(void *, const char *), void *);
    void (*heartbeat)(struct store *, const char *, const struct device_facts *, int64_t);
    int (*dispatch_wanted)(struct store *, const char *, int64_t, int64_t);
    void (*dispatch)(struct store *, const char *, int64_t, int64_t, struct job *, long *,
                     struct store_async *);
    void (*job_report)(struct store *, const char *, enum job_report, int64_t, struct job *,
                       struct store_async *);
    long (*sweep_timeouts)(struct store *, int64_t, int64_t);
    enum store_result (*backup_chunk)(struct store *, const char *, const char *, int64_t, int64_t,
                                      const char *, size_t, int64_t, char *);
    enum store_result (*backup_list)(struct store *, const char *, const char *,
                                     struct backup_list *);
    enum store_result (*backup_get)(struct store *, const char *, const char *, const char *,
                                    struct backup_info *);
    enum store_result (*stats)(struct store *, const char *, const char *, int64_t, int64_t, bool,
                               struct stat_list *);
    enum store_result (*logs)(struct store *, const char *, const char *, int64_t, int64_t,
                              const char *, struct log_list *);
};

struct store {
    const struct store_ops *ops;
};

struct db_driver;
/* The store of store/sql.c over a driver. */
struct store *store_sql_open(const struct db_driver *drv, const struct store_options *opt,
                             const char *url, char *err, size_t errlen);

#endif
