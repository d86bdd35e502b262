/* Runners: one supervised program of a project, in a drover session.
 *
 *   state        event                         next          event reported
 *   (create)     spawned                       RUNNING       RUNNER_STARTED
 *                  (STARTING until the first heartbeat when the project requires one)
 *   (create)     spawn failed                  FAILED        RUNNER_FAILED, -ENOEXEC
 *   RUNNING      update: desired PAUSED        PAUSED        RUNNER_PAUSED (freezer or SIGSTOP)
 *   PAUSED       update: desired RUNNING       RUNNING       RUNNER_RESUMED
 *   live         stop                          STOPPING      (then TERMINATED, RUNNER_STOPPED)
 *   live         exit 0, not asked             TERMINATED    RUNNER_STOPPED ("exited")
 *   live         exit != 0, signal             FAILED        RUNNER_FAILED ("exited"/"killed")
 *   live         heartbeat TTL missed          FAILED        RUNNER_FAILED ("heartbeat_timeout")
 *   FAILED/TERM. restart policy allows         (backoff)     then RUNNER_RESTARTED as it runs
 *   live         droverd restarted, lost       FAILED        RUNNER_FAILED ("lost")
 *
 * "Live" is STARTING, RUNNING, PAUSED or STOPPING: what the concurrency quota counts. The
 * restart policy (NEVER, ON_FAILURE: FAILED only, ALWAYS) restarts after restart_backoff_ms ×
 * 2^attempt (capped at 60 s) while attempts < max_restart_attempts; a stop asked for never
 * restarts. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/log.h"
#include "base/macro.h"
#include "base/strv.h"
#include "metrics/metrics.h"
#include "proc/proc.h"
#include "runner/runner-internal.h"
#include "session/session.h"

bool rn_runner_live(const struct rn_runner *r)
{
    return r->status >= RN_STARTING && r->status <= RN_STOPPING;
}

struct rn_runner *rn_runner_find(struct rn_mgr *m, const char *id)
{
    for (struct rn_runner *r = m->runners.first; r && id; r = r->link.next)
        if (strcmp(r->id, id) == 0)
            return r;
    return NULL;
}

struct rn_runner *rn_runner_next(struct rn_mgr *m, struct rn_runner *prev)
{
    return prev ? prev->link.next : m->runners.first;
}

bool rn_runner_token_ok(struct rn_mgr *m, const char *id, const char *token)
{
    struct rn_runner *r = rn_runner_find(m, id);
    size_t n = token ? strlen(token) : 0;
    return r && r->token[0] && n == strlen(r->token) && mem_equal_ct(r->token, token, n);
}

static void timer_closed(uv_handle_t *h)
{
    struct rn_runner *r = h->data;
    r->timer_open = false;
    rn_runner_free(r);
}

void rn_runner_free(struct rn_runner *r)
{
    if (!r)
        return;
    if (r->timer_open) { /* the close callback frees it */
        uv_timer_stop(&r->timer);
        if (!uv_is_closing((uv_handle_t *)&r->timer))
            uv_close((uv_handle_t *)&r->timer, timer_closed);
        return;
    }
    free(r->project);
    free(r->model);
    free(r->workdir);
    free(r->reason);
    strv_free(r->metadata);
    strv_free(r->flags);
    strv_free(r->caps);
    strv_free(r->env);
    strv_free(r->command);
    strv_free(r->asked_command);
    free(r);
}

void rn_runner_set_reason(struct rn_runner *r, const char *why)
{
    char *s = strdup(why ? why : "");
    if (s) {
        free(r->reason);
        r->reason = s;
    }
}

void rn_runner_changed(struct rn_mgr *m, struct rn_runner *r)
{
    r->updated_ns = rn_now();
    rn_db_put_runner(m, r);
}

void rn_runner_emit(struct rn_mgr *m, struct rn_runner *r, enum rn_event_type t,
                    const struct rn_event *more)
{
    struct rn_event ev = more ? *more : (struct rn_event){0};
    ev.type = t;
    ev.runner = r;
    ev.project = rn_project_find(m, r->project);
    ev.project_name = r->project;
    ev.conv = rn_conv_find(m, r->conv_id);
    if (!ev.reason)
        ev.reason = r->reason;
    rn_emit(m, &ev);
}

/* Tells everyone waiting on the runner. A callback may delete the runner (a project deleted
 * once its last runner stopped): it is then freed here, after the last callback; the caller
 * must not touch r afterwards. */
static void notify_waits(struct rn_runner *r, int code)
{
    struct rn_wait *w;
    r->in_notify++;
    while ((w = r->waits)) {
        r->waits = w->next;
        w->r = NULL;
        w->done(w, code);
    }
    if (--r->in_notify == 0 && r->free_later)
        rn_runner_free(r);
}

static void queue_wait(struct rn_runner *r, struct rn_wait *w)
{
    struct rn_wait **p = &r->waits;
    if (!w)
        return;
    while (*p)
        p = &(*p)->next;
    w->next = NULL;
    w->r = r;
    *p = w;
}

void rn_wait_cancel(struct rn_wait *w)
{
    if (!w || !w->r)
        return;
    for (struct rn_wait **p = &w->r->waits; *p; p = &(*p)->next)
        if (*p == w) {
            *p = w->next;
            break;
        }
    w->r = NULL;
}

static void runner_data(struct session *s, enum sess_stream st, const uint8_t *p, size_t n,
                        void *userdata)
{
    struct rn_runner *r = userdata;
    (void)s;
    rn_transcript_data(r->m, r, (int)st, p, n);
}

static const struct sess_owner_ops owner_ops = {.on_exit = rn_runner_exited,
                                                .on_data = runner_data};

void rn_runner_bind(struct rn_mgr *m, struct rn_runner *r, struct session *s)
{
    sess_set_owner(s, &owner_ops, r);
    r->sess = s;
    (void)rn_transcript_open(m, r);
}

/* Starts the runner's program (its argv is r->command). restart_attempt > 0 reports
 * RUNNER_RESTARTED, else RUNNER_STARTED. */
static int spawn(struct rn_mgr *m, struct rn_runner *r, bool restart, int32_t restart_attempt,
                 char *err, size_t size)
{
    struct rn_project *p = rn_project_find(m, r->project);
    struct proc_env env;
    struct session *s;
    char origin[64];
    int x;

    if (!p)
        return snprintf(err, size, "project %s is gone", r->project), -ENOENT;
    struct session *old = r->sess_id[0] ? sess_find(m->sessions, r->sess_id) : NULL;
    struct sess_info oi;
    if (old && (sess_info(old, &oi), oi.exited))
        sess_purge(old); /* the previous run's session: its output went with it */
    if ((x = rn_build_env(m, r, p, &env)) < 0)
        return x;
    snprintf(origin, sizeof origin, "stratavore:%s", r->id);
    struct proc_limits lim;
    char slice[RN_NAME_MAX + 16];
    bool limited = rn_quota_limits(&r->quota, &lim);
    rn_slice_name(p->name, slice, sizeof slice);
    struct sess_spawn so = {.kind = p->launch.use_pipes ? SESS_PIPE : SESS_PTY,
                            .argv = r->command,
                            .cwd = r->workdir,
                            .envp = env.v,
                            .originator = origin,
                            .slice = slice,
                            .limits = limited ? &lim : NULL,
                            .hold = true};
    x = sess_spawn(m->sessions, &so, &s);
    if (x == -EMFILE && rn_purge_exited(m, 0) > 0) /* sessions kept for ended runners go first */
        x = sess_spawn(m->sessions, &so, &s);
    proc_env_done(&env);
    r->terminated_ns = 0;
    r->has_exit_code = r->has_exit_signal = false;
    r->stop_asked = r->failing = false;
    if (x < 0) {
        snprintf(err, size, "cannot start %s: %s", r->command[0],
                 x == -EOPNOTSUPP ? "its quota needs a cgroup controller droverd does not have"
                                  : strerror(-x));
        char why[96];
        snprintf(why, sizeof why, "spawn_failed: %s", strerror(-x));
        r->status = RN_FAILED;
        r->pid = 0;
        r->terminated_ns = rn_now();
        rn_runner_set_reason(r, why);
        rn_runner_changed(m, r);
        rn_runner_emit(m, r, RN_EV_RUNNER_FAILED, NULL);
        rn_conv_runner_ended(m, r);
        return -ENOEXEC;
    }
    struct sess_info si;
    sess_info(s, &si);
    snprintf(r->sess_id, sizeof r->sess_id, "%s", si.id);
    rn_runner_bind(m, r, s);
    rn_transcript_note(m, r, "runner %s started pid %d: %s", r->id, (int)si.pid, si.command);
    r->pid = si.pid;
    r->starttime = sess_starttime(s);
    r->started_ns = rn_now();
    r->status = r->heartbeat_required ? RN_STARTING : RN_RUNNING;
    rn_runner_set_reason(r, restart ? "restarted" : "started");
    rn_runner_changed(m, r);
    rn_runner_emit(m, r, restart ? RN_EV_RUNNER_RESTARTED : RN_EV_RUNNER_STARTED,
                   &(struct rn_event){.restart_attempt = restart_attempt});
    return 0;
}

/* ---- create ---- */

static int check_quota(struct rn_mgr *m, struct rn_project *p, struct rn_runner *r, char *err,
                       size_t size)
{
    int32_t live = rn_project_live(m, p->name);
    const char *quota = NULL;
    int64_t limit = 0, current = 0;

    rn_project_token_day(p);
    if (p->quota.max_runners > 0 && live >= p->quota.max_runners) {
        quota = "max_concurrent_runners";
        limit = p->quota.max_runners;
        current = live;
        snprintf(err, size, "quota exceeded: %d/%d runners active", live, p->quota.max_runners);
    } else if (p->quota.max_tokens_day > 0 && p->tokens_today >= p->quota.max_tokens_day) {
        quota = "max_tokens_per_day";
        limit = p->quota.max_tokens_day;
        current = p->tokens_today;
        snprintf(err, size, "quota exceeded: %lld/%lld tokens used today",
                 (long long)p->tokens_today, (long long)p->quota.max_tokens_day);
    }
    if (!quota)
        return 0;
    rn_emit(m, &(struct rn_event){.type = RN_EV_QUOTA_EXCEEDED,
                                  .runner = r,
                                  .project = p,
                                  .project_name = p->name,
                                  .quota = quota,
                                  .limit = limit,
                                  .current = current,
                                  .action = "refused",
                                  .reason = err});
    return -EDQUOT;
}

static int check_request(struct rn_mgr *m, const struct rn_create *q, struct rn_project **ret_p,
                         char *err, size_t size)
{
    struct rn_project *p = rn_project_find(m, q->project);
    struct stat st;

    if (m->shutting_down)
        return snprintf(err, size, "droverd is shutting down"), -ESHUTDOWN;
    if (!q->project || !*q->project)
        return snprintf(err, size, "project_name is required"), -EINVAL;
    if (!p)
        return snprintf(err, size, "project %s not found", q->project), -ENOENT;
    if (p->archived)
        return snprintf(err, size, "project %s is archived", p->name), -EBUSY;
    if (q->runtime == RN_RUNTIME_REMOTE || q->runtime == RN_RUNTIME_CONTAINER)
        return snprintf(err, size, "runtime %s is not available on this daemon",
                        q->runtime == RN_RUNTIME_REMOTE ? "REMOTE" : "CONTAINER"),
               -EOPNOTSUPP;
    if (q->runtime < 0 || q->runtime > RN_RUNTIME_REMOTE)
        return snprintf(err, size, "runtime_type %d is not a runtime", q->runtime), -EINVAL;
    if (q->runtime_id && *q->runtime_id)
        return snprintf(err, size, "adopting a runtime_id is not available on this daemon"),
               -EOPNOTSUPP;
    if (q->has_temperature &&
        (!isfinite(q->temperature) || q->temperature < 0 || q->temperature > 2))
        return snprintf(err, size, "temperature must be between 0 and 2"), -EINVAL;
    if (q->has_max_tokens && q->max_tokens < 0)
        return snprintf(err, size, "max_tokens must not be negative"), -EINVAL;
    if (q->mode < 0 || q->mode > RN_MODE_RESUME)
        return snprintf(err, size, "conversation_mode %d is not a mode", q->mode), -EINVAL;
    if (q->policy < 0 || q->policy > RN_ALWAYS)
        return snprintf(err, size, "restart_policy %d is not a policy", q->policy), -EINVAL;
    if (q->max_restarts < 0 || q->ttl_s < 0)
        return snprintf(err, size,
                        "max_restart_attempts and heartbeat_ttl_seconds must not be "
                        "negative"),
               -EINVAL;
    if (q->quota.max_runners < 0 || q->quota.max_memory_mb < 0 || q->quota.max_cpu_pct < 0 ||
        q->quota.max_tokens_day < 0 || q->quota.max_pids < 0)
        return snprintf(err, size, "quota values must not be negative"), -EINVAL;
    if (rn_map_valid(q->metadata) < 0 || rn_map_valid(q->env) < 0)
        return snprintf(err, size, "metadata and environment must be maps"), -EINVAL;
    for (size_t i = 0; q->env && q->env[i]; i += 2)
        if (!q->env[i][0] || strchr(q->env[i], '='))
            return snprintf(err, size, "environment: '%s' is not a variable name", q->env[i]),
                   -EINVAL;
    if (q->mode > RN_MODE_NEW && q->conv_id && *q->conv_id) {
        struct rn_conv *c = rn_conv_find(m, q->conv_id);
        if (!c)
            return snprintf(err, size, "session %s not found", q->conv_id), -ENOENT;
        if (strcmp(c->project, p->name) != 0)
            return snprintf(err, size, "session %s belongs to project %s", c->id, c->project),
                   -EINVAL;
        if (rn_conv_status(m, c) == RN_CONV_ENDED)
            return snprintf(err, size, "session %s has ended", c->id), -ESTALE;
    }
    const char *dir = q->workdir && *q->workdir ? q->workdir : p->path;
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
        return snprintf(err, size, "working directory %s does not exist", dir), -ENOTDIR;
    *ret_p = p;
    return 0;
}

static int fill(struct rn_mgr *m, struct rn_runner *r, struct rn_project *p,
                const struct rn_create *q)
{
    const struct rn_launch *l = &p->launch;
    r->m = m;
    rn_uuid(r->id);
    char raw[RN_ID_LEN];
    rn_uuid(raw);
    snprintf(r->token, sizeof r->token, "svr1.%s", raw);
    r->runtime = RN_RUNTIME_PROCESS;
    r->mode = q->mode ? q->mode : RN_MODE_NEW;
    r->policy = q->policy ? q->policy : l->policy ? l->policy : RN_NEVER;
    r->max_restarts = q->max_restarts ? q->max_restarts : rn_launch_max_restarts(l);
    r->ttl_s = q->ttl_s ? q->ttl_s : rn_launch_ttl(l);
    r->heartbeat_required = l->heartbeat_required;
    r->stop_timeout_ms = rn_launch_stop_ms(l);
    r->has_temperature = q->has_temperature || l->has_temperature;
    r->temperature = q->has_temperature ? q->temperature : l->temperature;
    r->has_max_tokens = q->has_max_tokens || l->has_max_tokens;
    r->max_tokens = q->has_max_tokens ? q->max_tokens : l->max_tokens;
    r->quota = q->quota;
    r->created_ns = rn_now();
    if (q->mode > RN_MODE_NEW && q->conv_id)
        snprintf(r->conv_id, sizeof r->conv_id, "%s", q->conv_id);
    if (!(r->project = strdup(p->name)) ||
        !(r->model = strdup(q->model && *q->model ? q->model
                            : l->model            ? l->model
                                                  : "")) ||
        !(r->workdir = strdup(q->workdir && *q->workdir ? q->workdir : p->path)) ||
        !(r->reason = strdup("")) || !(r->metadata = strv_copy(q->metadata)) ||
        !(r->flags = strv_copy(q->flags)) || !(r->caps = strv_copy(q->caps)) ||
        !(r->env = strv_copy(q->env)) ||
        (q->command && q->command[0] && !(r->asked_command = strv_copy(q->command))))
        return -ENOMEM;
    return 0;
}

int rn_runner_create(struct rn_mgr *m, const struct rn_create *q, struct rn_runner **ret, char *err,
                     size_t size)
{
    struct rn_project *p;
    struct rn_runner *r;
    int x;

    if ((x = check_request(m, q, &p, err, size)) < 0 || (x = check_quota(m, p, NULL, err, size)))
        return x;
    if (!(r = calloc(1, sizeof *r)))
        return -ENOMEM;
    if ((x = fill(m, r, p, q)) < 0 || (x = rn_conv_bind(m, r, q->mode > RN_MODE_NEW, err, size)) ||
        (x = rn_build_argv(m, r, p, q->command, &r->command)) < 0) {
        if (x == -EINVAL)
            snprintf(err, size, "the runner command is empty once expanded");
        rn_runner_free(r);
        return x;
    }
    p->accessed_ns = rn_now();
    r->status = RN_STARTING;
    DQUEUE_APPEND(&m->runners, r, link);
    rn_mgr_arm_reconcile(m);
    rn_db_begin(m); /* its rows and its conversation's: one write */
    rn_conv_touch(m, r->conv_id);
    x = spawn(m, r, false, 0, err, size);
    rn_db_commit(m);
    *ret = r;
    return x;
}

/* ---- exit and the restart policy ---- */

static void on_backoff(uv_timer_t *t)
{
    struct rn_runner *r = t->data;
    struct rn_mgr *m = r->m;
    char err[RN_ERR_MAX];

    r->timer_armed = false;
    if (rn_runner_live(r) || m->shutting_down)
        return;
    r->restarts++;
    if (spawn(m, r, true, r->restarts, err, sizeof err) < 0)
        log_info("runner %s: restart %d failed: %s", r->id, r->restarts, err);
}

static uint64_t backoff_ms(const struct rn_mgr *m, const struct rn_runner *r)
{
    struct rn_project *p = rn_project_find((struct rn_mgr *)m, r->project);
    uint64_t ms = (uint64_t)(p ? rn_launch_backoff(&p->launch) : RN_DEF_BACKOFF_MS);
    for (int32_t i = 0; i < r->restarts && ms < RN_MAX_BACKOFF_MS; i++)
        ms *= 2;
    return MIN(ms, (uint64_t)RN_MAX_BACKOFF_MS);
}

static bool arm_backoff(struct rn_mgr *m, struct rn_runner *r)
{
    if (!r->timer_open) {
        if (uv_timer_init(m->loop, &r->timer) < 0)
            return false;
        r->timer.data = r;
        r->timer_open = true;
    }
    r->timer_armed = uv_timer_start(&r->timer, on_backoff, backoff_ms(m, r), 0) == 0;
    return r->timer_armed;
}

static void remove_runner(struct rn_mgr *m, struct rn_runner *r, bool delete_convs);

static void restart_now(struct rn_mgr *m, struct rn_runner *r, bool preserve);

void rn_runner_exited(struct session *s, int status, void *userdata)
{
    struct rn_runner *r = userdata;
    struct rn_mgr *m = r->m;
    bool asked = r->stop_asked;
    bool failed;

    sess_set_owner(s, NULL, NULL);
    if (status == PROC_EXIT_UNKNOWN)
        rn_transcript_note(m, r, "runner %s ended (status unknown)", r->id);
    else if (status < 0)
        rn_transcript_note(m, r, "runner %s killed by signal %d", r->id, -status);
    else
        rn_transcript_note(m, r, "runner %s exited with code %d", r->id, status);
    rn_transcript_close(m, r);
    /* The session stays a while (a client attached asks how it ended; its backlog can be
     * read); the reconcile pass purges it later (rn_purge_exited). */
    r->sess = NULL;
    r->pid = 0;
    r->starttime = 0;
    r->terminated_ns = rn_now();
    r->has_exit_code = status >= 0;
    r->exit_code = status >= 0 ? status : 0;
    r->has_exit_signal = status < 0 && status != PROC_EXIT_UNKNOWN;
    r->exit_signal = r->has_exit_signal ? -status : 0;
    struct proc_res_usage ru;
    bool oom = sess_res_usage(s, &ru) == 0 && ru.oom_kills > r->oom_seen;
    if (oom) {
        r->oom_kills += (int32_t)(ru.oom_kills - r->oom_seen);
        rn_runner_set_reason(r, "oom");
        r->failing = true;
    }
    r->oom_seen = 0;
    failed = !asked && (status != 0 || r->failing);
    if (!asked && !r->failing) /* a stop or a failure keeps the reason it gave */
        rn_runner_set_reason(r, status == PROC_EXIT_UNKNOWN ? "exited (status unknown)"
                                : status < 0                ? "killed"
                                                            : "exited");
    r->failing = false;
    r->status = failed ? RN_FAILED : RN_TERMINATED;
    if (r->delete_asked) {
        rn_runner_emit(m, r, RN_EV_RUNNER_STOPPED, NULL);
        remove_runner(m, r, false);
        return;
    }
    bool will = !asked && !m->shutting_down &&
                (r->policy == RN_ALWAYS || (r->policy == RN_ON_FAILURE && failed)) &&
                r->restarts < r->max_restarts;
    rn_runner_changed(m, r);
    if (oom)
        rn_runner_emit(m, r, RN_EV_QUOTA_EXCEEDED,
                       &(struct rn_event){.quota = "max_memory_mb",
                                          .limit = r->quota.max_memory_mb,
                                          .current = (int64_t)(ru.memory_peak >> 20),
                                          .action = "killed",
                                          .reason = "oom"});
    rn_runner_emit(m, r, failed ? RN_EV_RUNNER_FAILED : RN_EV_RUNNER_STOPPED,
                   &(struct rn_event){.will_restart = will || r->restart_asked});
    rn_conv_runner_ended(m, r);
    if (r->restart_asked) {
        restart_now(m, r, r->mode == RN_MODE_CONTINUE);
        return;
    }
    if (will && !arm_backoff(m, r))
        log_warning("runner %s: cannot arm its restart timer", r->id);
    notify_waits(r, 0);
    if (m->shutting_down && m->shutdown_done && rn_runner_stop_all(m) == 0) {
        void (*done)(void *) = m->shutdown_done;
        m->shutdown_done = NULL;
        done(m->shutdown_data);
    }
}

/* ---- stop, restart, delete ---- */

int rn_runner_stop(struct rn_mgr *m, struct rn_runner *r, bool force, uint32_t timeout_ms,
                   const char *reason, struct rn_wait *w, bool *ret_was_running)
{
    *ret_was_running = false;
    if (r->timer_armed) { /* waiting to restart: it stays down */
        uv_timer_stop(&r->timer);
        r->timer_armed = false;
        rn_runner_set_reason(r, reason && *reason ? reason : "stopped");
        r->status = RN_TERMINATED;
        rn_runner_changed(m, r);
    }
    if (!r->sess) {
        if (rn_runner_live(r)) { /* a record without a program (cannot happen; be safe) */
            r->status = RN_TERMINATED;
            rn_runner_changed(m, r);
        }
        return 0;
    }
    *ret_was_running = true;
    if (r->status == RN_PAUSED) /* a frozen program cannot act on SIGTERM */
        (void)sess_freeze(r->sess, false, NULL);
    r->stop_asked = true;
    r->status = RN_STOPPING;
    rn_runner_set_reason(r, reason && *reason ? reason : "stopped");
    rn_runner_changed(m, r);
    queue_wait(r, w);
    if (force)
        return sess_kill(r->sess);
    return sess_terminate(r->sess, timeout_ms ? timeout_ms : r->stop_timeout_ms, false);
}

static void restart_now(struct rn_mgr *m, struct rn_runner *r, bool preserve)
{
    struct rn_project *p = rn_project_find(m, r->project);
    char err[RN_ERR_MAX] = "";
    int x = 0;

    r->restart_asked = false;
    r->restarts = 0;
    if (!p) {
        x = -ENOENT;
    } else {
        r->mode = preserve ? RN_MODE_CONTINUE : RN_MODE_NEW;
        char **argv = NULL;
        if (!preserve)
            r->conv_id[0] = '\0';
        if ((x = rn_conv_bind(m, r, preserve, err, sizeof err)) == 0 &&
            (x = rn_build_argv(m, r, p, r->asked_command, &argv)) == 0) {
            /* keep a command the request gave: only the mode's arguments change */
            strv_free(r->command);
            r->command = argv;
            x = spawn(m, r, true, 0, err, sizeof err); /* RestartRunner: attempts reset */
        }
    }
    if (x < 0)
        log_info("runner %s: restart failed: %s", r->id, err[0] ? err : strerror(-x));
    notify_waits(r, x);
}

int rn_runner_restart(struct rn_mgr *m, struct rn_runner *r, bool preserve, bool force,
                      uint32_t timeout_ms, struct rn_wait *w, char *err, size_t size)
{
    struct rn_project *p = rn_project_find(m, r->project);
    bool was;
    int x;

    if (m->shutting_down)
        return snprintf(err, size, "droverd is shutting down"), -ESHUTDOWN;
    if (!p)
        return snprintf(err, size, "project %s not found", r->project), -ENOENT;
    if (p->archived)
        return snprintf(err, size, "project %s is archived", p->name), -EBUSY;
    if (!rn_runner_live(r) && (x = check_quota(m, p, r, err, size)) < 0)
        return x;
    if (rn_runner_live(r)) {
        r->restart_asked = true;
        r->mode = preserve ? RN_MODE_CONTINUE : RN_MODE_NEW;
        if ((x = rn_runner_stop(m, r, force, timeout_ms, "restarting", w, &was)) < 0)
            return x;
        if (was)
            return 1;
    }
    if (r->timer_armed) {
        uv_timer_stop(&r->timer);
        r->timer_armed = false;
    }
    /* Not running: start it now, and answer at once. */
    r->restart_asked = false;
    restart_now(m, r, preserve);
    if (!r->sess) {
        snprintf(err, size, "cannot start %s: %s", r->command ? r->command[0] : "the runner",
                 r->reason ? r->reason : "");
        return -ENOEXEC;
    }
    return 0;
}

static void remove_runner(struct rn_mgr *m, struct rn_runner *r, bool delete_convs)
{
    struct rn_wait *waits = r->waits, *w;

    r->waits = NULL;
    if (r->sess) {
        sess_set_owner(r->sess, NULL, NULL);
        r->sess = NULL;
    }
    struct session *s = r->sess_id[0] ? sess_find(m->sessions, r->sess_id) : NULL;
    if (s) {
        struct sess_info si;
        sess_info(s, &si);
        if (si.exited)
            sess_purge(s);
    }
    if (delete_convs)
        rn_conv_delete_runner(m, r->id);
    DQUEUE_REMOVE(&m->runners, r, link);
    rn_db_delete(m, "runner", r->id);
    rn_runner_emit(m, r, RN_EV_RUNNER_DELETED, NULL);
    if (r->in_notify)
        r->free_later = true; /* notify_waits frees it */
    else
        rn_runner_free(r);
    while ((w = waits)) { /* told once the runner is gone */
        waits = w->next;
        w->r = NULL;
        w->done(w, 0);
    }
}

int rn_runner_delete(struct rn_mgr *m, struct rn_runner *r, bool force, bool delete_convs,
                     struct rn_wait *w, bool *ret_was_running, char *err, size_t size)
{
    bool was = false;
    if (ret_was_running)
        *ret_was_running = rn_runner_live(r);
    if (rn_runner_live(r) && !force)
        return snprintf(err, size, "runner %s is %s: stop it first or use force", r->id,
                        r->status == RN_PAUSED ? "paused" : "running"),
               -EBUSY;
    if (r->sess) {
        r->delete_asked = true;
        (void)rn_runner_stop(m, r, true, 0, "deleted", w, &was);
        if (was) {
            if (delete_convs)
                rn_conv_delete_runner(m, r->id);
            return 1;
        }
    }
    if (r->timer_armed)
        uv_timer_stop(&r->timer);
    remove_runner(m, r, delete_convs);
    return 0;
}
