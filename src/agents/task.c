/* Tasks: created, dispatched (to an agent over its stream, or run by droverd as a pipe
 * session or in a container), ended, cancelled (see agents.h). What agents do with their tasks
 * is task-agent.c's, the log and its watchers tasklog.c's, the rows task-db.c's.
 *
 *   PENDING -> QUEUED (an agent's, handed out) -> RUNNING -> COMPLETED | FAILED | TIMEOUT
 *   any state not final -> CANCELLED
 *
 * A state change is written, published (task.updated; task.completed or task.failed at the
 * end) and logged for watchers. droverd's own tasks end when their program does: a cancel or
 * a timeout asks the tree to stop and the exit completes the log, so the result always has the
 * real exit status. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agents/agents-internal.h"
#include "base/errmsg.h"
#include "base/log.h"
#include "base/strv.h"
#include "base/utf8.h"
#include "container/container.h"
#include "events/events.h"
#include "proc/proc.h"
#include "session/session.h"

#define RESULT_MAX  (1u << 20) /* bytes of each output stream kept in the result */
#define STOP_GRACE  3000       /* ms between SIGTERM and SIGKILL */
#define TASKS_KEEP  1000       /* ended tasks kept */
#define LOGS_KEEP   32         /* ended tasks whose log is kept for late watchers */
#define HISTORY_MAX 1000       /* task ids a conversation's history keeps */

const char *ag_task_state_word(int s)
{
    static const char *const w[] = {
        "TASK_STATE_UNSPECIFIED", "TASK_STATE_PENDING",   "TASK_STATE_QUEUED",
        "TASK_STATE_RUNNING",     "TASK_STATE_PAUSED",    "TASK_STATE_COMPLETED",
        "TASK_STATE_FAILED",      "TASK_STATE_CANCELLED", "TASK_STATE_TIMEOUT"};
    return s >= 0 && (size_t)s < sizeof w / sizeof *w ? w[s] : "TASK_STATE_UNSPECIFIED";
}

bool ag_task_state_final(int s)
{
    return s >= AG_TASK_COMPLETED;
}

/* ---- the task's life ---- */

static void publish(struct ag_task *t, const char *type)
{
    char state[32], code[16];
    if (!t->m->bus)
        return;
    snprintf(state, sizeof state, "%s", ag_task_state_word(t->state));
    snprintf(code, sizeof code, "%d", t->result.exit_code);
    char *d[] = {"task_id",   t->id,        "agent_id",
                 t->agent_id, "session_id", t->session_id ? t->session_id : "",
                 "state",     state,        t->has_result ? "exit_code" : NULL,
                 code,        NULL};
    struct ev e = {.type = type,
                   .source = "agent",
                   .session_id = t->session_id ? t->session_id : "",
                   .task_id = t->id,
                   .agent_id = t->agent_id,
                   .data = d};
    (void)ev_publish(t->m->bus, &e, NULL);
}

static void conv_note(struct ag_task *t, bool running)
{
    struct ag_conv *c = t->session_id ? ag_conv_find(t->m, t->session_id) : NULL;
    if (!c)
        return;
    if (running) {
        free(c->current_task_id);
        c->current_task_id = strdup(t->id);
    } else if (c->current_task_id && !strcmp(c->current_task_id, t->id)) {
        free(c->current_task_id);
        c->current_task_id = NULL;
    }
    (void)ag_db_put_conv(t->m, c, false);
}

void ag_task_set_state(struct ag_task *t, enum ag_task_state st, const char *message)
{
    if (t->state == st)
        return;
    t->state = st;
    if (st == AG_TASK_RUNNING && !t->started_ns)
        t->started_ns = ag_now_ns();
    if (ag_task_state_final(st)) {
        t->completed_ns = ag_now_ns();
        if (st == AG_TASK_COMPLETED)
            t->progress = 100;
    }
    (void)ag_db_put_doc(t->m, "task", t->id, ag_task_json(t), false);
    ag_tlog_add(t, AG_PULL_STATUS, st, 0, message ? message : "", message ? strlen(message) : 0);
    publish(t, "task.updated");
    if (ag_task_state_final(st)) {
        publish(t, st == AG_TASK_COMPLETED ? "task.completed" : "task.failed");
        conv_note(t, false);
    } else if (st == AG_TASK_RUNNING) {
        conv_note(t, true);
    }
}

void ag_task_set_error(struct ag_task *t, const char *code, const char *fmt, ...)
{
    va_list ap;
    ag_task_error_done(&t->error);
    t->error.code = strdup(code);
    va_start(ap, fmt);
    if (vasprintf(&t->error.message, fmt, ap) < 0)
        t->error.message = NULL;
    va_end(ap);
    t->error.at_ns = ag_now_ns();
    t->has_error = true;
}

static void free_handle(uv_handle_t *h)
{
    free(h);
}

static void task_free(struct ag_task *t)
{
    ag_tlog_free(t);
    free(t->name);
    free(t->session_id);
    ag_task_config_done(&t->config);
    ag_task_result_done(&t->result);
    ag_task_error_done(&t->error);
    uv_close((uv_handle_t *)t->timer, free_handle);
    free(t);
}

/* Drops the oldest ended task (row and all) while more than TASKS_KEEP are kept. */
static void prune(struct ag_mgr *m)
{
    for (struct ag_task *t = m->tasks.first, *next; t && m->n_ended > TASKS_KEEP; t = next) {
        next = t->link.next;
        if (!t->closed || t->watches || t->sess)
            continue;
        (void)ag_db_delete(m, "task", t->id);
        DQUEUE_REMOVE(&m->tasks, t, link);
        if (DLIST_LINKED(t, log_link)) {
            DQUEUE_REMOVE(&m->logged, t, log_link);
            m->n_logged--;
        }
        m->n_tasks--;
        m->n_ended--;
        task_free(t);
    }
}

/* The log is complete: watchers get their completion. The logs of the newest LOGS_KEEP ended
 * tasks stay for late watchers; an older one goes once nobody reads it. */
void ag_task_close_log(struct ag_task *t)
{
    struct ag_mgr *m = t->m;
    if (t->closed)
        return;
    ag_tlog_close(t);
    m->n_ended++;
    DQUEUE_APPEND(&m->logged, t, log_link);
    if (++m->n_logged > LOGS_KEEP) {
        struct ag_task *old = m->logged.first;
        DQUEUE_REMOVE(&m->logged, old, log_link);
        m->n_logged--;
        if (old->watches)
            old->log_unwanted = true; /* freed when its last watcher leaves */
        else
            ag_tlog_free(old);
    }
    prune(m);
}

/* ---- droverd's own: a pipe session ---- */

static void release_container(struct ag_task *t)
{
    char key[CTR_ID_LEN];
    if (!t->in_container)
        return;
    t->in_container = false;
    snprintf(key, sizeof key, "%.12s", t->id);
    ctr_foreground_release(t->m->containers, key);
}

void ag_task_keep_bytes(char **buf, size_t *len, size_t *cap, const uint8_t *p, size_t n)
{
    if (*len >= RESULT_MAX || !n)
        return;
    n = n < RESULT_MAX - *len ? n : RESULT_MAX - *len;
    if (*len + n + 1 > *cap) {
        size_t c = *cap ? *cap : 256;
        while (c < *len + n + 1)
            c *= 2;
        char *b = realloc(*buf, c);
        if (!b)
            return;
        *buf = b;
        *cap = c;
    }
    memcpy(*buf + *len, p, n);
    *len += n;
    (*buf)[*len] = '\0';
}

static void on_data(struct session *s, enum sess_stream st, const uint8_t *p, size_t n,
                    void *userdata)
{
    struct ag_task *t = userdata;
    (void)s;
    if (st == SESS_IN)
        return;
    if (st == SESS_OUT)
        ag_task_keep_bytes((char **)&t->result.output, &t->result.output_len, &t->cap_out, p, n);
    else {
        size_t len = t->result.error_text ? strlen(t->result.error_text) : 0;
        ag_task_keep_bytes(&t->result.error_text, &len, &t->cap_err, p, n);
    }
    ag_tlog_add(t, AG_PULL_OUTPUT, st == SESS_OUT ? 0 : 1, 0, p, n);
}

static void purge_later(uv_timer_t *timer)
{
    struct ag_task *t = timer->data;
    struct session *s = t->sess;
    t->sess = NULL;
    if (s)
        sess_purge(s);
}

static void task_exited(struct session *s, int status, void *userdata)
{
    struct ag_task *t = userdata;
    char msg[64];
    sess_set_owner(s, NULL, NULL);
    release_container(t);
    t->pid = 0;
    t->has_result = true;
    t->result.exit_code = status == PROC_EXIT_UNKNOWN ? -1 : status;
    t->result.completed_ns = ag_now_ns();
    t->result.duration_ns = (int64_t)(t->result.completed_ns - t->started_ns);
    /* The text fields are strings: what is not UTF-8 is replaced (output keeps the bytes). */
    char *out = utf8_sanitize(t->result.output, t->result.output_len, NULL);
    free(t->result.output_text);
    t->result.output_text = out;
    if (t->result.error_text) {
        char *err = utf8_sanitize(t->result.error_text, strlen(t->result.error_text), NULL);
        if (err) {
            free(t->result.error_text);
            t->result.error_text = err;
        }
    }
    if (status == PROC_EXIT_UNKNOWN)
        snprintf(msg, sizeof msg, "ended (status unknown)");
    else if (status < 0)
        snprintf(msg, sizeof msg, "killed by signal %d", -status);
    else
        snprintf(msg, sizeof msg, "exited with code %d", status);
    if (t->end_as == AG_TASK_TIMEOUT)
        ag_task_set_error(t, "timeout", "the task ran past its timeout: %s", msg);
    else if (t->end_as == AG_TASK_FAILED)
        ag_task_set_error(t, "lost", "droverd stopped while the task ran: %s", msg);
    else if (!t->end_as && status != 0)
        ag_task_set_error(t, "exit", "%s", msg);
    enum ag_task_state st = t->end_as     ? t->end_as
                            : status == 0 ? AG_TASK_COMPLETED
                                          : AG_TASK_FAILED;
    if (t->state == st) /* a cancel set it already: the result is new */
        (void)ag_db_put_doc(t->m, "task", t->id, ag_task_json(t), false);
    ag_task_set_state(t, st, msg);
    uv_timer_stop(t->timer);
    uv_timer_start(t->timer, purge_later, 0, 0); /* not from inside the session's own exit */
    ag_task_close_log(t);
    struct ag_mgr *m = t->m;
    if (t->stop_held && (t->stop_held = false, --m->stop_left == 0) && m->stop_done)
        m->stop_done(m->stop_data);
}

void ag_mgr_shutdown(struct ag_mgr *m, void (*done)(void *userdata), void *userdata)
{
    m->stop_done = done;
    m->stop_data = userdata;
    m->stop_left = 1; /* held until every task was asked to stop */
    for (struct ag_task *t = m->tasks.first; t; t = t->link.next) {
        if (!t->sess || !t->pid || t->stop_held)
            continue;
        t->stop_held = true;
        m->stop_left++;
        if (!t->end_as)
            t->end_as = AG_TASK_FAILED;
        (void)sess_terminate(t->sess, STOP_GRACE, false);
    }
    if (--m->stop_left == 0 && done)
        done(userdata);
}

static const struct sess_owner_ops owner_ops = {.on_exit = task_exited, .on_data = on_data};

static void on_timeout(uv_timer_t *timer)
{
    struct ag_task *t = timer->data;
    if (!t->sess || t->end_as)
        return;
    t->end_as = AG_TASK_TIMEOUT;
    (void)sess_terminate(t->sess, STOP_GRACE, false);
}

static const char *param(const struct ag_task *t, const char *key)
{
    for (char **p = t->config.parameters; p && p[0] && p[1]; p += 2)
        if (!strcmp(p[0], key))
            return p[1];
    return NULL;
}

/* A task with an image runs in a container of its own: the OCI runtime's run in the
 * foreground, read-only root, no capabilities, no network, its memory limit. *ret_argv is what
 * to spawn instead of the command. */
static int container_argv(struct ag_task *t, const char *image, char **argv, char ***ret_argv,
                          char *err, size_t err_size)
{
    const struct ag_task_config *c = &t->config;
    char key[CTR_ID_LEN], **env = NULL;
    size_t n = 0;
    if (!t->m->containers)
        return errmsg_fail(err, err_size, -EOPNOTSUPP, "containers are not set up in this droverd");
    for (char **e = c->environment; e && e[0] && e[1]; e += 2) {
        char *kv;
        if (asprintf(&kv, "%s=%s", e[0], e[1]) < 0 || strv_push(&env, &n, kv) < 0) {
            strv_free(env);
            return errmsg_fail(err, err_size, -ENOMEM, "out of memory");
        }
    }
    static char *drop_all[] = {"ALL", NULL};
    char name[32];
    snprintf(name, sizeof name, "task-%.12s", t->id);
    struct ctr_spec spec = {.name = name,
                            .image = (char *)image,
                            .command = argv,
                            .env = env,
                            .cwd = c->working_directory,
                            .read_only = true,
                            .cap_drop = drop_all,
                            .res = {.memory = (uint64_t)c->max_memory_bytes}};
    snprintf(key, sizeof key, "%.12s", t->id);
    int r = ctr_foreground_prepare(t->m->containers, key, &spec, ret_argv, err, err_size);
    strv_free(env);
    return r;
}

static void run_local(struct ag_task *t)
{
    extern char **environ;
    struct ag_mgr *m = t->m;
    const struct ag_task_config *c = &t->config;
    const char *image = param(t, "image");
    struct proc_env env;
    size_t na = strv_length(c->arguments);
    char **argv = calloc(na + 2, sizeof *argv), **in_ctr = NULL, why[AG_ERR_MAX] = "";
    int r = argv ? proc_env_init(&env, PROC_ENV_USER_BASELINE, environ) : -ENOMEM;
    if (r == 0) {
        argv[0] = c->command;
        if (na)
            memcpy(argv + 1, c->arguments, na * sizeof *argv);
        if (image && *image && (r = container_argv(t, image, argv, &in_ctr, why, sizeof why)) < 0)
            proc_env_done(&env);
    }
    if (r == 0) {
        t->in_container = in_ctr != NULL;
        for (size_t i = 0; c->environment && c->environment[i] && c->environment[i + 1]; i += 2)
            r |= proc_env_set(&env, c->environment[i], c->environment[i + 1]);
        struct proc_limits lim = {.memory_max = (uint64_t)c->max_memory_bytes};
        char origin[64];
        snprintf(origin, sizeof origin, "task:%s", t->id);
        struct sess_spawn so = {
            .kind = SESS_PIPE,
            .argv = in_ctr ? in_ctr : argv,
            .cwd = in_ctr ? NULL : c->working_directory,
            .envp = env.v,
            .originator = origin,
            .limits = c->max_memory_bytes > 0 && !in_ctr ? &lim : NULL,
            .cpu_seconds =
                c->max_cpu_ns > 0 ? (uint32_t)((c->max_cpu_ns + 999999999) / 1000000000) : 0,
        };
        r = r ? -ENOMEM : m->sessions ? sess_spawn(m->sessions, &so, &t->sess) : -ENOSYS;
        proc_env_done(&env);
        if (r < 0)
            release_container(t);
    }
    free(argv);
    strv_free(in_ctr);
    if (r < 0) {
        if (why[0])
            ag_task_set_error(t, "container", "%s", why);
        else
            ag_task_set_error(t, "spawn", "%s: %s", c->command,
                              r == -EOPNOTSUPP
                                  ? "its memory limit needs a cgroup controller droverd lacks"
                                  : strerror(-r));
        ag_task_set_state(t, AG_TASK_FAILED, t->error.message);
        ag_task_close_log(t);
        return;
    }
    struct sess_info si;
    sess_info(t->sess, &si);
    t->pid = si.pid;
    sess_set_owner(t->sess, &owner_ops, t);
    if (c->input_len) { /* its input, whole: then end of file */
        (void)sess_write(t->sess, c->input, c->input_len, NULL);
        (void)sess_close_stdin(t->sess);
    }
    uint64_t limit = 0;
    if (c->timeout_ns > 0)
        limit = (uint64_t)c->timeout_ns;
    if (c->max_execution_time_ns > 0 && (!limit || (uint64_t)c->max_execution_time_ns < limit))
        limit = (uint64_t)c->max_execution_time_ns;
    ag_task_set_state(t, AG_TASK_RUNNING, "started");
    if (limit) {
        t->expires_ns = t->started_ns + limit;
        uv_timer_start(t->timer, on_timeout, (limit + 999999) / 1000000, 0);
    }
}

/* ---- operations ---- */

int ag_task_execute(struct ag_mgr *m, const struct ag_task_spec *spec, struct ag_task **ret,
                    char *err, size_t err_size)
{
    const struct ag_task_config *c = spec->config;
    struct ag_agent *a = NULL;
    if (!spec->session_id || !*spec->session_id)
        return errmsg_fail(err, err_size, -EINVAL, "session_id is required");
    if (!c)
        return errmsg_fail(err, err_size, -EINVAL, "config is required");
    if (spec->agent_id && *spec->agent_id) {
        a = ag_agent_find(m, spec->agent_id);
        if (!a || a->state == AG_AGENT_TERMINATED)
            return errmsg_fail(err, err_size, -ENOENT, "agent not found");
    } else if (!c->command || !*c->command) {
        return errmsg_fail(err, err_size, -EINVAL, "config.command is required");
    } else {
        a = ag_task_worker_for(m, spec->type);
    }
    if (c->timeout_ns < 0 || c->max_memory_bytes < 0 || c->max_cpu_ns < 0 ||
        c->max_execution_time_ns < 0)
        return errmsg_fail(err, err_size, -EINVAL, "limits and timeouts must not be negative");
    for (char **e = c->environment; e && e[0] && e[1]; e += 2)
        if (!*e[0] || strchr(e[0], '='))
            return errmsg_fail(err, err_size, -EINVAL,
                               "config.environment: '%s' is not a variable name", e[0]);
    struct ag_task *t = calloc(1, sizeof *t);
    if (!t || !(t->timer = malloc(sizeof *t->timer)) || ag_dup_s(&t->name, c->command) < 0 ||
        ag_dup_s(&t->session_id, spec->session_id) < 0 || ag_task_config_copy(&t->config, c) < 0) {
        if (t) {
            free(t->timer);
            free(t->name);
            free(t->session_id);
        }
        free(t);
        return errmsg_fail(err, err_size, -ENOMEM, "out of memory");
    }
    t->m = m;
    ag_new_id(t->id);
    snprintf(t->agent_id, sizeof t->agent_id, "%s", a ? a->id : "");
    t->type = spec->type;
    t->priority = spec->priority;
    t->state = AG_TASK_PENDING;
    t->created_ns = ag_now_ns();
    uv_timer_init(m->loop, t->timer);
    t->timer->data = t;
    int r = ag_db_put_doc(m, "task", t->id, ag_task_json(t), true);
    if (r < 0) {
        task_free(t);
        return errmsg_fail(err, err_size, r,
                           r == -ENOSPC ? "the state disk is full" : "cannot record the task");
    }
    DQUEUE_APPEND(&m->tasks, t, link);
    m->n_tasks++;
    struct ag_conv *conv = ag_conv_find(m, t->session_id);
    size_t n = strv_length(conv ? conv->task_history : NULL);
    if (conv && n >= HISTORY_MAX) { /* the oldest goes */
        free(conv->task_history[0]);
        memmove(conv->task_history, conv->task_history + 1, n * sizeof *conv->task_history);
        n--;
    }
    if (conv && strv_push(&conv->task_history, &n, strdup(t->id)) == 0)
        (void)ag_db_put_conv(m, conv, false);
    ag_tlog_add(t, AG_PULL_STATUS, AG_TASK_PENDING, 0, "created", 7);
    publish(t, "task.created");
    if (a)
        ag_task_push(t);
    else
        run_local(t);
    *ret = t;
    return 0;
}

struct ag_task *ag_task_find(struct ag_mgr *m, const char *id)
{
    for (struct ag_task *t = m->tasks.first; id && t; t = t->link.next)
        if (!strcmp(t->id, id))
            return t;
    return NULL;
}

struct ag_task *ag_task_next(struct ag_mgr *m, struct ag_task *prev, const struct ag_task_filter *f)
{
    for (struct ag_task *t = prev ? prev->link.next : m->tasks.first; t; t = t->link.next) {
        if (f && ((f->agent_id && strcmp(f->agent_id, t->agent_id)) ||
                  (f->state && (int)t->state != f->state) || (f->type && t->type != f->type) ||
                  (f->priority && t->priority != f->priority) ||
                  (f->session_id && *f->session_id &&
                   strcmp(f->session_id, t->session_id ? t->session_id : "")) ||
                  (f->after_ns && t->created_ns < f->after_ns) ||
                  (f->before_ns && t->created_ns > f->before_ns)))
            continue;
        return t;
    }
    return NULL;
}

void ag_task_info(const struct ag_task *t, struct ag_task_info *ret)
{
    *ret = (struct ag_task_info){
        .id = t->id,
        .name = t->name ? t->name : "",
        .session_id = t->session_id ? t->session_id : "",
        .agent_id = t->agent_id,
        .type = t->type,
        .priority = t->priority,
        .state = t->state,
        .created_ns = t->created_ns,
        .started_ns = t->started_ns,
        .completed_ns = t->completed_ns,
        .expires_ns = t->expires_ns,
        .config = &t->config,
        .result = t->has_result ? &t->result : NULL,
        .error = t->has_error ? &t->error : NULL,
        .progress = t->progress,
        .pid = t->pid,
    };
}

int ag_task_cancel(struct ag_task *t, const char *reason, bool force, bool *ret_cancelled,
                   char *err, size_t err_size)
{
    (void)err;
    (void)err_size;
    *ret_cancelled = false;
    if (ag_task_state_final(t->state))
        return 0;
    *ret_cancelled = true;
    const char *why = reason && *reason ? reason : "cancelled";
    if (t->sess) { /* droverd's own: the exit completes it */
        t->end_as = AG_TASK_CANCELLED;
        ag_task_set_state(t, AG_TASK_CANCELLED, why);
        (void)(force ? sess_kill(t->sess) : sess_terminate(t->sess, STOP_GRACE, false));
        return 0;
    }
    struct ag_agent *a = t->agent_id[0] ? ag_agent_find(t->m, t->agent_id) : NULL;
    if (a && a->ops) {
        char mid[AG_ID_LEN];
        char *params[] = {
            "task_id", t->id, "reason", (char *)why, "force", force ? "true" : "false", NULL};
        ag_new_id(mid);
        struct ag_amsg am = {.id = mid,
                             .type = AG_AMSG_CONTROL,
                             .ts_ns = ag_now_ns(),
                             .source_id = "orchestrator",
                             .target_id = a->id,
                             .payload = AG_PAY_CONTROL,
                             .control = {.command = 3 /* CANCEL */, .params = params},
                             .correlation_id = t->id,
                             .session_id = t->session_id};
        (void)a->ops->deliver(a->ops_data, &am);
    }
    ag_task_set_state(t, AG_TASK_CANCELLED, why);
    ag_task_close_log(t);
    return 0;
}

int ag_task_input(struct ag_task *t, const uint8_t *data, size_t n, bool eof, char *err,
                  size_t err_size)
{
    if (ag_task_state_final(t->state) && !t->sess)
        return errmsg_fail(err, err_size, -ESTALE, "task has ended");
    if (t->sess) {
        int r = n ? sess_write(t->sess, data, n, NULL) : 0;
        if (r == 0 && eof)
            r = sess_close_stdin(t->sess);
        if (r < 0)
            return errmsg_fail(err, err_size, r,
                               r == -ENOBUFS ? "too much input queued"
                                             : "the task takes no more input");
        return 0;
    }
    struct ag_agent *a = ag_agent_find(t->m, t->agent_id);
    if (!a || !a->ops)
        return errmsg_fail(err, err_size, -ENOTCONN, "agent has no stream");
    char mid[AG_ID_LEN];
    char *headers[] = {"task_id", t->id, eof ? "eof" : NULL, "true", NULL};
    ag_new_id(mid);
    struct ag_amsg am = {.id = mid,
                         .type = AG_AMSG_DATA,
                         .ts_ns = ag_now_ns(),
                         .source_id = "orchestrator",
                         .target_id = a->id,
                         .payload = AG_PAY_DATA,
                         .data = {.content_type = "application/octet-stream",
                                  .data = data,
                                  .len = n,
                                  .headers = headers},
                         .correlation_id = t->id,
                         .session_id = t->session_id};
    if (a->ops->deliver(a->ops_data, &am) < 0)
        return errmsg_fail(err, err_size, -ENOBUFS, "the agent's stream is full");
    return 0;
}

size_t ag_tasks_count(const struct ag_mgr *m, size_t *ret_active)
{
    size_t active = 0;
    for (const struct ag_task *t = m->tasks.first; t; t = t->link.next)
        active += !ag_task_state_final(t->state);
    if (ret_active)
        *ret_active = active;
    return m->n_tasks;
}

void ag_tasks_conv_closed(struct ag_mgr *m, const char *conv_id)
{
    bool cancelled;
    for (struct ag_task *t = m->tasks.first, *next; t; t = next) {
        next = t->link.next;
        if (!ag_task_state_final(t->state) && t->session_id && !strcmp(t->session_id, conv_id))
            (void)ag_task_cancel(t, "its session closed", false, &cancelled, NULL, 0);
    }
}

void ag_tasks_free(struct ag_mgr *m)
{
    while (m->tasks.first) {
        struct ag_task *t = m->tasks.first;
        DQUEUE_REMOVE(&m->tasks, t, link);
        while (t->watches) {
            struct ag_task_watch *w = t->watches;
            DLIST_REMOVE(w, link);
            w->t = NULL;
        }
        if (t->sess) {
            sess_set_owner(t->sess, NULL, NULL);
            (void)sess_kill(t->sess);
        }
        task_free(t);
    }
    m->logged.first = m->logged.last = NULL;
    m->n_tasks = m->n_logged = m->n_ended = 0;
}
