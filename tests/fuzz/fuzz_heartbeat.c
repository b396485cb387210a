/* hb_parse on anything: no crash, bounded keys, every value valid UTF-8. */
#include "core/routeros.h"
#include "core/text.h"
#include "fuzz.h"

static void valid(const char *v)
{
    if (v)
        MUST(utf8_length(v, strlen(v)) >= 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    char *s = fuzz_str(d, n);
    struct heartbeat hb;
    if (s && hb_parse(s, n, &hb) == HB_OK) {
        MUST(hb.nkeys <= HB_MAX_KEYS);
        valid(hb.name);
        valid(hb.version);
        valid(hb.serial_number);
        valid(hb.model);
        valid(hb.board_name);
        valid(hb.architecture_name);
        MUST(hb.uptime >= -1 && hb.cpu_load >= -1);
    }
    free(s);
    return 0;
}
