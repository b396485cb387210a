/* jobplane: one binary, subcommands. */
#include <stdio.h>
#include <string.h>

#include "api/serve.h"
#include "cli/cli.h"
#include "cli/op.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: jobplane <command> [options]\n"
               "  serve    run the server (jobplane serve --help)\n"
               "  token    mint an operator token (jobplane token --help)\n"
               "  sim      run a simulated fleet of routers (jobplane sim --help)\n"
               "the operator client (talks to a server: --url and --token, JP_URL and\n"
               "JP_TOKEN, or `jobplane config`; jobplane site --help, ...):\n"
               "  site     add, ls, show, rm, bootstrap, rotate\n"
               "  job      create, ls, get, cancel, log, wait\n"
               "  backup   ls, get, diff, request\n"
               "  webhook  add, ls, show, rm, enable, rotate, test, deliveries, redeliver\n"
               "  key      add, ls, rm (API keys)\n"
               "  rollout  ls, show, create, approve, pause, resume, abort, rm, progress, events\n"
               "           (scheduled scripts over many sites)\n"
               "  template ls, show, add, rm (script templates)\n"
               "  config   keep the server's URL and a token in ~/.config/jobplane/config\n"
               "  version  print the version\n"
               "exit codes: 0 ok, 1 API error or no server, 2 usage, 3 not found, 4 a job\n"
               "failed (job wait)\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "serve"))
        return serve_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "token"))
        return token_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "sim"))
        return sim_main(argc - 1, argv + 1);
    static const char *const client[] = {"site", "job",     "backup",   "webhook",
                                         "key",  "rollout", "template", "config"};
    for (size_t i = 0; i < sizeof client / sizeof *client; i++)
        if (!strcmp(cmd, client[i]))
            return op_main(cmd, argc - 1, argv + 1);
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("jobplane %s\n", JOBPLANE_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "jobplane: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
