/* jobplane: one binary, subcommands. */
#include <stdio.h>
#include <string.h>

#include "api/serve.h"
#include "cli/cli.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: jobplane <command> [options]\n"
               "  serve    run the server (jobplane serve --help)\n"
               "  token    mint an operator token (jobplane token --help)\n"
               "  sim      run a simulated fleet of routers (jobplane sim --help)\n"
               "  version  print the version\n");
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
