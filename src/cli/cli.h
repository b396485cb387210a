#ifndef JP_CLI_CLI_H
#define JP_CLI_CLI_H
/* `jobplane token`: mints an operator JWT from the configured secret. */
int token_main(int argc, char **argv);
/* `jobplane sim`: a simulated fleet of routers. */
int sim_main(int argc, char **argv);
#endif
