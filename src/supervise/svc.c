/* The service state machine. One table of actions, states × events, drives every service; an
 * action does the work and sets the next state (after s6-supervise's layout). Events:
 *
 *   START  someone wants it up          STOP   someone wants it down
 *   EXIT   its main process ended       TIMER  its timer fired (backoff over, or kill timeout)
 *
 * Invariants: a child exists exactly in ONLINE and STOPPING; the timer runs only in BACKOFF
 * (restart delay), STARTING (spawn on the next loop turn) and STOPPING (kill timeout); want_up
 * says what the user asked for last, so a START during a stop restarts once the exit comes.
 *
 * The child writes its stdout and stderr straight into its O_APPEND log files: droverd is not
 * in the data path, so a burst of output costs droverd nothing and a droverd crash loses none.
 * When the main process ends, whatever is left of its tree (orphans in its cgroup or session)
 * is killed: a service is its whole tree. A spawn that fails for want of descriptors or memory
 * backs off like a crash; one that cannot work (no such program) is ERRORED at once. */
#include "supervise/supervise.h"
#include "supervise/supervise-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/macro.h"
#include "base/paths.h"
#include "base/strv.h"
#include "base/time-util.h"
#include "proc/proc.h"

#define KILL_TREE_TIMEOUT_MS 5000 /* after kill_timeout, SIGKILL retries this long */
#define DEFAULT_LOG_KEEP     5    /* rotated files kept when log_keep is 0 */

static double now_s(void)
{
    return (double)now_ns(CLOCK_REALTIME) / 1e9;
}

const char *svc_state_name(enum svc_state st)
{
    static const char *const names[SVC_N_STATES] = {
        [SVC_STOPPED] = "stopped",   [SVC_STARTING] = "starting", [SVC_ONLINE] = "online",
        [SVC_STOPPING] = "stopping", [SVC_BACKOFF] = "backoff",   [SVC_ERRORED] = "errored",
    };
    return st < SVC_N_STATES ? names[st] : "unknown";
}

void svc_changed(struct svc *s)
{
    struct svc_engine *e = s->e;

    if (e->on_change)
        e->on_change(s, e->userdata);
    e->walking++;
    for (struct svc_watch *w = e->watches; w; w = w->next)
        if (w->fn)
            w->fn(s, w->userdata);
    if (--e->walking == 0)
        for (struct svc_watch **pp = &e->watches; *pp;) {
            struct svc_watch *w = *pp;
            if (w->fn) {
                pp = &w->next;
            } else {
                *pp = w->next;
                free(w);
            }
        }
}

/* Neither starting nor stopping; a stop deferred for dependents is a stop under way. */
static bool settled(const struct svc *s)
{
    return s->st.state != SVC_STOPPING && s->st.state != SVC_STARTING && !s->stop_deferred;
}

/* Calls (and forgets) the waiters; new ones they add wait for the next settling. */
void svc_fire_waiters(struct svc *s)
{
    struct waiter *w = s->waiters;
    s->waiters = NULL;
    while (w) {
        struct waiter *next = w->next;
        w->fn(s, w->userdata);
        free(w);
        w = next;
    }
}

void svc_set_state(struct svc *s, enum svc_state st)
{
    s->st.state = st;
    if (st != SVC_ERRORED)
        s->st.reason[0] = '\0';
    svc_changed(s);
    if (settled(s))
        svc_fire_waiters(s);
    svc_after_state(s);
}

int svc_on_settled(struct svc *s, svc_settled_fn fn, void *userdata)
{
    if (settled(s) || s->removed) {
        fn(s, userdata);
        return 0;
    }
    struct waiter *w = malloc(sizeof *w);
    if (!w)
        return -ENOMEM;
    *w = (struct waiter){s->waiters, fn, userdata};
    s->waiters = w;
    return 0;
}

/* Waiting for several services (svc_when_settled); they are remembered by id. */
struct settle_all {
    struct svc_engine *e;  /* the engine */
    uint32_t *ids;         /* the services */
    size_t n;              /* how many */
    size_t pending;        /* not settled yet (+1 while registering) */
    svc_all_settled_fn fn; /* called once */
    void *userdata;        /* its argument */
};

static void one_settled(struct svc *s, void *userdata)
{
    struct settle_all *w = userdata;
    (void)s;
    if (--w->pending > 0)
        return;
    struct svc **v = calloc(w->n ? w->n : 1, sizeof *v);
    size_t k = 0;
    for (size_t i = 0; v && i < w->n; i++)
        if ((v[k] = svc_find_id(w->e, w->ids[i])))
            k++;
    w->fn(v, k, w->userdata);
    free(v);
    free(w->ids);
    free(w);
}

int svc_when_settled(struct svc_engine *e, struct svc *const *v, size_t n, svc_all_settled_fn fn,
                     void *userdata)
{
    struct settle_all *w = calloc(1, sizeof *w);
    uint32_t *ids = calloc(n ? n : 1, sizeof *ids);
    if (!w || !ids) {
        free(w);
        free(ids);
        return -ENOMEM;
    }
    *w = (struct settle_all){e, ids, n, n + 1, fn, userdata};
    for (size_t i = 0; i < n; i++)
        w->ids[i] = v[i]->id;
    for (size_t i = 0; i < n; i++)
        if (svc_on_settled(v[i], one_settled, w) < 0)
            one_settled(v[i], w);
    one_settled(NULL, w);
    return 0;
}

/* One probe per configured check, while the main process runs. A failure to allocate leaves
 * the service unprobed rather than not running. */
static void start_probes(struct svc *s)
{
    if (!s->cfg.n_probes || !(s->probes = calloc(s->cfg.n_probes, sizeof *s->probes)))
        return;
    for (size_t i = 0; i < s->cfg.n_probes; i++)
        s->probes[i] = probe_new(s, &s->cfg.probes[i], s->e->loop, s->e->reaper);
}

void svc_stop_probes(struct svc *s)
{
    for (size_t i = 0; s->probes && i < s->cfg.n_probes; i++)
        probe_free(s->probes[i]);
    free(s->probes);
    s->probes = NULL;
}

/* After the stop of main: the processes that left its tree (see proc_find_escapees), found by
 * the service's log files they still hold, recorded in the status. */
static void find_survivors(struct svc *s, pid_t main, const pid_t *tree, size_t n_tree)
{
    struct stat logs[2];
    struct proc_escape_query q = {
        .since_ticks = s->st.start_ticks,
        .session = main,
        .exclude = tree,
        .n_exclude = n_tree,
    };

    for (int i = 0; i < 2; i++)
        if (stat(s->log_path[i], &logs[i]) == 0) { /* a file removed meanwhile finds nobody */
            q.files[q.n_files].dev = logs[i].st_dev;
            q.files[q.n_files++].ino = logs[i].st_ino;
        }
    s->st.survivors =
        (uint32_t)proc_find_escapees(s->e->reaper, &q, s->st.survivor_pids, SVC_SURVIVORS_MAX);
}

static void on_child_exit(struct proc_child *c, int status, void *userdata)
{
    struct svc *s = userdata;
    bool stopping = s->st.state == SVC_STOPPING;
    _cleanup_free_ pid_t *tree = NULL;
    size_t n_tree = 0;

    /* The main process is gone; so must be the rest of its tree (a cgroup's members are killed
     * whatever their session: they are no survivors even while they die). */
    if (stopping && strcmp(proc_reaper_cgroup_mode(s->e->reaper), "none") &&
        proc_child_members(c, &tree, &n_tree) < 0)
        n_tree = 0;
    (void)proc_child_kill_remains(c);
    /* A tree in a cgroup has nothing outside it to find: the whole group was killed. Without
     * one, escapees are looked for in all of /proc, which is too dear to do for nothing (a
     * stop of every service would read /proc once per service). */
    if (stopping && !proc_child_cgroup(c))
        find_survivors(s, proc_child_pid(c), tree, n_tree);
    svc_stop_probes(s);
    s->st.healthy = false;
    s->usage_at_ms = 0;
    s->child = NULL;
    s->st.pid = 0;
    s->st.start_ticks = 0;
    s->exit_status = status;
    if (s->in_container) {
        s->in_container = false;
        s->e->ctr_ops->release(s->e->ctr_data, s->id);
    }
    svc_event(s, EV_EXIT);
}

static int open_log(const char *path)
{
    const int flags = O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY;
    int fd = open(path, flags, 0640);
    if (fd < 0 && errno == ENOENT && paths_mkdir_parent(path, 0750, 0) >= 0) /* a configured file */
        fd = open(path, flags, 0640);
    return fd;
}

static bool rotates(const struct svc *s)
{
    return s->cfg.log_max_bytes || s->cfg.log_max_age_s;
}

static void rotate_logs(struct svc *s)
{
    if (!rotates(s))
        return;
    uint32_t keep = s->cfg.log_keep ? s->cfg.log_keep : DEFAULT_LOG_KEEP;
    for (int i = 0; i < 2; i++) {
        (void)svc_log_rotate(s->log_path[i], s->cfg.log_max_bytes, keep);
        if (s->cfg.log_max_age_s)
            svc_log_prune(s->log_path[i], keep, s->cfg.log_max_age_s);
    }
}

static void on_rotate_tick(uv_timer_t *t)
{
    struct svc_engine *e = t->data;
    bool any = false;

    for (size_t i = 0; i < e->n; i++)
        if (e->v[i]->child && rotates(e->v[i])) {
            rotate_logs(e->v[i]);
            any = true;
        }
    if (!any)
        uv_timer_stop(t); /* nobody to watch: an idle engine does not wake */
}

/* Arms the size checks when a service that rotates its logs starts. */
static void arm_rotation(struct svc *s)
{
    struct svc_engine *e = s->e;
    if (rotates(s) && !uv_is_active((uv_handle_t *)&e->rotate_timer))
        uv_timer_start(&e->rotate_timer, on_rotate_tick, e->rotate_ms, e->rotate_ms);
}

void svc_engine_set_rotate_interval(struct svc_engine *e, uint32_t ms)
{
    e->rotate_ms = ms ? ms : DEFAULT_ROTATE_MS;
    if (uv_is_active((uv_handle_t *)&e->rotate_timer))
        uv_timer_start(&e->rotate_timer, on_rotate_tick, e->rotate_ms, e->rotate_ms);
}

static int spawn(struct svc *s)
{
    extern char **environ;
    struct proc_env env;
    int fds[2] = {-1, -1}, r;
    char **argv = s->cfg.argv, **wrapped = NULL;

    if (s->cfg.ctr.image) { /* the program runs in a container: the runtime, in the foreground */
        const struct svc_container_ops *ops = s->e->ctr_ops;
        r = ops ? ops->prepare(s->e->ctr_data, s->id, &s->cfg, &wrapped, s->st.reason,
                               sizeof s->st.reason)
                : -EOPNOTSUPP;
        if (r < 0) {
            if (!ops)
                snprintf(s->st.reason, sizeof s->st.reason, "containers are not available");
            return r;
        }
        argv = wrapped;
        s->in_container = true;
    }
    r = proc_env_init(&env, s->cfg.clear_env ? PROC_ENV_CLEAR : PROC_ENV_INHERIT, environ);
    for (size_t i = 0; r >= 0 && !wrapped && s->cfg.env && s->cfg.env[i]; i++) {
        const char *eq = strchr(s->cfg.env[i], '=');
        _cleanup_free_ char *name = strndup(s->cfg.env[i], (size_t)(eq - s->cfg.env[i]));
        r = name ? proc_env_set(&env, name, eq + 1) : -ENOMEM;
    }
    if (r >= 0 && wrapped) /* the runtime must not speak to droverd's own manager */
        r = proc_env_unset(&env, "NOTIFY_SOCKET");
    rotate_logs(s);
    for (int i = 0; r >= 0 && i < 2; i++)
        if ((fds[i] = open_log(s->log_path[i])) < 0)
            r = -errno;
    if (r >= 0) {
        struct proc_spawn_opts o = {
            .argv = argv,
            .cwd = wrapped ? NULL : s->cfg.cwd, /* in a container, cwd is the container's */
            .envp = env.v,
            .stdio = {PROC_STDIO_NULL, PROC_STDIO_FD, PROC_STDIO_FD},
            .fd = {-1, fds[0], fds[1]},
            .group = PROC_GROUP_SESSION,
            .umask = s->cfg.set_umask ? (int)s->cfg.umask : -1,
            .set_ids = s->cfg.set_ids && !wrapped,
            .uid = s->cfg.uid,
            .gid = s->cfg.gid,
            .cgroup = true,
        };
        r = proc_spawn(s->e->reaper, &o, on_child_exit, s, NULL, &s->child);
    }
    for (int i = 0; i < 2; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    if (env.v)
        proc_env_done(&env);
    if (r < 0 && wrapped) {
        s->in_container = false;
        s->e->ctr_ops->release(s->e->ctr_data, s->id);
    }
    strv_free(wrapped);
    return r;
}

/* A spawn that failed because droverd is short of something for now (descriptors, memory,
 * processes, disk space, a program being replaced), not because the definition is wrong: it is
 * retried like a crash. Anything else (no such program, not executable...) is the user's to fix
 * and would only spin. */
static bool transient(int r)
{
    return r == -EMFILE || r == -ENFILE || r == -ENOMEM || r == -EAGAIN || r == -ENOSPC ||
           r == -EDQUOT || r == -ETXTBSY;
}

static void retry_later(struct svc *s);

/* Spawns; ONLINE, BACKOFF after a transient failure, or ERRORED; last_error keeps the errno. */
void svc_spawn_now(struct svc *s)
{
    uv_timer_stop(&s->timer);
    s->want_up = true;
    int r = spawn(s);
    if (r < 0) {
        s->st.last_error = r;
        if (transient(r) && s->cfg.restart != SVC_RESTART_NEVER)
            return retry_later(s);
        svc_set_state(s, SVC_ERRORED);
        return;
    }
    s->st.last_error = 0;
    s->st.pid = proc_child_pid(s->child);
    s->st.start_ticks = proc_child_starttime(s->child);
    s->st.last_started_at = now_s();
    s->started_mono_ms = mono_ms();
    s->st.probed = s->cfg.n_probes > 0;
    s->st.healthy = false;
    start_probes(s);
    arm_rotation(s);
    svc_set_state(s, SVC_ONLINE);
}

/* A start from rest: the consecutive-restart count starts over. */
static void act_start(struct svc *s)
{
    s->st.restarts = 0;
    svc_begin_start(s);
}

/* A start during a stop (a restart): wanted up again, and recorded so, so that a crash before
 * the old process exits does not leave the service down. */
static void act_want_up(struct svc *s)
{
    if (s->want_up)
        return;
    s->want_up = true;
    svc_changed(s);
}

static void act_want_down(struct svc *s)
{
    s->want_up = false;
}

static void on_timer(uv_timer_t *t)
{
    svc_event(t->data, EV_TIMER);
}

/* Services that depend on s stop first; s's own stop waits until none of them runs. */
static void act_begin_stop(struct svc *s)
{
    s->want_up = false;
    if (svc_stop_dependents(s)) {
        s->stop_deferred = true;
        svc_changed(s);
        return;
    }
    svc_really_stop(s);
}

void svc_really_stop(struct svc *s)
{
    s->stop_deferred = false;
    s->hard_killed = false;
    s->st.survivors = 0;
    (void)proc_child_signal(s->child, s->cfg.stop_signal);
    /* The whole group hears the stop signal, as a terminal's job would. */
    (void)kill(-proc_child_pid(s->child), s->cfg.stop_signal);
    uv_timer_start(&s->timer, on_timer, s->cfg.kill_timeout_ms, 0);
    svc_set_state(s, SVC_STOPPING);
}

static void act_kill_hard(struct svc *s)
{
    s->hard_killed = true;
    if (s->e->shutdown_done)
        s->e->forced = true;
    (void)proc_kill_tree(s->e->reaper, proc_child_pid(s->child), KILL_TREE_TIMEOUT_MS, NULL, NULL,
                         NULL);
}

void svc_kill_now(struct svc *s)
{
    if (!s->child)
        return;
    if (s->st.state != SVC_STOPPING) {
        s->want_up = false;
        svc_really_stop(s);
    }
    uv_timer_stop(&s->timer);
    act_kill_hard(s);
}

static void record_exit(struct svc *s)
{
    s->st.last_exit = s->exit_status;
    s->st.last_exited_at = now_s();
}

static void act_to_stopped(struct svc *s)
{
    uv_timer_stop(&s->timer);
    s->want_up = false;
    s->st.survivors = 0; /* this stop had nothing to stop */
    svc_set_state(s, SVC_STOPPED);
}

/* The exit a stop was waiting for: stopped, or up again if a start came meanwhile. */
static void act_stopped(struct svc *s)
{
    uv_timer_stop(&s->timer);
    record_exit(s);
    if (s->next_cfg) {
        if (!s->removed)
            s->e->n_with_deps += svc_config_has_deps(s->next_cfg) - svc_config_has_deps(&s->cfg);
        svc_config_done(&s->cfg);
        s->cfg = *s->next_cfg;
        free(s->next_cfg);
        s->next_cfg = NULL;
        svc_changed(s);
    }
    if (s->want_up && !s->removed) {
        s->st.restarts++;
        s->st.restarts_total++;
        svc_begin_start(s);
        return;
    }
    svc_set_state(s, SVC_STOPPED);
}

static uint32_t backoff_ms(const struct svc *s)
{
    uint32_t n = s->st.restarts ? s->st.restarts - 1 : 0;
    uint64_t d = (uint64_t)s->cfg.restart_delay_ms << MIN(n, 20u);
    return (uint32_t)MIN(d, (uint64_t)s->cfg.restart_delay_max_ms);
}

/* An exit nobody asked for: the restart policy decides. */
static void act_crashed(struct svc *s)
{
    bool success = s->exit_status == 0;

    if (s->stop_deferred) { /* a stop waited for its dependents: it happened on its own */
        s->stop_deferred = false;
        act_stopped(s);
        return;
    }
    record_exit(s);
    if ((s->cfg.oneshot && success) || s->cfg.restart == SVC_RESTART_NEVER ||
        (s->cfg.restart == SVC_RESTART_ON_FAILURE && success)) {
        s->want_up = false;
        svc_set_state(s,
                      success || s->cfg.restart == SVC_RESTART_NEVER ? SVC_STOPPED : SVC_ERRORED);
        return;
    }
    if (mono_ms() - s->started_mono_ms >= s->cfg.min_uptime_ms)
        s->st.restarts = 0;
    retry_later(s);
}

/* One more consecutive restart after the backoff, or ERRORED past max_restarts. */
static void retry_later(struct svc *s)
{
    if (s->cfg.max_restarts && s->st.restarts >= s->cfg.max_restarts) {
        svc_set_state(s, SVC_ERRORED);
        return;
    }
    s->st.restarts++;
    s->st.restarts_total++;
    uv_timer_start(&s->timer, on_timer, backoff_ms(s), 0);
    svc_set_state(s, SVC_BACKOFF);
}

static void act_none(struct svc *s)
{
    (void)s;
}

void svc_probe_changed(struct svc *s, uint32_t failures)
{
    bool healthy = true;
    for (size_t i = 0; i < s->cfg.n_probes; i++)
        healthy = healthy && probe_healthy(s->probes[i]);
    if (healthy == s->st.healthy && !failures)
        return;
    s->st.healthy = healthy;
    if (failures) {
        snprintf(s->st.reason, sizeof s->st.reason, "health probe failed %u times in a row",
                 failures);
        svc_changed(s);
        svc_restart(s);
        /* The stop clears the reason with the next state; keep it visible until then. */
        return;
    }
    svc_changed(s);
    if (healthy)
        svc_after_state(s); /* dependents waiting for it to be healthy */
}

typedef void (*svc_action_fn)(struct svc *s);

static const svc_action_fn table[SVC_N_STATES][SVC_N_EVENTS] = {
    /*                 START          STOP            EXIT          TIMER */
    [SVC_STOPPED] = {act_start, act_none, act_none, act_none},
    [SVC_STARTING] = {act_none, act_to_stopped, act_none, svc_spawn_now},
    [SVC_ONLINE] = {act_want_up, act_begin_stop, act_crashed, act_none},
    [SVC_STOPPING] = {act_want_up, act_want_down, act_stopped, act_kill_hard},
    [SVC_BACKOFF] = {act_start, act_to_stopped, act_none, svc_spawn_now},
    [SVC_ERRORED] = {act_start, act_to_stopped, act_none, act_none},
};

void svc_event(struct svc *s, enum svc_event ev)
{
    table[s->st.state][ev](s);
    if (s->removed && s->st.state != SVC_ONLINE && s->st.state != SVC_STOPPING &&
        !uv_is_closing((uv_handle_t *)&s->timer))
        uv_close((uv_handle_t *)&s->timer, svc_closed);
}

void svc_start(struct svc *s)
{
    if (!s->removed)
        svc_event(s, EV_START);
}

void svc_stop(struct svc *s)
{
    if (s->st.state == SVC_STOPPED)
        s->st.survivors = 0; /* this stop had nothing to stop */
    if (!s->removed)
        svc_event(s, EV_STOP);
}

void svc_restart(struct svc *s)
{
    if (s->removed)
        return;
    svc_restart_dependents(s);
    if (s->st.state == SVC_ONLINE) {
        s->restarting = true;
        svc_event(s, EV_STOP);
        s->restarting = false;
        svc_event(s, EV_START); /* taken up when the exit comes */
    } else {
        svc_event(s, EV_START);
    }
}

const char *svc_name(const struct svc *s)
{
    return s->cfg.name;
}

const struct svc_config *svc_get_config(const struct svc *s)
{
    return &s->cfg;
}

void svc_get_status(const struct svc *s, struct svc_status *ret)
{
    *ret = s->st;
    ret->wanted = s->want_up && !s->removed;
}

const char *svc_cgroup(const struct svc *s)
{
    return s->child ? proc_child_cgroup(s->child) : NULL;
}

int svc_adopt(struct svc *s, const struct svc_status *was, const char *cgroup)
{
    if (s->child || s->removed || s->st.state != SVC_STOPPED)
        return -EBUSY;
    int r =
        proc_adopt(s->e->reaper, was->pid, was->start_ticks, cgroup, on_child_exit, s, &s->child);
    if (r < 0)
        return r;
    uv_timer_stop(&s->timer);
    s->want_up = true;
    s->st.last_error = 0;
    s->st.pid = was->pid;
    s->st.start_ticks = was->start_ticks;
    s->st.last_started_at = was->last_started_at;
    /* Its uptime so far counts toward min_uptime, as if droverd had never left. */
    double up_s = MAX(0.0, now_s() - was->last_started_at);
    s->started_mono_ms = mono_ms() - MIN((uint64_t)(up_s * 1000.0), mono_ms());
    s->st.probed = s->cfg.n_probes > 0;
    s->st.healthy = false;
    start_probes(s);
    arm_rotation(s);
    svc_set_state(s, SVC_ONLINE);
    return 0;
}

const char *svc_log_path(const struct svc *s, int stream)
{
    return s->log_path[stream == 2 ? 1 : 0];
}

bool svc_running(const struct svc *s)
{
    return s->child != NULL;
}
