/* RouterOS strings: quote then unquote gives the input back, byte for byte;
 * the quoted form never lets a quote, newline or $ through unescaped; the
 * other parsers take anything without crashing. */
#include "core/routeros.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    struct sbuf b;
    sbuf_init(&b, 4 * n + 16);
    ros_quote(&b, (const char *)d, n);
    size_t qlen;
    char *q = sbuf_take(&b, &qlen);
    MUST(q != NULL);
    for (size_t i = 1; i + 1 < qlen; i++)
        if (q[i] == '"' || q[i] == '\n' || q[i] == '\r' || q[i] == '$')
            MUST(q[i - 1] == '\\');
    const char *cur = q;
    size_t len = 0;
    char *back = ros_unquote(&cur, &len);
    MUST(back != NULL && len == n && memcmp(back, d, n) == 0 && *cur == '\0');
    free(back);
    free(q);
    char *s = fuzz_str(d, n);
    if (s) {
        cur = s;
        free(ros_unquote(&cur, NULL));
        MUST(ros_duration(s) >= -1);
        MUST(ros_version(s) >= 0);
    }
    free(s);
    return 0;
}
