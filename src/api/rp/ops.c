/* The running-process operations (see rp-ops.h): they turn the seed's request messages into
 * calls on the core (track/, proc/) and the results back into the seed's response messages,
 * with upstream's defaults and wording. Ping, Status and Shutdown are here too, for the
 * running-process door; drover.v1.Admin has its own richer forms of them. */
#include "api/rp/ops.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/macro.h"
#include "base/time-util.h"
#include "base/vec.h"
#include "proc/proc.h"
#include "running_process/daemon/v1/daemon.pb-c.h"
#include "store/store.h"
#include "track/track.h"

#define KILL_TREE_DEFAULT_S 3.0
#define KILL_TREE_MAX_S     30.0
#define TREE_TEXT_MAX       (1u << 20)

void rp_answer(struct rp_call *call, int r, const char *msg, const ProtobufCMessage *resp)
{
    if (call->answered)
        return;
    call->answered = true;
    if (call->done)
        call->done(call, r, msg, resp);
}

void rp_answer_errno(struct rp_call *call, int r, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    rp_answer(call, r, msg, NULL);
}

/* What a kill-tree remembers until its timers finish. */
struct kill_req {
    struct rp_call *call;  /* first, as in struct rp_pending: NULL once abandoned */
    struct api_host *host; /* for the registry */
    pid_t pid;             /* the root */
    double timeout_s;      /* for the message */
};

void rp_call_abandon(struct rp_call *call)
{
    call->done = NULL;
    call->answered = true;
    if (call->pending)
        ((struct rp_pending *)call->pending)->call = NULL;
    call->pending = NULL;
}

/* ---- registry ---- */

static void op_register(struct rp_call *call, const ProtobufCMessage *msg)
{
    const RunningProcess__Daemon__V1__RegisterRequest *req = (const void *)msg;
    RunningProcess__Daemon__V1__RegisterResponse resp =
        RUNNING_PROCESS__DAEMON__V1__REGISTER_RESPONSE__INIT;

    if (req->pid == 0 || req->pid > INT32_MAX)
        return rp_answer_errno(call, -EINVAL, "pid must be > 0");
    if (!*req->command)
        return rp_answer_errno(call, -EINVAL, "command must not be empty");
    if (!isfinite(req->created_at) || req->created_at < 0)
        return rp_answer_errno(call, -EINVAL,
                               "created_at must be a time in seconds since the epoch");
    struct track_proc p = {
        .pid = (pid_t)req->pid,
        .created_at_ms = (int64_t)llround(req->created_at * 1000.0),
        .kind = req->kind,
        .command = req->command,
        .cwd = req->cwd,
        .originator = req->originator,
        .containment = req->containment,
    };
    int r = track_register(call->host->track, &p);
    if (r < 0)
        return rp_answer_errno(call, r, "cannot register pid %u: %s", req->pid, strerror(-r));
    rp_answer(call, 0, NULL, &resp.base);
}

static void op_unregister(struct rp_call *call, const ProtobufCMessage *msg)
{
    const RunningProcess__Daemon__V1__UnregisterRequest *req = (const void *)msg;
    RunningProcess__Daemon__V1__UnregisterResponse resp =
        RUNNING_PROCESS__DAEMON__V1__UNREGISTER_RESPONSE__INIT;

    int r = req->pid > INT32_MAX ? -ENOENT : track_unregister(call->host->track, (pid_t)req->pid);
    if (r == -ENOENT)
        return rp_answer_errno(call, r, "pid %u not found in registry", req->pid);
    if (r < 0)
        return rp_answer_errno(call, r, "cannot unregister pid %u: %s", req->pid, strerror(-r));
    rp_answer(call, 0, NULL, &resp.base);
}

int rp_build_env(struct proc_env *env, bool clear, RunningProcess__Daemon__V1__KeyValue **kv,
                 size_t n, char *bad, size_t bad_size)
{
    extern char **environ;
    int r = proc_env_init(env, clear ? PROC_ENV_CLEAR : PROC_ENV_INHERIT, environ);

    for (size_t i = 0; r >= 0 && i < n; i++) {
        r = proc_env_set(env, kv[i]->key, kv[i]->value);
        if (r == -EINVAL)
            snprintf(bad, bad_size, "%s", kv[i]->key);
    }
    if (r < 0 && env->v)
        proc_env_done(env);
    return r;
}

static void op_spawn_daemon(struct rp_call *call, const ProtobufCMessage *msg)
{
    const RunningProcess__Daemon__V1__SpawnDaemonRequest *req = (const void *)msg;
    RunningProcess__Daemon__V1__SpawnDaemonResponse resp =
        RUNNING_PROCESS__DAEMON__V1__SPAWN_DAEMON_RESPONSE__INIT;
    const char *originator = *req->originator ? req->originator : call->client_name;
    struct proc_env env;
    struct track_proc p;
    char bad[128] = "";

    if (!req->command[strspn(req->command, " \t\r\n")])
        return rp_answer_errno(call, -EINVAL, "command must not be empty");
    int r = rp_build_env(&env, req->clear_inherited_env, req->env, req->n_env, bad, sizeof bad);
    if (r == -EINVAL)
        return rp_answer_errno(call, r, "invalid environment variable name '%s'", bad);
    if (r < 0)
        return rp_answer_errno(call, r, "cannot build the environment: %s", strerror(-r));
    r = track_spawn_daemon(call->host->track, call->host->reaper, req->command, req->cwd, &env,
                           originator, &p);
    proc_env_done(&env);
    if (r < 0)
        return rp_answer_errno(call, r, "cannot spawn '%s'%s%s%s: %s", req->command,
                               *req->cwd ? " in '" : "", req->cwd, *req->cwd ? "'" : "",
                               strerror(-r));
    resp.pid = (uint32_t)p.pid;
    resp.created_at = (double)p.created_at_ms / 1000.0;
    resp.command = p.command;
    resp.cwd = p.cwd;
    resp.originator = p.originator;
    resp.containment = p.containment;
    rp_answer(call, 0, NULL, &resp.base);
    track_proc_done(&p);
}

static const RunningProcess__Daemon__V1__ProcessState wire_state[] = {
    [TRACK_UNKNOWN] = RUNNING_PROCESS__DAEMON__V1__PROCESS_STATE__PROCESS_STATE_UNKNOWN,
    [TRACK_ALIVE] = RUNNING_PROCESS__DAEMON__V1__PROCESS_STATE__PROCESS_STATE_ALIVE,
    [TRACK_DEAD] = RUNNING_PROCESS__DAEMON__V1__PROCESS_STATE__PROCESS_STATE_DEAD,
    [TRACK_ZOMBIE] = RUNNING_PROCESS__DAEMON__V1__PROCESS_STATE__PROCESS_STATE_ZOMBIE,
};

/* Answers with the tracked processes whose originator starts with prefix (all for NULL) as resp,
 * whose processes field (ListActiveResponse and ListByOriginatorResponse both have one, with its
 * count n_field) gets them: the pointers and the messages are one allocation, freed here. */
static void answer_tracked(struct rp_call *call, const char *prefix, const ProtobufCMessage *resp,
                           RunningProcess__Daemon__V1__TrackedProcess ***field, size_t *n_field)
{
    RunningProcess__Daemon__V1__TrackedProcess **pm = NULL;
    struct track_view *v;
    size_t n;
    int r = track_list(call->host->track, prefix, &v, &n);

    if (r >= 0 && !(pm = calloc(1, n * (sizeof *pm + sizeof **pm) + 1))) {
        free(v);
        r = -ENOMEM;
    }
    if (r < 0)
        return rp_answer_errno(call, r, "cannot list tracked processes: %s", strerror(-r));
    RunningProcess__Daemon__V1__TrackedProcess *m = (void *)(pm + n);
    for (size_t i = 0; i < n; i++) {
        const struct track_proc *p = v[i].p;
        running_process__daemon__v1__tracked_process__init(&m[i]);
        m[i].pid = (uint32_t)p->pid;
        m[i].created_at = (double)p->created_at_ms / 1000.0;
        m[i].kind = p->kind;
        m[i].command = p->command;
        m[i].cwd = p->cwd;
        m[i].originator = p->originator;
        m[i].containment = p->containment;
        m[i].registered_at = p->registered_at;
        m[i].uptime_seconds = v[i].uptime_seconds;
        m[i].parent_alive = v[i].parent_alive;
        m[i].state = wire_state[v[i].state];
        m[i].last_validated_at = v[i].validated_at;
        pm[i] = &m[i];
    }
    free(v);
    *field = pm;
    *n_field = n;
    rp_answer(call, 0, NULL, resp);
    free(pm);
}

static void op_list_active(struct rp_call *call, const ProtobufCMessage *msg)
{
    RunningProcess__Daemon__V1__ListActiveResponse resp =
        RUNNING_PROCESS__DAEMON__V1__LIST_ACTIVE_RESPONSE__INIT;
    (void)msg;
    answer_tracked(call, NULL, &resp.base, &resp.processes, &resp.n_processes);
}

static void op_list_by_originator(struct rp_call *call, const ProtobufCMessage *msg)
{
    const RunningProcess__Daemon__V1__ListByOriginatorRequest *req = (const void *)msg;
    RunningProcess__Daemon__V1__ListByOriginatorResponse resp =
        RUNNING_PROCESS__DAEMON__V1__LIST_BY_ORIGINATOR_RESPONSE__INIT;
    _cleanup_free_ char *prefix = NULL;

    if (asprintf(&prefix, "%s:", req->tool) < 0)
        return rp_answer_errno(call, -ENOMEM, "out of memory");
    answer_tracked(call, prefix, &resp.base, &resp.processes, &resp.n_processes);
}

/* ---- process tree ---- */

struct text {
    char *s;    /* the text */
    size_t n;   /* its length */
    size_t cap; /* allocated */
    bool full;  /* capped: later lines dropped */
};

static void text_add(struct text *t, const char *fmt, ...) _printf_(2, 3);
static void text_add(struct text *t, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        if (t->full)
            return;
        va_start(ap, fmt);
        int k = vsnprintf(t->s ? t->s + t->n : NULL, t->s ? t->cap - t->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0)
            return;
        if (t->s && t->n + (size_t)k < t->cap) {
            t->n += (size_t)k;
            return;
        }
        size_t cap = MAX(t->cap * 2, t->n + (size_t)k + 256);
        char *s = cap <= TREE_TEXT_MAX ? realloc(t->s, cap) : NULL;
        if (!s) {
            t->full = true;
            return;
        }
        t->s = s;
        t->cap = cap;
    }
}

/* Lines for the children of entry i, "├── " / "└── " under prefix, iteratively so a deep tree
 * cannot exhaust the stack. */
static void tree_lines(const struct proc_table *tab, int32_t root, struct text *t)
{
    struct frame {
        int32_t child; /* next child to print */
        size_t plen;   /* prefix length at this depth */
    };
    size_t depth = 0, cap = 64;
    _cleanup_free_ struct frame *st = malloc(cap * sizeof *st);
    _cleanup_free_ char *prefix = malloc(4 * 4 * tab->n + 1); /* "│   " is 6 bytes: capped below */
    size_t prefix_cap = 4 * 4 * tab->n + 1;

    if (!st || !prefix)
        return;
    prefix[0] = '\0';
    st[0] = (struct frame){tab->v[root].first_child, 0};
    depth = 1;
    while (depth && !t->full) {
        struct frame *f = &st[depth - 1];
        if (f->child < 0) {
            depth--;
            continue;
        }
        const struct proc_entry *e = &tab->v[f->child];
        bool last = e->next_sibling < 0;
        prefix[f->plen] = '\0';
        text_add(t, "\n%s%s%s (pid=%d)", prefix, last ? "└── " : "├── ", e->comm, (int)e->pid);
        f->child = e->next_sibling;
        const char *ext = last ? "    " : "│   ";
        size_t plen = f->plen + strlen(ext);
        if (e->first_child < 0 || plen + 1 > prefix_cap)
            continue;
        if (VEC_RESERVE(st, cap, depth + 1) < 0)
            break;
        memcpy(prefix + st[depth - 1].plen, ext, strlen(ext) + 1);
        st[depth++] = (struct frame){e->first_child, plen};
    }
}

static void op_get_process_tree(struct rp_call *call, const ProtobufCMessage *msg)
{
    const RunningProcess__Daemon__V1__GetProcessTreeRequest *req = (const void *)msg;
    RunningProcess__Daemon__V1__GetProcessTreeResponse resp =
        RUNNING_PROCESS__DAEMON__V1__GET_PROCESS_TREE_RESPONSE__INIT;
    struct proc_table tab;
    struct text t = {0};
    char cmdline[4096] = "";

    int r = proc_table_read(&tab, NULL);
    if (r < 0)
        return rp_answer_errno(call, r, "cannot read the process table: %s", strerror(-r));
    const struct proc_entry *e =
        req->pid <= INT32_MAX ? proc_table_find(&tab, (pid_t)req->pid) : NULL;
    if (!e) {
        text_add(&t, "Process %u not found", req->pid);
    } else {
        (void)proc_read_cmdline(e->pid, cmdline, sizeof cmdline);
        text_add(&t, "%s (pid=%d) %s", e->comm, (int)e->pid, cmdline);
        tree_lines(&tab, (int32_t)(e - tab.v), &t);
    }
    proc_table_done(&tab);
    if (!t.s)
        return rp_answer_errno(call, -ENOMEM, "out of memory");
    resp.tree_display = t.s;
    rp_answer(call, 0, NULL, &resp.base);
    free(t.s);
}

/* ---- killing ---- */

static void op_kill_zombies(struct rp_call *call, const ProtobufCMessage *msg)
{
    const RunningProcess__Daemon__V1__KillZombiesRequest *req = (const void *)msg;
    RunningProcess__Daemon__V1__KillZombiesResponse resp =
        RUNNING_PROCESS__DAEMON__V1__KILL_ZOMBIES_RESPONSE__INIT;
    struct track_zombie *z;
    size_t n;

    int r = track_zombies(call->host->track, req->dry_run, &z, &n);
    if (r < 0)
        return rp_answer_errno(call, r, "zombie pass failed: %s", strerror(-r));
    RunningProcess__Daemon__V1__ZombieReport *m = calloc(n ? n : 1, sizeof *m);
    RunningProcess__Daemon__V1__ZombieReport **pm = calloc(n ? n : 1, sizeof *pm);
    if (!m || !pm) {
        free(m);
        free(pm);
        track_zombies_free(z, n);
        return rp_answer_errno(call, -ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        running_process__daemon__v1__zombie_report__init(&m[i]);
        m[i].pid = (uint32_t)z[i].pid;
        m[i].command = z[i].command;
        m[i].reason = z[i].reason;
        m[i].killed = z[i].killed;
        pm[i] = &m[i];
    }
    resp.zombies = pm;
    resp.n_zombies = n;
    rp_answer(call, 0, NULL, &resp.base);
    free(m);
    free(pm);
    track_zombies_free(z, n);
}

static void kill_done(uint32_t killed, uint32_t survivors, void *userdata)
{
    struct kill_req *k = userdata;
    struct rp_call *call = k->call;
    RunningProcess__Daemon__V1__KillTreeResponse resp =
        RUNNING_PROCESS__DAEMON__V1__KILL_TREE_RESPONSE__INIT;
    char msg[160];

    (void)track_unregister(k->host->track, k->pid);
    if (call) {
        call->pending = NULL;
        resp.processes_killed = killed;
        snprintf(msg, sizeof msg, "%u of the processes signalled still ran after %g s", survivors,
                 k->timeout_s);
        rp_answer(call, survivors ? -ETIMEDOUT : 0, survivors ? msg : NULL, &resp.base);
    }
    free(k);
}

static void op_kill_tree(struct rp_call *call, const ProtobufCMessage *msg)
{
    const RunningProcess__Daemon__V1__KillTreeRequest *req = (const void *)msg;
    double timeout = req->timeout_seconds;

    if (req->pid == 0 || req->pid > INT32_MAX)
        return rp_answer_errno(call, -EINVAL, "pid must be > 0");
    if ((pid_t)req->pid == getpid())
        return rp_answer_errno(call, -EINVAL, "pid %u is droverd itself", req->pid);
    if (!isfinite(timeout) || timeout <= 0)
        timeout = KILL_TREE_DEFAULT_S;
    timeout = MIN(timeout, KILL_TREE_MAX_S);
    struct kill_req *k = malloc(sizeof *k);
    if (!k)
        return rp_answer_errno(call, -ENOMEM, "out of memory");
    *k = (struct kill_req){call, call->host, (pid_t)req->pid, timeout};
    int r =
        proc_kill_tree(call->host->reaper, k->pid, (uint32_t)(timeout * 1000), kill_done, k, NULL);
    if (r < 0) {
        free(k);
        return rp_answer_errno(call, r, "cannot kill the tree of %u: %s", req->pid, strerror(-r));
    }
    call->pending = k;
}

/* ---- daemon ---- */

static void op_ping(struct rp_call *call, const ProtobufCMessage *msg)
{
    RunningProcess__Daemon__V1__PingResponse resp =
        RUNNING_PROCESS__DAEMON__V1__PING_RESPONSE__INIT;
    (void)msg;
    resp.server_time_ms = (int64_t)(now_ns(CLOCK_REALTIME) / 1000000);
    rp_answer(call, 0, NULL, &resp.base);
}

static void op_status(struct rp_call *call, const ProtobufCMessage *msg)
{
    RunningProcess__Daemon__V1__StatusResponse resp =
        RUNNING_PROCESS__DAEMON__V1__STATUS_RESPONSE__INIT;
    struct api_host *h = call->host;
    (void)msg;

    resp.version = (char *)h->version;
    resp.uptime_seconds = (now_ns(CLOCK_MONOTONIC) - h->started_mono_ns) / 1000000000u;
    resp.tracked_process_count = (uint32_t)track_count(h->track);
    resp.active_connections = h->rp_connections;
    resp.socket_path = (char *)(h->rp_socket_path ? h->rp_socket_path : "");
    resp.db_path = (char *)store_path(h->store);
    resp.scope = (char *)(h->scope ? h->scope : "global");
    resp.scope_hash = (char *)(h->scope ? h->scope : "");
    resp.scope_cwd = (char *)(h->scope_cwd ? h->scope_cwd : "");
    resp.emergency_reserve = (char *)store_reserve_state(h->store);
    rp_answer(call, 0, NULL, &resp.base);
}

static void op_shutdown(struct rp_call *call, const ProtobufCMessage *msg)
{
    RunningProcess__Daemon__V1__ShutdownResponse resp =
        RUNNING_PROCESS__DAEMON__V1__SHUTDOWN_RESPONSE__INIT;
    struct api_host *h = call->host;
    (void)msg;
    /* The reply goes first: a client that waits for it must not wait in vain. */
    rp_answer(call, 0, "shutting down", &resp.base);
    h->shutdown(h, "running-process SHUTDOWN");
}

static const struct rp_op ops[] = {
    RP_OP(REGISTER, "Register", register, true, op_register),
    RP_OP(UNREGISTER, "Unregister", unregister, true, op_unregister),
    RP_OP(SPAWN_DAEMON, "SpawnDaemon", spawn_daemon, true, op_spawn_daemon),
    RP_OP(LIST_ACTIVE, "ListActive", list_active, false, op_list_active),
    RP_OP(LIST_BY_ORIGINATOR, "ListByOriginator", list_by_originator, true, op_list_by_originator),
    RP_OP(GET_PROCESS_TREE, "GetProcessTree", get_process_tree, true, op_get_process_tree),
    RP_OP(KILL_ZOMBIES, "KillZombies", kill_zombies, true, op_kill_zombies),
    RP_OP(KILL_TREE, "KillTree", kill_tree, true, op_kill_tree),
    RP_OP(PING, NULL, ping, false, op_ping),
    RP_OP(SHUTDOWN, NULL, shutdown, false, op_shutdown),
    RP_OP(STATUS, NULL, status, false, op_status),
};

const struct rp_op *rp_op_find(int type)
{
    for (size_t i = 0; i < ARRAY_SIZE(ops); i++)
        if (ops[i].type == type)
            return &ops[i];
    for (size_t i = 0; i < rp_n_service_ops; i++)
        if (rp_service_ops[i].type == type)
            return &rp_service_ops[i];
    for (size_t i = 0; i < rp_n_session_ops; i++)
        if (rp_session_ops[i].type == type)
            return &rp_session_ops[i];
    return NULL;
}

const struct rp_op *rp_op_find_method(const char *method)
{
    for (size_t i = 0; i < ARRAY_SIZE(ops); i++)
        if (ops[i].method && strcmp(ops[i].method, method) == 0)
            return &ops[i];
    for (size_t i = 0; i < rp_n_session_ops; i++)
        if (rp_session_ops[i].method && strcmp(rp_session_ops[i].method, method) == 0)
            return &rp_session_ops[i];
    return NULL;
}
