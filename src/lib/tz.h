/* Time zones by IANA name, read from the system's zoneinfo files (Debian's
 * tzdata): what a maintenance window's "tz" means. */
#ifndef JP_LIB_TZ_H
#define JP_LIB_TZ_H

#include <stdint.h>

/* The offset from UTC, in seconds, of zone name at unix time t. 0, or -1
 * when the name is not a zone of /usr/share/zoneinfo (or JP_ZONEINFO).
 * Beyond a file's last transition (2037 in Debian's files) its last offset
 * holds. */
int tz_offset(const char *name, int64_t t, int *offset);

#endif
