/* The reaper: droverd is a child subreaper, so orphans of the trees it spawned are re-parented to
 * it instead of to init.
 *
 * Children live in a small hash table by pid. Each holds a pidfd taken right after fork (before
 * the pid can be reaped, so it names our child and nobody else), watched by the loop: it becomes
 * readable when the child exits, and waitid(P_PIDFD) reaps that child alone. waitpid(-1) would
 * cost a walk over every child the kernel holds for us, each time one exits: with thousands of
 * services, most of a restart's CPU.
 *
 * SIGCHLD (a loop event, uv_signal) is left for the re-parented orphans: nobody waits for them
 * but us. Their walk (waitpid(-1, WNOHANG) until nothing is left, because signals coalesce) runs
 * on a timer ORPHAN_REAP_MS after the first SIGCHLD, so a burst of exits costs one walk, and a
 * restart's spawn never waits for it. A child the walk reaps before its pidfd was read is
 * reported from the walk, as the only path was before pidfds. Children without a pidfd (the
 * kernel gave none) make the walk immediate. */
#include "proc/proc-internal.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/log.h"
#include "base/macro.h"

#define ORPHAN_REAP_MS 20 /* from a SIGCHLD to the walk for orphans */

static size_t bucket(const struct proc_reaper *r, pid_t pid)
{
    return ((uint32_t)pid * 2654435761u) & (r->n_buckets - 1);
}

static int grow(struct proc_reaper *r)
{
    size_t nb = r->n_buckets ? r->n_buckets * 2 : 64;
    struct proc_child **b = calloc(nb, sizeof *b);

    if (!b)
        return -ENOMEM;
    for (size_t i = 0; i < r->n_buckets; i++)
        for (struct proc_child *c = r->buckets[i], *next; c; c = next) {
            next = c->next;
            size_t k = ((uint32_t)c->pid * 2654435761u) & (nb - 1);
            c->next = b[k];
            b[k] = c;
        }
    free(r->buckets);
    r->buckets = b;
    r->n_buckets = nb;
    return 0;
}

static struct proc_child *take(struct proc_reaper *r, pid_t pid)
{
    if (!r->n_buckets)
        return NULL;
    for (struct proc_child **pp = &r->buckets[bucket(r, pid)]; *pp; pp = &(*pp)->next)
        if ((*pp)->pid == pid) {
            struct proc_child *c = *pp;
            *pp = c->next;
            c->next = NULL;
            r->n--;
            return c;
        }
    return NULL;
}

struct proc_child *proc_reaper_find(struct proc_reaper *r, pid_t pid)
{
    if (!r->n_buckets)
        return NULL;
    for (struct proc_child *c = r->buckets[bucket(r, pid)]; c; c = c->next)
        if (c->pid == pid)
            return c;
    return NULL;
}

size_t proc_reaper_count(const struct proc_reaper *r)
{
    return r->n;
}

const char *proc_reaper_cgroup_mode(const struct proc_reaper *r)
{
    return r->cg.mode == CGROUP_V2 ? "v2" : r->cg.mode == CGROUP_V1 ? "v1" : "none";
}

static void on_sweep(uv_timer_t *t)
{
    struct proc_reaper *r = t->data;
    reaper_sweep(r);
    if (r->lingering) {
        r->sweep_ms = MIN(r->sweep_ms * 2, 1000u);
        uv_timer_start(&r->sweep, on_sweep, r->sweep_ms, 0);
    }
}

void reaper_linger(struct proc_reaper *r, char *path)
{
    struct lingering *l = malloc(sizeof *l);

    if (!l) {
        free(path); /* the group stays behind; the next droverd's sweep removes it */
        return;
    }
    l->path = path;
    l->next = r->lingering;
    r->lingering = l;
    if (!uv_is_active((uv_handle_t *)&r->sweep)) {
        r->sweep_ms = 10;
        uv_timer_start(&r->sweep, on_sweep, r->sweep_ms, 0);
    }
}

void reaper_sweep(struct proc_reaper *r)
{
    for (struct lingering **pp = &r->lingering; *pp;) {
        struct lingering *l = *pp;
        int e = cgroup_remove(l->path);
        if (e == 0 || e == -ENOENT) {
            *pp = l->next;
            free(l->path);
            free(l);
        } else {
            pp = &l->next;
        }
    }
}

static void watch_closed(uv_handle_t *h)
{
    free(h);
}

void reaper_child_free(struct proc_child *c)
{
    if (c->watch) /* the poll handle owns no descriptor: the pidfd is closed here */
        uv_close((uv_handle_t *)c->watch, watch_closed);
    if (c->pidfd >= 0)
        close(c->pidfd);
    if (c->cgroup) {
        if (cgroup_remove(c->cgroup) == -EBUSY)
            reaper_linger(c->reaper, TAKE_PTR(c->cgroup));
        free(c->cgroup);
    }
    for (int i = 0; i < RES_N; i++)
        if (c->res[i]) {
            if (cgroup_remove(c->res[i]) == -EBUSY)
                reaper_linger(c->reaper, TAKE_PTR(c->res[i]));
            free(c->res[i]);
        }
    free(c);
}

static int decode_status(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return -WTERMSIG(status);
    return 0;
}

/* Reports a reaped child and frees it. */
static void child_ended(struct proc_child *c, int status)
{
    c->status = status;
    if (c->on_exit)
        c->on_exit(c, c->status, c->userdata);
    reaper_child_free(c);
}

/* Reaps whatever has exited: orphans silently, children of ours (their pidfd not read yet)
 * reported after the walk, so an on_exit that spawns or frees cannot disturb the table while we
 * walk it. */
static void reap_all(struct proc_reaper *r)
{
    struct proc_child *done = NULL, **tail = &done;
    int status;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        struct proc_child *c = take(r, pid);
        if (!c) {
            log_debug("reaped orphan %d (status %d)", (int)pid, decode_status(status));
            continue;
        }
        if (!c->watch)
            r->n_blind--;
        *tail = c;
        tail = &c->next;
        c->status = decode_status(status);
    }
    while (done) {
        struct proc_child *c = done;
        done = c->next;
        child_ended(c, c->status);
    }
    reaper_sweep(r);
}

static void on_orphan_timer(uv_timer_t *t)
{
    reap_all(t->data);
}

static void on_sigchld(uv_signal_t *s, int signum)
{
    struct proc_reaper *r = s->data;
    (void)signum;

    if (r->n_blind)
        reap_all(r);
    else if (!uv_is_active((uv_handle_t *)&r->orphans))
        uv_timer_start(&r->orphans, on_orphan_timer, ORPHAN_REAP_MS, 0);
}

/* A watched process ended: its pidfd became readable. If it is our child (spawned, or kept
 * across droverd re-executing itself), its status is ours to collect; an adopted stranger's
 * belongs to its real parent. */
static void on_pidfd_readable(uv_poll_t *w, int status, int events)
{
    struct proc_child *c = w->data;
    struct proc_reaper *r = c->reaper;
    siginfo_t info = {0};
    int code = PROC_EXIT_UNKNOWN;
    (void)status, (void)events;

    if (waitid(P_PIDFD, (id_t)c->pidfd, &info, WEXITED | WNOHANG) == 0) {
        if (info.si_pid != c->pid)
            return; /* not ended after all (it cannot be, but then it still runs) */
        code = info.si_code == CLD_EXITED ? info.si_status : -info.si_status;
    }
    uv_poll_stop(w);
    if (take(r, c->pid) != c)
        return;
    child_ended(c, code);
    reaper_sweep(r);
}

/* Watches a child's pidfd; false (the child is left to the SIGCHLD walk) when it has none or
 * the loop cannot watch it. */
static bool watch_pidfd(struct proc_reaper *r, struct proc_child *c)
{
    if (c->pidfd < 0 || !(c->watch = malloc(sizeof *c->watch)))
        return false;
    if (uv_poll_init(r->loop, c->watch, c->pidfd) < 0) {
        free(TAKE_PTR(c->watch));
        return false;
    }
    c->watch->data = c;
    uv_poll_start(c->watch, UV_READABLE, on_pidfd_readable);
    return true;
}

int reaper_insert(struct proc_reaper *r, struct proc_child *c)
{
    if (r->n + 1 > r->n_buckets) {
        int e = grow(r);
        if (e < 0)
            return e;
    }
    size_t k = bucket(r, c->pid);
    c->next = r->buckets[k];
    r->buckets[k] = c;
    r->n++;
    if (!watch_pidfd(r, c))
        r->n_blind++;
    return 0;
}

int proc_reaper_new(uv_loop_t *loop, struct proc_reaper **ret)
{
    struct proc_reaper *r = calloc(1, sizeof *r);
    int e;

    if (!r)
        return -ENOMEM;
    r->loop = loop;
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
        e = -errno;
        free(r);
        return e;
    }
    e = grow(r);
    if (e < 0) {
        free(r);
        return e;
    }
    cgroup_root_init(&r->cg);
    uv_timer_init(loop, &r->sweep);
    r->sweep.data = r;
    uv_signal_init(loop, &r->sigchld);
    r->sigchld.data = r;
    uv_timer_init(loop, &r->orphans);
    r->orphans.data = r;
    uv_signal_start(&r->sigchld, on_sigchld, SIGCHLD);
    /* Children that ended before the handler existed. */
    reap_all(r);
    *ret = r;
    return 0;
}

static void reaper_closed(uv_handle_t *h)
{
    struct proc_reaper *r = h->data;
    if (--r->open_handles == 0) /* the two timers and the signal handle */
        free(r);
}

void proc_reaper_free(struct proc_reaper *r)
{
    if (!r)
        return;
    while (r->kills)
        kill_finish_now(r->kills);
    for (size_t i = 0; i < r->n_buckets; i++)
        for (struct proc_child *c = r->buckets[i], *next; c; c = next) {
            next = c->next;
            c->on_exit = NULL;
            reaper_child_free(c);
        }
    free(r->buckets);
    reaper_sweep(r);
    for (struct lingering *l = r->lingering, *next; l; l = next) {
        next = l->next;
        free(l->path);
        free(l);
    }
    r->lingering = NULL;
    res_root_done(r);
    cgroup_root_done(&r->cg);
    r->open_handles = 3;
    uv_close((uv_handle_t *)&r->sweep, reaper_closed);
    uv_close((uv_handle_t *)&r->orphans, reaper_closed);
    uv_close((uv_handle_t *)&r->sigchld, reaper_closed);
}

int proc_adopt(struct proc_reaper *r, pid_t pid, uint64_t starttime, const char *cgroup,
               proc_exit_fn on_exit, void *userdata, struct proc_child **ret)
{
    struct proc_stat st;
    struct proc_child *c;
    int e;

    if (pid <= 1 || proc_reaper_find(r, pid))
        return -EINVAL;
    _cleanup_close_ int pidfd = pidfd_open(pid, 0);
    if (pidfd < 0)
        return -errno == -ENOENT ? -ESRCH : -errno;
    /* The pidfd names whoever has the pid now: the start time says whether that is still the
     * recorded process. Read after the pidfd is open, so the answer holds for the pidfd. */
    if ((e = proc_read_stat(pid, &st)) < 0)
        return e == -ENOENT ? -ESRCH : e;
    if (st.starttime != starttime || st.state == 'Z' || st.state == 'X')
        return -ESRCH;
    if (cgroup && *cgroup) {
        _cleanup_free_ pid_t *pids = NULL;
        size_t n = 0;
        bool member = false;
        if (cgroup_members(cgroup, &pids, &n) < 0)
            return -EXDEV; /* its group is gone, yet the process runs */
        for (size_t i = 0; i < n && !member; i++)
            member = pids[i] == pid;
        if (!member)
            return -EXDEV; /* the process, but no longer in its group */
    }
    if (!(c = calloc(1, sizeof *c)) || (cgroup && *cgroup && !(c->cgroup = strdup(cgroup)))) {
        free(c);
        return -ENOMEM;
    }
    *c = (struct proc_child){.reaper = r,
                             .pid = pid,
                             .pidfd = TAKE_FD(pidfd),
                             .starttime = starttime,
                             .session = c->cgroup ? 0 : st.session,
                             .cgroup = c->cgroup,
                             .on_exit = on_exit,
                             .userdata = userdata};
    if ((e = reaper_insert(r, c)) < 0 || !c->watch) {
        /* Not our child, so no SIGCHLD would tell us of its end: the watch is the only way. */
        if (e == 0 && take(r, pid) == c)
            r->n_blind--;
        close(c->pidfd);
        free(c->cgroup);
        free(c);
        return e < 0 ? e : -ENOMEM;
    }
    *ret = c;
    return 0;
}

/* Whether a group is the tree's group of a child droverd has (spawned or adopted). */
static bool adopted_group(const char *path, void *userdata)
{
    struct proc_reaper *r = userdata;
    for (size_t i = 0; i < r->n_buckets; i++)
        for (struct proc_child *c = r->buckets[i]; c; c = c->next)
            if (c->cgroup && !strcmp(c->cgroup, path))
                return true;
    return false;
}

struct strays {
    struct proc_reaper *r;                       /* owner */
    void (*report)(const char *, pid_t, void *); /* the caller's */
    void *userdata;                              /* its argument */
};

static void report_stray(const char *path, pid_t pid, void *userdata)
{
    struct strays *x = userdata;
    if (x->report)
        x->report(path, pid, x->userdata);
}

static bool keep_stray(const char *path, void *userdata)
{
    return adopted_group(path, ((struct strays *)userdata)->r);
}

int proc_reaper_kill_strays(struct proc_reaper *r,
                            void (*report)(const char *group, pid_t pid, void *userdata),
                            void *userdata)
{
    struct strays x = {r, report, userdata};
    char **busy = NULL;
    int killed = cgroup_sweep_strays(&r->cg, keep_stray, report_stray, &x, &busy);

    for (size_t i = 0; busy && busy[i]; i++)
        reaper_linger(r, TAKE_PTR(busy[i]));
    free(busy);
    return killed;
}

const char *proc_child_cgroup(const struct proc_child *c)
{
    return c->cgroup;
}

pid_t proc_child_pid(const struct proc_child *c)
{
    return c->pid;
}

uint64_t proc_child_starttime(const struct proc_child *c)
{
    return c->starttime;
}

int proc_child_signal(struct proc_child *c, int sig)
{
    /* Only the parent reaps, and we have not: the pid cannot have been reused yet, so kill() is
     * as safe as the pidfd when the kernel gave us none. */
    int e = c->pidfd >= 0 ? pidfd_send_signal(c->pidfd, sig, NULL, 0) : kill(c->pid, sig);
    return e < 0 ? -errno : 0;
}

void proc_child_forget(struct proc_child *c)
{
    c->on_exit = NULL;
    c->userdata = NULL;
}
