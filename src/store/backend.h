/* What a storage backend provides behind store.h. Each backend embeds
 * struct store as its first member and points ops at its table. */
#ifndef JP_STORE_BACKEND_H
#define JP_STORE_BACKEND_H

#include "store/store.h"

struct store_ops {
    void (*close)(struct store *st);
    enum store_result (*site_create)(struct store *, const char *, const char *, struct site *);
    enum store_result (*site_get)(struct store *, const char *, const char *, struct site *);
    enum store_result (*site_list)(struct store *, const char *, struct site_list *);
    enum store_result (*job_create)(struct store *, const char *, const struct job_request *,
                                    struct job *);
    enum store_result (*job_get)(struct store *, const char *, const char *, const char *,
                                 struct job *);
    enum store_result (*job_list)(struct store *, const char *, const struct job_query *,
                                  struct job_list *);
    enum store_result (*job_cancel)(struct store *, const char *, const char *, const char *,
                                    char *);
};

struct store {
    const struct store_ops *ops;
};

struct store *store_sqlite_open(const struct store_options *opt, const char *path, char *err,
                                size_t errlen);

#endif
