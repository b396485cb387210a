/* What the raw-socket HTTP load tools in bench/ share: the clock, the target
 * address, dialing, and finding where an answer ends. Header-only: each tool
 * is one file. */
#ifndef JP_BENCH_WIRE_H
#define JP_BENCH_WIRE_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static inline double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

/* url "http://IPV4:PORT": fills addr and host ("IPV4:PORT", for Host:). */
static inline int wire_target(const char *url, struct sockaddr_in *addr, char host[128])
{
    int port = 0;
    char ip[100];
    if (sscanf(url, "http://%99[^:]:%d", ip, &port) != 2 || port < 1 || port > 65535)
        return -1;
    *addr = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, ip, &addr->sin_addr) != 1)
        return -1;
    snprintf(host, 128, "%s:%d", ip, port);
    return 0;
}

/* A connected TCP socket with TCP_NODELAY, or -1. */
static inline int dial(const struct sockaddr_in *addr)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    if (fd < 0)
        return -1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (const struct sockaddr *)addr, sizeof *addr)) {
        close(fd);
        return -1;
    }
    return fd;
}

/* The length of the whole answer at the start of buf (NUL-terminated, got
 * bytes): 0 while its headers are incomplete, -1 without a Content-Length. */
static inline long answer_length(const char *buf)
{
    const char *end = strstr(buf, "\r\n\r\n");
    if (!end)
        return 0;
    const char *cl = strcasestr(buf, "\r\ncontent-length:");
    if (!cl || cl > end)
        return -1;
    return (long)(end + 4 - buf) + strtol(cl + 17, NULL, 10);
}

static inline int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

#endif
