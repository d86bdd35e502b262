/* The tools containers need (the OCI runtime, skopeo, umoci) run as children on the loop: their
 * output is read as it comes (capped), their exit is the reaper's news, and a caller that goes
 * away first cancels its callback while the program finishes unseen. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/macro.h"
#include "base/strv.h"
#include "container/container-internal.h"

#define OUT_MAX 65536 /* bytes of output kept; the rest is read and dropped */

struct ctr_cmd {
    ctr_cmd_fn done;        /* NULL once cancelled */
    void *userdata;
    int fd;                 /* our end of the output pipe, -1 */
    uv_poll_t *poll;        /* watching fd */
    char *out;              /* what came, terminated */
    size_t len;
};

extern char **environ;

/* droverd's environment for the tools, without what speaks to droverd's own manager (a
 * runtime that sees NOTIFY_SOCKET proxies the container's sd_notify through it). */
char **ctr_tool_env(void)
{
    static char **env;
    static size_t n;
    if (env)
        return env;
    for (char **e = environ; *e; e++)
        if (strncmp(*e, "NOTIFY_SOCKET=", 14) && strncmp(*e, "LISTEN_", 7) &&
            strncmp(*e, "WATCHDOG_", 9) && strv_push(&env, &n, strdup(*e)) < 0)
            break;
    if (!env)
        env = calloc(1, sizeof *env);
    return env;
}

static void poll_closed(uv_handle_t *h)
{
    free(h);
}

static void drain(struct ctr_cmd *c)
{
    char buf[4096];
    for (;;) {
        ssize_t n = read(c->fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        size_t take = MIN((size_t)OUT_MAX - c->len, (size_t)n);
        if (take && c->out) {
            memcpy(c->out + c->len, buf, take);
            c->len += take;
            c->out[c->len] = '\0';
        }
    }
}

static void on_readable(uv_poll_t *p, int status, int events)
{
    (void)status;
    (void)events;
    drain(p->data);
}

static void close_pipe(struct ctr_cmd *c)
{
    if (c->poll) {
        uv_close((uv_handle_t *)c->poll, poll_closed);
        c->poll = NULL;
    }
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

static void on_exit_cb(struct proc_child *child, int status, void *userdata)
{
    struct ctr_cmd *c = userdata;
    (void)child;
    if (c->fd >= 0)
        drain(c);
    close_pipe(c);
    if (c->done)
        c->done(status, c->out ? c->out : "", c->userdata);
    free(c->out);
    free(c);
}

int ctr_cmd_run(struct ctr_mgr *m, char *const *argv, int out_fd, ctr_cmd_fn done,
                void *userdata, struct ctr_cmd **ret)
{
    struct proc_spawn_opts o = {
        .argv = argv,
        .envp = ctr_tool_env(),
        .stdio = {PROC_STDIO_NULL, PROC_STDIO_FD, PROC_STDIO_FD},
        .fd = {-1, out_fd, out_fd},
        .group = PROC_GROUP_PGRP,
        .umask = -1,
    };
    struct proc_spawn_io io;
    struct proc_child *child;
    struct ctr_cmd *c = calloc(1, sizeof *c);

    if (!c)
        return -ENOMEM;
    c->fd = -1;
    c->done = done;
    c->userdata = userdata;
    if (out_fd < 0) {
        o.stdio[1] = PROC_STDIO_PIPE;
        o.stdio[2] = PROC_STDIO_MERGE;
        if (!(c->out = calloc(1, OUT_MAX + 1))) {
            free(c);
            return -ENOMEM;
        }
    }
    int r = proc_spawn(m->reaper, &o, on_exit_cb, c, &io, &child);
    if (r < 0) {
        free(c->out);
        free(c);
        return r;
    }
    if (out_fd < 0 && io.fd[1] >= 0) {
        c->fd = io.fd[1];
        (void)fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
        c->poll = malloc(sizeof *c->poll);
        if (c->poll && uv_poll_init(m->loop, c->poll, c->fd) == 0) {
            c->poll->data = c;
            uv_poll_start(c->poll, UV_READABLE, on_readable);
        } else {
            free(c->poll); /* read at the exit only: enough for short answers */
            c->poll = NULL;
        }
    }
    if (ret)
        *ret = c;
    return 0;
}

void ctr_cmd_cancel(struct ctr_cmd *c)
{
    if (c)
        c->done = NULL;
}
