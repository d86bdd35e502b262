/* The reaper: droverd is a child subreaper, so orphans of the trees it spawned are re-parented to
 * it instead of to init. SIGCHLD arrives as a loop event (uv_signal); each one drains
 * waitpid(-1, WNOHANG) until nothing is left, because signals coalesce. Reaped pids that belong
 * to a spawned child are collected first and reported after the loop over waitpid, so an on_exit
 * that spawns or frees cannot disturb the table while we walk it. Re-parented orphans are reaped
 * silently: nobody waits for them but us.
 *
 * Children live in a small hash table by pid. Each holds a pidfd taken right after fork (before
 * the pid can be reaped, so it names our child and nobody else). */
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

static void on_sigchld(uv_signal_t *s, int signum)
{
    struct proc_reaper *r = s->data;
    struct proc_child *done = NULL, **tail = &done;
    int status;
    pid_t pid;
    (void)signum;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        struct proc_child *c = take(r, pid);
        if (!c) {
            log_debug("reaped orphan %d (status %d)", (int)pid, decode_status(status));
            continue;
        }
        *tail = c;
        tail = &c->next;
        c->status = decode_status(status);
    }
    while (done) {
        struct proc_child *c = done;
        done = c->next;
        if (c->on_exit)
            c->on_exit(c, c->status, c->userdata);
        reaper_child_free(c);
    }
    reaper_sweep(r);
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
    uv_signal_start(&r->sigchld, on_sigchld, SIGCHLD);
    /* Children that ended before the handler existed. */
    on_sigchld(&r->sigchld, SIGCHLD);
    *ret = r;
    return 0;
}

static void reaper_closed(uv_handle_t *h)
{
    struct proc_reaper *r = h->data;
    if (--r->open_handles == 0) /* the sweep timer and the signal handle */
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
    r->open_handles = 2;
    uv_close((uv_handle_t *)&r->sweep, reaper_closed);
    uv_close((uv_handle_t *)&r->sigchld, reaper_closed);
}

/* An adopted process ended: its pidfd became readable. It was not our child, so its status
 * is not ours to read (its real parent reaps it). */
static void on_adopted_exit(uv_poll_t *w, int status, int events)
{
    struct proc_child *c = w->data;
    struct proc_reaper *r = c->reaper;
    (void)status, (void)events;

    siginfo_t info = {0};

    uv_poll_stop(w);
    if (take(r, c->pid) != c)
        return;
    /* Our child after all (droverd re-executed itself and kept its children): its status is
     * ours to collect. */
    if (waitid(P_PIDFD, (id_t)c->pidfd, &info, WEXITED | WNOHANG) == 0 && info.si_pid == c->pid)
        c->status = info.si_code == CLD_EXITED ? info.si_status : -info.si_status;
    else
        c->status = PROC_EXIT_UNKNOWN;
    if (c->on_exit)
        c->on_exit(c, c->status, c->userdata);
    reaper_child_free(c);
    reaper_sweep(r);
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
    if (!(c = calloc(1, sizeof *c)) || !(c->watch = malloc(sizeof *c->watch)) ||
        (cgroup && *cgroup && !(c->cgroup = strdup(cgroup)))) {
        if (c) {
            free(c->watch);
            free(c);
        }
        return -ENOMEM;
    }
    *c = (struct proc_child){.reaper = r,
                             .pid = pid,
                             .pidfd = TAKE_FD(pidfd),
                             .starttime = starttime,
                             .session = c->cgroup ? 0 : st.session,
                             .cgroup = c->cgroup,
                             .on_exit = on_exit,
                             .userdata = userdata,
                             .watch = c->watch};
    if ((e = reaper_insert(r, c)) < 0 || (e = uv_poll_init(r->loop, c->watch, c->pidfd)) < 0) {
        if (e < 0 && proc_reaper_find(r, pid) == c)
            (void)take(r, pid);
        close(c->pidfd);
        free(c->watch);
        free(c->cgroup);
        free(c);
        return e < 0 ? e : -ENOMEM;
    }
    c->watch->data = c;
    uv_poll_start(c->watch, UV_READABLE, on_adopted_exit);
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
