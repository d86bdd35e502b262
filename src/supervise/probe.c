/* Health probes: is a running service doing its job, not just running? One check at a time per
 * service, each bounded by its timeout:
 *
 *   exec  run a command; exit 0 is healthy
 *   tcp   connect to host:port
 *   http  GET path on host:port; the status must be the expected one (any 2xx or 3xx if 0)
 *
 * A check runs every interval (every 500 ms at most until the service first proves healthy, so
 * that dependents waiting for it start soon). success_threshold successes in a row make a probe
 * healthy, and failure_threshold failures in a row restart the service. A service with several
 * probes is healthy when every one is. Probes exist only while the service runs; a check in flight
 * when it stops is abandoned (its handles closed, its result dropped). Hosts are numeric addresses
 * or "localhost": a probe never waits on DNS. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/macro.h"
#include "proc/proc.h"
#include "supervise/supervise.h"
#include "supervise/supervise-internal.h"

#define EAGER_INTERVAL_MS 500 /* until the first success */
#define HTTP_REPLY_MAX    512 /* enough for the status line */

/* One check in flight. It outlives its probe if the service stops meanwhile: then probe is
 * NULL and the result goes nowhere; the struct goes when its last handle has closed. */
struct check {
    struct probe *probe;        /* NULL once abandoned */
    uv_timer_t timeout;         /* bounds the check */
    uv_tcp_t tcp;               /* tcp and http */
    uv_connect_t connect;       /* the connection request */
    uv_write_t write;           /* the http request */
    struct proc_child *child;   /* exec */
    char request[512];          /* http request text */
    char reply[HTTP_REPLY_MAX]; /* what the server said so far */
    size_t reply_len;           /* its length */
    unsigned handles;           /* open handles: timeout, tcp */
    bool finished;              /* the result has been taken */
};

struct probe {
    struct svc *s;               /* the service */
    const struct svc_probe *cfg; /* its settings (in the service's config) */
    struct proc_reaper *reaper;  /* for exec */
    uv_timer_t timer;            /* the next check; frees us on close */
    struct check *check;         /* in flight, or NULL */
    uint32_t failures;           /* in a row */
    uint32_t successes;          /* in a row */
    bool healthy;                /* the last check succeeded */
};

static void check_closed(uv_handle_t *h)
{
    struct check *c = h->data;
    if (--c->handles == 0)
        free(c);
}

/* Ends a check: reports to the probe (unless abandoned), closes the handles. */
static void finish(struct check *c, bool ok)
{
    if (c->finished)
        return;
    c->finished = true;
    uv_timer_stop(&c->timeout);
    if (c->child) { /* still running (a timeout, or the probe went): it goes too */
        (void)proc_child_signal(c->child, SIGKILL);
        proc_child_forget(c->child);
    }
    c->child = NULL;
    struct probe *p = c->probe;
    uv_close((uv_handle_t *)&c->timeout, check_closed);
    if (c->tcp.data == c)
        uv_close((uv_handle_t *)&c->tcp, check_closed);
    if (p) {
        p->check = NULL;
        probe_result(p, ok);
    }
}

static void on_timeout(uv_timer_t *t)
{
    finish(t->data, false);
}

static void on_exec_exit(struct proc_child *child, int status, void *userdata)
{
    struct check *c = userdata;
    (void)child;
    c->child = NULL;
    finish(c, status == 0);
}

static int start_exec(struct check *c, const struct svc_probe *cfg, struct proc_reaper *r)
{
    extern char **environ;
    struct proc_spawn_opts o = {
        .argv = cfg->argv,
        .envp = environ,
        .stdio = {PROC_STDIO_NULL, PROC_STDIO_NULL, PROC_STDIO_NULL},
        .group = PROC_GROUP_SESSION,
        .umask = -1,
    };
    return proc_spawn(r, &o, on_exec_exit, c, NULL, &c->child);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct check *c = h->data;
    (void)suggested;
    *buf = uv_buf_init(c->reply + c->reply_len, (unsigned)(sizeof c->reply - 1 - c->reply_len));
}

/* "HTTP/1.1 200 OK": the status, or -1. */
static int status_code(const char *reply)
{
    int code;
    if (strncmp(reply, "HTTP/1.", 7) != 0 || sscanf(reply + 8, " %3d", &code) != 1)
        return -1;
    return code;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct check *c = s->data;
    (void)buf;
    if (n > 0)
        c->reply_len += (size_t)n;
    c->reply[c->reply_len] = '\0';
    if (c->reply_len >= 12 || strchr(c->reply, '\n') || n < 0) {
        int code = status_code(c->reply);
        uint32_t want = c->probe ? c->probe->cfg->status : 0;
        finish(c, code > 0 && (want ? (uint32_t)code == want : code >= 200 && code < 400));
    }
}

static void on_written(uv_write_t *w, int status)
{
    struct check *c = w->data;
    if (status < 0 || uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0)
        finish(c, false);
}

static void on_connect(uv_connect_t *req, int status)
{
    struct check *c = req->data;
    if (c->finished)
        return;
    if (status < 0 || !c->probe)
        return finish(c, false);
    if (c->probe->cfg->kind == SVC_PROBE_TCP)
        return finish(c, true);
    uv_buf_t b = uv_buf_init(c->request, (unsigned)strlen(c->request));
    c->write.data = c;
    if (uv_write(&c->write, (uv_stream_t *)&c->tcp, &b, 1, on_written) < 0)
        finish(c, false);
}

static int start_tcp(struct check *c, const struct svc_probe *cfg, uv_loop_t *loop)
{
    struct sockaddr_storage sa;
    const char *host =
        !cfg->host || !*cfg->host || !strcmp(cfg->host, "localhost") ? "127.0.0.1" : cfg->host;
    int r = strchr(host, ':') ? uv_ip6_addr(host, cfg->port, (struct sockaddr_in6 *)&sa)
                              : uv_ip4_addr(host, cfg->port, (struct sockaddr_in *)&sa);
    if (r < 0)
        return r;
    snprintf(c->request, sizeof c->request,
             "%s %s HTTP/1.1\r\nHost: %s:%u\r\nUser-Agent: droverd-probe\r\n"
             "Content-Length: 0\r\nConnection: close\r\n\r\n",
             cfg->method && *cfg->method ? cfg->method : "GET",
             cfg->path && *cfg->path ? cfg->path : "/", host, cfg->port);
    if ((r = uv_tcp_init(loop, &c->tcp)) < 0)
        return r;
    c->tcp.data = c;
    c->handles++;
    c->connect.data = c;
    if ((r = uv_tcp_connect(&c->connect, &c->tcp, (struct sockaddr *)&sa, on_connect)) < 0)
        return r;
    return 0;
}

static void run_check(struct probe *p)
{
    uv_loop_t *loop = p->timer.loop;
    struct check *c = calloc(1, sizeof *c);
    int r;

    if (!c)
        return probe_result(p, false);
    c->probe = p;
    uv_timer_init(loop, &c->timeout);
    c->timeout.data = c;
    c->handles = 1;
    p->check = c;
    uv_timer_start(&c->timeout, on_timeout, p->cfg->timeout_ms, 0);
    r = p->cfg->kind == SVC_PROBE_EXEC ? start_exec(c, p->cfg, p->reaper)
                                       : start_tcp(c, p->cfg, loop);
    if (r < 0)
        finish(c, false);
}

static void on_tick(uv_timer_t *t)
{
    struct probe *p = t->data;
    if (!p->check)
        run_check(p);
}

static void schedule(struct probe *p)
{
    uint32_t ms = p->healthy ? p->cfg->interval_ms : MIN(p->cfg->interval_ms, EAGER_INTERVAL_MS);
    uv_timer_start(&p->timer, on_tick, ms, 0);
}

struct probe *probe_new(struct svc *s, const struct svc_probe *cfg, uv_loop_t *loop,
                        struct proc_reaper *r)
{
    struct probe *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->s = s;
    p->cfg = cfg;
    p->reaper = r;
    uv_timer_init(loop, &p->timer);
    p->timer.data = p;
    /* The first check soon after the spawn: the program needs a moment to listen. */
    uv_timer_start(&p->timer, on_tick, MIN(cfg->interval_ms, 50u), 0);
    return p;
}

bool probe_healthy(const struct probe *p)
{
    return p && p->healthy;
}

static void probe_closed(uv_handle_t *h)
{
    free(h->data);
}

void probe_free(struct probe *p)
{
    if (!p)
        return;
    if (p->check) {
        p->check->probe = NULL;
        finish(p->check, false);
    }
    uv_close((uv_handle_t *)&p->timer, probe_closed);
}

/* A check's result, in the engine: svc.c decides what a failure means. */
void probe_result(struct probe *p, bool ok)
{
    if (ok) {
        p->failures = 0;
        p->successes++;
        bool was = p->healthy;
        p->healthy = was || p->successes >= MAX(p->cfg->success_threshold, 1u);
        schedule(p);
        if (p->healthy && !was)
            svc_probe_changed(p->s, 0);
        return;
    }
    p->failures++;
    p->successes = 0;
    bool was = p->healthy;
    p->healthy = false;
    if (p->failures >= p->cfg->failure_threshold) {
        /* The service restarts; this probe goes with its process. */
        svc_probe_changed(p->s, p->failures);
        return;
    }
    schedule(p);
    if (was)
        svc_probe_changed(p->s, 0);
}
