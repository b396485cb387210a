/* The scripts jobplane sends to routers: the bootstrap line, the adoption
 * answer with the poll script, the poll script's replacement, the job
 * wrapper, the idle answer and the teardown. docs/routeros.md explains
 * every line that runs on the router. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ids.h"
#include "core/routeros.h"
#include "core/sign.h"

#define SCRIPT_MAX (56 * 1024) /* far below fetch's 64 KB output=user limit */
#define POLICIES "ftp,reboot,read,write,policy,test,password,sniff,sensitive,romon"
#define FETCH_OPTS "output=none check-certificate=yes-without-crl"

static void local_str(struct sbuf *b, const char *name, const char *value)
{
    sbuf_printf(b, ":local %s ", name);
    ros_quote(b, value, strlen(value));
    sbuf_puts(b, "\n");
}

/* ---- the bootstrap line --------------------------------------------------- */

/* /system device-mode (7.17+ devices ship in home mode) can turn fetch and
 * the scheduler off; say so on the terminal instead of failing obscurely.
 * Read through :parse: older versions may lack the menu or the property
 * (then the check passes). */
#define DEVICE_MODE                                                                                \
    ":local dm [:toarray \"\"]; :do {:set dm [[:parse \"/system device-mode get\"]]}"              \
    " on-error={}; :local off \"\"; :foreach k in={\"fetch\"; \"scheduler\"} do={:local v"         \
    " [:tostr ($dm->$k)]; :if ($v = \"false\" || $v = \"no\") do={:set off ($off . \" \" . $k)}};" \
    " :if ($off != \"\") do={:error (\"jobplane: device-mode turns off\" . $off . \", which"       \
    " jobplane needs. Run /system device-mode update fetch=yes scheduler=yes, confirm it with"     \
    " the reset button or a power cycle, then paste this line again.\")}; "

static void ca_pin(struct sbuf *b, const struct ros_ca_pin *ca)
{
    const char *fp = ca->fingerprint;
    sbuf_printf(b,
                ":if ([:len [/certificate find where fingerprint=\"%s\"]] = 0) do={"
                "/certificate remove [find where name=\"jobplane-ca\"]; /tool fetch url=",
                fp);
    ros_quote(b, ca->url, strlen(ca->url));
    sbuf_printf(
        b,
        " dst-path=\"jobplane-ca.pem\" check-certificate=no; :local n 0; :while (([:len"
        " [/file find where name=\"jobplane-ca.pem\"]] = 0) && ($n < 40)) do={:delay 250ms;"
        " :set n ($n + 1)}; /certificate import file-name=\"jobplane-ca.pem\""
        " name=\"jobplane-ca\" passphrase=\"\"; /file remove [find where"
        " name=\"jobplane-ca.pem\"]; :if ([:len [/certificate find where fingerprint=\"%s\"]]"
        " = 0) do={/certificate remove [find where name=\"jobplane-ca\"]; :error",
        fp);
    struct sbuf m;
    sbuf_init(&m, 512);
    sbuf_printf(&m,
                "jobplane: the certificate at %s is not the CA this line pins (SHA-256 %s);"
                " nothing was trusted",
                ca->url, fp);
    sbuf_puts(b, " ");
    ros_quote(b, m.p ? m.p : "", m.len);
    sbuf_free(&m);
    sbuf_printf(b, "}}; /certificate set [find where fingerprint=\"%s\"] trusted=yes; ", fp);
}

char *ros_render_bootstrap(const char *base_url, const char *adoption_token,
                           const struct ros_ca_pin *ca)
{
    struct sbuf b, url;
    sbuf_init(&b, 4096);
    sbuf_init(&url, 1024);
    sbuf_printf(&url, "%s/adopt/%s", base_url, adoption_token);
    sbuf_puts(&b, "{" DEVICE_MODE);
    if (ca)
        ca_pin(&b, ca);
    /* /system routerboard is absent on CHR and x86: read through :parse, its
     * absence is a run-time error caught here, not a syntax error of the line */
    sbuf_puts(&b, ":local s \"\"; :do {:set s [[:parse \"/system routerboard get serial-number\"]]}"
                  " on-error={}; :local r [/tool fetch url=");
    ros_quote(&b, url.p ? url.p : "", url.len);
    sbuf_free(&url);
    sbuf_puts(&b,
              " http-method=post http-header-field=\"Content-Type:text/plain\" http-data=(\"name=\""
              " . [/system identity get name] . \";version=\" . [/system resource get version] ."
              " \";board-name=\" . [/system resource get board-name] . \";architecture-name=\" ."
              " [/system resource get architecture-name] . \";serial-number=\" . $s ."
              " \";uptime=\" . [/system resource get uptime]) check-certificate=yes-without-crl"
              " output=user as-value]; :local f [:parse ($r->\"data\")]; $f}");
    return sbuf_take(&b, NULL);
}

/* ---- the poll script ------------------------------------------------------- */

/* Reads the device token from its file (flash/ first: on devices that have
 * it, files elsewhere live in RAM); polls only with a token of the right
 * length, and says once per boot when there is none. */
#define READ_TOKEN                                                                                 \
    ":local jpTok \"\"\n"                                                                          \
    ":do { :set jpTok [/file get \"flash/" ROS_TOKEN_FILE "\" contents] } on-error={\n"            \
    "  :do { :set jpTok [/file get \"" ROS_TOKEN_FILE "\" contents] } on-error={}\n"               \
    "}\n"

/* The fetch of a poll, as a function compiled at run time: the held form
 * (idle-timeout=) compiles only where fetch has that argument (7.15+), so
 * the script itself compiles on every version and each router picks the
 * form its RouterOS has. */
static void poll_fetch(struct sbuf *b, unsigned idle)
{
    char code[512], held[32] = "";
    if (idle)
        snprintf(held, sizeof held, " idle-timeout=%us", idle);
    snprintf(code, sizeof code,
             ":return [/tool fetch url=$u http-method=post http-data=$d http-header-field=$h"
             " check-certificate=yes-without-crl output=user as-value%s]",
             held);
    sbuf_puts(b, "[:parse ");
    ros_quote(b, code, strlen(code));
    sbuf_puts(b, "]");
}

static char *render_poll(const struct ros_poll_params *p, const char *base, const char *rev)
{
    struct sbuf b, url;
    sbuf_init(&b, SCRIPT_MAX);
    sbuf_init(&url, 1024);
    sbuf_puts(&b, "# " ROS_SCRIPT ": heartbeat, then run what the server answers\n");
    local_str(&b, "jpRev", rev);
    sbuf_printf(&url, "%s/poll", base);
    local_str(&b, "jpUrl", url.p ? url.p : "");
    if (p->wait) {
        sbuf_printf(&url, "?wait=%u", p->wait);
        local_str(&b, "jpHeld", url.p ? url.p : "");
    }
    sbuf_free(&url);
    sbuf_puts(&b, READ_TOKEN);
    sbuf_printf(&b,
                ":local jpGo true\n"
                ":if ([:len $jpTok] != %d) do={\n"
                "  :set jpGo false\n"
                "  :global jpNoToken\n"
                "  :if ($jpNoToken != true) do={ :set jpNoToken true; :log error \"jobplane: no"
                " device token in " ROS_TOKEN_FILE "; adopt this router again\" }\n"
                "}\n",
                JP_DEVICE_TOKEN_LEN);
    sbuf_puts(&b, ":if ([:len [/system script job find where script=\"" ROS_SCRIPT
                  "\"]] > 1) do={ :set jpGo false }\n"
                  ":if ([:typeof [:find [/system clock get date] \"1970\"]] = \"num\") do={ :set"
                  " jpGo false }\n"
                  ":if ($jpGo) do={\n"
                  "  :local jpFetch ");
    poll_fetch(&b, 0);
    sbuf_puts(&b, "\n");
    if (p->wait) {
        sbuf_puts(&b, "  :do { :set jpFetch ");
        poll_fetch(&b, p->wait + 15);
        sbuf_puts(&b, "; :set jpUrl $jpHeld } on-error={}\n");
    }
    sbuf_printf(
        &b,
        "  :local jpClean do={\n"
        "    :local s [:tostr $1]\n"
        "    :local o \"\"\n"
        "    :for i from=0 to=([:len $s] - 1) do={\n"
        "      :local c [:pick $s $i]\n"
        "      :if ($c = \";\" || $c = \"\\r\" || $c = \"\\n\") do={ :set c \",\" }\n"
        "      :set o ($o . $c)\n"
        "    }\n"
        "    :return $o\n"
        "  }\n"
        "  :local res [/system resource get]\n"
        "  :local lic [/system license get]\n"
        "  :local rb [:toarray \"\"]\n"
        "  :do { :set rb [[:parse \"/system routerboard get\"]] } on-error={}\n"
        /* a job that expected a reboot left its token: this heartbeat
         * says the router is back (and its uptime, since when) */
        "  :local jpRb \"\"\n"
        "  :do { :set jpRb [/file get \"flash/" ROS_REBOOT_FILE "\" contents] } on-error={\n"
        "    :do { :set jpRb [/file get \"" ROS_REBOOT_FILE "\" contents] } on-error={}\n"
        "  }\n"
        /* a job waiting for its confirmation (the revert armed), or
         * one the router reverted (the marker survived the restore,
         * the scheduler did not) */
        "  :local jpRv \"\"\n"
        "  :do { :set jpRv [/file get \"flash/" ROS_REVERT_FILE "\" contents] } on-error={\n"
        "    :do { :set jpRv [/file get \"" ROS_REVERT_FILE "\" contents] } on-error={}\n"
        "  }\n"
        "  :local jpArmed \"\"\n"
        "  :local jpUndone \"\"\n"
        "  :if ([:len $jpRv] >= %d) do={\n"
        "    :if ([:len [/system scheduler find where name=\"" ROS_REVERT_NAME "\"]] = 0) do={\n"
        "      :set jpUndone [:pick $jpRv 0 %d]\n"
        "    } else={\n"
        "      :if ([:pick $jpRv %d %d] = \"w\") do={ :set jpArmed [:pick $jpRv 0 %d] }\n"
        "    }\n"
        "  }\n"
        "  :local lvl [:tostr ($lic->\"nlevel\")]\n"
        "  :if ($lvl = \"\") do={ :set lvl [:tostr ($lic->\"level\")] }\n"
        "  :local body (\"name=\" . [$jpClean [/system identity get name]] . \";version=\" ."
        " ($res->\"version\") . \";uptime=\" . [:tostr ($res->\"uptime\")] . \";cpu-load=\" ."
        " ($res->\"cpu-load\") . \";free-memory=\" . ($res->\"free-memory\") ."
        " \";free-hdd-space=\" . ($res->\"free-hdd-space\") . \";board-name=\" . [$jpClean"
        " ($res->\"board-name\")] . \";architecture-name=\" . ($res->\"architecture-name\") ."
        " \";serial-number=\" . ($rb->\"serial-number\") . \";model=\" . [$jpClean"
        " ($rb->\"model\")] . \";level=\" . $lvl . \";jobplane-script=\" . $jpRev ."
        " \";jobplane-reboot=\" . $jpRb . \";jobplane-armed=\" . $jpArmed ."
        " \";jobplane-reverted=\" . $jpUndone)\n"
        "  :do {\n"
        "    :local r [$jpFetch u=$jpUrl d=$body h=(\"Authorization:Bearer \" . $jpTok ."
        " \",Content-Type:text/plain\")]\n"
        "    :local code ($r->\"data\")\n"
        "    :local mark \"" ROS_END_MARK "\"\n"
        "    :if ((($r->\"status\") = \"finished\") && ($jpRb != \"\")) do={\n"
        "      /file remove [find where name=\"" ROS_REBOOT_FILE "\"]\n"
        "      /file remove [find where name=\"flash/" ROS_REBOOT_FILE "\"]\n"
        "    }\n"
        "    :if ((($r->\"status\") = \"finished\") && ($jpUndone != \"\")) do={\n"
        "      /file remove [find where name=\"" ROS_REVERT_FILE "\"]\n"
        "      /file remove [find where name=\"flash/" ROS_REVERT_FILE "\"]\n"
        "      /file remove [find where name=\"" ROS_REVERT_NAME ".backup\"]\n"
        "      /file remove [find where name=\"flash/" ROS_REVERT_NAME ".backup\"]\n"
        "    }\n"
        "    :if ((($r->\"status\") = \"finished\") && ([:pick $code ([:len $code] -"
        " [:len $mark]) [:len $code]] = $mark)) do={\n"
        "      :local f [:parse $code]\n"
        "      :execute script=$code\n"
        "    }\n"
        "  } on-error={ :log warning \"jobplane: poll failed\" }\n"
        "}\n",
        JP_TOKEN_LEN + 2, JP_TOKEN_LEN, JP_TOKEN_LEN + 1, JP_TOKEN_LEN + 2, JP_TOKEN_LEN);
    return sbuf_take(&b, NULL);
}

void ros_poll_revision(const struct ros_poll_params *p, char out[ROS_REV_LEN + 1])
{
    char *s = render_poll(p, "", "");
    struct sbuf b;
    sbuf_init(&b, 8192);
    sbuf_printf(&b, "%s\ninterval=%u\n", s ? s : "", p->interval);
    char hex[JP_SIG_HEX + 1];
    sha256_hex(b.p ? b.p : "", b.len, hex);
    sbuf_free(&b);
    free(s);
    memcpy(out, hex, ROS_REV_LEN);
    out[ROS_REV_LEN] = '\0';
}

char *ros_render_poll_script(const struct ros_poll_params *p)
{
    char rev[ROS_REV_LEN + 1];
    ros_poll_revision(p, rev);
    return render_poll(p, p->base_url, rev);
}

/* ---- adoption and replacement ---------------------------------------------- */

/* Removes the token file wherever an earlier adoption put it. */
#define REMOVE_TOKEN                                                                               \
    "/file remove [find where name=\"" ROS_TOKEN_FILE "\"]\n"                                      \
    "/file remove [find where name=\"flash/" ROS_TOKEN_FILE "\"]\n"

/* The schedulers of this version and of earlier ones (which shared the
 * script's name). */
#define REMOVE_SCHEDULERS                                                                          \
    "/system scheduler remove [find where name=\"" ROS_SCHEDULER "\"]\n"                           \
    "/system scheduler remove [find where name=\"" ROS_SCRIPT "\"]\n"

#define RUN_SCRIPT "on-event=\"/system script run " ROS_SCRIPT "\""

char *ros_render_adoption(const struct ros_poll_params *p)
{
    char *poll = ros_render_poll_script(p);
    if (!poll)
        return NULL;
    struct sbuf b;
    sbuf_init(&b, SCRIPT_MAX);
    sbuf_printf(&b, "# jobplane adoption answer, site %s\n", p->site_id);
    sbuf_puts(
        &b, REMOVE_SCHEDULERS
        "/system script remove [find where name=\"" ROS_SCRIPT "\"]\n"
        ":local jpTf \"" ROS_TOKEN_FILE "\"\n"
        ":if ([:len [/file find where name=\"flash\"]] > 0) do={ :set jpTf \"flash/" ROS_TOKEN_FILE
        "\" }\n" REMOVE_TOKEN "/file add name=$jpTf contents=");
    ros_quote(&b, p->device_token, strlen(p->device_token));
    sbuf_puts(&b, "\n"
                  ":local jpN 0\n"
                  ":while (([:len [/file find where name=$jpTf]] = 0) && ($jpN < 40)) do={ :delay"
                  " 250ms; :set jpN ($jpN + 1) }\n"
                  "/system script add name=\"" ROS_SCRIPT "\" policy=" POLICIES " source=");
    ros_quote(&b, poll, strlen(poll));
    free(poll);
    sbuf_printf(&b,
                "\n/system scheduler add name=\"" ROS_SCHEDULER "\" interval=%us start-time=startup"
                " policy=" POLICIES " " RUN_SCRIPT "\n"
                ":log info \"jobplane: adopted as site %s\"\n"
                ":put \"jobplane: adopted, polling every %us\"\n" ROS_END_MARK,
                p->interval, p->site_id, p->interval);
    return sbuf_take(&b, NULL);
}

char *ros_render_update(const struct ros_poll_params *p)
{
    char rev[ROS_REV_LEN + 1];
    ros_poll_revision(p, rev);
    char *poll = render_poll(p, p->base_url, rev);
    if (!poll)
        return NULL;
    struct sbuf b;
    sbuf_init(&b, SCRIPT_MAX);
    sbuf_printf(&b, "# jobplane poll script update, revision %s\n", rev);
    local_str(&b, "jpPoll", poll);
    free(poll);
    /* one set replaces the source (the old one stays if it fails); the new
     * scheduler exists before the old one goes */
    sbuf_printf(&b,
                ":if ([:len [/system script find where name=\"" ROS_SCRIPT "\"]] = 0) do={\n"
                "  /system script add name=\"" ROS_SCRIPT "\" policy=" POLICIES " source=$jpPoll\n"
                "} else={\n"
                "  /system script set [find where name=\"" ROS_SCRIPT "\"] policy=" POLICIES
                " source=$jpPoll\n"
                "}\n"
                ":if ([:len [/system scheduler find where name=\"" ROS_SCHEDULER "\"]] = 0) do={\n"
                "  /system scheduler add name=\"" ROS_SCHEDULER "\" interval=%us start-time=startup"
                " policy=" POLICIES " " RUN_SCRIPT "\n"
                "} else={\n"
                "  /system scheduler set [find where name=\"" ROS_SCHEDULER "\"] interval=%us"
                " policy=" POLICIES " " RUN_SCRIPT "\n"
                "}\n"
                "/system scheduler remove [find where name=\"" ROS_SCRIPT "\"]\n"
                ":log info \"jobplane: poll script updated to revision %s\"\n" ROS_END_MARK,
                p->interval, p->interval, rev);
    return sbuf_take(&b, NULL);
}

/* ---- the job wrapper --------------------------------------------------------- */

static void signed_url(struct sbuf *b, const char *name, const struct ros_job_params *p,
                       const char *status, const char *sig)
{
    struct sbuf u;
    sbuf_init(&u, 1024);
    sbuf_printf(&u, "%s/job/%s/update?status=%s", p->base_url, p->job_id, status);
    if (p->delivery)
        sbuf_printf(&u, "&delivery=%lld", (long long)p->delivery);
    sbuf_printf(&u, "&expires=%lld&signature=%s", (long long)p->expires, sig);
    local_str(b, name, u.p ? u.p : "");
    sbuf_free(&u);
}

static void backup_block(struct sbuf *b, const struct ros_job_params *p)
{
    if (p->version && p->version < ROS_V_FILE_READ) {
        sbuf_puts(b, "  :set jpOk false\n"
                     "  :set jpMsg \"a backup needs RouterOS 7.13 or later\"\n");
        return;
    }
    sbuf_printf(b,
                "  :do {\n"
                "    :local fn \"jobplane-backup.rsc\"\n"
                "    /file remove [find where name=$fn]\n"
                "    /export terse%s file=\"jobplane-backup\"\n"
                "    :local n 0\n"
                "    :while (([:len [/file find where name=$fn]] = 0) && ($n < 40)) do={ :delay"
                " 250ms; :set n ($n + 1) }\n"
                "    :local sz -1\n"
                "    :while ($sz != [/file get $fn size]) do={ :set sz [/file get $fn size];"
                " :delay 1s }\n"
                "    :local off 0\n"
                "    :while ($off < $sz) do={\n"
                "      :local chunk ([/file read file=$fn offset=$off chunk-size=32768"
                " as-value]->\"data\")\n"
                "      :if ([:len $chunk] = 0) do={ :error \"short read\" }\n"
                "      /tool fetch url=($jpBak . \"&offset=\" . $off . \"&total=\" . $sz)"
                " http-method=post http-data=$chunk "
                "http-header-field=\"Content-Type:text/plain\" " FETCH_OPTS "\n"
                "      :set off ($off + [:len $chunk])\n"
                "    }\n"
                "    /file remove $fn\n"
                "  } on-error={ :set jpOk false; :set jpMsg \"the backup upload failed\" }\n",
                /* v7 hides passwords and keys unless asked */
                p->backup_sensitive ? " show-sensitive" : "");
}

/* The revert's scheduler runs this every 5 s; past the deadline in its
 * comment it loads the backup saved before the job (which restarts the
 * router, and restores a configuration without this scheduler). */
#define REVERT_EVENT                                                                               \
    ":local c [/system scheduler get [find where name=\"" ROS_REVERT_NAME "\"] comment]\n"         \
    ":if ([:timestamp] >= [:totime $c]) do={\n"                                                    \
    "  :local f \"" ROS_REVERT_NAME ".backup\"\n"                                                  \
    "  :if ([:len [/file find where name=(\"flash/\" . $f)]] > 0) do={ :set f (\"flash/\" . $f) "  \
    "}\n"                                                                                          \
    "  :log warning \"jobplane: no confirmation came in time: restoring the configuration saved"   \
    " before the job\"\n"                                                                          \
    "  :do { /system backup load name=$f password=\"\" } on-error={\n"                             \
    "    /system scheduler remove [find where name=\"" ROS_REVERT_NAME "\"]\n"                     \
    "    /file remove [find where name=\"" ROS_REVERT_FILE "\"]\n"                                 \
    "    /file remove [find where name=\"flash/" ROS_REVERT_FILE "\"]\n"                           \
    "    :log error \"jobplane: the revert failed: its backup could not be loaded\"\n"             \
    "  }\n"                                                                                        \
    "}"

/* Confirm-or-revert, before the payload: a binary backup, then the
 * scheduler that restores it at the deadline, then the marker (TOKEN=r) the
 * poll script reads; in that order, so that a marker without its scheduler
 * always means a restore took the scheduler away. */
static void arm_block(struct sbuf *b, const struct ros_job_params *p)
{
    sbuf_puts(b, "  :local jpCf \"" ROS_REVERT_FILE "\"\n"
                 "  :local jpCb \"" ROS_REVERT_NAME "\"\n"
                 "  :if ([:len [/file find where name=\"flash\"]] > 0) do={ :set jpCf "
                 "\"flash/" ROS_REVERT_FILE "\"; :set jpCb \"flash/" ROS_REVERT_NAME "\" }\n"
                 "  :if ($jpOk) do={\n"
                 "    /system scheduler remove [find where name=\"" ROS_REVERT_NAME "\"]\n"
                 "    /file remove [find where name=($jpCb . \".backup\")]\n"
                 "    :do { /system backup save name=$jpCb dont-encrypt=yes } on-error={}\n"
                 "    :local n 0\n"
                 "    :while (([:len [/file find where name=($jpCb . \".backup\")]] = 0) && ($n <"
                 " 40)) do={ :delay 250ms; :set n ($n + 1) }\n"
                 "    :if ([:len [/file find where name=($jpCb . \".backup\")]] = 0) do={\n"
                 "      :set jpOk false\n"
                 "      :set jpMsg \"the backup to revert to could not be saved\"\n"
                 "    } else={\n");
    sbuf_printf(b,
                "      /system scheduler add name=\"" ROS_REVERT_NAME
                "\" interval=5s policy=" POLICIES
                " comment=[:tostr ([:timestamp] + %lds)] on-event=",
                p->confirm_within);
    ros_quote(b, REVERT_EVENT, strlen(REVERT_EVENT));
    sbuf_printf(b,
                "\n"
                "      :do { /file set $jpCf contents=($jpTok . \"=r\") } on-error={\n"
                "        :do { /file add name=$jpCf contents=($jpTok . \"=r\") } on-error={\n"
                "          /system scheduler remove [find where name=\"" ROS_REVERT_NAME "\"]\n"
                "          :set jpOk false\n"
                "          :set jpMsg (\"cannot write \" . $jpCf)\n"
                "        }\n"
                "      }\n"
                "      :if ($jpOk) do={ :log info (\"Job \" . $jpTok . \": reverted in %lds unless"
                " the server confirms it\") }\n"
                "    }\n"
                "  }\n",
                p->confirm_within);
}

#define RAN_ENTRY (JP_TOKEN_LEN + 3)    /* TOKEN=S\n */
#define OUT_FAILED "#jobplane-failed: " /* ends a captured output when the payload failed */

char *ros_render_wrapper(const struct ros_job_params *p)
{
    struct sbuf b;
    sbuf_init(&b, SCRIPT_MAX);
    sbuf_printf(&b, "# jobplane job %s\n", p->token);
    local_str(&b, "jpTok", p->token);
    signed_url(&b, "jpBusy", p, "busy", p->sig_busy);
    signed_url(&b, "jpDone", p, "done", p->sig_done);
    signed_url(&b, "jpFail", p, "fail", p->sig_fail);
    if (p->should_backup && (!p->version || p->version >= ROS_V_FILE_READ)) {
        struct sbuf u;
        sbuf_init(&u, 1024);
        sbuf_printf(&u, "%s/backup/%s/upload?job=%s&expires=%lld&signature=%s", p->base_url,
                    p->site_id, p->job_id, (long long)p->expires, p->sig_backup);
        local_str(&b, "jpBak", u.p ? u.p : "");
        sbuf_free(&u);
    }
    local_str(&b, "jpSrc", p->payload);
    /* At most once on the router too: a job this router ran before (a
     * server restored from an old backup hands it out again) reports what
     * it remembers, r (started, never finished) as a failure. */
    sbuf_printf(
        &b,
        ":local jpOk true\n"
        ":local jpMsg \"\"\n"
        ":local jpLater false\n"
        ":local jpCode\n"
        "%s"
        ":local jpRf \"" ROS_RAN_FILE "\"\n"
        ":if ([:len [/file find where name=\"flash\"]] > 0) do={ :set jpRf \"flash/" ROS_RAN_FILE
        "\" }\n"
        ":local jpRan \"\"\n"
        ":do { :set jpRan [/file get $jpRf contents] } on-error={}\n"
        ":local jpAt [:find $jpRan ($jpTok . \"=\")]\n"
        ":if ([:typeof $jpAt] = \"num\") do={\n"
        "  :local was [:pick $jpRan ($jpAt + %d) ($jpAt + %d)]\n"
        "  :set jpOk ($was = \"d\")\n"
        "  :set jpMsg \"it ran here before and did not finish\"\n"
        "  :log warning (\"Job \" . $jpTok . \" ran here before (\" . $was . \"): that"
        " outcome is reported again, nothing runs twice\")\n"
        "} else={\n"
        "  :do { /tool fetch url=$jpBusy " FETCH_OPTS " } on-error={}\n"
        "  :local keep [:pick $jpRan 0 %d]\n"
        "  :do { /file set $jpRf contents=($jpTok . \"=r\\n\" . $keep) } on-error={\n"
        "    :do { /file add name=$jpRf contents=($jpTok . \"=r\\n\" . $keep) } on-error={"
        " :log warning (\"Job \" . $jpTok . \": cannot write \" . $jpRf) }\n"
        "  }\n",
        p->capture_output ? ":local jpOut \"\"\n" : "", JP_TOKEN_LEN + 1, JP_TOKEN_LEN + 2,
        RAN_ENTRY * (ROS_RAN_KEEP - 1));
    if (p->should_backup)
        backup_block(&b, p);
    /* 7.13+ (:onerror) tells why the payload did not parse or failed */
    bool why = p->version >= ROS_V_ONERROR;
    sbuf_puts(&b, "  :if ($jpOk) do={\n");
    if (why)
        sbuf_puts(&b, "    :onerror jpE in={ :set jpCode [:parse $jpSrc] } do={ :set jpOk false;"
                      " :set jpMsg (\"the payload does not parse: \" . $jpE) }\n");
    else
        sbuf_puts(&b,
                  "    :do { :set jpCode [:parse $jpSrc] } on-error={ :set jpOk false; :set jpMsg"
                  " \"the payload does not parse\" }\n");
    sbuf_puts(&b, "  }\n");
    if (p->dry_run) {
        sbuf_puts(&b, "  :if ($jpOk) do={ :log info (\"Job \" . $jpTok . \": dry run: the payload"
                      " parses; nothing ran\") }\n");
    } else {
        if (p->expects_reboot)
            /* the token waits in a file for the first heartbeat after the restart */
            sbuf_puts(&b,
                      "  :local jpRb \"" ROS_REBOOT_FILE "\"\n"
                      "  :if ([:len [/file find where name=\"flash\"]] > 0) do={ :set jpRb "
                      "\"flash/" ROS_REBOOT_FILE "\" }\n"
                      "  :if ($jpOk) do={\n"
                      "    /file remove [find where name=$jpRb]\n"
                      "    :do { /file add name=$jpRb contents=$jpTok } on-error={ :set jpOk false;"
                      " :set jpMsg (\"cannot write \" . $jpRb) }\n"
                      "  }\n");
        if (p->confirm_within)
            arm_block(&b, p);
        if (p->capture_output && why)
            /* run by :execute, which gives back what it printed; the script is
             * known to parse, so it can be wrapped as text */
            sbuf_puts(&b,
                      "  :if ($jpOk) do={\n"
                      "    :onerror jpE in={ :set jpOut [:execute script=(\":onerror jpX in={\\n\""
                      " . $jpSrc . \"\\n} do={ :put (\\\"" OUT_FAILED "\\\" . \\$jpX) }\")"
                      " as-string] } do={ :set jpOk false; :set jpMsg (\"the payload failed: \" ."
                      " $jpE) }\n"
                      "    :local at [:find $jpOut \"" OUT_FAILED "\"]\n"
                      "    :if ([:typeof $at] = \"num\") do={ :set jpOk false; :set jpMsg (\"the"
                      " payload failed: \" . [:pick $jpOut ($at + [:len \"" OUT_FAILED "\"])"
                      " [:len $jpOut]]); :set jpOut [:pick $jpOut 0 $at] }\n"
                      "  }\n");
        else if (why)
            sbuf_puts(&b,
                      "  :if ($jpOk) do={ :onerror jpE in={ $jpCode } do={ :set jpOk false; :set"
                      " jpMsg (\"the payload failed: \" . $jpE) } }\n");
        else
            sbuf_puts(&b,
                      "  :if ($jpOk) do={ :do { $jpCode } on-error={ :set jpOk false; :set jpMsg"
                      " \"the payload failed\" } }\n");
        if (p->capture_output && !why)
            sbuf_puts(&b, "  :set jpOut \"[jobplane: capturing the output needs RouterOS 7.13 or"
                          " later]\\n\"\n");
        if (p->expects_reboot)
            sbuf_puts(&b, "  :if ($jpOk) do={ :set jpLater true } else={ /file remove [find where"
                          " name=$jpRb] }\n");
        if (p->confirm_within)
            /* armed: the server's answer to the next poll disarms it, and
             * reports the job done when it did not fail */
            sbuf_puts(&b, "  :if ([:len [/system scheduler find where name=\"" ROS_REVERT_NAME
                          "\"]] > 0) do={\n"
                          "    :do { /file set $jpCf contents=($jpTok . \"=w\") } on-error={}\n"
                          "    :if ($jpOk) do={ :set jpLater true }\n"
                          "  }\n");
    }
    sbuf_printf(&b,
                "  :local st \"f\"\n"
                "  :if ($jpOk) do={ :set st \"d\" }\n"
                "  :do { /file set $jpRf contents=($jpTok . \"=\" . $st . \"\\n\" . $keep) }"
                " on-error={}\n"
                "}\n"
                ":if ($jpLater) do={\n"
                "  :log info (\"Job \" . $jpTok . \": ran; %s\")\n"
                "} else={\n",
                p->confirm_within ? "the next poll that reaches the server confirms it"
                                  : "the first poll after the restart reports it");
    if (p->capture_output)
        /* the final report carries what the payload printed, in chunks */
        sbuf_printf(
            &b,
            "  :local jpUrl $jpDone\n"
            "  :if (!$jpOk) do={\n"
            "    :set jpUrl $jpFail\n"
            "    :log error (\"Job \" . $jpTok . \" failed: \" . $jpMsg)\n"
            "    :set jpOut ($jpOut . \"[jobplane: \" . $jpMsg . \"]\\n\")\n"
            "  }\n"
            "  :if ([:len $jpOut] > %ld) do={ :set jpOut ([:pick $jpOut 0 %ld] ."
            " \"\\n[jobplane: the output was cut at %ld bytes]\\n\") }\n"
            "  :local sz [:len $jpOut]\n"
            "  :if ($sz = 0) do={\n"
            "    :do { /tool fetch url=$jpUrl " FETCH_OPTS " } on-error={}\n"
            "  } else={\n"
            "    :do {\n"
            "      :local off 0\n"
            "      :while ($off < $sz) do={\n"
            "        :local chunk [:pick $jpOut $off ($off + 32768)]\n"
            "        /tool fetch url=($jpUrl . \"&offset=\" . $off . \"&total=\" . $sz)"
            " http-method=post http-data=$chunk "
            "http-header-field=\"Content-Type:text/plain\" " FETCH_OPTS "\n"
            "        :set off ($off + [:len $chunk])\n"
            "      }\n"
            "    } on-error={ :log error (\"Job \" . $jpTok . \": the output upload failed\") }\n"
            "  }\n",
            p->output_max, p->output_max, p->output_max);
    else
        sbuf_puts(&b,
                  "  :if ($jpOk) do={\n"
                  "    :do { /tool fetch url=$jpDone " FETCH_OPTS " } on-error={}\n"
                  "  } else={\n"
                  "    :log error (\"Job \" . $jpTok . \" failed: \" . $jpMsg)\n"
                  "    :do { /tool fetch url=$jpFail http-method=post http-data=$jpMsg"
                  " http-header-field=\"Content-Type:text/plain\" " FETCH_OPTS " } on-error={}\n"
                  "  }\n");
    sbuf_printf(&b,
                "}\n"
                ":log info (\"Job \" . $jpTok . \" finished. Remaining: %ld\")\n" ROS_END_MARK,
                p->remaining);
    return sbuf_take(&b, NULL);
}

/* Removes the revert's marker first, then its scheduler: a marker never
 * stays without its scheduler, which would read as a revert. */
#define DISARM                                                                                     \
    "/file remove [find where name=\"" ROS_REVERT_FILE "\"]\n"                                     \
    "/file remove [find where name=\"flash/" ROS_REVERT_FILE "\"]\n"                               \
    "/system scheduler remove [find where name=\"" ROS_REVERT_NAME "\"]\n"                         \
    "/file remove [find where name=\"" ROS_REVERT_NAME ".backup\"]\n"                              \
    "/file remove [find where name=\"flash/" ROS_REVERT_NAME ".backup\"]\n"

char *ros_render_disarm(const struct ros_job_params *p, bool confirm)
{
    struct sbuf b;
    sbuf_init(&b, 4096);
    sbuf_printf(&b, "# jobplane: job %s reached the server after it ran: its revert is disarmed\n",
                p->token);
    sbuf_puts(&b, DISARM);
    if (confirm) {
        signed_url(&b, "jpDone", p, "done", p->sig_done);
        sbuf_printf(&b,
                    ":log info \"Job %s confirmed: the revert is disarmed\"\n"
                    ":do { /tool fetch url=$jpDone " FETCH_OPTS " } on-error={}\n",
                    p->token);
    } else {
        sbuf_printf(&b, ":log info \"Job %s: the revert is disarmed\"\n", p->token);
    }
    sbuf_puts(&b, ROS_END_MARK);
    return sbuf_take(&b, NULL);
}

char *ros_render_idle(void)
{
    return strdup("# jobplane: nothing to do\n" ROS_END_MARK);
}

char *ros_render_teardown(const char *base_url, const char *device_token, const char *site_id)
{
    struct sbuf b, s;
    sbuf_init(&b, 8192);
    sbuf_init(&s, 1024);
    sbuf_printf(&b, "# jobplane teardown, site %s\n", site_id);
    sbuf_puts(&b, REMOVE_SCHEDULERS ":do { /tool fetch url=");
    sbuf_printf(&s, "%s/notify/delete", base_url);
    ros_quote(&b, s.p ? s.p : "", s.len);
    sbuf_free(&s);
    sbuf_printf(&s, "Authorization:Bearer %s", device_token);
    sbuf_puts(&b, " http-method=post http-header-field=");
    ros_quote(&b, s.p ? s.p : "", s.len);
    sbuf_free(&s);
    sbuf_puts(&b, " " FETCH_OPTS " } on-error={}\n"
                  ":log info \"jobplane: site removed, poll scheduler deleted\"\n" REMOVE_TOKEN
                  "/file remove [find where name=\"" ROS_RAN_FILE "\"]\n"
                  "/file remove [find where name=\"flash/" ROS_RAN_FILE "\"]\n" DISARM
                  "/system script remove [find where name=\"" ROS_SCRIPT "\"]\n" ROS_END_MARK);
    return sbuf_take(&b, NULL);
}
