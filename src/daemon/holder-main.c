/* droverd-holder PATH FD: the descriptor holder (see holder.c). It keeps copies of the
 * descriptors of the sessions droverd asks it to hold (runners' PTY masters and pipes), so that
 * when droverd dies those programs keep their terminal (no hangup, no broken pipe) and the next
 * droverd takes the descriptors back and adopts the programs. A program of its own, linked with
 * nothing but drover's base library, so that it costs little while it waits.
 *
 * Protocol, on a SOCK_SEQPACKET unix socket (one message per record, descriptors with
 * SCM_RIGHTS):
 *   'P' ID '\0' BLOB  + 1..3 fds   hold (replacing what was held under ID)
 *   'D' ID                         let go
 *   'L'                            answered by 'H' ID '\0' BLOB + fds per entry, then 'E'
 *   'Q'                            let go of everything and exit
 * The blob is the session's own record (session/hold.c); the holder never reads it. It serves
 * one client at a time (the newest: an upgraded droverd connects again); when its client goes
 * while it holds nothing, it exits. FD is the socket, listening at PATH, that droverd made. */
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
#include <unistd.h>

#include "base/fdpass.h"
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

static int holder_main(const char *path, int l)
{
    int c = -1;

    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    if (l < 0 || listen(l, 4) < 0) /* it must be the listening socket droverd made */
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

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: droverd-holder PATH FD (droverd starts it)\n");
        return 2;
    }
    return holder_main(argv[1], atoi(argv[2]));
}
