#ifndef JP_API_SERVE_H
#define JP_API_SERVE_H
/* `jobplane serve`: parses its options, opens the store, serves until
 * SIGTERM/SIGINT. Returns the process exit status. */
int serve_main(int argc, char **argv);
#endif
