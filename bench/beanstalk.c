/* The baseline for durable lifecycles: THREADS clients of beanstalkd, each on
 * its own tube, loop put -> reserve -> delete with a payload of BYTES for
 * SECONDS. Usage: beanstalk PORT THREADS SECONDS BYTES */
#include <pthread.h>
#include <stdatomic.h>

#include "wire.h"

static struct sockaddr_in addr;
static int bytes;
static double deadline;
static atomic_long cycles, errors;

/* Sends s, reads one reply line (and a job body when it says RESERVED). */
static int talk(int fd, const char *s, size_t n, char *line, size_t cap)
{
    if (write(fd, s, n) != (ssize_t)n)
        return -1;
    size_t got = 0;
    while (got < cap - 1) {
        ssize_t r = read(fd, line + got, cap - 1 - got);
        if (r <= 0)
            return -1;
        got += (size_t)r;
        line[got] = '\0';
        char *nl = strstr(line, "\r\n");
        if (!nl)
            continue;
        if (!strncmp(line, "RESERVED", 8)) { /* RESERVED id bytes\r\n<data>\r\n */
            size_t want = (size_t)(nl - line) + 2 + (size_t)atoi(strrchr(line, ' ') + 1) + 2;
            if (got < want)
                continue;
        }
        return 0;
    }
    return -1;
}

static void *run(void *arg)
{
    long id = (long)arg;
    int fd = dial(&addr);
    if (fd < 0)
        return NULL;
    char cmd[256], *put = malloc((size_t)bytes + 64), line[70000];
    snprintf(cmd, sizeof cmd, "use t%ld\r\n", id);
    talk(fd, cmd, strlen(cmd), line, sizeof line);
    snprintf(cmd, sizeof cmd, "watch t%ld\r\n", id);
    talk(fd, cmd, strlen(cmd), line, sizeof line);
    int hl = snprintf(put, 64, "put 0 0 60 %d\r\n", bytes);
    memset(put + hl, 'x', (size_t)bytes);
    memcpy(put + hl + bytes, "\r\n", 2);
    while (now() < deadline) {
        if (talk(fd, put, (size_t)hl + (size_t)bytes + 2, line, sizeof line) ||
            strncmp(line, "INSERTED", 8)) {
            atomic_fetch_add(&errors, 1);
            continue;
        }
        if (talk(fd, "reserve\r\n", 9, line, sizeof line) || strncmp(line, "RESERVED", 8)) {
            atomic_fetch_add(&errors, 1);
            continue;
        }
        snprintf(cmd, sizeof cmd, "delete %ld\r\n", atol(line + 9));
        if (talk(fd, cmd, strlen(cmd), line, sizeof line) || strncmp(line, "DELETED", 7)) {
            atomic_fetch_add(&errors, 1);
            continue;
        }
        atomic_fetch_add(&cycles, 1);
    }
    close(fd);
    free(put);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 5)
        return 2;
    addr = (struct sockaddr_in){.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)atoi(argv[1])),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int threads = atoi(argv[2]);
    double secs = atof(argv[3]);
    bytes = atoi(argv[4]);
    pthread_t *t = calloc((size_t)threads, sizeof *t);
    double t0 = now();
    deadline = t0 + secs;
    for (long i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, run, (void *)i);
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    double el = now() - t0;
    printf("cycles %ld in %.1fs = %.0f/s errors %ld\n", atomic_load(&cycles), el,
           atomic_load(&cycles) / el, atomic_load(&errors));
    free(t);
    return 0;
}
