/* Text rules: RFC 3339, UUIDs, booleans, URL encoding, UTF-8. Parsed values
 * format back to something that parses to the same value. */
#include "core/ids.h"
#include "core/text.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    char *s = fuzz_str(d, n);
    if (!s)
        return 0;
    int64_t t, t2;
    if (rfc3339_parse(s, &t) == 0 && t >= 0 && t < 253402300800LL) {
        char buf[JP_RFC3339_LEN + 1];
        rfc3339_format(t, buf);
        MUST(rfc3339_parse(buf, &t2) == 0 && t2 == t);
    }
    char u[JP_UUID_LEN + 1], u2[JP_UUID_LEN + 1];
    if (uuid_parse(s, u) == 0)
        MUST(uuid_parse(u, u2) == 0 && !strcmp(u, u2));
    int b = parse_bool(s);
    MUST(b >= -1 && b <= 1);
    char enc[512];
    long e = url_encode(s, enc, sizeof enc);
    MUST(e < 0 || (size_t)e == strlen(enc));
    long chars = utf8_length((const char *)d, n);
    MUST(chars <= (long)n);
    free(s);
    return 0;
}
