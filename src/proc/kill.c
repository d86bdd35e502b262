/* Kill-tree: SIGKILL a process and everything below it, without blocking the loop.
 *
 * Targets are (pid, starttime) pairs taken from a process-table snapshot: the root, then its
 * descendants deepest first (children are only linked to parents that started before them, so
 * a reused pid never drags a stranger in). A target is signalled only while its start time still
 * matches. A timer then re-checks, 1 ms after the signal and then twice as long each time up to
 * TICK_MS (a SIGKILLed process is usually gone within the first): survivors are signalled again and
 * the table is re-read for children they forked before the signal landed, until nothing is left or
 * the timeout passes. Zombies count as gone: SIGKILL has done its work, reaping is their parent's
 * (or, re-parented, ours).
 *
 * For a tree droverd spawned, descent by ppid misses a double-forked orphan: its parent exited
 * and it was re-parented to us. Its cgroup still holds it (cgroup.kill on v2, member by member on
 * v1); without cgroups, members of the tree's session are targets too. */
#include "proc/proc-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/list.h"
#include "base/macro.h"
#include "base/time-util.h"
#include "base/vec.h"

#define TICK_MS 10 /* longest pause between re-checks */

struct target {
    pid_t pid;          /* process */
    uint64_t starttime; /* its identity with pid */
    bool signalled;     /* counted in killed */
    bool gone;          /* exited or a zombie */
};

struct proc_kill {
    uv_timer_t timer;           /* the re-check tick; the struct is freed in its close callback */
    uint64_t tick_ms;           /* the pause before the next re-check */
    DLIST_LINK(proc_kill) link; /* in the reaper's list while running */
    struct proc_reaper *r;      /* for owned children and cgroups */
    struct target *t;           /* targets */
    size_t n, cap;              /* targets used and allocated */
    char *cgroup;               /* the tree's group if droverd spawned the root, else NULL */
    pid_t session;              /* without a group: the spawned root's session, else 0 */
    uint64_t deadline;          /* monotonic ms */
    uint32_t killed;            /* distinct processes signalled */
    proc_kill_fn done;          /* NULL once cancelled */
    void *userdata;             /* for done */
};

static struct target *find_target(struct proc_kill *k, pid_t pid, uint64_t starttime)
{
    for (size_t i = 0; i < k->n; i++)
        if (k->t[i].pid == pid && k->t[i].starttime == starttime)
            return &k->t[i];
    return NULL;
}

static int add_target(struct proc_kill *k, pid_t pid, uint64_t starttime)
{
    if (pid <= 1 || pid == getpid() || find_target(k, pid, starttime))
        return 0;
    if (VEC_RESERVE(k->t, k->cap, k->n + 1) < 0)
        return -ENOMEM;
    k->t[k->n++] = (struct target){.pid = pid, .starttime = starttime};
    return 0;
}

/* Adds root's descendants, and the session's members, from a fresh table. */
static void collect(struct proc_kill *k, const struct proc_table *tab)
{
    for (size_t i = 0; i < k->n; i++) {
        const struct proc_entry *e = proc_table_find(tab, k->t[i].pid);
        int32_t *d;
        size_t nd;
        if (!e || e->starttime != k->t[i].starttime ||
            proc_table_descendants(tab, (size_t)(e - tab->v), &d, &nd) < 0)
            continue;
        for (size_t j = 0; j < nd; j++)
            (void)add_target(k, tab->v[d[j]].pid, tab->v[d[j]].starttime);
        free(d);
    }
    if (k->session > 0)
        for (size_t i = 0; i < tab->n; i++)
            if (tab->v[i].session == k->session)
                (void)add_target(k, tab->v[i].pid, tab->v[i].starttime);
}

/* Signals every target still alive; marks the gone ones. Returns how many are left. */
static size_t signal_targets(struct proc_kill *k, const struct proc_table *tab)
{
    size_t left = 0;

    for (size_t i = 0; i < k->n; i++) {
        struct target *t = &k->t[i];
        const struct proc_entry *e = t->gone ? NULL : proc_table_find(tab, t->pid);
        if (!e || e->starttime != t->starttime || e->state == 'Z' || e->state == 'X') {
            t->gone = true;
            continue;
        }
        struct proc_child *own = proc_reaper_find(k->r, t->pid);
        int r = own && own->starttime == t->starttime ? proc_child_signal(own, SIGKILL)
                                                      : (kill(t->pid, SIGKILL) < 0 ? -errno : 0);
        if (r == 0 && !t->signalled) {
            t->signalled = true;
            k->killed++;
        }
        left++;
    }
    return left;
}

/* Takes the group's members in as targets and kills the group; each member is then counted as
 * signalled, whichever way the kill went (cgroup.kill does not say whom it reached). Returns how
 * many members are still alive (zombies excluded). */
static size_t cgroup_round(struct proc_kill *k, const struct proc_table *tab)
{
    pid_t *pids;
    size_t n, left = 0;

    if (!k->cgroup || cgroup_members(k->cgroup, &pids, &n) < 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        const struct proc_entry *e = proc_table_find(tab, pids[i]);
        if (!e || e->state == 'Z' || e->state == 'X' || add_target(k, e->pid, e->starttime) < 0)
            continue;
        pids[left++] = e->pid;
    }
    if (left && cgroup_kill(&k->r->cg, k->cgroup) >= 0)
        for (size_t i = 0; i < left; i++) {
            struct target *t = find_target(k, pids[i], proc_table_find(tab, pids[i])->starttime);
            if (t && !t->signalled) {
                t->signalled = true;
                k->killed++;
            }
        }
    free(pids);
    return left;
}

static void kill_closed(uv_handle_t *h)
{
    struct proc_kill *k = h->data;
    free(k->t);
    free(k->cgroup);
    free(k);
}

static void finish(struct proc_kill *k, size_t survivors)
{
    uv_timer_stop(&k->timer);
    DLIST_REMOVE(k, link);
    if (k->done)
        k->done(k->killed, (uint32_t)survivors, k->userdata);
    reaper_sweep(k->r);
    uv_close((uv_handle_t *)&k->timer, kill_closed);
}

/* One round: re-read the table, take in new descendants, signal, count what is left. */
static size_t round_once(struct proc_kill *k)
{
    struct proc_table tab;
    size_t left;

    if (proc_table_read(&tab, NULL) < 0)
        return 1; /* try again next tick */
    collect(k, &tab);
    left = cgroup_round(k, &tab);
    left += signal_targets(k, &tab);
    proc_table_done(&tab);
    return left;
}

static void on_tick(uv_timer_t *t)
{
    struct proc_kill *k = t->data;
    size_t left = round_once(k);

    if (left == 0 || mono_ms() >= k->deadline) {
        finish(k, left);
        return;
    }
    k->tick_ms = MIN(k->tick_ms * 2, TICK_MS);
    uv_timer_start(&k->timer, on_tick, k->tick_ms, 0);
}

int proc_kill_tree(struct proc_reaper *r, pid_t pid, uint32_t timeout_ms, proc_kill_fn done,
                   void *userdata, struct proc_kill **ret)
{
    struct proc_kill *k = calloc(1, sizeof *k);
    struct proc_stat st;

    if (!k)
        return -ENOMEM;
    if (pid <= 0) {
        free(k);
        return -EINVAL;
    }
    k->r = r;
    k->done = done;
    k->userdata = userdata;
    k->deadline = mono_ms() + timeout_ms;
    struct proc_child *own = proc_reaper_find(r, pid);
    if (own && own->cgroup && !(k->cgroup = strdup(own->cgroup))) {
        free(k);
        return -ENOMEM;
    }
    if (own && !own->cgroup)
        k->session = own->session;
    if (proc_read_stat(pid, &st) == 0 && add_target(k, pid, st.starttime) < 0) {
        free(k->cgroup);
        free(k);
        return -ENOMEM;
    }
    uv_timer_init(r->loop, &k->timer);
    k->timer.data = k;
    DLIST_PREPEND(&r->kills, k, link);
    /* The first round runs now, so a tree dies at once; done always comes from the loop. */
    size_t left = round_once(k);
    k->tick_ms = 1;
    uv_timer_start(&k->timer, on_tick, left ? k->tick_ms : 0, 0);
    if (ret)
        *ret = k;
    return 0;
}

void kill_finish_now(struct proc_kill *k)
{
    size_t left = 0;
    for (size_t i = 0; i < k->n; i++)
        left += !k->t[i].gone;
    finish(k, left);
}

int proc_child_kill_remains(struct proc_child *c)
{
    struct proc_table tab;
    int n = 0;

    if (c->cgroup)
        return cgroup_kill(&c->reaper->cg, c->cgroup);
    if (c->session <= 0)
        return 0;
    int r = proc_table_read(&tab, NULL);
    if (r < 0)
        return r;
    for (size_t i = 0; i < tab.n; i++)
        if (tab.v[i].session == c->session && tab.v[i].pid != c->pid && tab.v[i].state != 'Z' &&
            kill(tab.v[i].pid, SIGKILL) == 0)
            n++;
    proc_table_done(&tab);
    return n;
}

int proc_child_members(struct proc_child *c, pid_t **ret, size_t *ret_n)
{
    struct proc_table tab;
    pid_t *v;
    size_t n = 0;
    int r;

    if (c->cgroup)
        return cgroup_members(c->cgroup, ret, ret_n);
    if ((r = proc_table_read(&tab, NULL)) < 0)
        return r;
    v = malloc((tab.n ? tab.n : 1) * sizeof *v);
    if (!v) {
        proc_table_done(&tab);
        return -ENOMEM;
    }
    /* Without a cgroup: the session it leads, or else the child and its descendants. */
    const struct proc_entry *root = proc_table_find(&tab, c->pid);
    for (size_t i = 0; i < tab.n; i++)
        if (c->session > 0 ? tab.v[i].session == c->session : &tab.v[i] == root)
            v[n++] = tab.v[i].pid;
    if (c->session <= 0 && root) {
        int32_t *d;
        size_t nd;
        if (proc_table_descendants(&tab, (size_t)(root - tab.v), &d, &nd) == 0) {
            for (size_t i = 0; i < nd; i++)
                v[n++] = tab.v[d[i]].pid;
            free(d);
        }
    }
    proc_table_done(&tab);
    *ret = v;
    *ret_n = n;
    return 0;
}

/* v2's freezer: every member stops at once and new children are born frozen. The file exists
 * in every non-root group of the unified hierarchy, the hybrid "unified" mount included. */
static int cgroup_freeze(const char *path, bool frozen)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/cgroup.freeze", path);
    int fd = open(p, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? -EOPNOTSUPP : -errno;
    ssize_t w = write(fd, frozen ? "1" : "0", 1);
    int e = w == 1 ? 0 : -errno;
    close(fd);
    return e;
}

int proc_child_freeze(struct proc_child *c, bool frozen, bool *ret_freezer)
{
    pid_t *v;
    size_t n;
    int r;

    if (c->cgroup && (r = cgroup_freeze(c->cgroup, frozen)) != -EOPNOTSUPP) {
        if (ret_freezer)
            *ret_freezer = r == 0;
        return r;
    }
    if (ret_freezer)
        *ret_freezer = false;
    if ((r = proc_child_members(c, &v, &n)) < 0)
        return r;
    /* Without a freezer: SIGSTOP/SIGCONT to each member (a process that handles SIGCONT sees it,
     * one forked in between is missed: the freezer has neither flaw). */
    for (size_t i = 0; i < n; i++)
        if (v[i] == c->pid)
            (void)proc_child_signal(c, frozen ? SIGSTOP : SIGCONT);
        else
            (void)kill(v[i], frozen ? SIGSTOP : SIGCONT);
    free(v);
    return 0;
}
