/* The JSON shapes of jobplane's objects, as API.md documents them: what an
 * operator reads from the API and what a webhook carries in "data". */
#ifndef JP_CORE_SHAPE_H
#define JP_CORE_SHAPE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/model.h"

/* An RFC 3339 string, or null for 0; a string, or null for NULL (new
 * references). */
json_t *time_json(int64_t t);
json_t *str_json(const char *s);

/* New references. */
json_t *job_json(const struct job *j);
/* has_pulse: whether the site counts as online (site_has_pulse). */
json_t *site_json(const struct site *s, bool has_pulse);
/* A size as the seed writes it: "512B", "12.3KB", "1.5MB" (1 KB = 1024 B). */
void size_human(int64_t bytes, char out[16]);
/* A backup as GET /backup/{siteId} lists it (size human, size_bytes the
 * count; date and time in UTC, the seed's "29/10/2025" and "12:50:00"). */
json_t *backup_json(const char *filename, int64_t size, int64_t created_at, const char *sha256,
                    bool unchanged, bool sensitive);

/* Online: seen within the last 10 poll intervals. */
bool site_has_pulse(const struct site *s, int64_t now, unsigned poll_interval);
/* The oldest last_seen_at that still has a pulse at now: the same rule as
 * site_has_pulse, for queries that filter or count online sites. */
int64_t pulse_since(int64_t now, unsigned poll_interval);
#define JP_PULSE_INTERVALS 10

#endif
