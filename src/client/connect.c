/* The client's connections (see connect.h): sockets to droverd's unix socket or a TCP door, and
 * reconnecting after droverd went away for a moment (an upgrade in place, a restart). */
#include "client/connect.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "base/macro.h"
#include "base/time-util.h"
#include "client/client.h"
#include "grpc/wire.h"

int client_errf(char *err, size_t size, int r, const char *fmt, ...)
{
    if (err && size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, size, fmt, ap);
        va_end(ap);
    }
    return r;
}

int client_connect_unix(const char *path, char *err, size_t err_size)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path)
        return client_errf(err, err_size, -ENAMETOOLONG, "socket path too long: %s", path);
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return client_errf(err, err_size, -errno, "socket: %s", strerror(errno));
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        int r = -errno;
        close(fd);
        return client_errf(err, err_size, r, "%s", strerror(-r));
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

int client_split_host(const char *hp, char *name, size_t size, const char **port)
{
    const char *colon = hp[0] == '[' ? strstr(hp, "]:") : strrchr(hp, ':');
    size_t skip = hp[0] == '[';
    if (!colon || colon == hp + skip || !colon[1 + (hp[0] == '[')])
        return -EINVAL;
    size_t n = (size_t)(colon - hp) - skip;
    if (n >= size)
        return -EINVAL;
    memcpy(name, hp + skip, n);
    name[n] = 0;
    *port = colon + 1 + (hp[0] == '[');
    return 0;
}

int client_connect_tcp(const char *name, const char *port, char *err, size_t err_size)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG}, *ai;
    int g = getaddrinfo(name, port, &hints, &ai), r = -EHOSTUNREACH;
    if (g != 0)
        return client_errf(err, err_size, -ENOENT, "cannot resolve %s: %s", name, gai_strerror(g));
    for (struct addrinfo *a = ai; a; a = a->ai_next) {
        int fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
            r = -errno;
            continue;
        }
        if (connect(fd, a->ai_addr, a->ai_addrlen) < 0 && errno != EINPROGRESS) {
            r = -errno;
            close(fd);
            continue;
        }
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int e = 0;
        socklen_t len = sizeof e;
        int n = poll(&p, 1, CONNECT_TIMEOUT_MS);
        if (n <= 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0 || e) {
            r = n == 0 ? -ETIMEDOUT : e ? -e : -errno;
            close(fd);
            continue;
        }
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        freeaddrinfo(ai);
        return fd;
    }
    freeaddrinfo(ai);
    return client_errf(err, err_size, r, "%s", strerror(-r));
}

/* ---- resuming ---- */

bool drover_resume_wanted(struct drover_resume *r, const struct drover_status *st)
{
    static const char upgrade[] = DROVER_UPGRADE_MESSAGE, lost[] = LOST_MESSAGE;

    if (st->code != GRPC_UNAVAILABLE || (strncmp(st->message, upgrade, sizeof upgrade - 1) &&
                                         strncmp(st->message, lost, sizeof lost - 1)))
        return false;
    if (!r->deadline_ms)
        r->deadline_ms = mono_ms() + DROVER_RESUME_MS;
    return mono_ms() < r->deadline_ms;
}

int drover_resume_connect(struct drover_resume *r, const struct drover_target *t,
                          struct drover_client **c)
{
    struct drover_client *n;
    int e = -ETIMEDOUT;

    if (!r->deadline_ms)
        r->deadline_ms = mono_ms() + DROVER_RESUME_MS;
    for (;;) {
        /* The first attempt at once (an upgrade's sockets take connections all along); then
         * growing pauses while nobody listens (a droverd being restarted). */
        uint64_t now = mono_ms(), pause = r->attempts ? MIN(10u << MIN(r->attempts, 6u), 500u) : 0;
        if (now + pause >= r->deadline_ms)
            return e;
        nanosleep(&(struct timespec){0, (long)pause * 1000000L}, NULL);
        r->attempts++;
        e = drover_client_open(t, &n, NULL, 0);
        if (e >= 0)
            break;
    }
    drover_client_free(*c);
    *c = n;
    return 0;
}

void drover_resume_answered(struct drover_resume *r)
{
    *r = (struct drover_resume){0};
}
