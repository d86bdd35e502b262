/* The descriptor holder: a small process, droverd's image run as `droverd --fd-holder PATH`, that
 * keeps copies of the descriptors of the sessions droverd asks it to hold (runners' PTY
 * masters and pipes). When droverd dies, those programs keep their terminal (no hangup, no
 * broken pipe) and the next droverd takes the descriptors back and adopts the programs.
 *
 * Protocol, on a SOCK_SEQPACKET unix socket (one message per record, descriptors with
 * SCM_RIGHTS):
 *   'P' ID '\0' BLOB  + 1..3 fds   hold (replacing what was held under ID)
 *   'D' ID                         let go
 *   'L'                            answered by 'H' ID '\0' BLOB + fds per entry, then 'E'
 *   'Q'                            let go of everything and exit
 * The blob is the session's own record (session/hold.c); the holder never reads it. It serves
 * one client at a time (the newest: an upgraded droverd connects again); when its client goes
 * while it holds nothing, it exits. */
#include "daemon/holder.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/fdpass.h"
#include "base/log.h"
#include "base/macro.h"

#define MSG_MAX  8192
#define FDS_MAX  FDPASS_MAX
#define HOLD_MAX 65536

struct entry {
    char *id;
    uint8_t *blob;
    size_t len;
    int fds[FDS_MAX];
    int n_fds;
};

static struct entry *entries;
static size_t n_entries, cap_entries;

static void entry_free(struct entry *e)
{
    for (int i = 0; i < e->n_fds; i++)
        close(e->fds[i]);
    free(e->id);
    free(e->blob);
}

static struct entry *find(const char *id)
{
    for (size_t i = 0; i < n_entries; i++)
        if (strcmp(entries[i].id, id) == 0)
            return &entries[i];
    return NULL;
}

static void drop(const char *id)
{
    struct entry *e = find(id);
    if (!e)
        return;
    entry_free(e);
    *e = entries[--n_entries];
}

/* One request of the client; false when the holder should exit. */
static bool serve(int c, const uint8_t *m, size_t n, int *fds, int n_fds)
{
    const char *id = (const char *)m + 1;
    size_t idlen = n > 1 ? strnlen(id, n - 1) : 0;

    switch (n ? m[0] : 0) {
    case 'P': {
        if (idlen == 0 || idlen >= n - 1 || n_fds == 0 || (n_entries >= HOLD_MAX && !find(id)))
            break;
        struct entry e = {.id = strndup(id, idlen), .len = n - 2 - idlen, .n_fds = n_fds};
        e.blob = malloc(e.len ? e.len : 1);
        if (!e.id || !e.blob ||
            (n_entries == cap_entries &&
             !(entries = reallocarray(entries, cap_entries = cap_entries ? cap_entries * 2 : 16,
                                      sizeof *entries)))) {
            free(e.id);
            free(e.blob);
            break;
        }
        memcpy(e.blob, id + idlen + 1, e.len);
        memcpy(e.fds, fds, (size_t)n_fds * sizeof(int));
        drop(e.id);
        entries[n_entries++] = e;
        return true; /* the descriptors are held now */
    }
    case 'D':
        if (idlen && idlen < n - 1) /* terminated inside the message */
            drop(id);
        break;
    case 'L': {
        uint8_t out[MSG_MAX];
        for (size_t i = 0; i < n_entries; i++) {
            struct entry *e = &entries[i];
            size_t il = strlen(e->id);
            if (1 + il + 1 + e->len > sizeof out)
                continue;
            out[0] = 'H';
            memcpy(out + 1, e->id, il + 1);
            memcpy(out + 2 + il, e->blob, e->len);
            (void)fdpass_send(c, out, 2 + il + e->len, e->fds, e->n_fds);
        }
        (void)fdpass_send(c, "E", 1, NULL, 0);
        break;
    }
    case 'Q':
        for (int i = 0; i < n_fds; i++)
            close(fds[i]);
        return false;
    }
    for (int i = 0; i < n_fds; i++) /* not kept */
        close(fds[i]);
    return true;
}

/* A listening socket at path (replacing a stale one). */
static int listen_at(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int l;

    if (strlen(path) >= sizeof sa.sun_path)
        return -ENAMETOOLONG;
    strcpy(sa.sun_path, path);
    if ((l = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)) < 0)
        return -errno;
    (void)unlink(path);
    if (bind(l, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(l, 4) < 0) {
        int e = -errno;
        close(l);
        return e;
    }
    return l;
}

int holder_main(const char *path, int l)
{
    int c = -1;

    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    if (l < 0 && (l = listen_at(path)) < 0)
        return 1;
    (void)fcntl(l, F_SETFD, FD_CLOEXEC);
    for (;;) {
        struct pollfd p[2] = {{.fd = l, .events = POLLIN}, {.fd = c, .events = POLLIN}};
        if (poll(p, c >= 0 ? 2 : 1, -1) < 0) {
            if (errno == EINTR)
                continue;
            return 1;
        }
        if (p[0].revents & POLLIN) {
            int nc = accept4(l, NULL, NULL, SOCK_CLOEXEC);
            if (nc >= 0) { /* the newest client is droverd */
                if (c >= 0)
                    close(c);
                c = nc;
                continue;
            }
        }
        if (c < 0 || !(p[1].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        uint8_t m[MSG_MAX + 1];
        int fds[FDS_MAX], n_fds;
        ssize_t n = fdpass_recv(c, m, MSG_MAX, fds, &n_fds);
        if (n == -EMSGSIZE)
            continue;
        if (n <= 0) { /* droverd went: keep what is held for the next one */
            close(c);
            c = -1;
            if (n_entries == 0)
                break;
            continue;
        }
        if (!serve(c, m, (size_t)n, fds, n_fds))
            break;
    }
    for (size_t i = 0; i < n_entries; i++)
        entry_free(&entries[i]);
    free(entries);
    (void)unlink(path);
    return 0;
}

static int try_connect(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -errno;
    if (strlen(path) >= sizeof sa.sun_path) {
        close(fd);
        return -ENAMETOOLONG;
    }
    strcpy(sa.sun_path, path);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    return fd;
}

int holder_connect(const char *path, bool start)
{
    int fd = try_connect(path);
    if (fd >= 0 || !start)
        return fd;
    /* None runs: listen here, and start one that serves this very socket, out of our process
     * group and session (a terminal's ^C or hangup must not reach it). Our connection waits in
     * the socket's backlog until it accepts: nothing here waits for it. */
    int l = listen_at(path);
    if (l < 0)
        return l;
    pid_t pid = fork();
    if (pid < 0) {
        int e = -errno;
        close(l);
        (void)unlink(path);
        return e;
    }
    if (pid == 0) {
        char num[16];
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        setsid();
        int devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0) {
            dup2(devnull, 0);
            dup2(devnull, 1);
        }
        int keep = fcntl(l, F_DUPFD, 3); /* without close-on-exec, for the holder */
        snprintf(num, sizeof num, "%d", keep);
        execl("/proc/self/exe", "droverd", "--fd-holder", path, num, (char *)NULL);
        _exit(127);
    }
    fd = try_connect(path);
    close(l);
    return fd;
}
