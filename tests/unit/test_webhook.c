/* core/webhook.c: Standard Webhooks signatures (the specification's own
 * example), secrets, the retry schedule, URL and peer address checks. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/webhook.h"

static void test_sign_spec_vector(void **state)
{
    (void)state;
    char sig[WHK_SIGNATURE_LEN + 1];
    const char *body = "{\"test\": 2432232314}";
    assert_int_equal(whk_sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                              "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body, strlen(body), sig),
                     0);
    assert_string_equal(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    /* another timestamp, another signature */
    char other[WHK_SIGNATURE_LEN + 1];
    whk_sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265331,
             body, strlen(body), other);
    assert_string_not_equal(sig, other);
    assert_int_equal(whk_sign("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "m", 1, "", 0, sig), -1);
    assert_int_equal(whk_sign("whsec_", "m", 1, "", 0, sig), -1);
    assert_int_equal(whk_sign("whsec_abc", "m", 1, "", 0, sig), -1);
}

static void test_secret_format(void **state)
{
    (void)state;
    unsigned char raw[WHK_SECRET_RAW];
    for (size_t i = 0; i < sizeof raw; i++)
        raw[i] = (unsigned char)(i * 37 + 1);
    char s[WHK_SECRET_LEN + 1];
    whk_secret_format(raw, s);
    assert_int_equal(strlen(s), WHK_SECRET_LEN);
    assert_memory_equal(s, "whsec_", 6);
    char sig[WHK_SIGNATURE_LEN + 1];
    assert_int_equal(whk_sign(s, "msg_1", 1, "x", 1, sig), 0); /* it is usable as a key */
}

static void test_schedule(void **state)
{
    (void)state;
    const struct whk_schedule *d = &whk_default_schedule;
    assert_int_equal(d->n, 8);
    assert_int_equal(whk_next_delay(d, 1, -1), 5000);
    assert_int_equal(whk_next_delay(d, 2, -1), 300000);
    assert_int_equal(whk_next_delay(d, 7, -1), 36000000);
    assert_int_equal(whk_next_delay(d, 8, -1), -1);              /* the eighth try was the last */
    assert_int_equal(whk_next_delay(d, 2, 2000), 2000);          /* Retry-After replaces the step */
    assert_int_equal(whk_next_delay(d, 1, 999999999), 36000000); /* capped at the longest */
    assert_int_equal(whk_next_delay(d, 8, 1000), -1);
    struct whk_schedule s;
    assert_int_equal(whk_schedule_parse("0,5s,5m,30m,2h,5h,10h,10h", &s), 0);
    assert_int_equal(s.n, 8);
    assert_memory_equal(s.delay_ms, d->delay_ms, sizeof s.delay_ms[0] * 8);
    assert_int_equal(whk_schedule_parse("0,250ms,1", &s), 0);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.delay_ms[1], 250);
    assert_int_equal(s.delay_ms[2], 1000);
    const char *bad[] = {"",
                         ",",
                         "1,",
                         "a",
                         "1x",
                         "-1",
                         "25h",
                         "86401",
                         "0,1,2,3,4,5,6,7,8,9,"
                         "10,11,12,13,14,15,16"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(whk_schedule_parse(bad[i], &s), -1);
}

static void test_events(void **state)
{
    (void)state;
    for (int e = 0; e < EV_PING; e++)
        assert_int_equal(whk_event_parse(whk_events[e].name), e);
    assert_int_equal(whk_event_parse("ping"), -1);
    assert_int_equal(whk_event_parse("job.*"), -1);
    assert_true(whk_events[EV_JOB_FAILED].job);
    assert_false(whk_events[EV_SITE_ONLINE].job);
}

static void test_url_check(void **state)
{
    (void)state;
    const char *good[] = {"https://hooks.example.net/jobplane?x=1", "http://127.0.0.1:8080/",
                          "http://[::1]:9/x", "https://x.example"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_null(whk_url_check(good[i], strlen(good[i])));
    const char *bad[] = {"ftp://x.example/",
                         "javascript:alert(1)",
                         "http://",
                         "http:///x",
                         "http://u:p@x.example/",
                         "http://x.example:0x/",
                         "http://x.example:99999/",
                         "http://[::1/",
                         "http://a b/",
                         "https://x.example/\n",
                         "x.example"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_non_null(whk_url_check(bad[i], strlen(bad[i])));
    assert_non_null(whk_url_check("http://a\0b", 10));
    char longurl[WHK_URL_MAX + 2];
    memset(longurl, 'a', sizeof longurl);
    memcpy(longurl, "http://x/", 9);
    longurl[WHK_URL_MAX + 1] = '\0';
    assert_non_null(whk_url_check(longurl, WHK_URL_MAX + 1));
    longurl[WHK_URL_MAX] = '\0';
    assert_null(whk_url_check(longurl, WHK_URL_MAX));
}

static const char *v4(const char *text)
{
    unsigned char a[4];
    assert_int_equal(inet_pton(AF_INET, text, a), 1);
    return whk_address_refused(AF_INET, a);
}

static const char *v6(const char *text)
{
    unsigned char a[16];
    assert_int_equal(inet_pton(AF_INET6, text, a), 1);
    return whk_address_refused(AF_INET6, a);
}

static void test_addresses(void **state)
{
    (void)state;
    const char *refused4[] = {
        "127.0.0.1",   "127.255.0.9",     "10.0.0.1",    "172.16.0.1", "172.31.255.255",
        "192.168.1.1", "169.254.169.254", "0.0.0.0",     "100.64.0.1", "100.100.100.200",
        "224.0.0.1",   "255.255.255.255", "192.0.0.170", "198.18.0.1"};
    for (size_t i = 0; i < sizeof refused4 / sizeof refused4[0]; i++)
        assert_non_null(v4(refused4[i]));
    const char *allowed4[] = {"8.8.8.8",     "172.32.0.1", "172.15.255.255", "100.128.0.1",
                              "192.169.0.1", "1.1.1.1",    "198.20.0.1"};
    for (size_t i = 0; i < sizeof allowed4 / sizeof allowed4[0]; i++)
        assert_null(v4(allowed4[i]));
    assert_string_equal(v4("127.0.0.1"), "loopback");
    assert_string_equal(v4("169.254.169.254"), "link-local");
    const char *refused6[] = {"::1",
                              "::",
                              "fe80::1",
                              "fc00::1",
                              "fd00:ec2::254",
                              "ff02::1",
                              "::ffff:127.0.0.1",
                              "::ffff:10.1.2.3",
                              "64:ff9b::a9fe:a9fe"};
    for (size_t i = 0; i < sizeof refused6 / sizeof refused6[0]; i++)
        assert_non_null(v6(refused6[i]));
    assert_null(v6("2001:4860:4860::8888"));
    assert_null(v6("::ffff:8.8.8.8"));
    assert_non_null(whk_address_refused(AF_UNIX, (const unsigned char *)"x"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_spec_vector), cmocka_unit_test(test_secret_format),
        cmocka_unit_test(test_schedule),         cmocka_unit_test(test_events),
        cmocka_unit_test(test_url_check),        cmocka_unit_test(test_addresses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
