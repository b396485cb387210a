/* RouterOS export text as an HTML fragment with syntax classes (the seed's
 * X-Highlight view): every byte of the text is escaped, and runs are
 * wrapped in <span class="ros-...">: comment (# lines), path (/ip address),
 * command (add, set, remove, ...), key (name=), string ("..."), variable
 * ($name), number. The fragment is <pre class="ros">...</pre>. */
#ifndef JP_CORE_HIGHLIGHT_H
#define JP_CORE_HIGHLIGHT_H

#include <stddef.h>

/* A new string (malloc'd; *len its length), or NULL when out of memory. */
char *ros_highlight(const char *text, size_t n, size_t *len);

#endif
