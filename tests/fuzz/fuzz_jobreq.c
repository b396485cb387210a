/* Job validation, both forms. Header form input: key, description, three
 * flags and the body, one a line. JSON form: the whole input. Whatever is
 * accepted obeys every rule of the contract. */
#include "core/jobreq.h"
#include "core/model.h"
#include "core/text.h"
#include "fuzz.h"

static void rules(const struct job_fields *f)
{
    long d = utf8_length(f->description, strlen(f->description));
    long s = utf8_length(f->script, strlen(f->script));
    MUST(d >= JP_DESCRIPTION_MIN_CHARS && d <= JP_DESCRIPTION_MAX_CHARS);
    MUST(s >= 1 && s <= JP_SCRIPT_MAX_CHARS);
    char again[JP_UUID_LEN + 1];
    MUST(!f->idempotency_key[0] || uuid_parse(f->idempotency_key, again) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    char msg[192];
    struct job_fields f;
    json_t *doc;
    if (jobreq_from_json((const char *)d, n, NULL, &doc, &f, msg, sizeof msg) == JP_OK) {
        rules(&f);
        json_decref(doc);
    } else {
        MUST(doc == NULL);
    }
    char *s = fuzz_str(d, n);
    if (!s)
        return 0;
    char *line[6] = {NULL, NULL, NULL, NULL, NULL, NULL};
    char *p = s;
    for (int i = 0; i < 6 && p; i++) {
        line[i] = p;
        p = i < 5 ? strchr(p, '\n') : NULL;
        if (p)
            *p++ = '\0';
    }
    const char *body = line[5] ? line[5] : "";
    if (jobreq_from_headers(line[0], line[1], line[2], line[3], line[4], body, strlen(body), &f,
                            msg, sizeof msg) == JP_OK) {
        rules(&f);
        MUST(f.idempotency_key[0]);
    }
    free(s);
    return 0;
}
