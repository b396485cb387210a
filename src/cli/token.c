#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "core/jwt.h"
#include "lib/opts.h"

#define ALL_SCOPES                                                                                 \
    "jobs:read jobs:write sites:read sites:write backups:read webhooks:read webhooks:write"        \
    " keys:write metrics:read scripts:read scripts:write scripts:approve"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: jobplane token --team TEAM [--scope \"%s\"] [--ttl SECONDS]\n"
            "                      [--secret S | --secret-file PATH] [--issuer ISS]"
            " [--audience AUD]\n"
            "                      [--subject SUB]  (the sub claim: who calls, e.g. for the\n"
            "                      two-person approval of scheduled scripts)\n"
            "The default scope leaves out backups:read-sensitive (backups that keep secrets):\n"
            "name it in --scope to grant it.\n"
            "The secret may also come from JOBPLANE_SECRET. Prints the token.\n",
            ALL_SCOPES);
}

int token_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"secret", 1, 0, 's'},   {"secret-file", 1, 0, 'f'},
        {"team", 1, 0, 't'},     {"scope", 1, 0, 'c'},
        {"ttl", 1, 0, 'l'},      {"issuer", 1, 0, 'i'},
        {"audience", 1, 0, 'a'}, {"help", 0, 0, 'h'},
        {"subject", 1, 0, 'u'},  {0, 0, 0, 0},
    };
    const char *secret_flag = NULL, *secret_file = NULL, *team = NULL, *scope = ALL_SCOPES,
               *iss = NULL, *aud = NULL, *sub = NULL;
    long ttl = 3600;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 's': secret_flag = optarg; break;
        case 'f': secret_file = optarg; break;
        case 't': team = optarg; break;
        case 'c': scope = optarg; break;
        case 'i': iss = optarg; break;
        case 'a': aud = optarg; break;
        case 'u': sub = optarg; break;
        case 'l':
            if (opt_long(optarg, 1, 10L * 365 * 86400, &ttl)) {
                fprintf(stderr, "jobplane token: --ttl wants seconds, not '%s'\n", optarg);
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!team || !*team || strlen(team) > JP_TEAM_MAX) {
        fprintf(stderr, "jobplane token: --team is required (1 to %d bytes)\n", JP_TEAM_MAX);
        return 2;
    }
    char err[256];
    char *secret = opt_secret(secret_flag, secret_file, err, sizeof err);
    if (!secret) {
        fprintf(stderr, "jobplane token: %s\n", err);
        return 2;
    }
    time_t now = time(NULL);
    json_t *claims = json_pack("{s:s, s:s, s:I, s:I}", "team", team, "scope", scope, "iat",
                               (json_int_t)now, "exp", (json_int_t)(now + ttl));
    if (iss)
        json_object_set_new(claims, "iss", json_string(iss));
    if (aud)
        json_object_set_new(claims, "aud", json_string(aud));
    if (sub)
        json_object_set_new(claims, "sub", json_string(sub));
    char *payload = json_dumps(claims, JSON_COMPACT);
    char *tok = payload
                    ? jwt_sign_hs256_alloc(payload, (const unsigned char *)secret, strlen(secret))
                    : NULL;
    int status = tok ? 0 : 1;
    if (tok)
        printf("%s\n", tok);
    else
        fprintf(stderr, "jobplane token: out of memory\n");
    free(tok);
    free(payload);
    json_decref(claims);
    free(secret);
    return status;
}
