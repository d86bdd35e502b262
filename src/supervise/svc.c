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
 * is killed: a service is its whole tree. */
#include "supervise/supervise.h"
#include "supervise/supervise-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/macro.h"
#include "base/paths.h"
#include "base/strv.h"
#include "base/time-util.h"
#include "base/vec.h"
#include "proc/proc.h"

#define KILL_TREE_TIMEOUT_MS 5000 /* after kill_timeout, SIGKILL retries this long */

enum svc_event {
    EV_START,
    EV_STOP,
    EV_EXIT,
    EV_TIMER,
    SVC_N_EVENTS,
};

/* Someone waiting for a service to settle (svc_on_settled). */
struct waiter {
    struct waiter *next; /* list */
    svc_settled_fn fn;   /* called once */
    void *userdata;      /* its argument */
};

struct svc {
    struct svc_engine *e;        /* owner */
    uint32_t id;                 /* unique, stable: targets may name it */
    struct waiter *waiters;      /* called at the next settled state */
    struct svc_config cfg;       /* owned copy */
    char *log_path[2];           /* <log_dir>/<name>-out.log, -err.log */
    struct svc_status st;        /* what svc_get_status reports */
    struct proc_child *child;    /* the main process, in ONLINE and STOPPING */
    uint64_t started_mono_ms;    /* when it was spawned */
    uv_timer_t timer;            /* backoff, deferred start, kill timeout; frees us on close */
    int exit_status;             /* the status EXIT carries */
    bool want_up;                /* the last request was start (or restart) */
    bool removed;                /* svc_remove: free once stopped */
    bool hard_killed;            /* the kill timeout fired during this stop */
    struct svc_config *next_cfg; /* svc_redefine of a running service: used at its next start */
    bool stop_deferred;          /* a stop waits for the services that depend on this one */
    struct probe **probes;       /* health checks while the main process runs (cfg.n_probes) */
    struct svc_usage usage;      /* svc_usage's last answer for this child */
    uint64_t usage_at_ms;        /* when it was measured (0: never, or for another child) */
    bool restarting;             /* inside svc_restart: dependents waiting to start keep waiting */
    bool starting;               /* inside begin_start: a dependency cycle must not recurse */
};

struct svc_watch {
    struct svc_watch *next; /* list */
    struct svc_engine *e;   /* owner */
    svc_change_fn fn;       /* NULL once unwatched (freed after the walk) */
    void *userdata;         /* its argument */
};

struct svc_engine {
    uv_loop_t *loop;               /* the loop */
    struct proc_reaper *reaper;    /* spawning and killing */
    char *log_dir;                 /* where log files go */
    struct svc **v;                /* services in definition order */
    size_t n, cap;                 /* used and allocated */
    svc_change_fn on_change;       /* observer */
    void *userdata;                /* its argument */
    struct svc_watch *watches;     /* further observers */
    uv_timer_t rotate_timer;       /* log size checks, armed while a rotating service runs */
    uint32_t rotate_ms;            /* their period */
    unsigned walking;              /* nested walks of watches: unwatched ones wait */
    void (*shutdown_done)(void *); /* svc_engine_shutdown's callback, until all are stopped */
    void *shutdown_data;           /* its argument */
};

static void event(struct svc *s, enum svc_event ev);

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

static void changed(struct svc *s)
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

struct svc_watch *svc_engine_watch(struct svc_engine *e, svc_change_fn fn, void *userdata)
{
    struct svc_watch *w = malloc(sizeof *w);
    if (w) {
        *w = (struct svc_watch){e->watches, e, fn, userdata};
        e->watches = w;
    }
    return w;
}

void svc_engine_unwatch(struct svc_watch *w)
{
    if (!w)
        return;
    w->fn = NULL;
    if (w->e->walking)
        return;
    for (struct svc_watch **pp = &w->e->watches; *pp; pp = &(*pp)->next)
        if (*pp == w) {
            *pp = w->next;
            free(w);
            return;
        }
}

/* Reading a tree's members and their /proc entries is all kernel work (~20 µs a service): a
 * measurement serves every face and client for this long. */
#define USAGE_TTL_MS 500

int svc_usage(struct svc *s, struct svc_usage *ret)
{
    pid_t *pids;
    size_t n;
    uint64_t now = mono_ms();

    *ret = (struct svc_usage){0};
    if (!s->child)
        return 0;
    if (s->usage_at_ms && now - s->usage_at_ms < USAGE_TTL_MS) {
        *ret = s->usage;
        return 0;
    }
    int r = proc_child_members(s->child, &pids, &n);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        struct proc_stat st;
        uint64_t rss = 0;
        if (proc_read_stat(pids[i], &st) < 0 || st.state == 'Z')
            continue;
        /* stat's rss field leaves out the per-CPU counts not yet folded in (up to 32 pages a
         * CPU a counter since Linux 6.2): a fresh process reads as 0. statm sums them. */
        (void)proc_rss_bytes(pids[i], &rss);
        ret->processes++;
        ret->rss_bytes += rss;
        ret->cpu_seconds += (double)(st.utime + st.stime) / proc_ticks_per_second();
    }
    free(pids);
    s->usage = *ret;
    s->usage_at_ms = now;
    return 0;
}

int svc_members(struct svc *s, pid_t **ret, size_t *ret_n)
{
    if (!s->child) {
        *ret = NULL;
        *ret_n = 0;
        return 0;
    }
    return proc_child_members(s->child, ret, ret_n);
}

/* Neither starting nor stopping; a stop deferred for dependents is a stop under way. */
static bool settled(const struct svc *s)
{
    return s->st.state != SVC_STOPPING && s->st.state != SVC_STARTING && !s->stop_deferred;
}

/* Calls (and forgets) the waiters; new ones they add wait for the next settling. */
static void fire_waiters(struct svc *s)
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

static void after_state(struct svc *s);

static void set_state(struct svc *s, enum svc_state st)
{
    s->st.state = st;
    if (st != SVC_ERRORED)
        s->st.reason[0] = '\0';
    changed(s);
    if (settled(s))
        fire_waiters(s);
    after_state(s);
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

/* ---- actions ---- */

/* One probe per configured check, while the main process runs. A failure to allocate leaves
 * the service unprobed rather than not running. */
static void start_probes(struct svc *s)
{
    if (!s->cfg.n_probes || !(s->probes = calloc(s->cfg.n_probes, sizeof *s->probes)))
        return;
    for (size_t i = 0; i < s->cfg.n_probes; i++)
        s->probes[i] = probe_new(s, &s->cfg.probes[i], s->e->loop, s->e->reaper);
}

static void stop_probes(struct svc *s)
{
    for (size_t i = 0; s->probes && i < s->cfg.n_probes; i++)
        probe_free(s->probes[i]);
    free(s->probes);
    s->probes = NULL;
}

static void on_child_exit(struct proc_child *c, int status, void *userdata)
{
    struct svc *s = userdata;

    /* The main process is gone; so must be the rest of its tree. */
    (void)proc_child_kill_remains(c);
    stop_probes(s);
    s->st.healthy = false;
    s->usage_at_ms = 0;
    s->child = NULL;
    s->st.pid = 0;
    s->st.start_ticks = 0;
    s->exit_status = status;
    event(s, EV_EXIT);
}

static int open_log(const char *path)
{
    const int flags = O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY;
    int fd = open(path, flags, 0640);
    if (fd < 0 && errno == ENOENT && paths_mkdir_parent(path, 0750, 0) >= 0) /* a configured file */
        fd = open(path, flags, 0640);
    return fd;
}

#define DEFAULT_LOG_KEEP  5
#define DEFAULT_ROTATE_MS 10000

static bool rotates(const struct svc *s)
{
    return s->cfg.log_max_bytes || s->cfg.log_max_age_s;
}

static void rotate_logs(struct svc *s)
{
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

    r = proc_env_init(&env, s->cfg.clear_env ? PROC_ENV_CLEAR : PROC_ENV_INHERIT, environ);
    for (size_t i = 0; r >= 0 && s->cfg.env && s->cfg.env[i]; i++) {
        const char *eq = strchr(s->cfg.env[i], '=');
        _cleanup_free_ char *name = strndup(s->cfg.env[i], (size_t)(eq - s->cfg.env[i]));
        r = name ? proc_env_set(&env, name, eq + 1) : -ENOMEM;
    }
    rotate_logs(s);
    for (int i = 0; r >= 0 && i < 2; i++)
        if ((fds[i] = open_log(s->log_path[i])) < 0)
            r = -errno;
    if (r >= 0) {
        struct proc_spawn_opts o = {
            .argv = s->cfg.argv,
            .cwd = s->cfg.cwd,
            .envp = env.v,
            .stdio = {PROC_STDIO_NULL, PROC_STDIO_FD, PROC_STDIO_FD},
            .fd = {-1, fds[0], fds[1]},
            .group = PROC_GROUP_SESSION,
            .umask = s->cfg.set_umask ? (int)s->cfg.umask : -1,
            .set_ids = s->cfg.set_ids,
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
    return r;
}

/* Spawns; ONLINE, or ERRORED with the reason kept. */
static void act_spawn(struct svc *s)
{
    uv_timer_stop(&s->timer);
    s->want_up = true;
    int r = spawn(s);
    if (r < 0) {
        s->st.last_error = r;
        set_state(s, SVC_ERRORED);
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
    set_state(s, SVC_ONLINE);
}

/* ---- dependencies ---- */

static bool lists(const struct svc *s, const char *name)
{
    for (size_t i = 0; s->cfg.depends_on && s->cfg.depends_on[i]; i++)
        if (!strcmp(s->cfg.depends_on[i], name))
            return true;
    return false;
}

/* Up, as a dependency: online, and not on its way down. */
static bool up(const struct svc *d)
{
    return d->st.state == SVC_ONLINE && d->want_up && !d->stop_deferred &&
           (!d->cfg.n_probes || d->st.healthy);
}

static bool deps_up(const struct svc *s)
{
    for (size_t i = 0; s->cfg.depends_on && s->cfg.depends_on[i]; i++) {
        struct svc *d = svc_find(s->e, s->cfg.depends_on[i]);
        if (!d || !up(d))
            return false;
    }
    return true;
}

/* Whether a service that depends on s still has a process. */
static bool dependents_running(const struct svc *s)
{
    for (size_t i = 0; i < s->e->n; i++)
        if (s->e->v[i]->child && lists(s->e->v[i], s->cfg.name))
            return true;
    return false;
}

static void fail_start(struct svc *s, const char *fmt, const char *name)
{
    uv_timer_stop(&s->timer);
    s->want_up = false;
    s->st.last_error = -ENOLINK;
    set_state(s, SVC_ERRORED);
    snprintf(s->st.reason, sizeof s->st.reason, fmt, name);
    changed(s);
}

/* Wants s up: its dependencies are started first; it spawns once they are all online, and
 * waits in STARTING until then. */
static void begin_start(struct svc *s)
{
    uv_timer_stop(&s->timer);
    s->want_up = true;
    if (s->starting)
        return;
    s->starting = true;
    for (size_t i = 0; s->cfg.depends_on && s->cfg.depends_on[i]; i++) {
        const char *name = s->cfg.depends_on[i];
        struct svc *d = svc_find(s->e, name);
        if (!d) {
            s->starting = false;
            return fail_start(s, "depends on '%s', which is not defined", name);
        }
        if (!d->want_up)
            event(d, EV_START);
        if (d->st.state == SVC_ERRORED) {
            s->starting = false;
            return fail_start(s, "dependency '%s' failed", name);
        }
    }
    s->starting = false;
    if (deps_up(s))
        act_spawn(s);
    else if (s->st.state != SVC_STARTING)
        set_state(s, SVC_STARTING);
}

/* A start from rest: the consecutive-restart count starts over. */
static void act_start(struct svc *s)
{
    s->st.restarts = 0;
    begin_start(s);
}

static void act_want_up(struct svc *s)
{
    s->want_up = true;
}

static void act_want_down(struct svc *s)
{
    s->want_up = false;
}

static void on_timer(uv_timer_t *t)
{
    event(t->data, EV_TIMER);
}

static void really_stop(struct svc *s);

/* Services that depend on s stop first; s's own stop waits until none of them runs. */
static void act_begin_stop(struct svc *s)
{
    s->want_up = false;
    for (size_t i = 0; i < s->e->n; i++) {
        struct svc *t = s->e->v[i];
        /* One already stopping keeps what it wants after (a restart comes back up, and waits
         * in STARTING until s is online again). */
        if (t != s && lists(t, s->cfg.name) && t->st.state != SVC_STOPPING &&
            !(s->restarting && t->st.state == SVC_STARTING) && (t->want_up || t->child))
            event(t, EV_STOP);
    }
    if (dependents_running(s)) {
        s->stop_deferred = true;
        changed(s);
        return;
    }
    really_stop(s);
}

static void really_stop(struct svc *s)
{
    s->stop_deferred = false;
    s->hard_killed = false;
    (void)proc_child_signal(s->child, s->cfg.stop_signal);
    /* The whole group hears the stop signal, as a terminal's job would. */
    (void)kill(-proc_child_pid(s->child), s->cfg.stop_signal);
    uv_timer_start(&s->timer, on_timer, s->cfg.kill_timeout_ms, 0);
    set_state(s, SVC_STOPPING);
}

static void act_kill_hard(struct svc *s)
{
    s->hard_killed = true;
    (void)proc_kill_tree(s->e->reaper, proc_child_pid(s->child), KILL_TREE_TIMEOUT_MS, NULL, NULL,
                         NULL);
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
    set_state(s, SVC_STOPPED);
}

static void maybe_shutdown_done(struct svc_engine *e);

/* The exit a stop was waiting for: stopped, or up again if a start came meanwhile. */
static void act_stopped(struct svc *s)
{
    uv_timer_stop(&s->timer);
    record_exit(s);
    if (s->next_cfg) {
        svc_config_done(&s->cfg);
        s->cfg = *s->next_cfg;
        free(s->next_cfg);
        s->next_cfg = NULL;
        changed(s);
    }
    if (s->want_up && !s->removed) {
        s->st.restarts++;
        s->st.restarts_total++;
        begin_start(s);
        return;
    }
    set_state(s, SVC_STOPPED);
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

    record_exit(s);
    if ((s->cfg.oneshot && success) || s->cfg.restart == SVC_RESTART_NEVER ||
        (s->cfg.restart == SVC_RESTART_ON_FAILURE && success)) {
        s->want_up = false;
        set_state(s, success || s->cfg.restart == SVC_RESTART_NEVER ? SVC_STOPPED : SVC_ERRORED);
        return;
    }
    if (mono_ms() - s->started_mono_ms >= s->cfg.min_uptime_ms)
        s->st.restarts = 0;
    if (s->cfg.max_restarts && s->st.restarts >= s->cfg.max_restarts) {
        set_state(s, SVC_ERRORED);
        return;
    }
    s->st.restarts++;
    s->st.restarts_total++;
    uv_timer_start(&s->timer, on_timer, backoff_ms(s), 0);
    set_state(s, SVC_BACKOFF);
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
        changed(s);
        svc_restart(s);
        /* The stop clears the reason with the next state; keep it visible until then. */
        return;
    }
    changed(s);
    if (healthy)
        after_state(s); /* dependents waiting for it to be healthy */
}

/* What a state change means for the other services: dependents waiting for s start when it is
 * online, fail when it has failed; stops deferred for dependents go on when they are down. */
static void after_state(struct svc *s)
{
    struct svc_engine *e = s->e;

    for (size_t i = 0; i < e->n; i++) {
        struct svc *t = e->v[i];
        if (t == s)
            continue;
        if (t->st.state == SVC_STARTING && lists(t, s->cfg.name)) {
            if (s->st.state == SVC_ERRORED)
                fail_start(t, "dependency '%s' failed", s->cfg.name);
            else if (up(s) && deps_up(t))
                act_spawn(t);
        }
        if (t->stop_deferred && !s->child && lists(s, t->cfg.name) && !dependents_running(t))
            really_stop(t);
    }
    maybe_shutdown_done(e);
}

/* ---- the table ---- */

typedef void (*svc_action_fn)(struct svc *s);

static const svc_action_fn table[SVC_N_STATES][SVC_N_EVENTS] = {
    /*                 START          STOP            EXIT          TIMER */
    [SVC_STOPPED] = {act_start, act_none, act_none, act_none},
    [SVC_STARTING] = {act_none, act_to_stopped, act_none, act_spawn},
    [SVC_ONLINE] = {act_want_up, act_begin_stop, act_crashed, act_none},
    [SVC_STOPPING] = {act_want_up, act_want_down, act_stopped, act_kill_hard},
    [SVC_BACKOFF] = {act_start, act_to_stopped, act_none, act_spawn},
    [SVC_ERRORED] = {act_start, act_to_stopped, act_none, act_none},
};

static void svc_closed(uv_handle_t *h);

static void event(struct svc *s, enum svc_event ev)
{
    table[s->st.state][ev](s);
    if (s->removed && s->st.state != SVC_ONLINE && s->st.state != SVC_STOPPING &&
        !uv_is_closing((uv_handle_t *)&s->timer))
        uv_close((uv_handle_t *)&s->timer, svc_closed);
}

/* ---- the public side ---- */

void svc_start(struct svc *s)
{
    if (!s->removed)
        event(s, EV_START);
}

void svc_stop(struct svc *s)
{
    if (!s->removed)
        event(s, EV_STOP);
}

void svc_restart(struct svc *s)
{
    if (s->removed)
        return;
    /* Its running dependents restart with it: down before it, up after it. */
    for (size_t i = 0; i < s->e->n; i++) {
        struct svc *t = s->e->v[i];
        if (t != s && t->child && lists(t, s->cfg.name))
            svc_restart(t);
    }
    if (s->st.state == SVC_ONLINE) {
        s->restarting = true;
        event(s, EV_STOP);
        s->restarting = false;
        event(s, EV_START); /* taken up when the exit comes */
    } else {
        event(s, EV_START);
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
}

const char *svc_log_path(const struct svc *s, int stream)
{
    return s->log_path[stream == 2 ? 1 : 0];
}

/* ---- definitions ---- */

static const struct {
    const char *name;
    int sig;
} signal_names[] = {
    {"TERM", SIGTERM}, {"INT", SIGINT},   {"QUIT", SIGQUIT},   {"HUP", SIGHUP},   {"KILL", SIGKILL},
    {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"WINCH", SIGWINCH}, {"CONT", SIGCONT},
};

int svc_signal_from_name(const char *s)
{
    if (!strncmp(s, "SIG", 3))
        s += 3;
    for (size_t i = 0; i < ARRAY_SIZE(signal_names); i++)
        if (!strcmp(s, signal_names[i].name))
            return signal_names[i].sig;
    char *end;
    long v = strtol(s, &end, 10);
    return !*s || *end || v <= 0 || v >= NSIG ? -1 : (int)v;
}

const char *svc_signal_name(int sig)
{
    for (size_t i = 0; i < ARRAY_SIZE(signal_names); i++)
        if (signal_names[i].sig == sig)
            return signal_names[i].name;
    return "TERM";
}

void svc_probe_done(struct svc_probe *p)
{
    free(p->name);
    strv_free(p->argv);
    free(p->host);
    free(p->path);
    free(p->method);
    *p = (struct svc_probe){0};
}

void svc_probes_free(struct svc_probe *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        svc_probe_done(&v[i]);
    free(v);
}

void svc_config_done(struct svc_config *c)
{
    free(c->name);
    strv_free(c->argv);
    free(c->cwd);
    strv_free(c->env);
    strv_free(c->depends_on);
    svc_probes_free(c->probes, c->n_probes);
    free(c->log_file[0]);
    free(c->log_file[1]);
    *c = (struct svc_config){0};
}

/* A copy of a string that may be NULL; false when memory ran out. */
static bool dup_opt(char **dst, const char *src)
{
    *dst = src ? strdup(src) : NULL;
    return !src || *dst;
}

static struct svc_probe *probes_copy(const struct svc_probe *v, size_t n)
{
    struct svc_probe *c = calloc(n ? n : 1, sizeof *c);
    bool ok = c != NULL;

    for (size_t i = 0; ok && i < n; i++) {
        c[i] = v[i];
        c[i].argv = v[i].argv ? strv_copy(v[i].argv) : NULL;
        ok = (!v[i].argv || c[i].argv) & dup_opt(&c[i].name, v[i].name) &
             dup_opt(&c[i].host, v[i].host) & dup_opt(&c[i].path, v[i].path) &
             dup_opt(&c[i].method, v[i].method);
    }
    if (!ok && c) {
        svc_probes_free(c, n);
        return NULL;
    }
    return c;
}

void svc_configs_free(struct svc_config *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        svc_config_done(&v[i]);
    free(v);
}

static bool str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

static bool probes_equal(const struct svc_probe *a, size_t na, const struct svc_probe *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (!str_eq(a[i].name, b[i].name) || a[i].kind != b[i].kind ||
            !strv_equal(a[i].argv, b[i].argv) || !str_eq(a[i].host, b[i].host) ||
            a[i].port != b[i].port || !str_eq(a[i].path, b[i].path) ||
            !str_eq(a[i].method, b[i].method) || a[i].status != b[i].status ||
            a[i].interval_ms != b[i].interval_ms || a[i].timeout_ms != b[i].timeout_ms ||
            a[i].failure_threshold != b[i].failure_threshold ||
            MAX(a[i].success_threshold, 1u) != MAX(b[i].success_threshold, 1u))
            return false;
    return true;
}

static int config_copy(struct svc_config *dst, const struct svc_config *src)
{
    *dst = *src;
    dst->name = strdup(src->name);
    dst->argv = strv_copy(src->argv);
    dst->cwd = src->cwd ? strdup(src->cwd) : NULL;
    dst->env = strv_copy(src->env);
    dst->depends_on = strv_copy(src->depends_on);
    dst->probes = probes_copy(src->probes, src->n_probes);
    bool logs =
        dup_opt(&dst->log_file[0], src->log_file[0]) & dup_opt(&dst->log_file[1], src->log_file[1]);
    if (!dst->name || !dst->argv || !dst->env || !dst->depends_on || (src->cwd && !dst->cwd) ||
        !dst->probes || !logs) {
        svc_config_done(dst);
        return -ENOMEM;
    }
    if (!dst->stop_signal)
        dst->stop_signal = SIGTERM;
    return 0;
}

static int config_check(const struct svc_config *c)
{
    if (!c->name || !*c->name || strlen(c->name) > 200 || !c->argv || !c->argv[0] || !*c->argv[0])
        return -EINVAL;
    for (size_t i = 0; c->env && c->env[i]; i++) {
        const char *eq = strchr(c->env[i], '=');
        if (!eq || eq == c->env[i])
            return -EINVAL;
    }
    for (size_t i = 0; i < c->n_probes; i++) {
        const struct svc_probe *p = &c->probes[i];
        if ((p->kind == SVC_PROBE_EXEC && (!p->argv || !p->argv[0])) ||
            (p->kind != SVC_PROBE_EXEC && !p->port) || !p->interval_ms || !p->timeout_ms ||
            !p->failure_threshold)
            return -EINVAL;
    }
    for (int i = 0; i < 2; i++)
        if (c->log_file[i] && (!*c->log_file[i] || strlen(c->log_file[i]) >= PATH_MAX))
            return -EINVAL;
    return c->stop_signal < 0 || c->stop_signal >= NSIG ? -EINVAL : 0;
}

/* <dir>/<name>-<suffix>.log, with anything in the name outside [A-Za-z0-9._-] as '_' (upstream's
 * rule), so a name can never climb out of the directory; or the configured file, relative to
 * dir unless absolute. */
static char *log_name(const char *dir, const char *name, const char *file, const char *suffix)
{
    char *p;

    if (file && file[0] == '/')
        return strdup(file);
    if (file)
        return asprintf(&p, "%s/%s", dir, file) < 0 ? NULL : p;
    _cleanup_free_ char *safe = strdup(name);
    if (!safe)
        return NULL;
    for (char *c = safe; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '.' || *c == '_' || *c == '-'))
            *c = '_';
    if (!strcmp(safe, ".") || !strcmp(safe, ".."))
        safe[0] = '_';
    return asprintf(&p, "%s/%s-%s.log", dir, safe, suffix) < 0 ? NULL : p;
}

/* s->log_path from its definition. */
static int set_log_paths(struct svc *s)
{
    char *out = log_name(s->e->log_dir, s->cfg.name, s->cfg.log_file[0], "out"),
         *err = log_name(s->e->log_dir, s->cfg.name, s->cfg.log_file[1], "err");
    if (!out || !err) {
        free(out);
        free(err);
        return -ENOMEM;
    }
    free(s->log_path[0]);
    free(s->log_path[1]);
    s->log_path[0] = out;
    s->log_path[1] = err;
    return 0;
}

int svc_add(struct svc_engine *e, uint32_t id, const struct svc_config *c, struct svc **ret)
{
    struct svc *s;
    int r = config_check(c);

    if (r < 0)
        return r;
    if (svc_find(e, c->name) || (id && svc_find_id(e, id)))
        return -EEXIST;
    if (!id)
        for (size_t i = 0; i < e->n; i++)
            id = MAX(id, e->v[i]->id);
    id = id ? id : 1;
    if (svc_find_id(e, id))
        id++;
    if (VEC_RESERVE(e->v, e->cap, e->n + 1) < 0)
        return -ENOMEM;
    if (!(s = calloc(1, sizeof *s)))
        return -ENOMEM;
    if ((r = config_copy(&s->cfg, c)) < 0) {
        free(s);
        return r;
    }
    s->e = e;
    if ((r = set_log_paths(s)) < 0) {
        svc_config_done(&s->cfg);
        free(s);
        return r;
    }
    s->id = id;
    uv_timer_init(e->loop, &s->timer);
    s->timer.data = s;
    e->v[e->n++] = s;
    changed(s);
    if (ret)
        *ret = s;
    return 0;
}

static void svc_closed(uv_handle_t *h)
{
    struct svc *s = h->data;
    fire_waiters(s);
    if (s->next_cfg) {
        svc_config_done(s->next_cfg);
        free(s->next_cfg);
    }
    free(s->log_path[0]);
    free(s->log_path[1]);
    svc_config_done(&s->cfg);
    free(s);
}

static void unlink_from_engine(struct svc *s)
{
    struct svc_engine *e = s->e;
    for (size_t i = 0; i < e->n; i++)
        if (e->v[i] == s) {
            memmove(&e->v[i], &e->v[i + 1], (e->n - i - 1) * sizeof *e->v);
            e->n--;
            return;
        }
}

void svc_remove(struct svc *s)
{
    if (s->removed)
        return;
    unlink_from_engine(s);
    s->want_up = false;
    if (s->st.state == SVC_ONLINE)
        event(s, EV_STOP);
    s->removed = true;
    changed(s); /* observers see svc_is_removed() */
    if (s->st.state != SVC_STOPPING && !uv_is_closing((uv_handle_t *)&s->timer)) {
        uv_timer_stop(&s->timer);
        uv_close((uv_handle_t *)&s->timer, svc_closed);
    }
}

struct svc *svc_find(struct svc_engine *e, const char *name)
{
    for (size_t i = 0; i < e->n; i++)
        if (strcmp(e->v[i]->cfg.name, name) == 0)
            return e->v[i];
    return NULL;
}

struct svc *svc_find_id(struct svc_engine *e, uint32_t id)
{
    for (size_t i = 0; i < e->n; i++)
        if (e->v[i]->id == id)
            return e->v[i];
    return NULL;
}

uint32_t svc_id(const struct svc *s)
{
    return s->id;
}

bool svc_is_removed(const struct svc *s)
{
    return s->removed;
}

size_t svc_resolve(struct svc_engine *e, const char *target, bool all_ok, struct svc ***ret)
{
    size_t n = e->n, k = 0;
    struct svc **v = calloc(n ? n : 1, sizeof *v);
    char *end;

    *ret = v;
    if (!v)
        return 0;
    if (all_ok && !strcmp(target, "all")) {
        if (n) /* e->v is NULL before the first service */
            memcpy(v, e->v, n * sizeof *v);
        return n;
    }
    unsigned long id = *target ? strtoul(target, &end, 10) : 0;
    struct svc *s = *target && !*end && id <= UINT32_MAX ? svc_find_id(e, (uint32_t)id) : NULL;
    if (!s)
        s = svc_find(e, target);
    if (s)
        v[k++] = s;
    return k;
}

bool svc_config_equal(const struct svc_config *a, const struct svc_config *b)
{
    return str_eq(a->name, b->name) && strv_equal(a->argv, b->argv) && str_eq(a->cwd, b->cwd) &&
           strv_equal(a->env, b->env) && a->clear_env == b->clear_env && a->restart == b->restart &&
           a->max_restarts == b->max_restarts && a->restart_delay_ms == b->restart_delay_ms &&
           a->restart_delay_max_ms == b->restart_delay_max_ms &&
           a->min_uptime_ms == b->min_uptime_ms && a->kill_timeout_ms == b->kill_timeout_ms &&
           (a->stop_signal ? a->stop_signal : SIGTERM) ==
               (b->stop_signal ? b->stop_signal : SIGTERM) &&
           a->oneshot == b->oneshot && a->autostart == b->autostart &&
           a->from_config == b->from_config && strv_equal(a->depends_on, b->depends_on) &&
           a->set_ids == b->set_ids && a->uid == b->uid && a->gid == b->gid &&
           a->set_umask == b->set_umask && a->umask == b->umask &&
           a->log_max_bytes == b->log_max_bytes && a->log_keep == b->log_keep &&
           a->log_max_age_s == b->log_max_age_s && str_eq(a->log_file[0], b->log_file[0]) &&
           str_eq(a->log_file[1], b->log_file[1]) &&
           probes_equal(a->probes, a->n_probes, b->probes, b->n_probes);
}

int svc_redefine(struct svc *s, const struct svc_config *c)
{
    if (!s->child)
        return svc_set_config(s, c);
    int r = config_check(c);
    if (r < 0)
        return r;
    if (strcmp(c->name, s->cfg.name) != 0)
        return -EINVAL;
    struct svc_config *next = malloc(sizeof *next);
    if (!next)
        return -ENOMEM;
    if ((r = config_copy(next, c)) < 0) {
        free(next);
        return r;
    }
    if (s->next_cfg) {
        svc_config_done(s->next_cfg);
        free(s->next_cfg);
    }
    s->next_cfg = next;
    svc_restart(s);
    return 0;
}

int svc_define(struct svc_engine *e, uint32_t id, const struct svc_config *c, struct svc **ret)
{
    struct svc *s = svc_find(e, c->name);
    int r = s ? svc_set_config(s, c) : svc_add(e, id, c, &s);
    if (r >= 0 && ret)
        *ret = s;
    return r;
}

bool svc_running(const struct svc *s)
{
    return s->child != NULL;
}

int svc_set_config(struct svc *s, const struct svc_config *c)
{
    struct svc_config copy;
    int r = config_check(c);

    if (r < 0)
        return r;
    if (strcmp(c->name, s->cfg.name) != 0)
        return -EINVAL;
    if (s->child)
        return -EBUSY;
    if ((r = config_copy(&copy, c)) < 0)
        return r;
    svc_config_done(&s->cfg);
    s->cfg = copy;
    if ((r = set_log_paths(s)) < 0)
        return r; /* the old paths stay */
    changed(s);
    return 0;
}

struct svc *svc_at(struct svc_engine *e, size_t i)
{
    return i < e->n ? e->v[i] : NULL;
}

size_t svc_count(const struct svc_engine *e)
{
    return e->n;
}

/* ---- the engine ---- */

int svc_engine_new(uv_loop_t *loop, struct proc_reaper *r, const char *log_dir,
                   svc_change_fn on_change, void *userdata, struct svc_engine **ret)
{
    struct svc_engine *e = calloc(1, sizeof *e);
    int err;

    if (!e)
        return -ENOMEM;
    if (!(e->log_dir = strdup(log_dir))) {
        free(e);
        return -ENOMEM;
    }
    if ((err = paths_mkdir_p(log_dir, 0700, false)) < 0) {
        free(e->log_dir);
        free(e);
        return err;
    }
    e->loop = loop;
    e->reaper = r;
    e->rotate_ms = DEFAULT_ROTATE_MS;
    uv_timer_init(loop, &e->rotate_timer);
    e->rotate_timer.data = e;
    e->on_change = on_change;
    e->userdata = userdata;
    *ret = e;
    return 0;
}

static void maybe_shutdown_done(struct svc_engine *e)
{
    if (!e->shutdown_done)
        return;
    for (size_t i = 0; i < e->n; i++)
        if (e->v[i]->child)
            return;
    void (*done)(void *) = e->shutdown_done;
    e->shutdown_done = NULL;
    done(e->shutdown_data);
}

void svc_engine_shutdown(struct svc_engine *e, void (*done)(void *userdata), void *userdata)
{
    e->shutdown_done = done;
    e->shutdown_data = userdata;
    for (size_t i = e->n; i-- > 0;)
        event(e->v[i], EV_STOP);
    maybe_shutdown_done(e);
}

static void engine_closed(uv_handle_t *h)
{
    free(h->data);
}

void svc_engine_free(struct svc_engine *e)
{
    if (!e)
        return;
    while (e->n) {
        struct svc *s = e->v[--e->n];
        if (s->child)
            proc_child_forget(s->child);
        stop_probes(s);
        s->removed = true;
        uv_timer_stop(&s->timer);
        if (!uv_is_closing((uv_handle_t *)&s->timer))
            uv_close((uv_handle_t *)&s->timer, svc_closed);
    }
    free(e->v);
    free(e->log_dir);
    while (e->watches) {
        struct svc_watch *w = e->watches;
        e->watches = w->next;
        free(w);
    }
    /* The engine goes with its timer's close. */
    uv_close((uv_handle_t *)&e->rotate_timer, engine_closed);
}
