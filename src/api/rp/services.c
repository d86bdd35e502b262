/* running-process SERVICE_* requests (runpm) on the service engine, with upstream's defaults
 * and wording: START upserts the definition (keeping its id) and starts it; STOP, RESTART and
 * DELETE take a target (an id, then a name, or "all") and answer once every service they touched
 * has settled; LIST and DESCRIBE report ServiceState; LOGS returns the last lines of both log
 * files; FLUSH empties them; SAVE and RESURRECT write and read services.snapshot.json.
 *
 * Where upstream's zero means "default" (restart_delay_ms 500, kill_timeout_ms 3000,
 * min_uptime_ms 2000), so does ours: the wire cannot say "0" apart from "unset". A non-empty env
 * replaces the environment instead of layering on it (upstream clears it). */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/msg.h"
#include "api/rp/ops.h"
#include "base/buf.h"
#include "base/macro.h"
#include "base/strv.h"
#include "base/time-util.h"
#include "running_process/daemon/v1/daemon.pb-c.h"
#include "supervise/supervise.h"

#define DEFAULT_RESTART_DELAY_MS 500
#define DEFAULT_KILL_TIMEOUT_MS  3000
#define DEFAULT_MIN_UPTIME_MS    2000
#define BACKOFF_CAP_MS           30000
#define LOG_LINES_DEFAULT        100
#define LOG_LINE_MAX             4096
#define LOG_REPLY_MAX            (64u << 10)
#define SNAPSHOT_MAX             (16u << 20)

/* ---- ServiceState ---- */

/* Storage for one ServiceState and what it points to; filled by state_fill. */
struct state_buf {
    RunningProcess__Daemon__V1__ServiceState st;
    RunningProcess__Daemon__V1__ServiceConfig cfg;
};

static void state_done(struct state_buf *b)
{
    free(b->cfg.env);
}

static int state_fill(struct svc *s, struct state_buf *b)
{
    const struct svc_config *c = svc_get_config(s);
    struct svc_status st;

    svc_get_status(s, &st);
    running_process__daemon__v1__service_state__init(&b->st);
    running_process__daemon__v1__service_config__init(&b->cfg);
    if (api_kv_list(&running_process__daemon__v1__service_config__env_entry__descriptor, c->env,
                    &b->cfg.env, &b->cfg.n_env) < 0)
        return -ENOMEM;
    b->cfg.name = c->name;
    b->cfg.cmd = c->argv;
    b->cfg.n_cmd = strv_length(c->argv);
    b->cfg.cwd = c->cwd ? c->cwd : "";
    b->cfg.autorestart = c->restart != SVC_RESTART_NEVER;
    b->cfg.max_restarts = c->max_restarts;
    b->cfg.restart_delay_ms = c->restart_delay_ms;
    b->cfg.kill_timeout_ms = c->kill_timeout_ms;
    b->cfg.min_uptime_ms = c->min_uptime_ms;
    b->st.name = c->name;
    b->st.id = svc_id(s);
    b->st.status = (char *)svc_status_word(st.state);
    b->st.pid = (uint32_t)st.pid;
    b->st.restart_count = st.restarts;
    b->st.last_started_at = st.last_started_at;
    b->st.last_exited_at = st.last_exited_at;
    b->st.last_exit_code = st.last_exit;
    b->st.config = &b->cfg;
    return 0;
}

/* Answers r (why when it failed) with resp, whose service field (ServiceStartResponse and
 * ServiceDescribeResponse both have one) gets s's ServiceState. */
static void answer_state(struct rp_call *call, int r, const char *why, struct svc *s,
                         const ProtobufCMessage *resp,
                         RunningProcess__Daemon__V1__ServiceState **field)
{
    struct state_buf b;

    if (state_fill(s, &b) < 0)
        return rp_answer_errno(call, -ENOMEM, "out of memory");
    *field = &b.st;
    rp_answer(call, r, r < 0 ? why : NULL, resp);
    state_done(&b);
}

/* ---- STOP, RESTART, DELETE: answered once settled ---- */

struct wait {
    struct rp_call *call; /* first, as struct rp_pending requires */
    enum svc_act act;     /* what to answer */
};

/* What the stops of v left running, for the answer's message (its code stays OK: the services
 * did stop; see docs/ARCHITECTURE.md): "service 'x' stopped, but processes that left its tree
 * still run (2): 12, 13", one clause per such service; "" when none did. */
static void survivors_message(struct svc **v, size_t n, char *out, size_t size)
{
    size_t k = 0;

    out[0] = '\0';
    for (size_t i = 0; v && i < n && k < size; i++) {
        struct svc_status st;
        svc_get_status(v[i], &st);
        if (!st.survivors)
            continue;
        k += (size_t)snprintf(out + k, size - k,
                              "%sservice '%s' stopped, but processes that left its tree still "
                              "run (%u): ",
                              k ? "; " : "", svc_name(v[i]), st.survivors);
        for (uint32_t j = 0; j < MIN(st.survivors, SVC_SURVIVORS_MAX) && k < size; j++)
            k += (size_t)snprintf(out + k, size - k, "%s%d", j ? ", " : "",
                                  (int)st.survivor_pids[j]);
    }
}

static void wait_done(struct svc **v, size_t n, size_t n_running, void *userdata)
{
    struct wait *w = userdata;
    struct rp_call *call = w->call;
    char msg[1024];

    if (call) {
        call->pending = NULL;
        survivors_message(v, n, msg, sizeof msg);
        if (w->act == SVC_ACT_STOP) {
            RunningProcess__Daemon__V1__ServiceStopResponse r =
                RUNNING_PROCESS__DAEMON__V1__SERVICE_STOP_RESPONSE__INIT;
            r.stopped_count = (uint32_t)n_running; /* upstream counts the live ones */
            rp_answer(call, 0, msg[0] ? msg : NULL, &r.base);
        } else if (w->act == SVC_ACT_RESTART) {
            RunningProcess__Daemon__V1__ServiceRestartResponse r =
                RUNNING_PROCESS__DAEMON__V1__SERVICE_RESTART_RESPONSE__INIT;
            r.restarted_count = (uint32_t)n;
            rp_answer(call, 0, msg[0] ? msg : NULL, &r.base);
        } else {
            RunningProcess__Daemon__V1__ServiceDeleteResponse r =
                RUNNING_PROCESS__DAEMON__V1__SERVICE_DELETE_RESPONSE__INIT;
            r.deleted_count = (uint32_t)n;
            rp_answer(call, 0, msg[0] ? msg : NULL, &r.base);
        }
    }
    free(w);
}

static void act_on_targets(struct rp_call *call, const char *target, enum svc_act act)
{
    struct wait *w = calloc(1, sizeof *w);
    char why[256];

    if (!w)
        return rp_answer_errno(call, -ENOMEM, "out of memory");
    *w = (struct wait){.call = call, .act = act};
    call->pending = w;
    int r = svc_act(call->host->services, target, act, wait_done, w, why, sizeof why);
    if (r < 0) {
        call->pending = NULL;
        free(w);
        rp_answer_errno(call, r, "%s", why);
    }
}

static void op_stop(struct rp_call *call, const ProtobufCMessage *msg)
{
    act_on_targets(call, ((const RunningProcess__Daemon__V1__ServiceStopRequest *)msg)->target,
                   SVC_ACT_STOP);
}

static void op_restart(struct rp_call *call, const ProtobufCMessage *msg)
{
    act_on_targets(call, ((const RunningProcess__Daemon__V1__ServiceRestartRequest *)msg)->target,
                   SVC_ACT_RESTART);
}

static void op_delete(struct rp_call *call, const ProtobufCMessage *msg)
{
    act_on_targets(call, ((const RunningProcess__Daemon__V1__ServiceDeleteRequest *)msg)->target,
                   SVC_ACT_DELETE);
}

/* ---- START ---- */

/* ServiceConfig → svc_config, with upstream's defaults; strings borrowed from w, the arrays
 * (argv NULL-terminated, which protobuf-c's are not, and env) allocated: free with
 * config_wire_done. */
static int config_from_wire(const RunningProcess__Daemon__V1__ServiceConfig *w,
                            struct svc_config *c, char ***ret_env)
{
    char **env = calloc(w->n_env + 1, sizeof *env);
    char **argv = calloc(w->n_cmd + 1, sizeof *argv);
    if (!env || !argv) {
        free(env);
        free(argv);
        return -ENOMEM;
    }
    if (w->n_cmd) /* protobuf-c leaves cmd NULL when there is none */
        memcpy(argv, w->cmd, w->n_cmd * sizeof *argv);
    for (size_t i = 0; i < w->n_env; i++)
        if (!*w->env[i]->key || strchr(w->env[i]->key, '=') ||
            asprintf(&env[i], "%s=%s", w->env[i]->key, w->env[i]->value) < 0) {
            env[i] = NULL;
            for (size_t j = 0; j < i; j++)
                free(env[j]);
            free(env);
            free(argv);
            return -EINVAL;
        }
    *c = (struct svc_config){
        .name = w->name,
        .argv = argv,
        .cwd = *w->cwd ? w->cwd : NULL,
        .env = env,
        .clear_env = w->n_env > 0,
        .restart = w->autorestart ? SVC_RESTART_ALWAYS : SVC_RESTART_NEVER,
        .max_restarts = w->max_restarts,
        .restart_delay_ms = w->restart_delay_ms ? w->restart_delay_ms : DEFAULT_RESTART_DELAY_MS,
        .restart_delay_max_ms = BACKOFF_CAP_MS,
        .kill_timeout_ms = w->kill_timeout_ms ? w->kill_timeout_ms : DEFAULT_KILL_TIMEOUT_MS,
        .min_uptime_ms = w->min_uptime_ms ? w->min_uptime_ms : DEFAULT_MIN_UPTIME_MS,
        .stop_signal = SIGTERM,
    };
    *ret_env = env;
    return 0;
}

static void op_start(struct rp_call *call, const ProtobufCMessage *msg)
{
    const RunningProcess__Daemon__V1__ServiceStartRequest *req = (const void *)msg;
    RunningProcess__Daemon__V1__ServiceStartResponse resp =
        RUNNING_PROCESS__DAEMON__V1__SERVICE_START_RESPONSE__INIT;
    static const RunningProcess__Daemon__V1__ServiceConfig none =
        RUNNING_PROCESS__DAEMON__V1__SERVICE_CONFIG__INIT;
    const RunningProcess__Daemon__V1__ServiceConfig *w = req->config ? req->config : &none;
    struct svc_config c;
    struct svc *s = NULL;
    char **env, why[256] = "";

    int r = config_from_wire(w, &c, &env);
    if (r < 0)
        return rp_answer_errno(call, r, "invalid environment variable name in '%s'", w->name);
    r = svc_start_config(call->host->services, &c, &s, why, sizeof why);
    strv_free(env);
    free(c.argv);
    if (!s) /* nothing defined: no state to report */
        return rp_answer_errno(call, r, "%s", why);
    answer_state(call, r, why, s, &resp.base, &resp.service); /* a failed spawn reports it too */
}

/* ---- LIST, DESCRIBE ---- */

static void op_list(struct rp_call *call, const ProtobufCMessage *msg)
{
    RunningProcess__Daemon__V1__ServiceListResponse resp =
        RUNNING_PROCESS__DAEMON__V1__SERVICE_LIST_RESPONSE__INIT;
    struct svc_engine *e = call->host->services;
    size_t n = svc_count(e);
    struct state_buf *b = calloc(n ? n : 1, sizeof *b);
    RunningProcess__Daemon__V1__ServiceState **pv = calloc(n ? n : 1, sizeof *pv);
    size_t k = 0;
    (void)msg;

    for (; b && pv && k < n; k++) {
        if (state_fill(svc_at(e, k), &b[k]) < 0)
            break;
        pv[k] = &b[k].st;
    }
    if (!b || !pv || k < n)
        rp_answer_errno(call, -ENOMEM, "out of memory");
    else {
        resp.services = pv;
        resp.n_services = n;
        rp_answer(call, 0, NULL, &resp.base);
    }
    for (size_t i = 0; b && i < k; i++)
        state_done(&b[i]);
    free(b);
    free(pv);
}

static void op_describe(struct rp_call *call, const ProtobufCMessage *msg)
{
    const RunningProcess__Daemon__V1__ServiceDescribeRequest *req = (const void *)msg;
    RunningProcess__Daemon__V1__ServiceDescribeResponse resp =
        RUNNING_PROCESS__DAEMON__V1__SERVICE_DESCRIBE_RESPONSE__INIT;
    struct svc *s;
    int r = svc_resolve_one(call->host->services, req->target, &s);

    if (r < 0)
        return rp_answer_errno(call, r, "no service matched '%s'", req->target);
    answer_state(call, 0, NULL, s, &resp.base, &resp.service);
}

/* ---- LOGS, FLUSH ---- */

/* Appends "[stdout] line\n" for each line, long lines cut at LOG_LINE_MAX; false when full. */
static bool add_lines(struct buf *out, const char *prefix, const char *p, size_t len)
{
    while (len > 0) {
        const char *nl = memchr(p, '\n', len);
        size_t n = nl ? (size_t)(nl - p) : len;
        size_t keep = MIN(n, (size_t)LOG_LINE_MAX);
        const char *cut = n > LOG_LINE_MAX ? "...(truncated)" : "";
        if (out->len + strlen(prefix) + keep + strlen(cut) + 1 > LOG_REPLY_MAX)
            return false;
        buf_append(out, prefix, strlen(prefix));
        buf_append(out, p, keep);
        buf_append(out, cut, strlen(cut));
        buf_append(out, "\n", 1);
        p += nl ? n + 1 : n;
        len -= nl ? n + 1 : n;
    }
    return true;
}

static void op_logs(struct rp_call *call, const ProtobufCMessage *msg)
{
    const RunningProcess__Daemon__V1__ServiceLogsRequest *req = (const void *)msg;
    RunningProcess__Daemon__V1__ServiceLogsResponse resp =
        RUNNING_PROCESS__DAEMON__V1__SERVICE_LOGS_RESPONSE__INIT;
    uint32_t lines = req->lines ? req->lines : LOG_LINES_DEFAULT;
    struct svc *s;
    struct buf out;
    int r = svc_resolve_one(call->host->services, req->target, &s);

    if (r < 0)
        return rp_answer_errno(call, r, "no service matched '%s'", req->target);
    buf_init(&out, LOG_REPLY_MAX + 1);
    static const char *const prefix[] = {"[stdout] ", "[stderr] "};
    for (int i = 0; i < 2; i++) {
        size_t len;
        char *t = svc_log_tail(svc_log_path(s, i + 1), lines, LOG_REPLY_MAX * 4, &len);
        bool room = !t || add_lines(&out, prefix[i], t, len);
        free(t);
        if (!room)
            break;
    }
    buf_append(&out, "", 1);
    resp.log_text = (char *)buf_head(&out);
    rp_answer(call, 0, NULL, &resp.base);
    buf_done(&out);
}

static void op_flush(struct rp_call *call, const ProtobufCMessage *msg)
{
    const RunningProcess__Daemon__V1__ServiceFlushRequest *req = (const void *)msg;
    RunningProcess__Daemon__V1__ServiceFlushResponse resp =
        RUNNING_PROCESS__DAEMON__V1__SERVICE_FLUSH_RESPONSE__INIT;
    const char *target = *req->target ? req->target : "all"; /* upstream: "" is all */
    struct svc **v = NULL;
    size_t n = 0;
    char why[256];
    int r = svc_flush(call->host->services, target, &v, &n, why, sizeof why);

    if (r < 0 && !(r == -ENOENT && !strcmp(target, "all"))) /* none defined: 0 flushed */
        return rp_answer_errno(call, r, "%s", why);
    free(v);
    resp.flushed_count = (uint32_t)n;
    rp_answer(call, 0, NULL, &resp.base);
}

/* ---- SAVE, RESURRECT ---- */

static void op_save(struct rp_call *call, const ProtobufCMessage *msg)
{
    RunningProcess__Daemon__V1__ServiceSaveResponse resp =
        RUNNING_PROCESS__DAEMON__V1__SERVICE_SAVE_RESPONSE__INIT;
    size_t n;
    char why[512];
    (void)msg;

    int r = svc_save(call->host->services, &n, why, sizeof why);
    if (r < 0)
        return rp_answer_errno(call, r, "%s", why);
    resp.snapshot_path = (char *)svc_engine_snapshot_path(call->host->services);
    resp.service_count = (uint32_t)n;
    rp_answer(call, 0, NULL, &resp.base);
}

static void op_resurrect(struct rp_call *call, const ProtobufCMessage *msg)
{
    RunningProcess__Daemon__V1__ServiceResurrectResponse resp =
        RUNNING_PROCESS__DAEMON__V1__SERVICE_RESURRECT_RESPONSE__INIT;
    size_t n;
    char why[512];
    (void)msg;

    int r = svc_resurrect(call->host->services, &n, why, sizeof why);
    if (r == -ENOENT) /* upstream's wording */
        return rp_answer_errno(call, r, "no service matched 'no snapshot found at %s'",
                               svc_engine_snapshot_path(call->host->services));
    if (r < 0)
        return rp_answer_errno(call, r, "%s", why);
    resp.restored_count = (uint32_t)n;
    rp_answer(call, 0, NULL, &resp.base);
}

/* No payload is required: upstream's handlers take a missing one as the default message
 * (an empty target: NOT_FOUND; no config: INVALID_ARGUMENT). */
const struct rp_op rp_service_ops[] = {
    RP_OP(SERVICE_START, NULL, service_start, false, op_start),
    RP_OP(SERVICE_STOP, NULL, service_stop, false, op_stop),
    RP_OP(SERVICE_RESTART, NULL, service_restart, false, op_restart),
    RP_OP(SERVICE_DELETE, NULL, service_delete, false, op_delete),
    RP_OP(SERVICE_LIST, NULL, service_list, false, op_list),
    RP_OP(SERVICE_DESCRIBE, NULL, service_describe, false, op_describe),
    RP_OP(SERVICE_LOGS, NULL, service_logs, false, op_logs),
    RP_OP(SERVICE_FLUSH, NULL, service_flush, false, op_flush),
    RP_OP(SERVICE_SAVE, NULL, service_save, false, op_save),
    RP_OP(SERVICE_RESURRECT, NULL, service_resurrect, false, op_resurrect),
};
const size_t rp_n_service_ops = ARRAY_SIZE(rp_service_ops);
