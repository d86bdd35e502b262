/* The session operations (running-process requests 60-77) on the session core (session/):
 * spawn, list, detach, terminate, stdin, backlog, purge, bulk terminate, resize and tees. The
 * attach streams are in attach.c.
 *
 * Wording and defaults are upstream's (running-process's daemon, as its clients see it): ids are
 * opaque, originator defaults to "client:<client_name>", grace 0 means 2000 ms (bulk: at once),
 * terminal frames say stolen_by "peer", "detached", "session terminated by request". Where
 * upstream answers INTERNAL for a bad request (empty argv, a write after close) we answer
 * INVALID_ARGUMENT, as the seed's comments promise. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/msg.h"
#include "api/rp/ops.h"
#include "api/rp/rp-internal.h"
#include "base/macro.h"
#include "proc/proc.h"
#include "session/session.h"

#define RunningProcess__Daemon__V1__T RunningProcess__Daemon__V1__##T
#define GRACE_DEFAULT_MS              2000
#define ORIGINATOR_ENV                "RUNNING_PROCESS_ORIGINATOR"
#define PIPE_STDOUT                   RUNNING_PROCESS__DAEMON__V1__PIPE_STREAM_KIND__PIPE_STREAM_KIND_STDOUT
#define PIPE_STDERR                   RUNNING_PROCESS__DAEMON__V1__PIPE_STREAM_KIND__PIPE_STREAM_KIND_STDERR

/* ---- finding sessions ---- */

/* The session of that kind (SESS_PTY, SESS_PIPE, or -1 for either), else NOT_FOUND answered
 * with upstream's wording. */
static struct session *lookup(struct rp_call *call, const char *id, int kind)
{
    struct session *s = call->host->sessions ? sess_find(call->host->sessions, id) : NULL;
    struct sess_info in;

    if (s) {
        sess_info(s, &in);
        if (kind < 0 || (int)in.kind == kind)
            return s;
    }
    rp_answer_errno(call, -ENOENT, "%s not found: %s",
                    kind == SESS_PTY    ? "PTY session"
                    : kind == SESS_PIPE ? "pipe session"
                                        : "session",
                    id);
    return NULL;
}

static void answer_exited(struct rp_call *call, const struct sess_info *in)
{
    rp_answer_errno(call, -ESRCH, "session has already exited (exit_code=%d, at=%.3f)",
                    in->exit_code, in->exited_at);
}

/* ---- spawning ---- */

struct spawn_args {
    enum sess_kind kind;                        /* PTY or pipes */
    char **argv;                                /* request's argv */
    size_t argc;                                /* its length */
    const char *cwd;                            /* "" for droverd's */
    RunningProcess__Daemon__V1__KeyValue **env; /* entries */
    size_t n_env;                               /* their count */
    bool clear;                                 /* clear_inherited_env */
    const char *originator;                     /* "" for the default */
    uint32_t rows, cols;                        /* PTY */
    bool merge;                                 /* pipe */
};

static int spawn(struct rp_call *call, const struct spawn_args *a, struct sess_info *ret)
{
    _cleanup_free_ char *orig = NULL;
    _cleanup_free_ char **argv = NULL;
    struct proc_env env;
    char bad[128] = "";
    struct session *s;

    if (!call->host->sessions)
        return rp_answer_errno(call, -ESHUTDOWN, "sessions are not available"), -1;
    if (a->argc == 0 || !*a->argv[0])
        return rp_answer_errno(call, -EINVAL, "argv must not be empty"), -1;
    if (a->rows > UINT16_MAX || a->cols > UINT16_MAX)
        return rp_answer_errno(call, -EINVAL, "rows and cols must be at most 65535"), -1;
    if (*a->originator)
        orig = strdup(a->originator);
    else if (asprintf(&orig, "client:%s", call->client_name ? call->client_name : "") < 0)
        orig = NULL;
    argv = calloc(a->argc + 1, sizeof *argv);
    if (!orig || !argv)
        return rp_answer_errno(call, -ENOMEM, "out of memory"), -1;
    memcpy(argv, a->argv, a->argc * sizeof *argv);
    int r = rp_build_env(&env, a->clear, a->env, a->n_env, bad, sizeof bad);
    if (r == -EINVAL)
        return rp_answer_errno(call, r, "invalid environment variable name '%s'", bad), -1;
    if (r >= 0)
        r = proc_env_set(&env, ORIGINATOR_ENV, orig);
    if (r < 0) {
        if (env.v)
            proc_env_done(&env);
        return rp_answer_errno(call, r, "cannot build the environment: %s", strerror(-r)), -1;
    }
    struct sess_spawn o = {
        .kind = a->kind,
        .argv = argv,
        .cwd = a->cwd,
        .envp = env.v,
        .rows = (uint16_t)a->rows,
        .cols = (uint16_t)a->cols,
        .merge_stderr = a->merge,
        .originator = orig,
    };
    r = sess_spawn(call->host->sessions, &o, &s);
    proc_env_done(&env);
    if (r == -EMFILE)
        return rp_answer_errno(call, -ENOBUFS,
                               "%zu sessions exist, the most allowed (session_max): purge "
                               "exited ones",
                               sess_mgr_count(call->host->sessions)),
               -1;
    if (r < 0)
        return rp_answer_errno(call, r, "cannot spawn '%s'%s%s%s: %s", argv[0],
                               *a->cwd ? " in '" : "", a->cwd, *a->cwd ? "'" : "", strerror(-r)),
               -1;
    sess_info(s, ret);
    return 0;
}

/* The fields both spawn requests have, under the same names. */
#define SPAWN_COMMON(req)                                                                          \
    .argv = (req)->argv, .argc = (req)->n_argv, .cwd = (req)->cwd, .env = (req)->env,              \
    .n_env = (req)->n_env, .clear = (req)->clear_inherited_env, .originator = (req)->originator

/* SPAWN_PTY_SESSION and SPAWN_PIPE_SESSION: their answers carry the same three fields. */
static void op_spawn(struct rp_call *call, const ProtobufCMessage *msg)
{
    const RunningProcess__Daemon__V1__SpawnPtySessionRequest *p =
        msg->descriptor == &running_process__daemon__v1__spawn_pty_session_request__descriptor
            ? (const void *)msg
            : NULL;
    const RunningProcess__Daemon__V1__SpawnPipeSessionRequest *q = p ? NULL : (const void *)msg;
    struct spawn_args a =
        p ? (struct spawn_args){SPAWN_COMMON(p), .kind = SESS_PTY, .rows = p->rows, .cols = p->cols}
          : (struct spawn_args){SPAWN_COMMON(q), .kind = SESS_PIPE,
                                .merge = q->merge_stderr_into_stdout};
    RunningProcess__Daemon__V1__SpawnPtySessionResponse pty =
        RUNNING_PROCESS__DAEMON__V1__SPAWN_PTY_SESSION_RESPONSE__INIT;
    RunningProcess__Daemon__V1__SpawnPipeSessionResponse pipe =
        RUNNING_PROCESS__DAEMON__V1__SPAWN_PIPE_SESSION_RESPONSE__INIT;
    struct sess_info in;

    if (spawn(call, &a, &in) < 0)
        return;
    pty.session_id = pipe.session_id = (char *)in.id;
    pty.pid = pipe.pid = (uint32_t)in.pid;
    pty.created_at = pipe.created_at = in.created_at;
    rp_answer(call, 0, NULL, p ? &pty.base : &pipe.base);
}

/* ---- listing ---- */

static RunningProcess__Daemon__V1__TerminationOutcome outcome(enum sess_outcome o)
{
    return (RunningProcess__Daemon__V1__TerminationOutcome)o; /* same numbering */
}

/* The fields PtySessionInfo and PipeSessionInfo share, under the same names, from a sess_info. */
#define INFO_COMMON(m, in)                                                                         \
    do {                                                                                           \
        (m).session_id = (char *)(in).id;                                                          \
        (m).pid = (uint32_t)(in).pid;                                                              \
        (m).command = (char *)(in).command;                                                        \
        (m).cwd = (char *)(in).cwd;                                                                \
        (m).originator = (char *)(in).originator;                                                  \
        (m).created_at = (in).created_at;                                                          \
        (m).exited = (in).exited;                                                                  \
        (m).exit_code = (in).exit_code;                                                            \
        (m).exited_at = (in).exited_at;                                                            \
        (m).termination_outcome = outcome((in).outcome);                                           \
    } while (0)

/* Sessions of a kind matching the originator ("" for all): n infos into *ret (valid until the
 * loop runs again) and as many initialised messages of type d into *ret_m (a T ** of the
 * answer's repeated field); both freed by the caller. */
static int collect(struct rp_call *call, enum sess_kind kind, const char *originator,
                   const ProtobufCMessageDescriptor *d, struct sess_info **ret, void *ret_m,
                   size_t *ret_n)
{
    struct sess_mgr *m = call->host->sessions;
    size_t n = 0, cap = m ? sess_mgr_count(m) : 0;
    struct sess_info *v = calloc(cap ? cap : 1, sizeof *v);

    for (struct session *s = m ? sess_next(m, NULL) : NULL; v && s && n < cap;
         s = sess_next(m, s)) {
        sess_info(s, &v[n]);
        if (v[n].kind == kind && (!*originator || strcmp(originator, v[n].originator) == 0))
            n++;
    }
    void **msgs = v ? api_msg_list(d, n, 0) : NULL;
    if (!msgs) {
        free(v);
        return rp_answer_errno(call, -ENOMEM, "out of memory"), -ENOMEM;
    }
    memcpy(ret_m, &msgs, sizeof msgs);
    *ret = v;
    *ret_n = n;
    return 0;
}

static void op_list_pty(struct rp_call *call, const ProtobufCMessage *msg)
{
    const RunningProcess__Daemon__V1__ListPtySessionsRequest *req = (const void *)msg;
    RunningProcess__Daemon__V1__ListPtySessionsResponse resp =
        RUNNING_PROCESS__DAEMON__V1__LIST_PTY_SESSIONS_RESPONSE__INIT;
    _cleanup_free_ struct sess_info *v = NULL;
    _cleanup_free_ RunningProcess__Daemon__V1__PtySessionInfo **m = NULL;
    size_t n;

    if (collect(call, SESS_PTY, req->originator,
                &running_process__daemon__v1__pty_session_info__descriptor, &v, &m, &n) < 0)
        return;
    for (size_t i = 0; i < n; i++) {
        INFO_COMMON(*m[i], v[i]);
        m[i]->attached = v[i].attached[0];
        m[i]->rows = v[i].rows;
        m[i]->cols = v[i].cols;
        m[i]->attached_is_tty = v[i].attached[0] && v[i].attached_is_tty;
        m[i]->attached_term = (char *)v[i].attached_term;
        if (v[i].attached_caps_len) /* NULL if it does not decode: no capabilities then */
            m[i]->attached_graphics_capabilities =
                running_process__daemon__v1__terminal_graphics_capabilities__unpack(
                    NULL, v[i].attached_caps_len, v[i].attached_caps);
    }
    resp.sessions = m;
    resp.n_sessions = n;
    rp_answer(call, 0, NULL, &resp.base);
    for (size_t i = 0; i < n; i++)
        if (m[i]->attached_graphics_capabilities)
            running_process__daemon__v1__terminal_graphics_capabilities__free_unpacked(
                m[i]->attached_graphics_capabilities, NULL);
}

static void op_list_pipe(struct rp_call *call, const ProtobufCMessage *msg)
{
    const RunningProcess__Daemon__V1__ListPipeSessionsRequest *req = (const void *)msg;
    RunningProcess__Daemon__V1__ListPipeSessionsResponse resp =
        RUNNING_PROCESS__DAEMON__V1__LIST_PIPE_SESSIONS_RESPONSE__INIT;
    _cleanup_free_ struct sess_info *v = NULL;
    _cleanup_free_ RunningProcess__Daemon__V1__PipeSessionInfo **m = NULL;
    size_t n;

    if (collect(call, SESS_PIPE, req->originator,
                &running_process__daemon__v1__pipe_session_info__descriptor, &v, &m, &n) < 0)
        return;
    for (size_t i = 0; i < n; i++) {
        INFO_COMMON(*m[i], v[i]);
        m[i]->stdout_attached = v[i].attached[0];
        m[i]->stderr_attached = v[i].attached[1];
        m[i]->merge_stderr_into_stdout = v[i].merge_stderr;
    }
    resp.sessions = m;
    resp.n_sessions = n;
    rp_answer(call, 0, NULL, &resp.base);
}

/* ---- control ---- */

int rp_pipe_stream(uint32_t kind, enum sess_stream *ret)
{
    if (kind == PIPE_STDOUT)
        *ret = SESS_OUT;
    else if (kind == PIPE_STDERR)
        *ret = SESS_ERR;
    else
        return -EINVAL;
    return 0;
}

static void op_detach_pty(struct rp_call *call, const ProtobufCMessage *msg)
{
    const RunningProcess__Daemon__V1__DetachPtySessionRequest *req = (const void *)msg;
    RunningProcess__Daemon__V1__DetachPtySessionResponse resp =
        RUNNING_PROCESS__DAEMON__V1__DETACH_PTY_SESSION_RESPONSE__INIT;
    struct session *s = lookup(call, req->session_id, SESS_PTY);

    if (!s)
        return;
    sess_detach(s, SESS_OUT);
    rp_answer(call, 0, NULL, &resp.base);
}

static void op_detach_pipe(struct rp_call *call, const ProtobufCMessage *msg)
{
    const RunningProcess__Daemon__V1__DetachPipeStreamRequest *req = (const void *)msg;
    RunningProcess__Daemon__V1__DetachPipeStreamResponse resp =
        RUNNING_PROCESS__DAEMON__V1__DETACH_PIPE_STREAM_RESPONSE__INIT;
    enum sess_stream st;

    if (rp_pipe_stream(req->stream, &st) < 0)
        return rp_answer_errno(call, -EINVAL, "stream must be STDOUT or STDERR");
    struct session *s = lookup(call, req->session_id, SESS_PIPE);
    if (!s)
        return;
    sess_detach(s, st);
    rp_answer(call, 0, NULL, &resp.base);
}

static void terminate(struct rp_call *call, const char *id, int kind, uint32_t grace,
                      const ProtobufCMessage *resp)
{
    struct session *s = lookup(call, id, kind);
    if (!s)
        return;
    int r = sess_terminate(s, grace ? grace : GRACE_DEFAULT_MS, true);
    if (r < 0)
        return rp_answer_errno(call, r, "cannot terminate %s: %s", id, strerror(-r));
    rp_answer(call, 0, NULL, resp);
}

static void op_terminate_pty(struct rp_call *call, const ProtobufCMessage *msg)
{
    const RunningProcess__Daemon__V1__TerminatePtySessionRequest *req = (const void *)msg;
    RunningProcess__Daemon__V1__TerminatePtySessionResponse resp =
        RUNNING_PROCESS__DAEMON__V1__TERMINATE_PTY_SESSION_RESPONSE__INIT;
    terminate(call, req->session_id, SESS_PTY, req->grace_ms, &resp.base);
}

static void op_terminate_pipe(struct rp_call *call, const ProtobufCMessage *msg)
{
    const RunningProcess__Daemon__V1__TerminatePipeSessionRequest *req = (const void *)msg;
    RunningProcess__Daemon__V1__TerminatePipeSessionResponse resp =
        RUNNING_PROCESS__DAEMON__V1__TERMINATE_PIPE_SESSION_RESPONSE__INIT;
    terminate(call, req->session_id, SESS_PIPE, req->grace_ms, &resp.base);
}

static void op_resize_pty(struct rp_call *call, const ProtobufCMessage *msg)
{
    const RunningProcess__Daemon__V1__ResizePtySessionRequest *req = (const void *)msg;
    RunningProcess__Daemon__V1__ResizePtySessionResponse resp =
        RUNNING_PROCESS__DAEMON__V1__RESIZE_PTY_SESSION_RESPONSE__INIT;
    struct session *s = lookup(call, req->session_id, -1);
    struct sess_info in;

    if (!s)
        return;
    if (req->rows > UINT16_MAX || req->cols > UINT16_MAX)
        return rp_answer_errno(call, -EINVAL, "rows and cols must be at most 65535");
    sess_info(s, &in);
    if (in.kind == SESS_PIPE) /* the seed: a no-op on pipe sessions */
        return rp_answer(call, 0, NULL, &resp.base);
    if (in.exited)
        return answer_exited(call, &in);
    int r = sess_resize(s, (uint16_t)req->rows, (uint16_t)req->cols);
    if (r < 0)
        return rp_answer_errno(call, r, "cannot resize %s: %s", in.id, strerror(-r));
    rp_answer(call, 0, NULL, &resp.base);
}

/* ---- input ---- */

/* A write waiting for the program to take its bytes. */
struct write_req {
    struct rp_call *call; /* first, as in struct rp_pending: NULL once abandoned */
    struct sess_write w;  /* the session's side */
    uint64_t n;           /* bytes written, for the answer */
};

static void write_done(struct sess_write *w, int r)
{
    struct write_req *q = container_of(w, struct write_req, w);
    RunningProcess__Daemon__V1__WritePipeStdinResponse resp =
        RUNNING_PROCESS__DAEMON__V1__WRITE_PIPE_STDIN_RESPONSE__INIT;

    if (q->call) {
        q->call->pending = NULL;
        resp.bytes_written = q->n;
        if (r < 0)
            rp_answer_errno(q->call, r,
                            "the session stopped taking input (it exited or closed "
                            "its input)");
        else
            rp_answer(q->call, 0, NULL, &resp.base);
    }
    free(q);
}

static void write_input(struct rp_call *call,
                        const RunningProcess__Daemon__V1__WritePipeStdinRequest *req, int kind)
{
    struct session *s = lookup(call, req->session_id, kind);
    struct sess_info in;

    if (!s)
        return;
    sess_info(s, &in);
    if (in.exited)
        return answer_exited(call, &in);
    if (in.kind == SESS_PTY && req->close)
        return rp_answer_errno(call, -EINVAL, "a PTY session has no stdin to close");
    if (in.stdin_closed)
        return rp_answer_errno(call, -EINVAL, "stdin of %s is closed", in.id);
    struct write_req *q = calloc(1, sizeof *q);
    if (!q)
        return rp_answer_errno(call, -ENOMEM, "out of memory");
    q->call = call;
    q->n = req->data.len;
    q->w.done = write_done;
    call->pending = q; /* write_done may answer (and free q) before sess_write returns */
    int r = sess_write(s, req->data.data, req->data.len, &q->w);
    if (r < 0) {
        call->pending = NULL;
        free(q);
        if (r == -ENOBUFS)
            return rp_answer_errno(call, r,
                                   "the input queue of %s is full (session_input_max): the "
                                   "program is not reading",
                                   in.id);
        return rp_answer_errno(call, -EINVAL, "stdin of %s is closed", in.id);
    }
    if (req->close) /* after the bytes queued above (s outlives any answer; q may not) */
        (void)sess_close_stdin(s);
}

static void op_write_stdin(struct rp_call *call, const ProtobufCMessage *msg)
{
    write_input(call, (const void *)msg, SESS_PIPE);
}

static void op_send(struct rp_call *call, const ProtobufCMessage *msg)
{
    write_input(call, (const void *)msg, -1);
}

/* ---- backlog and maintenance ---- */

static void op_backlog(struct rp_call *call, const ProtobufCMessage *msg)
{
    const RunningProcess__Daemon__V1__GetSessionBacklogRequest *req = (const void *)msg;
    RunningProcess__Daemon__V1__GetSessionBacklogResponse resp =
        RUNNING_PROCESS__DAEMON__V1__GET_SESSION_BACKLOG_RESPONSE__INIT;
    struct session *s = lookup(call, req->session_id, -1);
    _cleanup_free_ uint8_t *p = NULL;
    struct sess_info in;
    size_t n;

    if (!s)
        return;
    sess_info(s, &in);
    int r = sess_backlog(
        s, in.kind == SESS_PIPE && req->pipe_stream == PIPE_STDERR ? SESS_ERR : SESS_OUT, &p, &n,
        &resp.bytes_missed);
    if (r < 0)
        return rp_answer_errno(call, r, "out of memory");
    resp.backlog.data = p;
    resp.backlog.len = n;
    resp.session_kind = in.kind == SESS_PTY ? "pty" : "pipe";
    resp.exited = in.exited;
    resp.exit_code = in.exit_code;
    resp.exited_at = in.exited_at;
    resp.termination_outcome = outcome(in.outcome);
    rp_answer(call, 0, NULL, &resp.base);
}

static void op_purge(struct rp_call *call, const ProtobufCMessage *msg)
{
    const RunningProcess__Daemon__V1__PurgeExitedSessionsRequest *req = (const void *)msg;
    RunningProcess__Daemon__V1__PurgeExitedSessionsResponse resp =
        RUNNING_PROCESS__DAEMON__V1__PURGE_EXITED_SESSIONS_RESPONSE__INIT;
    struct sess_mgr *m = call->host->sessions;

    for (struct session *s = m ? sess_next(m, NULL) : NULL, *next; s; s = next) {
        struct sess_info in;
        next = sess_next(m, s);
        sess_info(s, &in);
        if (!in.exited || (*req->originator && strcmp(req->originator, in.originator)))
            continue;
        resp.pty_purged += in.kind == SESS_PTY;
        resp.pipe_purged += in.kind == SESS_PIPE;
        sess_purge(s);
    }
    rp_answer(call, 0, NULL, &resp.base);
}

static void op_bulk_terminate(struct rp_call *call, const ProtobufCMessage *msg)
{
    const RunningProcess__Daemon__V1__BulkTerminateSessionsRequest *req = (const void *)msg;
    RunningProcess__Daemon__V1__BulkTerminateSessionsResponse resp =
        RUNNING_PROCESS__DAEMON__V1__BULK_TERMINATE_SESSIONS_RESPONSE__INIT;
    struct sess_mgr *m = call->host->sessions;
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    double now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    for (struct session *s = m ? sess_next(m, NULL) : NULL; s; s = sess_next(m, s)) {
        struct sess_info in;
        sess_info(s, &in);
        if (in.exited || (*req->originator && strcmp(req->originator, in.originator)) ||
            !(now - in.created_at > (double)req->older_than_secs))
            continue;
        /* Upstream: grace max(grace_ms, 1), attached clients not told. */
        if (sess_terminate(s, MAX(req->grace_ms, 1u), false) < 0)
            continue;
        resp.pty_terminated += in.kind == SESS_PTY;
        resp.pipe_terminated += in.kind == SESS_PIPE;
    }
    rp_answer(call, 0, NULL, &resp.base);
}

/* ---- tees ---- */

#define TEE(c) RUNNING_PROCESS__DAEMON__V1__TEE_##c

/* The session for a tee request: kind PTY or PIPE looks only there ("PTY session not found"),
 * UNSPECIFIED anywhere. */
static struct session *tee_session(struct rp_call *call, const char *id, uint32_t kind)
{
    return lookup(call, id,
                  kind == TEE(SESSION_KIND__TEE_SESSION_KIND_PTY)    ? SESS_PTY
                  : kind == TEE(SESSION_KIND__TEE_SESSION_KIND_PIPE) ? SESS_PIPE
                                                                     : -1);
}

static void op_register_tee(struct rp_call *call, const ProtobufCMessage *msg)
{
    const RunningProcess__Daemon__V1__RegisterSessionTeeRequest *req = (const void *)msg;
    RunningProcess__Daemon__V1__RegisterSessionTeeResponse resp =
        RUNNING_PROCESS__DAEMON__V1__REGISTER_SESSION_TEE_RESPONSE__INIT;
    struct sess_tee_opts o = {0};
    struct sess_info in;
    char path[4096];

    if (req->sink_kind != TEE(SINK_KIND__TEE_SINK_KIND_FILE))
        return rp_answer_errno(call, -EINVAL, "only file tee sinks are supported over IPC");
    if (!req->file_path.len)
        return rp_answer_errno(call, -EINVAL, "file_path must not be empty");
    if (req->file_path.len >= sizeof path || memchr(req->file_path.data, 0, req->file_path.len))
        return rp_answer_errno(call, -EINVAL, "file_path is not a valid path");
    memcpy(path, req->file_path.data, req->file_path.len);
    path[req->file_path.len] = '\0';
    struct session *s = tee_session(call, req->session_id, req->session_kind);
    if (!s)
        return;
    sess_info(s, &in);
    switch (req->stream) {
    case TEE(STREAM_KIND__TEE_STREAM_KIND_PTY_OUTPUT):
    case TEE(STREAM_KIND__TEE_STREAM_KIND_STDOUT):
        o.stream = SESS_OUT;
        break;
    case TEE(STREAM_KIND__TEE_STREAM_KIND_STDERR):
        o.stream = SESS_ERR;
        break;
    case TEE(STREAM_KIND__TEE_STREAM_KIND_STDIN):
        o.stream = SESS_IN;
        break;
    default:
        return rp_answer_errno(call, -EINVAL, "stream must be set");
    }
    bool pty_stream = req->stream == TEE(STREAM_KIND__TEE_STREAM_KIND_PTY_OUTPUT);
    if (o.stream != SESS_IN && pty_stream != (in.kind == SESS_PTY))
        return rp_answer_errno(call, -EINVAL, "a %s session has no such stream (%s)",
                               in.kind == SESS_PTY ? "PTY" : "pipe",
                               in.kind == SESS_PTY ? "PTY_OUTPUT or STDIN"
                                                   : "STDOUT, STDERR or STDIN");
    o.path = path;
    o.truncate = req->file_mode == TEE(FILE_MODE__TEE_FILE_MODE_TRUNCATE);
    o.queue_chunks = req->queue_capacity;
    o.block = req->backpressure == TEE(BACKPRESSURE__TEE_BACKPRESSURE_BLOCK);
    o.suppress_markers = req->suppress_missed_markers;
    int r = sess_tee_add(s, &o, &resp.tee_handle);
    if (r == -EINVAL)
        return rp_answer_errno(call, r, "%s has no %s stream (merged into stdout?)", in.id,
                               o.stream == SESS_ERR ? "stderr" : "such");
    if (r < 0)
        return rp_answer_errno(call, r == -ENOENT ? -EIO : r, "cannot open '%s': %s", path,
                               strerror(-r));
    rp_answer(call, 0, "OK", &resp.base);
}

static void op_unregister_tee(struct rp_call *call, const ProtobufCMessage *msg)
{
    const RunningProcess__Daemon__V1__UnregisterSessionTeeRequest *req = (const void *)msg;
    RunningProcess__Daemon__V1__UnregisterSessionTeeResponse resp =
        RUNNING_PROCESS__DAEMON__V1__UNREGISTER_SESSION_TEE_RESPONSE__INIT;
    struct session *s = tee_session(call, req->session_id, req->session_kind);

    if (!s)
        return;
    if (sess_tee_remove(s, req->tee_handle) < 0)
        return rp_answer_errno(call, -ENOENT, "tee handle not found: %" PRIu64, req->tee_handle);
    rp_answer(call, 0, "OK", &resp.base);
}

static void op_tee_status(struct rp_call *call, const ProtobufCMessage *msg)
{
    const RunningProcess__Daemon__V1__GetSessionTeeStatusRequest *req = (const void *)msg;
    RunningProcess__Daemon__V1__GetSessionTeeStatusResponse resp =
        RUNNING_PROCESS__DAEMON__V1__GET_SESSION_TEE_STATUS_RESPONSE__INIT;
    struct session *s = tee_session(call, req->session_id, req->session_kind);
    struct sess_tee_status st;
    struct sess_info in;

    if (!s)
        return;
    if (sess_tee_status(s, req->tee_handle, &st) < 0)
        return rp_answer_errno(call, -ENOENT, "tee handle not found: %" PRIu64, req->tee_handle);
    sess_info(s, &in);
    resp.stream = st.stream == SESS_IN    ? TEE(STREAM_KIND__TEE_STREAM_KIND_STDIN)
                  : in.kind == SESS_PTY   ? TEE(STREAM_KIND__TEE_STREAM_KIND_PTY_OUTPUT)
                  : st.stream == SESS_ERR ? TEE(STREAM_KIND__TEE_STREAM_KIND_STDERR)
                                          : TEE(STREAM_KIND__TEE_STREAM_KIND_STDOUT);
    resp.missed_bytes = st.missed;
    resp.disconnected = st.disconnected;
    rp_answer(call, 0, "OK", &resp.base);
}

const struct rp_op rp_session_ops[] = {
    RP_OP(SPAWN_PTY_SESSION, "SpawnPty", spawn_pty_session, true, op_spawn),
    RP_OP(DETACH_PTY_SESSION, "DetachPty", detach_pty_session, true, op_detach_pty),
    RP_OP(LIST_PTY_SESSIONS, "ListPty", list_pty_sessions, false, op_list_pty),
    RP_OP(TERMINATE_PTY_SESSION, "TerminatePty", terminate_pty_session, true, op_terminate_pty),
    RP_OP(SPAWN_PIPE_SESSION, "SpawnPipe", spawn_pipe_session, true, op_spawn),
    RP_OP(DETACH_PIPE_STREAM, "DetachPipe", detach_pipe_stream, true, op_detach_pipe),
    RP_OP(LIST_PIPE_SESSIONS, "ListPipe", list_pipe_sessions, false, op_list_pipe),
    RP_OP(TERMINATE_PIPE_SESSION, "TerminatePipe", terminate_pipe_session, true, op_terminate_pipe),
    RP_OP(WRITE_PIPE_STDIN, "WriteStdin", write_pipe_stdin, true, op_write_stdin),
    RP_OP(GET_SESSION_BACKLOG, "GetBacklog", get_session_backlog, true, op_backlog),
    RP_OP(PURGE_EXITED_SESSIONS, "PurgeExited", purge_exited_sessions, false, op_purge),
    RP_OP(BULK_TERMINATE_SESSIONS, "BulkTerminate", bulk_terminate_sessions, false,
          op_bulk_terminate),
    RP_OP(RESIZE_PTY_SESSION, "ResizePty", resize_pty_session, true, op_resize_pty),
    RP_OP(REGISTER_SESSION_TEE, "RegisterTee", register_session_tee, true, op_register_tee),
    RP_OP(UNREGISTER_SESSION_TEE, "UnregisterTee", unregister_session_tee, true, op_unregister_tee),
    RP_OP(GET_SESSION_TEE_STATUS, "GetTeeStatus", get_session_tee_status, true, op_tee_status),
    /* drover.v1 only (UNSPECIFIED never matches a running-process request). */
    {RP_TYPE(UNSPECIFIED), "Send", "send",
     &running_process__daemon__v1__write_pipe_stdin_request__descriptor, true, op_send},
};
const size_t rp_n_session_ops = ARRAY_SIZE(rp_session_ops);
