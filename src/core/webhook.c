/* Webhooks, the pure part (webhook.h). */
#include "core/webhook.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct whk_event_info whk_events[WHK_EVENT_COUNT_] = {
    [EV_JOB_DELIVERED] = {"job.delivered", true},
    [EV_JOB_STARTED] = {"job.started", true},
    [EV_JOB_COMPLETED] = {"job.completed", true},
    [EV_JOB_FAILED] = {"job.failed", true},
    [EV_JOB_CANCELLED] = {"job.cancelled", true},
    [EV_SITE_ADOPTED] = {"site.adopted", false},
    [EV_SITE_OFFLINE] = {"site.offline", false},
    [EV_SITE_ONLINE] = {"site.online", false},
    [EV_SITE_DELETED] = {"site.deleted", false},
    [EV_BACKUP_CREATED] = {"backup.created", false},
    [EV_SITE_ADOPTION_REFUSED] = {"site.adoption_refused", false},
    [EV_JOB_REVERTED] = {"job.reverted", true},
    [EV_PING] = {"ping", false},
};

int whk_event_parse(const char *name)
{
    for (int e = 0; e < EV_PING; e++)
        if (!strcmp(name, whk_events[e].name))
            return e;
    return -1;
}

void whk_secret_format(const unsigned char raw[WHK_SECRET_RAW], char out[WHK_SECRET_LEN + 1])
{
    memcpy(out, "whsec_", 6);
    EVP_EncodeBlock((unsigned char *)out + 6, raw, WHK_SECRET_RAW); /* 32 chars, no padding */
}

int whk_sign(const char *secret, const char *msg_id, int64_t timestamp, const char *body,
             size_t len, char out[WHK_SIGNATURE_LEN + 1])
{
    if (strncmp(secret, "whsec_", 6))
        return -1;
    const char *b64 = secret + 6;
    size_t n = strlen(b64);
    if (n == 0 || n % 4 || n > 128)
        return -1;
    unsigned char key[96];
    int klen = EVP_DecodeBlock(key, (const unsigned char *)b64, (int)n);
    if (klen < 0)
        return -1;
    for (size_t i = n; i > 0 && b64[i - 1] == '='; i--)
        klen--; /* EVP_DecodeBlock counts the padding as zero bytes */
    char head[128];
    int hn = snprintf(head, sizeof head, "%s.%lld.", msg_id, (long long)timestamp);
    if (hn < 0 || (size_t)hn >= sizeof head)
        return -1;
    unsigned char mac[32];
    EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *c = m ? EVP_MAC_CTX_new(m) : NULL;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", "SHA256", 0),
                           OSSL_PARAM_construct_end()};
    size_t outl = 0;
    int ok = c && EVP_MAC_init(c, key, (size_t)klen, params) &&
             EVP_MAC_update(c, (const unsigned char *)head, (size_t)hn) &&
             EVP_MAC_update(c, (const unsigned char *)body, len) &&
             EVP_MAC_final(c, mac, &outl, sizeof mac);
    EVP_MAC_CTX_free(c);
    EVP_MAC_free(m);
    OPENSSL_cleanse(key, sizeof key);
    if (!ok || outl != 32)
        return -1;
    memcpy(out, "v1,", 3);
    EVP_EncodeBlock((unsigned char *)out + 3, mac, 32); /* 44 chars with padding */
    return 0;
}

#define SEC 1000LL
const struct whk_schedule whk_default_schedule = {
    8, {0, 5 * SEC, 300 * SEC, 1800 * SEC, 7200 * SEC, 18000 * SEC, 36000 * SEC, 36000 * SEC}};

int whk_schedule_parse(const char *text, struct whk_schedule *out)
{
    memset(out, 0, sizeof *out);
    const char *p = text;
    while (*p) {
        if (out->n == WHK_SCHEDULE_MAX || !isdigit((unsigned char)*p))
            return -1;
        char *end;
        long long v = strtoll(p, &end, 10);
        long long unit = SEC;
        if (!strncmp(end, "ms", 2))
            unit = 1, end += 2;
        else if (*end == 's')
            end++;
        else if (*end == 'm')
            unit = 60 * SEC, end++;
        else if (*end == 'h')
            unit = 3600 * SEC, end++;
        if (v > 86400LL * SEC || v * unit > 86400LL * SEC || (*end && *end != ','))
            return -1;
        out->delay_ms[out->n++] = v * unit;
        p = *end ? end + 1 : end;
        if (*end && !*p)
            return -1; /* a trailing comma */
    }
    return out->n ? 0 : -1;
}

int64_t whk_next_delay(const struct whk_schedule *s, unsigned tried, int64_t retry_after_ms)
{
    if (tried >= s->n)
        return -1;
    if (retry_after_ms < 0)
        return s->delay_ms[tried];
    int64_t longest = 0;
    for (unsigned i = 0; i < s->n; i++)
        if (s->delay_ms[i] > longest)
            longest = s->delay_ms[i];
    return retry_after_ms < longest ? retry_after_ms : longest;
}

const char *whk_url_check(const char *url, size_t len)
{
    if (len > WHK_URL_MAX)
        return "The URL is longer than 2048 bytes.";
    if (strlen(url) != len)
        return "The URL must not contain NUL characters.";
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)url[i] <= ' ' || url[i] == 0x7f)
            return "The URL must not contain spaces or control characters.";
    const char *host = !strncmp(url, "https://", 8)  ? url + 8
                       : !strncmp(url, "http://", 7) ? url + 7
                                                     : NULL;
    if (!host)
        return "Only http:// and https:// URLs can receive webhooks.";
    size_t authority = strcspn(host, "/?#");
    if (memchr(host, '@', authority))
        return "The URL must not carry credentials.";
    size_t name = authority;
    if (host[0] == '[') { /* an IPv6 literal */
        const char *end = memchr(host, ']', authority);
        if (!end || end == host + 1)
            return "The URL's IPv6 address is malformed.";
        name = (size_t)(end - host) + 1;
    } else {
        const char *colon = memchr(host, ':', authority);
        if (colon)
            name = (size_t)(colon - host);
    }
    if (name == 0)
        return "The URL has no host.";
    if (name < authority) {
        const char *port = host + name;
        size_t digits = authority - name - 1;
        if (*port != ':' || digits == 0 || digits > 5 || strspn(port + 1, "0123456789") < digits ||
            atoi(port + 1) > 65535)
            return "The URL's port is not a number from 1 to 65535.";
    }
    return NULL;
}

/* An IPv4 prefix: the first bytes of the address under a mask length. */
struct v4_net {
    unsigned char net[4];
    unsigned bits;
    const char *why;
};

static const struct v4_net v4_refused[] = {
    {{0, 0, 0, 0}, 8, "unspecified"},        {{10, 0, 0, 0}, 8, "private"},
    {{100, 64, 0, 0}, 10, "shared (CGNAT)"}, {{127, 0, 0, 0}, 8, "loopback"},
    {{169, 254, 0, 0}, 16, "link-local"},    {{172, 16, 0, 0}, 12, "private"},
    {{192, 0, 0, 0}, 24, "special-purpose"}, {{192, 168, 0, 0}, 16, "private"},
    {{198, 18, 0, 0}, 15, "benchmarking"},   {{224, 0, 0, 0}, 4, "multicast"},
    {{240, 0, 0, 0}, 4, "reserved"},
};

static const char *v4_refused_why(const unsigned char *a)
{
    uint32_t x = (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];
    for (size_t i = 0; i < sizeof v4_refused / sizeof v4_refused[0]; i++) {
        const struct v4_net *n = &v4_refused[i];
        uint32_t net = (uint32_t)n->net[0] << 24 | (uint32_t)n->net[1] << 16 |
                       (uint32_t)n->net[2] << 8 | n->net[3];
        uint32_t mask = n->bits ? ~0u << (32 - n->bits) : 0;
        if ((x & mask) == net)
            return n->why;
    }
    return NULL;
}

const char *whk_address_refused(int family, const unsigned char *a)
{
    if (family == AF_INET)
        return v4_refused_why(a);
    if (family != AF_INET6)
        return "not an IP address";
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const unsigned char zero[16] = {0};
    if (!memcmp(a, mapped, 12))
        return v4_refused_why(a + 12);
    if (!memcmp(a, zero, 15))
        return a[15] == 1 ? "loopback" : a[15] == 0 ? "unspecified" : "reserved";
    if (a[0] == 0xff)
        return "multicast";
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
        return "link-local";
    if ((a[0] & 0xfe) == 0xfc)
        return "private (unique local)";
    if (a[0] == 0 && a[1] == 0x64 && a[2] == 0xff && a[3] == 0x9b) /* NAT64 64:ff9b::/96 */
        return v4_refused_why(a + 12);
    return NULL;
}
