/* Sessions kept by the descriptor holder (see session.h and daemon/holder.c): what is sent to
 * it, and taking it all back after droverd restarted.
 *
 * A held session's record is NUL-separated text: "1", kind, merge_stderr, pid, starttime, rows,
 * cols, created_at, which descriptors follow (a mask of [0], [1], [2]), cgroup, command, cwd,
 * originator. Messages are small and the holder is local: a send that would block is dropped
 * (that session is then not held, and the log says so), so the loop never waits on it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "base/fdpass.h"
#include "base/log.h"
#include "base/macro.h"
#include "session/session-internal.h"

#define REC_MAX 8192

void sess_mgr_set_holder(struct sess_mgr *m, int (*connect)(bool start, void *userdata),
                         void *userdata)
{
    m->hold_connect = connect;
    m->hold_data = userdata;
}

/* The connection, made now if there is none (start: start the holder if none runs). */
static bool connected(struct sess_mgr *m, bool start)
{
    if (m->hold_fd < 0 && m->hold_connect) {
        int fd = m->hold_connect(start, m->hold_data);
        if (fd >= 0)
            m->hold_fd = fd;
        else if (start)
            log_warning("no descriptor holder (%s): held sessions end if droverd dies",
                        strerror(-fd));
    }
    return m->hold_fd >= 0;
}

void sess_mgr_hold_quit(struct sess_mgr *m)
{
    if (m->hold_fd < 0)
        return;
    (void)fdpass_send(m->hold_fd, "Q", 1, NULL, 0);
    close(m->hold_fd);
    m->hold_fd = -1;
}

void sess_hold_put(struct session *s)
{
    struct sess_mgr *m = s->m;
    char rec[REC_MAX];
    int fds[3], n = 0, mask = 0;

    if (!s->child || !connected(m, true))
        return;
    for (int i = 0; i < 3; i++)
        if (s->fds[i].fd >= 0) {
            fds[n++] = s->fds[i].fd;
            mask |= 1 << i;
        }
    const char *cg = proc_child_cgroup(s->child);
    int len = snprintf(
        rec, sizeof rec, "P%s%c1%c%d%c%d%c%d%c%llu%c%u%c%u%c%.6f%c%d%c%s%c%s%c%s%c%s", s->id, 0, 0,
        (int)s->kind, 0, (int)s->merge_stderr, 0, (int)s->pid, 0,
        (unsigned long long)proc_child_starttime(s->child), 0, s->rows, 0, s->cols, 0,
        s->created_at, 0, mask, 0, cg ? cg : "", 0, s->command, 0, s->cwd, 0, s->originator);
    if (len < 0 || len >= (int)sizeof rec || !n) {
        log_info("session %s is not held: its record does not fit", s->id);
        return;
    }
    int r = fdpass_send(m->hold_fd, rec, (size_t)len + 1, fds, n);
    if (r < 0) {
        log_warning("session %s is not held (%s): it ends if droverd dies", s->id, strerror(-r));
        return;
    }
    s->held = true;
}

void sess_hold_drop(struct session *s)
{
    char msg[64];
    if (!s->held || s->m->hold_fd < 0)
        return;
    int len = snprintf(msg, sizeof msg, "D%s", s->id);
    (void)fdpass_send(s->m->hold_fd, msg, (size_t)len + 1, NULL, 0);
    s->held = false;
}

/* The fields of a record (after its id), NUL-separated; false when it is not one. */
static bool parse(char *p, size_t len, struct sess_held *e, int *mask)
{
    char *f[13];
    size_t k = 0;
    for (char *q = p; q < p + len && k < ARRAY_SIZE(f); q += strlen(q) + 1)
        f[k++] = q;
    if (k != ARRAY_SIZE(f) || strcmp(f[0], "1") != 0)
        return false;
    int kind = atoi(f[1]);
    *e = (struct sess_held){
        .kind = kind == SESS_PIPE ? SESS_PIPE : SESS_PTY,
        .merge_stderr = atoi(f[2]) != 0,
        .pid = (pid_t)atoi(f[3]),
        .starttime = strtoull(f[4], NULL, 10),
        .rows = (uint16_t)atoi(f[5]),
        .cols = (uint16_t)atoi(f[6]),
        .created_at = strtod(f[7], NULL),
        .cgroup = f[9],
        .command = f[10],
        .cwd = f[11],
        .originator = f[12],
    };
    *mask = atoi(f[8]);
    return (kind == SESS_PTY || kind == SESS_PIPE) && e->pid > 0 && *mask > 0 && *mask < 8;
}

int sess_hold_restore(struct sess_mgr *m)
{
    struct sess_handover *h = NULL;
    struct timeval tv = {2, 0};
    char rec[REC_MAX + 1];
    int n = 0;

    if (!connected(m, false))
        return 0;
    (void)setsockopt(m->hold_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (fdpass_send(m->hold_fd, "L", 1, NULL, 0) < 0)
        return 0;
    for (;;) {
        int got[FDPASS_MAX], n_got, fds[3] = {-1, -1, -1}, mask;
        ssize_t len = fdpass_recv(m->hold_fd, rec, REC_MAX, got, &n_got);
        if (len <= 0 || rec[0] == 'E') {
            for (int i = 0; len > 0 && i < n_got; i++)
                close(got[i]);
            break;
        }
        rec[len] = '\0';
        const char *id = rec + 1;
        size_t idlen = strlen(id);
        struct sess_held e;
        struct session *here = sess_find(m, id);
        bool ok = rec[0] == 'H' && idlen + 2 <= (size_t)len &&
                  parse(rec + idlen + 2, (size_t)len - idlen - 2, &e, &mask) &&
                  n_got == __builtin_popcount((unsigned)mask);
        if (ok && !here) {
            for (int i = 0, k = 0; i < 3; i++)
                if (mask & (1 << i))
                    fds[i] = got[k++];
            if (sess_handover_add_held(&h, id, m->lim.backlog_bytes, &e, fds) == 0)
                continue;
            n_got = 0; /* taken (and closed) */
        }
        for (int i = 0; i < n_got; i++)
            close(got[i]);
        if (here) /* handed over by an upgrade in place: still held */
            here->held = true;
        else
            log_warning("the descriptor holder kept session %s in a form not understood: let go",
                        id);
        if (!here) {
            char msg[64];
            int ml = snprintf(msg, sizeof msg, "D%s", id);
            (void)fdpass_send(m->hold_fd, msg, (size_t)ml + 1, NULL, 0);
        }
    }
    tv = (struct timeval){0, 0};
    (void)setsockopt(m->hold_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (h) {
        n = sess_handover_restore(m, h);
        sess_handover_free(h);
    }
    return n;
}
