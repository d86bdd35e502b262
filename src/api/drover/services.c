/* drover.v1.Services: the service engine over gRPC. Translation only: definitions, targets,
 * snapshots and log tails are the engine's (src/supervise).
 *
 * Three kinds of calls wait on the engine: Stop/Restart/Delete answer once every service they
 * touched has settled (svc_on_settled); Logs streams the files from an offset (the tail's first
 * byte, or where a resuming client got to) and with follow what they grow by, woken by inotify
 * (uv_fs_event), reading only while the client keeps up; Watch streams state changes,
 * coalescing them per service while the client is behind, so its memory is bounded by the number
 * of services whatever the rate of change. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "api/drover/drover-internal.h"
#include "api/msg.h"
#include "api/status.h"
#include "base/macro.h"
#include "base/strv.h"
#include "base/time-util.h"
#include "base/vec.h"
#include "drover/v1/services.pb-c.h"
#include "grpc/grpc.h"
#include "store/store.h"
#include "supervise/supervise.h"

#define SERVICE                      "drover.v1.Services"
#define DEFAULT_RESTART_DELAY_MS     500
#define DEFAULT_RESTART_DELAY_MAX_MS 30000
#define DEFAULT_MIN_UPTIME_MS        2000
#define DEFAULT_KILL_TIMEOUT_MS      3000
#define LOG_LINES_DEFAULT            100
#define LOG_TAIL_MAX                 (1u << 20)
#define LOG_CHUNK                    (32u << 10)

static struct svc_engine *engine(struct grpc_call *call)
{
    return ((struct api_host *)grpc_call_service_data(call))->services;
}

/* ---- Service messages ---- */

/* Storage behind one Service message. */
struct service_msg {
    Drover__V1__Service m;
    Drover__V1__ServiceSpec spec;
    Drover__V1__Probe *probes;   /* one per configured probe */
    Drover__V1__Probe **pprobes; /* pointers to them */
    Google__Protobuf__Timestamp started, exited;
    Google__Protobuf__UInt32Value delay, delay_max, uptime, kill;
    char error[128];                      /* last_error text */
    int32_t survivors[SVC_SURVIVORS_MAX]; /* their pids */
};

static void msg_done(struct service_msg *b)
{
    free(b->spec.env);
    free(b->probes);
    free(b->pprobes);
}

static void set_u32(Google__Protobuf__UInt32Value *w, uint32_t v)
{
    google__protobuf__uint32_value__init(w);
    w->value = v;
}

static int msg_fill(struct svc *s, struct service_msg *b)
{
    const struct svc_config *c = svc_get_config(s);
    struct svc_status st;
    struct svc_usage use;

    memset(b, 0, sizeof *b);
    drover__v1__service__init(&b->m);
    drover__v1__service_spec__init(&b->spec);
    svc_get_status(s, &st);
    (void)svc_usage(s, &use);
    if (api_kv_list(&drover__v1__env_var__descriptor, c->env, &b->spec.env, &b->spec.n_env) < 0)
        return -ENOMEM;
    b->spec.name = c->name;
    b->spec.cmd = c->argv;
    b->spec.n_cmd = strv_length(c->argv);
    b->spec.cwd = c->cwd ? c->cwd : "";
    b->spec.clear_env = c->clear_env;
    b->spec.restart = c->restart == SVC_RESTART_NEVER
                          ? DROVER__V1__RESTART_POLICY__RESTART_POLICY_NEVER
                      : c->restart == SVC_RESTART_ON_FAILURE
                          ? DROVER__V1__RESTART_POLICY__RESTART_POLICY_ON_FAILURE
                          : DROVER__V1__RESTART_POLICY__RESTART_POLICY_ALWAYS;
    b->spec.max_restarts = c->max_restarts;
    set_u32(&b->delay, c->restart_delay_ms);
    set_u32(&b->delay_max, c->restart_delay_max_ms);
    set_u32(&b->uptime, c->min_uptime_ms);
    set_u32(&b->kill, c->kill_timeout_ms);
    b->spec.restart_delay_ms = &b->delay;
    b->spec.restart_delay_max_ms = &b->delay_max;
    b->spec.min_uptime_ms = &b->uptime;
    b->spec.kill_timeout_ms = &b->kill;
    b->spec.stop_signal = (char *)svc_signal_name(c->stop_signal);
    b->spec.oneshot = c->oneshot;
    b->spec.autostart = c->autostart;
    b->spec.n_depends_on = strv_length(c->depends_on);
    b->spec.depends_on = c->depends_on;
    if (c->n_probes && (!(b->probes = calloc(c->n_probes, sizeof *b->probes)) ||
                        !(b->pprobes = calloc(c->n_probes, sizeof *b->pprobes)))) {
        msg_done(b);
        return -ENOMEM;
    }
    for (size_t i = 0; i < c->n_probes; i++) {
        const struct svc_probe *p = &c->probes[i];
        Drover__V1__Probe *w = &b->probes[i];
        drover__v1__probe__init(w);
        w->kind = p->kind == SVC_PROBE_TCP    ? DROVER__V1__PROBE__KIND__KIND_TCP
                  : p->kind == SVC_PROBE_HTTP ? DROVER__V1__PROBE__KIND__KIND_HTTP
                                              : DROVER__V1__PROBE__KIND__KIND_EXEC;
        for (size_t k = 0; p->argv && p->argv[k]; k++)
            w->n_cmd++;
        w->cmd = p->argv;
        w->host = p->host ? p->host : "";
        w->port = p->port;
        w->path = p->path ? p->path : "";
        w->method = p->method ? p->method : "";
        w->status = p->status;
        w->interval_ms = p->interval_ms;
        w->timeout_ms = p->timeout_ms;
        w->failure_threshold = p->failure_threshold;
        w->success_threshold = MAX(p->success_threshold, 1u);
        w->name = p->name ? p->name : "";
        b->pprobes[i] = w;
    }
    b->spec.n_probes = c->n_probes;
    b->spec.probes = b->pprobes;

    b->m.id = svc_id(s);
    b->m.name = c->name;
    b->m.state = (Drover__V1__ServiceState)st.state; /* the enums share their order */
    b->m.status = (char *)svc_status_word(st.state);
    b->m.pid = st.pid;
    b->m.restarts = st.restarts;
    b->m.restarts_total = st.restarts_total;
    if (st.last_started_at > 0) {
        api_timestamp(&b->started, (uint64_t)(st.last_started_at * 1e9));
        b->m.started_at = &b->started;
    }
    if (st.last_exited_at > 0) {
        api_timestamp(&b->exited, (uint64_t)(st.last_exited_at * 1e9));
        b->m.exited_at = &b->exited;
    }
    b->m.last_exit = st.last_exit;
    if (st.reason[0])
        snprintf(b->error, sizeof b->error, "%s", st.reason);
    else if (st.last_error)
        snprintf(b->error, sizeof b->error, "%s", strerror(-st.last_error));
    else if (st.last_exited_at > 0 && st.last_exit == SVC_EXIT_UNKNOWN)
        snprintf(b->error, sizeof b->error, "%s", SVC_EXIT_UNKNOWN_TEXT);
    b->m.last_error = b->error;
    if (st.pid && st.last_started_at > 0)
        b->m.uptime_seconds = MAX(0.0, (double)now_ns(CLOCK_REALTIME) / 1e9 - st.last_started_at);
    b->m.rss_bytes = use.rss_bytes;
    b->m.cpu_seconds = use.cpu_seconds;
    b->m.processes = use.processes;
    b->m.stdout_log = (char *)svc_log_path(s, 1);
    b->m.stderr_log = (char *)svc_log_path(s, 2);
    b->m.spec = &b->spec;
    b->m.deleted = svc_is_removed(s);
    b->m.probed = st.probed;
    b->m.healthy = st.healthy;
    b->m.survivors_total = st.survivors;
    b->m.n_survivors = MIN(st.survivors, SVC_SURVIVORS_MAX);
    memcpy(b->survivors, st.survivor_pids, b->m.n_survivors * sizeof *b->survivors);
    b->m.survivors = b->survivors;
    return 0;
}

/* Sends one Service; -ENOBUFS when the call's queue is full. */
static int send_service(struct grpc_call *call, struct svc *s)
{
    struct service_msg b;
    int r = msg_fill(s, &b);
    if (r < 0)
        return r;
    r = grpc_call_send(call, &b.m.base);
    msg_done(&b);
    return r;
}

static void reply_service(struct grpc_call *call, struct svc *s)
{
    struct service_msg b;
    if (msg_fill(s, &b) < 0)
        return grpc_call_finish(call, GRPC_RESOURCE_EXHAUSTED, "out of memory");
    grpc_call_reply(call, &b.m.base);
    msg_done(&b);
}

static void reply_list(struct grpc_call *call, struct svc **v, size_t n)
{
    Drover__V1__ServiceList list = DROVER__V1__SERVICE_LIST__INIT;
    struct service_msg *b = calloc(n ? n : 1, sizeof *b);
    Drover__V1__Service **pm = calloc(n ? n : 1, sizeof *pm);
    size_t k = 0;

    for (; b && pm && k < n && msg_fill(v[k], &b[k]) == 0; k++)
        pm[k] = &b[k].m;
    if (!b || !pm || k < n) {
        grpc_call_finish(call, GRPC_RESOURCE_EXHAUSTED, "out of memory");
    } else {
        list.services = pm;
        list.n_services = n;
        grpc_call_reply(call, &list.base);
    }
    for (size_t i = 0; i < k; i++)
        msg_done(&b[i]);
    free(b);
    free(pm);
}

/* ---- Start ---- */

/* Probe → svc_probe, defaults applied; strings borrowed from w (argv allocated: free(p->argv)). */
static int probe_from_wire(const Drover__V1__Probe *w, struct svc_probe *p, char *err,
                           size_t err_size)
{
    for (const char *m = w->method; *m; m++)
        if (*m < 'A' || *m > 'Z' || m - w->method > 16) {
            snprintf(err, err_size, "probe method '%.32s' is not an HTTP method", w->method);
            return -EINVAL;
        }
    *p = (struct svc_probe){
        .name = *w->name ? w->name : NULL,
        .method = *w->method ? w->method : NULL,
        .success_threshold = w->success_threshold ? w->success_threshold : 1,
        .kind = w->kind == DROVER__V1__PROBE__KIND__KIND_TCP    ? SVC_PROBE_TCP
                : w->kind == DROVER__V1__PROBE__KIND__KIND_HTTP ? SVC_PROBE_HTTP
                                                                : SVC_PROBE_EXEC,
        .host = *w->host ? w->host : NULL,
        .port = (uint16_t)w->port,
        .path = *w->path ? w->path : NULL,
        .status = w->status,
        .interval_ms = w->interval_ms ? w->interval_ms : 10000,
        .timeout_ms = w->timeout_ms ? w->timeout_ms : 5000,
        .failure_threshold = w->failure_threshold ? w->failure_threshold : 3,
    };
    if (p->kind == SVC_PROBE_EXEC) {
        if (!w->n_cmd) {
            snprintf(err, err_size, "an exec probe needs a cmd");
            return -EINVAL;
        }
        if (!(p->argv = calloc(w->n_cmd + 1, sizeof *p->argv)))
            return -ENOMEM;
        memcpy(p->argv, w->cmd, w->n_cmd * sizeof *p->argv);
    } else if (!w->port || w->port > 65535) {
        snprintf(err, err_size, "a tcp or http probe needs a port (1 to 65535)");
        return -EINVAL;
    }
    return 0;
}

static int spec_to_config(const Drover__V1__ServiceSpec *w, struct svc_config *c, char ***ret_env,
                          char ***ret_argv, char *err, size_t err_size)
{
    char **env = calloc(w->n_env + 1, sizeof *env),
         **argv = calloc(w->n_cmd + 1 + w->n_depends_on + 1, sizeof *argv);
    int sig = *w->stop_signal ? svc_signal_from_name(w->stop_signal) : SIGTERM;

    *ret_env = env;
    *ret_argv = argv;
    if (!env || !argv)
        return -ENOMEM;
    if (sig < 0) {
        snprintf(err, err_size, "unknown stop_signal '%s'", w->stop_signal);
        return -EINVAL;
    }
    if (w->n_cmd)
        memcpy(argv, w->cmd, w->n_cmd * sizeof *argv);
    /* The dependency names ride in the same allocation, after argv's terminator. */
    char **deps = argv + w->n_cmd + 1;
    if (w->n_depends_on)
        memcpy(deps, w->depends_on, w->n_depends_on * sizeof *deps);
    for (size_t i = 0; i < w->n_env; i++)
        if (!*w->env[i]->name || strchr(w->env[i]->name, '=') ||
            asprintf(&env[i], "%s=%s", w->env[i]->name, w->env[i]->value) < 0) {
            env[i] = NULL;
            snprintf(err, err_size, "invalid environment variable name '%s'", w->env[i]->name);
            return -EINVAL;
        }
    *c = (struct svc_config){
        .name = w->name,
        .argv = argv,
        .cwd = *w->cwd ? w->cwd : NULL,
        .env = env,
        .clear_env = w->clear_env,
        .restart = w->restart == DROVER__V1__RESTART_POLICY__RESTART_POLICY_NEVER
                       ? SVC_RESTART_NEVER
                   : w->restart == DROVER__V1__RESTART_POLICY__RESTART_POLICY_ON_FAILURE
                       ? SVC_RESTART_ON_FAILURE
                       : SVC_RESTART_ALWAYS,
        .max_restarts = w->max_restarts,
        .restart_delay_ms =
            w->restart_delay_ms ? w->restart_delay_ms->value : DEFAULT_RESTART_DELAY_MS,
        .restart_delay_max_ms =
            w->restart_delay_max_ms ? w->restart_delay_max_ms->value : DEFAULT_RESTART_DELAY_MAX_MS,
        .min_uptime_ms = w->min_uptime_ms ? w->min_uptime_ms->value : DEFAULT_MIN_UPTIME_MS,
        .kill_timeout_ms = w->kill_timeout_ms ? w->kill_timeout_ms->value : DEFAULT_KILL_TIMEOUT_MS,
        .stop_signal = sig,
        .oneshot = w->oneshot,
        .autostart = w->autostart,
        .depends_on = deps,
    };
    return 0;
}

static struct svc *one_target(struct grpc_call *call, const char *target)
{
    struct svc *s;
    int r = svc_resolve_one(engine(call), target, &s);
    if (r < 0) {
        api_finish_errno(call, r, "no service matched '%s'", target);
        return NULL;
    }
    return s;
}

static void start(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Drover__V1__StartServiceRequest *req = (const void *)msg;
    struct svc *s = NULL;
    char why[256] = "";
    int r;

    if (req->spec) {
        struct svc_config c;
        char **env = NULL, **argv = NULL;
        size_t n = req->spec->n_probes;
        _cleanup_free_ struct svc_probe *probes = calloc(n ? n : 1, sizeof *probes);
        r = probes ? spec_to_config(req->spec, &c, &env, &argv, why, sizeof why) : -ENOMEM;
        for (size_t i = 0; r >= 0 && i < n; i++)
            r = probe_from_wire(req->spec->probes[i], &probes[i], why, sizeof why);
        c.probes = probes;
        c.n_probes = n;
        if (r >= 0)
            r = svc_start_config(engine(call), &c, &s, why, sizeof why);
        strv_free(env);
        free(argv);
        for (size_t i = 0; probes && i < n; i++)
            free(probes[i].argv);
    } else {
        r = svc_start_target(engine(call), req->target, &s, why, sizeof why);
    }
    if (r < 0)
        return api_finish_errno(call, r, "%s", why[0] ? why : strerror(-r));
    reply_service(call, s);
}

/* ---- StartFile ---- */

static void start_file(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Drover__V1__StartFileRequest *req = (const void *)msg;
    struct api_host *host = grpc_call_service_data(call);
    struct svc_config *v = NULL;
    struct svc **done = NULL;
    size_t n = 0;
    char err[512] = "";

    if (!*req->yaml)
        return grpc_call_finish(call, GRPC_INVALID_ARGUMENT, "the file is empty");
    if (*req->dir && req->dir[0] != '/')
        return grpc_call_finish(call, GRPC_INVALID_ARGUMENT, "dir must be absolute, not '%s'",
                                req->dir);
    int r = host->parse_services(req->yaml, strlen(req->yaml), *req->name ? req->name : "(file)",
                                 *req->dir ? req->dir : NULL, &v, &n, err, sizeof err);
    if (r >= 0)
        r = svc_apply_file(engine(call), v, n, &done, err, sizeof err);
    if (r < 0)
        api_finish_errno(call, r, "%s", err[0] ? err : strerror(-r));
    else
        reply_list(call, done, n);
    free(done);
    svc_configs_free(v, n);
}

/* ---- Stop, Restart, Delete: answered once settled ---- */

/* One call waiting for its services to settle. */
struct settle {
    struct grpc_call *call; /* NULL once the call is over */
};

static void settle_done(struct svc **v, size_t n, size_t n_running, void *userdata)
{
    struct settle *w = userdata;
    (void)n_running;

    if (w->call) {
        grpc_call_set_data(w->call, NULL);
        if (v)
            reply_list(w->call, v, n);
        else
            grpc_call_finish(w->call, GRPC_RESOURCE_EXHAUSTED, "out of memory");
    }
    free(w);
}

static void act_on(struct grpc_call *call, const char *target, enum svc_act act)
{
    struct settle *w = calloc(1, sizeof *w);
    char why[256];

    if (!w)
        return grpc_call_finish(call, GRPC_RESOURCE_EXHAUSTED, "out of memory");
    w->call = call;
    grpc_call_set_data(call, w);
    int r = svc_act(engine(call), target, act, settle_done, w, why, sizeof why);
    if (r < 0) {
        grpc_call_set_data(call, NULL);
        free(w);
        api_finish_errno(call, r, "%s", why);
    }
}

static void stop(struct grpc_call *call, const ProtobufCMessage *msg)
{
    act_on(call, ((const Drover__V1__ServiceTarget *)msg)->target, SVC_ACT_STOP);
}

static void restart(struct grpc_call *call, const ProtobufCMessage *msg)
{
    act_on(call, ((const Drover__V1__ServiceTarget *)msg)->target, SVC_ACT_RESTART);
}

static void delete_(struct grpc_call *call, const ProtobufCMessage *msg)
{
    act_on(call, ((const Drover__V1__ServiceTarget *)msg)->target, SVC_ACT_DELETE);
}

static void settle_close(struct grpc_call *call)
{
    struct settle *w = grpc_call_get_data(call);
    if (w)
        w->call = NULL; /* the services still settle; nobody hears of it */
}

/* ---- List, Get, Flush, Save, Resurrect ---- */

static void list(struct grpc_call *call, const ProtobufCMessage *msg)
{
    struct svc **v = NULL;
    size_t n = 0;
    int r = svc_resolve(engine(call), "all", true, &v, &n);
    (void)msg;
    if (r == -ENOMEM)
        return grpc_call_finish(call, GRPC_RESOURCE_EXHAUSTED, "out of memory");
    reply_list(call, v, n); /* -ENOENT: none defined */
    free(v);
}

static void get(struct grpc_call *call, const ProtobufCMessage *msg)
{
    struct svc *s = one_target(call, ((const Drover__V1__ServiceTarget *)msg)->target);
    if (s)
        reply_service(call, s);
}

static void flush(struct grpc_call *call, const ProtobufCMessage *msg)
{
    struct svc **v;
    size_t n;
    char why[256];
    int r = svc_flush(engine(call), ((const Drover__V1__ServiceTarget *)msg)->target, &v, &n, why,
                      sizeof why);
    if (r < 0)
        return api_finish_errno(call, r, "%s", why);
    reply_list(call, v, n);
    free(v);
}

static void save(struct grpc_call *call, const ProtobufCMessage *msg)
{
    Drover__V1__SaveServicesResponse resp = DROVER__V1__SAVE_SERVICES_RESPONSE__INIT;
    size_t n;
    char why[512];
    (void)msg;

    int r = svc_save(engine(call), &n, why, sizeof why);
    if (r < 0)
        return api_finish_errno(call, r, "%s", why);
    resp.path = (char *)svc_engine_snapshot_path(engine(call));
    resp.count = (uint32_t)n;
    grpc_call_reply(call, &resp.base);
}

static void resurrect(struct grpc_call *call, const ProtobufCMessage *msg)
{
    size_t n;
    char why[512];

    int r = svc_resurrect(engine(call), &n, why, sizeof why);
    if (r < 0)
        return api_finish_errno(call, r, "%s", why);
    list(call, msg);
}

/* ---- Logs ---- */

/* A Logs call: one file per stream, sent from an offset on (the tail's first byte, or where the
 * request says to resume), and with follow watched for what it grows by. */
struct follow {
    struct grpc_call *call; /* the call; the struct goes when it closes */
    struct {
        uv_fs_event_t ev; /* inotify on the file; closed with the call */
        int fd;           /* the file, -1 when not read */
        bool watching;    /* ev was started (and must be closed) */
        bool announced;   /* a chunk went out: the client knows where the stream is */
        uint64_t offset;  /* the next byte to send */
        uint64_t end;     /* the file's size when the call began: without follow, the last */
        struct follow *f; /* back-pointer for the event handle */
    } s[2];
    unsigned open_handles; /* fs_event handles not yet closed */
    bool follow;           /* else the call ends once each file is sent up to its end */
    bool done;             /* the call is over */
};

static int send_chunk(struct follow *f, int i, const void *p, size_t n)
{
    Drover__V1__LogChunk chunk = DROVER__V1__LOG_CHUNK__INIT;

    chunk.stream = i ? DROVER__V1__LOG_CHUNK__STREAM__STREAM_STDERR
                     : DROVER__V1__LOG_CHUNK__STREAM__STREAM_STDOUT;
    chunk.data = (ProtobufCBinaryData){n, (uint8_t *)p};
    chunk.offset = f->s[i].offset;
    int r = grpc_call_send(f->call, &chunk.base);
    if (r >= 0)
        f->s[i].announced = true;
    return r;
}

/* Sends what the file has past its offset (up to its end without follow) while the call has
 * room; the first time, an empty chunk if there is nothing, so the client learns the offset.
 * Returns whether the file is sent as far as it goes. */
static bool pump(struct follow *f, int i)
{
    uint8_t buf[LOG_CHUNK];
    struct stat st;

    if (f->done || f->s[i].fd < 0 || fstat(f->s[i].fd, &st) < 0)
        return true;
    if ((uint64_t)st.st_size < f->s[i].offset)
        f->s[i].offset = 0; /* flushed or truncated: start over */
    uint64_t limit = f->follow ? (uint64_t)st.st_size : MIN((uint64_t)st.st_size, f->s[i].end);
    while (grpc_call_writable(f->call) && f->s[i].offset < limit) {
        ssize_t n =
            pread(f->s[i].fd, buf, MIN(sizeof buf, limit - f->s[i].offset), (off_t)f->s[i].offset);
        if (n <= 0 || send_chunk(f, i, buf, (size_t)n) < 0)
            return n <= 0;
        f->s[i].offset += (uint64_t)n;
    }
    if (!f->s[i].announced)
        (void)send_chunk(f, i, "", 0);
    return f->s[i].offset >= limit;
}

/* Both files, as far as the call takes them; without follow, the call ends once they are sent. */
static void pump_both(struct follow *f)
{
    bool sent = pump(f, 0);
    sent = pump(f, 1) && sent;
    if (sent && !f->follow && !f->done)
        grpc_call_finish(f->call, GRPC_OK, NULL);
}

static void on_file_event(uv_fs_event_t *ev, const char *name, int events, int status)
{
    struct follow *f = ev->data;
    (void)name, (void)events, (void)status;
    pump(f, ev == &f->s[0].ev ? 0 : 1);
}

static void follow_handle_closed(uv_handle_t *h)
{
    struct follow *f = h->data;
    if (--f->open_handles == 0)
        free(f);
}

/* Where a stream starts: the first byte of its last lines, or where the request says to go on
 * from. The bytes are sent from the file as it grows, so the tail and what follows are one
 * stream, under flow control. */
static uint64_t stream_start(int fd, uint64_t size, const Drover__V1__LogsRequest *req, int i)
{
    const Google__Protobuf__UInt64Value *from = i ? req->stderr_from : req->stdout_from;
    uint32_t lines = req->lines ? req->lines : LOG_LINES_DEFAULT;
    size_t len = 0;

    if (from) /* a file now shorter was flushed or rotated meanwhile: pump starts it over */
        return from->value;
    char *tail = svc_log_tail_fd(fd, size, lines, LOG_TAIL_MAX, &len);
    free(tail); /* pump reads the same bytes again, as the call can take them */
    return size - len;
}

static void logs(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Drover__V1__LogsRequest *req = (const void *)msg;
    struct svc *s = one_target(call, req->target);
    bool want[2] = {!req->stderr_only, !req->stdout_only};

    if (!s)
        return;
    struct follow *f = calloc(1, sizeof *f);
    if (!f)
        return grpc_call_finish(call, GRPC_RESOURCE_EXHAUSTED, "out of memory");
    f->call = call;
    f->follow = req->follow;
    grpc_call_set_data(call, f);
    uv_loop_t *loop = ((struct api_host *)grpc_call_service_data(call))->loop;
    for (int i = 0; i < 2; i++) {
        struct stat st;
        int fd = want[i] ? open(svc_log_path(s, i + 1),
                                O_RDONLY | O_CLOEXEC | (req->follow ? O_CREAT : 0), 0640)
                         : -1;
        f->s[i].fd = fd;
        f->s[i].f = f;
        if (fd >= 0 && fstat(fd, &st) == 0) {
            f->s[i].end = (uint64_t)st.st_size;
            f->s[i].offset = stream_start(fd, f->s[i].end, req, i);
        }
        if (fd < 0 || !req->follow)
            continue;
        uv_fs_event_init(loop, &f->s[i].ev);
        f->s[i].ev.data = f;
        f->open_handles++;
        f->s[i].watching = true;
        uv_fs_event_start(&f->s[i].ev, on_file_event, svc_log_path(s, i + 1), 0);
    }
    pump_both(f);
}

static void logs_ready(struct grpc_call *call)
{
    struct follow *f = grpc_call_get_data(call);
    if (f)
        pump_both(f);
}

static void logs_close(struct grpc_call *call)
{
    struct follow *f = grpc_call_get_data(call);
    if (!f)
        return;
    f->done = true;
    bool any = f->open_handles > 0;
    for (int i = 0; i < 2; i++) {
        if (f->s[i].fd >= 0)
            close(f->s[i].fd);
        if (f->s[i].watching)
            uv_close((uv_handle_t *)&f->s[i].ev, follow_handle_closed);
    }
    if (!any)
        free(f);
}

/* ---- Watch ---- */

struct watcher {
    struct grpc_call *call; /* the stream */
    struct svc_watch *w;    /* engine observer */
    uint32_t *dirty;        /* ids changed while the client was behind */
    size_t n_dirty, cap;    /* used and allocated */
    char target[];          /* the service it follows (a name or an id), "" for all */
};

static bool matches(struct watcher *w, struct svc *s)
{
    char id[16];
    snprintf(id, sizeof id, "%u", svc_id(s));
    return !*w->target || !strcmp(w->target, svc_name(s)) || !strcmp(w->target, id);
}

static void mark_dirty(struct watcher *w, uint32_t id)
{
    for (size_t i = 0; i < w->n_dirty; i++)
        if (w->dirty[i] == id)
            return;
    if (VEC_RESERVE(w->dirty, w->cap, w->n_dirty + 1) < 0)
        return; /* the change is lost for this client; the next one carries the state */
    w->dirty[w->n_dirty++] = id;
}

static void on_change(struct svc *s, void *userdata)
{
    struct watcher *w = userdata;
    if (!matches(w, s))
        return;
    if (w->n_dirty || send_service(w->call, s) == -ENOBUFS)
        mark_dirty(w, svc_id(s));
}

static void watch_ready(struct grpc_call *call)
{
    struct watcher *w = grpc_call_get_data(call);
    struct svc_engine *e = engine(call);

    while (w && w->n_dirty && grpc_call_writable(call)) {
        struct svc *s = svc_find_id(e, w->dirty[0]);
        Drover__V1__Service gone = DROVER__V1__SERVICE__INIT;
        gone.id = w->dirty[0];
        gone.deleted = true;
        if ((s ? send_service(call, s) : grpc_call_send(call, &gone.base)) == -ENOBUFS)
            return;
        memmove(w->dirty, w->dirty + 1, --w->n_dirty * sizeof *w->dirty);
    }
}

static void watch(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Drover__V1__WatchServicesRequest *req = (const void *)msg;
    struct svc_engine *e = engine(call);
    struct watcher *w = calloc(1, sizeof *w + strlen(req->target) + 1);

    if (!w)
        return grpc_call_finish(call, GRPC_RESOURCE_EXHAUSTED, "out of memory");
    strcpy(w->target, req->target);
    w->call = call;
    grpc_call_set_data(call, w);
    for (size_t i = 0; i < svc_count(e); i++)
        on_change(svc_at(e, i), w);
    w->w = svc_engine_watch(e, on_change, w);
}

static void watch_close(struct grpc_call *call)
{
    struct watcher *w = grpc_call_get_data(call);
    if (!w)
        return;
    svc_engine_unwatch(w->w);
    free(w->dirty);
    free(w);
}

#define UNARY(name, T, fn, close)                                                                  \
    {                                                                                              \
        name, GRPC_UNARY, &drover__v1__##T##__descriptor, fn, NULL, NULL, close                    \
    }

static const struct grpc_method methods[] = {
    UNARY("Start", start_service_request, start, NULL),
    UNARY("StartFile", start_file_request, start_file, NULL),
    UNARY("Stop", service_target, stop, settle_close),
    UNARY("Restart", service_target, restart, settle_close),
    UNARY("Delete", service_target, delete_, settle_close),
    UNARY("List", list_services_request, list, NULL),
    UNARY("Get", service_target, get, NULL),
    {"Logs", GRPC_SERVER_STREAM, &drover__v1__logs_request__descriptor, logs, NULL, logs_ready,
     logs_close},
    UNARY("Flush", service_target, flush, NULL),
    UNARY("Save", save_services_request, save, NULL),
    UNARY("Resurrect", resurrect_services_request, resurrect, NULL),
    {"Watch", GRPC_SERVER_STREAM, &drover__v1__watch_services_request__descriptor, watch, NULL,
     watch_ready, watch_close},
};

const struct grpc_service api_drover_services = {SERVICE, methods, ARRAY_SIZE(methods),
                                                 &drover__v1__services__descriptor};
