/* Unit tests for RouterOS text (core/routeros.c) and signed URLs (core/sign.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/diff.h"
#include "core/routeros.h"
#include "core/sign.h"

static char *quote(const char *s, size_t n)
{
    struct sbuf b;
    sbuf_init(&b, 1 << 20);
    ros_quote(&b, s, n);
    return sbuf_take(&b, NULL);
}

static void test_quote_examples(void **state)
{
    (void)state;
    char *q = quote(":log info \"cost $5?\"", 20);
    assert_string_equal(q, "\":log info \\\"cost \\$5\\3F\\\"\"");
    free(q);
    q = quote("a\\b\nc\rd\te\x01\x7f", 11);
    assert_string_equal(q, "\"a\\\\b\\nc\\rd\\te\\01\\7F\"");
    free(q);
    q = quote("Zürich #1; {x} [y] =&", strlen("Zürich #1; {x} [y] =&"));
    assert_string_equal(q, "\"Zürich #1; {x} [y] =&\"");
    free(q);
}

static void test_quote_round_trip(void **state)
{
    (void)state;
    unsigned seed = 42;
    for (int round = 0; round < 2000; round++) {
        char s[300];
        size_t n = (size_t)(round % 300);
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            s[i] = (char)(1 + (seed >> 16) % 255); /* every byte but NUL */
        }
        s[n] = '\0';
        char *q = quote(s, n);
        assert_non_null(q);
        for (char *p = q + 1; p[1]; p++) /* no raw quote, newline or $ inside */
            if (*p == '"' || *p == '\n' || *p == '$' || *p == '\r')
                assert_true(p[-1] == '\\');
        const char *cur = q;
        size_t len = 0;
        char *back = ros_unquote(&cur, &len);
        assert_non_null(back);
        assert_int_equal(len, n);
        assert_memory_equal(back, s, n);
        assert_int_equal(*cur, '\0');
        free(back);
        free(q);
    }
    /* the last two were found by fuzzing: a literal ending in a backslash used
     * to read past the end of the text */
    const char *bad[] = {"no quote", "\"unterminated", "\"bad \\zz\"",
                         "\"\\4\"",  "\"abc\\",        "\"$v#$0:\x7f\n\\"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *h = strdup(bad[i]); /* on the heap, where AddressSanitizer sees overruns */
        const char *c = h;
        assert_null(ros_unquote(&c, NULL));
        free(h);
    }
}

static void test_duration(void **state)
{
    (void)state;
    assert_int_equal(ros_duration("1w2d3h4m5s"), 604800 + 2 * 86400 + 3 * 3600 + 4 * 60 + 5);
    assert_int_equal(ros_duration("1w2d03:04:05"), 604800 + 2 * 86400 + 3 * 3600 + 4 * 60 + 5);
    assert_int_equal(ros_duration("00:06:48"), 408);
    assert_int_equal(ros_duration("2735w1d21:41:43.481891543"),
                     2735LL * 604800 + 86400 + 21 * 3600 + 41 * 60 + 43);
    assert_int_equal(ros_duration("2d0h5m10s"), 2 * 86400 + 310);
    assert_int_equal(ros_duration("1d10h30m15s"), 86400 + 10 * 3600 + 30 * 60 + 15);
    assert_int_equal(ros_duration("45s"), 45);
    assert_int_equal(ros_duration("0s"), 0);
    assert_int_equal(ros_duration(""), -1);
    assert_int_equal(ros_duration(NULL), -1);
    assert_int_equal(ros_duration("12"), -1);
    assert_int_equal(ros_duration("1x"), -1);
    assert_int_equal(ros_duration("h"), -1);
    assert_int_equal(ros_duration("1:2:3"), -1);
    assert_int_equal(ros_duration("00:61:00"), -1);
    assert_int_equal(ros_duration("00:00:00junk"), -1);
    assert_int_equal(ros_duration("99999999999999999999w"), -1);
    /* found by fuzzing: many huge units summed past INT64_MAX */
    char big[512] = "";
    for (int i = 0; i < 20; i++)
        strcat(big, "999999999999w");
    assert_int_equal(ros_duration(big), -1);
    assert_int_equal(ros_duration("99999999999:00:00"), -1);
    assert_int_equal(ros_duration("2888888888:00:00.288880020"), -1); /* the fuzzer's input */
    assert_int_equal(ros_duration("52000w"), 52000LL * 604800);
}

static void test_version(void **state)
{
    (void)state;
    assert_int_equal(ros_version("7.12 (stable)"), 71200);
    assert_int_equal(ros_version("7.15.1"), 71501);
    assert_int_equal(ros_version("6.49.10 (long-term)"), 64910);
    assert_int_equal(ros_version("7.22rc2"), 72200);
    assert_int_equal(ros_version("7"), 70000);
    assert_int_equal(ros_version(""), 0);
    assert_int_equal(ros_version(NULL), 0);
    assert_int_equal(ros_version("stable"), 0);
    assert_int_equal(ros_version("7.123"), 0);
}

static void test_heartbeat(void **state)
{
    (void)state;
    char body[] = "name=core-1;serial-number=HG509A1B2C3;architecture-name=arm64;"
                  "routerboard=true;platform=MikroTik;model=CCR2004-1G-12S+2XS;"
                  "board-name=CCR2004;revision=;cpu=ARM 64-bit;cpu-load=10;"
                  "free-memory=850000000;free-hdd-space=90000000;version=7.12 (stable);"
                  "build-time=Dec/15/2023 10:00:00;uptime=1d10h30m15s\r\n";
    struct heartbeat hb;
    assert_int_equal(hb_parse(body, strlen(body), &hb), HB_OK);
    assert_string_equal(hb.name, "core-1");
    assert_string_equal(hb.serial_number, "HG509A1B2C3");
    assert_string_equal(hb.architecture_name, "arm64");
    assert_string_equal(hb.model, "CCR2004-1G-12S+2XS");
    assert_string_equal(hb.board_name, "CCR2004");
    assert_string_equal(hb.version, "7.12 (stable)");
    assert_int_equal(hb.cpu_load, 10);
    assert_int_equal(hb.free_memory, 850000000);
    assert_int_equal(hb.free_hdd, 90000000);
    assert_int_equal(hb.uptime, 86400 + 10 * 3600 + 30 * 60 + 15);
    assert_int_equal(hb.nkeys, 15);

    /* an identity holding ';' and '=' continues; an unknown key continues too */
    char b2[] = "name=branch;office=2;x;version=;cpu-load=abc;uptime=03:00:01";
    assert_int_equal(hb_parse(b2, strlen(b2), &hb), HB_OK);
    assert_string_equal(hb.name, "branch;office=2;x");
    assert_string_equal(hb.version, "");
    assert_int_equal(hb.cpu_load, -1);
    assert_int_equal(hb.uptime, 10801);
    assert_null(hb.model);

    char b3[] = "";
    assert_int_equal(hb_parse(b3, 0, &hb), HB_OK);
    assert_null(hb.name);
    assert_int_equal(hb.uptime, -1);

    char b4[] = "name=caf\xe9\x01 /:x;model=\xf0\x9f\x98\x80";
    assert_int_equal(hb_parse(b4, strlen(b4), &hb), HB_OK);
    assert_string_equal(hb.name, "caf?? /:x");
    assert_string_equal(hb.model, "\xf0\x9f\x98\x80");

    char many[4096] = "";
    for (int i = 0; i < HB_MAX_KEYS + 1; i++)
        strcat(many, "cpu=1;");
    assert_int_equal(hb_parse(many, strlen(many), &hb), HB_TOO_MANY_KEYS);
    char junk[8192] = "";
    for (int i = 0; i < 4 * HB_MAX_KEYS + 2; i++)
        strcat(junk, "x;");
    assert_int_equal(hb_parse(junk, strlen(junk), &hb), HB_TOO_MANY_KEYS);
    char *big = malloc(HB_MAX_BYTES + 2);
    memset(big, 'a', HB_MAX_BYTES + 1);
    big[HB_MAX_BYTES + 1] = '\0';
    assert_int_equal(hb_parse(big, HB_MAX_BYTES + 1, &hb), HB_TOO_LARGE);
    free(big);
}

static const char *HOSTILE = "\"} /system reset-configuration; :do {\n$x \\ ? # [:put 1]\r\n"
                             "# last line is a comment";

static struct ros_job_params job_params(bool backup, int version)
{
    struct ros_job_params p = {
        .base_url = "https://jp.example.net:8443",
        .job_id = "0192f1a0-8e3b-7c4d-9e5f-0a1b2c3d4e5f",
        .token = "Ab3dE6gH9j",
        .site_id = "0192f1a0-0000-7000-8000-000000000001",
        .payload = HOSTILE,
        .sig_busy = "b1",
        .sig_done = "d2",
        .sig_fail = "f3",
        .sig_backup = "k4",
        .expires = 1761743110,
        .remaining = 3,
        .should_backup = backup,
        .version = version,
    };
    return p;
}

static void test_wrapper(void **state)
{
    (void)state;
    struct ros_job_params p = job_params(false, 71200);
    char *w = ros_render_wrapper(&p);
    assert_non_null(w);
    char *src = ros_find_local(w, "jpSrc");
    assert_string_equal(src, HOSTILE); /* the payload is carried whole, as a string */
    free(src);
    char *busy = ros_find_local(w, "jpBusy");
    assert_string_equal(busy, "https://jp.example.net:8443/job/0192f1a0-8e3b-7c4d-9e5f-0a1b2c3d4e5f"
                              "/update?status=busy&expires=1761743110&signature=b1");
    free(busy);
    assert_non_null(strstr(w, "\\3Fstatus=done&expires=1761743110&signature=d2\""));
    assert_non_null(strstr(w, "\\3Fstatus=fail&"));
    assert_non_null(strstr(w, "finished. Remaining: 3\")"));
    assert_non_null(strstr(w, ":set jpCode [:parse $jpSrc]"));
    assert_null(strstr(w, "jpBak"));
    assert_null(strstr(w, "reset-configuration;\n")); /* never a raw payload line */
    size_t n = strlen(w), m = strlen(ROS_END_MARK);
    assert_string_equal(w + n - m, ROS_END_MARK);
    /* busy is reported before the payload runs, done/fail after */
    assert_true(strstr(w, "url=$jpBusy") < strstr(w, "$jpCode }"));
    assert_true(strstr(w, "$jpCode }") < strstr(w, "url=$jpDone"));
    free(w);

    p = job_params(true, 71300);
    w = ros_render_wrapper(&p);
    char *bak = ros_find_local(w, "jpBak");
    assert_string_equal(bak, "https://jp.example.net:8443/backup/0192f1a0-0000-7000-8000-"
                             "000000000001/upload?job=0192f1a0-8e3b-7c4d-9e5f-0a1b2c3d4e5f"
                             "&expires=1761743110&signature=k4");
    free(bak);
    /* the backup runs before the payload is even parsed */
    assert_true(strstr(w, "/export terse") < strstr(w, "[:parse $jpSrc]"));
    assert_non_null(strstr(w, "/file read file=$fn"));
    free(w);

    /* the reports name their delivery */
    p = job_params(false, 71300);
    p.delivery = 1761740000;
    w = ros_render_wrapper(&p);
    busy = ros_find_local(w, "jpDone");
    assert_non_null(strstr(busy, "?status=done&delivery=1761740000&expires=1761743110&"));
    free(busy);
    /* 7.13+: the parser's and the payload's messages go with the fail report */
    assert_non_null(strstr(w, ":onerror jpE in={ :set jpCode [:parse $jpSrc] } do={"));
    assert_non_null(strstr(w, ":onerror jpE in={ $jpCode } do={"));
    assert_non_null(strstr(w, "url=$jpFail http-method=post http-data=$jpMsg"));
    /* at most once: the token is recorded before the payload runs */
    assert_true(strstr(w, "contents=($jpTok . \"=r\\n\" . $keep)") < strstr(w, "in={ $jpCode }"));
    assert_true(strstr(w, "[:find $jpRan ($jpTok . \"=\")]") < strstr(w, "url=$jpBusy"));
    free(w);
    p.version = 71200; /* no :onerror: the same, without the messages */
    w = ros_render_wrapper(&p);
    assert_null(strstr(w, ":onerror"));
    assert_non_null(strstr(w, ":do { $jpCode } on-error={ :set jpOk false;"));
    free(w);
    /* a dry run parses and runs nothing */
    p.dry_run = true;
    w = ros_render_wrapper(&p);
    assert_non_null(strstr(w, "[:parse $jpSrc]"));
    assert_null(strstr(w, "$jpCode }"));
    assert_non_null(strstr(w, "dry run: the payload parses; nothing ran"));
    free(w);
    /* a job that expects a reboot leaves its token for the poll script and
     * reports no done itself */
    p.dry_run = false;
    p.expects_reboot = true;
    p.version = 71500;
    w = ros_render_wrapper(&p);
    const char *file = strstr(w, "/file add name=$jpRb contents=$jpTok");
    assert_non_null(file);
    assert_true(file < strstr(w, "in={ $jpCode }"));
    assert_true(strstr(w, "in={ $jpCode }") < strstr(w, ":set jpLater true"));
    assert_true(strstr(w, ":if ($jpLater) do={") < strstr(w, "url=$jpDone"));
    free(w);

    /* the output: run by :execute as-string, then uploaded in chunks with
     * the final report, cut at output_max */
    p.expects_reboot = false;
    p.capture_output = true;
    p.output_max = 4096;
    w = ros_render_wrapper(&p);
    assert_non_null(strstr(w, ":local jpOut \"\"\n"));
    assert_non_null(strstr(w, ":set jpOut [:execute script=(\":onerror jpX in={\\n\" . $jpSrc ."));
    assert_true(strstr(w, "[:parse $jpSrc]") < strstr(w, ":execute script="));
    assert_non_null(
        strstr(w, "[:pick $jpOut 0 4096] . \"\\n[jobplane: the output was cut at 4096"));
    assert_non_null(strstr(w, "url=($jpUrl . \"&offset=\" . $off . \"&total=\" . $sz)"));
    assert_null(strstr(w, "in={ $jpCode }"));
    free(w);
    p.version = 71200; /* no :onerror: runs as usual, and the output says why there is none */
    w = ros_render_wrapper(&p);
    assert_null(strstr(w, ":execute"));
    assert_non_null(strstr(w, "capturing the output needs RouterOS 7.13 or later"));
    free(w);

    /* confirm-or-revert: a binary backup, then the revert's scheduler, then
     * the marker, then the payload; after it the marker says =w and a
     * payload that did not fail waits for the server (no done report) */
    p = job_params(false, 71300);
    p.confirm_within = 120;
    w = ros_render_wrapper(&p);
    const char *save = strstr(w, "/system backup save name=$jpCb dont-encrypt=yes");
    const char *arm = strstr(w, "/system scheduler add name=\"" ROS_REVERT_NAME "\" interval=5s");
    const char *mark = strstr(w, "/file set $jpCf contents=($jpTok . \"=r\")");
    const char *run = strstr(w, "in={ $jpCode }");
    assert_true(save && arm && mark && run && save < arm && arm < mark && mark < run);
    assert_non_null(strstr(w, "comment=[:tostr ([:timestamp] + 120s)] on-event="));
    assert_non_null(strstr(w, "/system backup load name=\\$f password=\\\"\\\""));
    assert_true(run < strstr(w, "contents=($jpTok . \"=w\")"));
    assert_true(strstr(w, "contents=($jpTok . \"=w\")") <
                strstr(w, ":if ($jpOk) do={ :set jpLater true }"));
    assert_non_null(strstr(w, "the next poll that reaches the server confirms it"));
    free(w);
    /* the disarm: the marker goes before the scheduler, then the done report */
    p.delivery = 1761740000;
    w = ros_render_disarm(&p, true);
    const char *m1 = strstr(w, "/file remove [find where name=\"" ROS_REVERT_FILE "\"]");
    const char *s1 =
        strstr(w, "/system scheduler remove [find where name=\"" ROS_REVERT_NAME "\"]");
    assert_true(m1 && s1 && m1 < s1 && s1 < strstr(w, "url=$jpDone"));
    busy = ros_find_local(w, "jpDone");
    assert_non_null(strstr(busy, "?status=done&delivery=1761740000&expires=1761743110&"));
    free(busy);
    assert_string_equal(w + strlen(w) - strlen(ROS_END_MARK), ROS_END_MARK);
    free(w);
    w = ros_render_disarm(&p, false); /* a failed job: disarmed, nothing reported */
    assert_null(strstr(w, "jpDone"));
    assert_non_null(strstr(w, "/system scheduler remove"));
    free(w);
    /* a sensitive backup exports what v7 hides */
    p = job_params(true, 71300);
    p.backup_sensitive = true;
    w = ros_render_wrapper(&p);
    assert_non_null(strstr(w, "/export terse show-sensitive file="));
    free(w);

    p = job_params(true, 71200); /* too old for /file read */
    w = ros_render_wrapper(&p);
    assert_null(strstr(w, "/file read"));
    assert_non_null(strstr(w, "needs RouterOS 7.13"));
    free(w);
}

static void test_poll_and_adoption(void **state)
{
    (void)state;
    struct ros_poll_params p = {
        .base_url = "http://127.0.0.1:8080",
        .device_token = "tok62abc",
        .site_id = "S-1",
        .interval = 30,
        .wait = 20,
    };
    char *poll = ros_render_poll_script(&p);
    char *url = ros_find_local(poll, "jpUrl");
    assert_string_equal(url, "http://127.0.0.1:8080/poll");
    free(url);
    url = ros_find_local(poll, "jpHeld");
    assert_string_equal(url, "http://127.0.0.1:8080/poll?wait=20");
    free(url);
    /* the held fetch is compiled at run time, where fetch has idle-timeout= */
    assert_non_null(strstr(poll, ":do { :set jpFetch [:parse \":return [/tool fetch url=\\$u"));
    assert_non_null(strstr(poll, " idle-timeout=35s]\"]; :set jpUrl $jpHeld } on-error={}\n"));
    assert_null(strstr(strstr(poll, "idle-timeout") + 1, "idle-timeout")); /* only there */
    assert_non_null(strstr(poll, "\"" ROS_END_MARK "\""));
    /* the revision: in the script and its heartbeat; the same at every
     * address; another with another wait or interval */
    char rev[ROS_REV_LEN + 1], rev2[ROS_REV_LEN + 1];
    ros_poll_revision(&p, rev);
    assert_int_equal(strlen(rev), ROS_REV_LEN);
    char *in = ros_find_local(poll, "jpRev");
    assert_string_equal(in, rev);
    free(in);
    assert_non_null(strstr(poll, "\";jobplane-script=\" . $jpRev . \";jobplane-reboot=\" . $jpRb ."
                                 " \";jobplane-armed=\" . $jpArmed . \";jobplane-reverted=\" ."
                                 " $jpUndone)"));
    /* armed: the marker says =w and the scheduler is there; reverted: the
     * marker without its scheduler; the marker goes after a finished poll */
    assert_non_null(strstr(poll, ":if ([:pick $jpRv 11 12] = \"w\") do={ :set jpArmed [:pick $jpRv"
                                 " 0 10] }"));
    assert_non_null(strstr(poll, ":if ([:len [/system scheduler find where name=\"" ROS_REVERT_NAME
                                 "\"]] = 0) do={\n      :set jpUndone [:pick $jpRv 0 10]"));
    assert_non_null(
        strstr(poll, ":if ((($r->\"status\") = \"finished\") && ($jpUndone != \"\")) do={"));
    /* the word of a restart is sent until a poll got through */
    assert_true(strstr(poll, "[/file get \"flash/" ROS_REBOOT_FILE "\" contents]") <
                strstr(poll, "jobplane-reboot="));
    assert_non_null(
        strstr(poll, ":if ((($r->\"status\") = \"finished\") && ($jpRb != \"\")) do={"));
    p.base_url = "https://elsewhere.example.net";
    ros_poll_revision(&p, rev2);
    assert_string_equal(rev, rev2);
    p.wait = 0;
    ros_poll_revision(&p, rev2);
    assert_string_not_equal(rev, rev2);
    char *nowait = ros_render_poll_script(&p);
    assert_null(strstr(nowait, "idle-timeout"));
    assert_null(strstr(nowait, "jpHeld"));
    free(nowait);
    p.wait = 20;
    p.interval = 60;
    ros_poll_revision(&p, rev2);
    assert_string_not_equal(rev, rev2);
    p.interval = 30;
    p.base_url = "http://127.0.0.1:8080";
    free(poll);
    poll = ros_render_poll_script(&p);
    /* the token is read from its file, never written into the script */
    assert_null(strstr(poll, "tok62abc"));
    assert_non_null(strstr(poll, "/file get \"flash/" ROS_TOKEN_FILE "\" contents"));
    assert_non_null(strstr(poll, ":if ([:len $jpTok] != 32) do={"));
    /* the overlap guard counts the script's runs; the scheduler has its own name */
    assert_non_null(strstr(poll, "/system script job find where script=\"" ROS_SCRIPT "\""));
    assert_string_not_equal(ROS_SCRIPT, ROS_SCHEDULER);

    char *upd = ros_render_update(&p);
    const char *sp = strstr(upd, ":local jpPoll ");
    assert_non_null(sp);
    sp += strlen(":local jpPoll ");
    char *carried = ros_unquote(&sp, NULL);
    assert_string_equal(carried, poll); /* the same script as an adoption installs */
    free(carried);
    assert_non_null(strstr(upd, "/system script set [find where name=\"" ROS_SCRIPT "\"]"));
    /* the new scheduler exists before the old one (named as the script) goes */
    assert_true(strstr(upd, "/system scheduler add name=\"" ROS_SCHEDULER "\" interval=30s") <
                strstr(upd, "/system scheduler remove [find where name=\"" ROS_SCRIPT "\"]"));
    assert_string_equal(upd + strlen(upd) - strlen(ROS_END_MARK), ROS_END_MARK);
    free(upd);

    char *adopt = ros_render_adoption(&p);
    /* once in the adoption answer: the token file's contents, before the script */
    const char *file = strstr(adopt, "/file add name=$jpTf contents=\"tok62abc\"\n");
    assert_non_null(file);
    assert_null(strstr(file + strlen("/file add name=$jpTf contents=\"tok62abc"), "tok62abc"));
    assert_true(strstr(adopt, "/file remove") < file);
    assert_true(file < strstr(adopt, "/system script add"));
    assert_non_null(adopt);
    const char *src = strstr(adopt, "source=");
    assert_non_null(src);
    src += strlen("source=");
    char *inner = ros_unquote(&src, NULL);
    assert_string_equal(inner, poll); /* stored on the router exactly as rendered */
    free(inner);
    assert_non_null(strstr(adopt, "interval=30s start-time=startup"));
    assert_non_null(strstr(adopt, "on-event=\"/system script run jobplane-poll\""));
    assert_non_null(strstr(adopt, "/system scheduler add name=\"" ROS_SCHEDULER "\""));
    assert_true(strstr(adopt, "/system scheduler remove") < strstr(adopt, "/system script add"));
    free(adopt);
    free(poll);

    char *boot = ros_render_bootstrap("https://jp.example.net", "Tok22", NULL);
    assert_non_null(strstr(boot, "url=\"https://jp.example.net/adopt/Tok22\""));
    /* device-mode is checked first; without a pin no certificate is touched */
    assert_true(strstr(boot, "device-mode get") < strstr(boot, "/adopt/"));
    assert_non_null(strstr(boot, "/system device-mode update fetch=yes scheduler=yes"));
    assert_null(strstr(boot, "/certificate"));
    free(boot);
    const char *fp = "5f0c2b8c0f2d4e7a9b1c3d5e7f90a1b2c3d4e5f60718293a4b5c6d7e8f901a2b";
    struct ros_ca_pin pin = {.fingerprint = fp, .url = "https://jp.example.net/ca.pem"};
    boot = ros_render_bootstrap("https://jp.example.net", "Tok22", &pin);
    assert_null(strchr(boot, '\n'));
    const char *imp = strstr(boot, "/certificate import file-name=\"jobplane-ca.pem\"");
    assert_non_null(imp);
    /* fetched without a check (nothing is trusted yet), verified after the
     * import, trusted only then, and all before the adoption's fetch */
    assert_true(strstr(boot, "url=\"https://jp.example.net/ca.pem\" dst-path=\"jobplane-ca.pem\""
                             " check-certificate=no") < imp);
    const char *verify = strstr(imp, "[/certificate find where fingerprint=\"5f0c2b8c");
    assert_non_null(verify);
    assert_true(verify < strstr(boot, "is not the CA this line pins"));
    const char *trust = strstr(boot, "/certificate set [find where fingerprint=\"5f0c2b8c");
    assert_true(strstr(boot, "is not the CA this line pins") < trust);
    assert_true(trust < strstr(boot, "/adopt/Tok22"));
    assert_int_equal(boot[0], '{');
    assert_int_equal(boot[strlen(boot) - 1], '}');
    assert_null(strchr(boot, '\n')); /* one line to paste */
    assert_non_null(strstr(boot, "\";serial-number=\" . $s ."));
    free(boot);

    char *down = ros_render_teardown("https://jp.example.net", "tok62abc", "S-1");
    assert_true(strstr(down, "/system scheduler remove") < strstr(down, "/notify/delete"));
    assert_true(strstr(down, "/notify/delete") < strstr(down, "/system script remove"));
    assert_true(strstr(down, "/file remove [find where name=\"flash/" ROS_TOKEN_FILE "\"]") <
                strstr(down, "/system script remove"));
    assert_non_null(strstr(down, "\"Authorization:Bearer tok62abc\""));
    free(down);
    char *idle = ros_render_idle();
    assert_non_null(strstr(idle, ROS_END_MARK));
    free(idle);
}

static void test_sign(void **state)
{
    (void)state;
    struct sign_key k, k2;
    sign_key_derive(&k, (const unsigned char *)"0123456789abcdef", 16);
    sign_key_derive(&k2, (const unsigned char *)"0123456789abcdeF", 16);
    char sig[JP_SIG_HEX + 1];
    const char *job = "0192f1a0-8e3b-7c4d-9e5f-0a1b2c3d4e5f";
    sign_make(&k, job, "done", 2000, sig);
    assert_int_equal(strlen(sig), 64);
    assert_int_equal(sign_verify(&k, job, "done", 2000, 1999, sig), SIGN_OK);
    assert_int_equal(sign_verify(&k, job, "done", 2000, 2000, sig), SIGN_OK);
    assert_int_equal(sign_verify(&k, job, "done", 2000, 2001, sig), SIGN_EXPIRED);
    assert_int_equal(sign_verify(&k, job, "fail", 2000, 1000, sig), SIGN_BAD);
    assert_int_equal(sign_verify(&k, job, "done", 2001, 1000, sig), SIGN_BAD);
    assert_int_equal(
        sign_verify(&k, "0192f1a0-8e3b-7c4d-9e5f-0a1b2c3d4e50", "done", 2000, 1000, sig), SIGN_BAD);
    assert_int_equal(sign_verify(&k2, job, "done", 2000, 1000, sig), SIGN_BAD);
    char upper[JP_SIG_HEX + 1];
    for (int i = 0; i <= JP_SIG_HEX; i++)
        upper[i] = (char)(sig[i] >= 'a' && sig[i] <= 'f' ? sig[i] - 32 : sig[i]);
    assert_int_equal(sign_verify(&k, job, "done", 2000, 1000, upper), SIGN_OK);
    sig[63] = sig[63] == '0' ? '1' : '0';
    assert_int_equal(sign_verify(&k, job, "done", 2000, 1000, sig), SIGN_BAD);
    sig[10] = '\0';
    assert_int_equal(sign_verify(&k, job, "done", 2000, 1000, sig), SIGN_BAD);
    assert_int_equal(sign_verify(&k, job, "done", 2000, 1000, NULL), SIGN_BAD);
}

static void check_diff(const char *a, const char *b, const char *want)
{
    char *d = diff_unified(a, strlen(a), b, strlen(b), "a", "b", 1 << 20);
    assert_non_null(d);
    assert_string_equal(d, want);
    free(d);
}

static void test_diff(void **state)
{
    (void)state;
    check_diff("x\ny\n", "x\ny\n", "--- a\n+++ b\n");
    check_diff("", "", "--- a\n+++ b\n");
    check_diff("", "new\n", "--- a\n+++ b\n@@ -0,0 +1,1 @@\n+new\n");
    check_diff("old\n", "", "--- a\n+++ b\n@@ -1,1 +0,0 @@\n-old\n");
    check_diff("1\n2\n3\n4\n5\n6\n7\n8\n9\n", "1\n2\n3\n4\nX\n6\n7\n8\n9\n",
               "--- a\n+++ b\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+X\n 6\n 7\n 8\n");
    check_diff("a\nb\n", "z\na\nb\n", "--- a\n+++ b\n@@ -1,2 +1,3 @@\n+z\n a\n b\n");
    /* two changes far apart make two hunks */
    struct sbuf x, y;
    sbuf_init(&x, 1 << 16);
    sbuf_init(&y, 1 << 16);
    for (int i = 0; i < 40; i++) {
        sbuf_printf(&x, "l%d\n", i);
        sbuf_printf(&y, "l%d\n", i == 5 ? 500 : i == 30 ? 3000 : i);
    }
    char *d = diff_unified(x.p, x.len, y.p, y.len, "a", "b", 1 << 20);
    int hunks = 0;
    for (char *p = d; (p = strstr(p, "@@ -")); p++)
        hunks++;
    assert_int_equal(hunks, 2);
    free(d);
    /* over max_out: NULL rather than a cut diff */
    assert_null(diff_unified(x.p, x.len, y.p, y.len, "a", "b", 40));
    sbuf_free(&x);
    sbuf_free(&y);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quote_examples),
        cmocka_unit_test(test_quote_round_trip),
        cmocka_unit_test(test_duration),
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_heartbeat),
        cmocka_unit_test(test_wrapper),
        cmocka_unit_test(test_poll_and_adoption),
        cmocka_unit_test(test_sign),
        cmocka_unit_test(test_diff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
