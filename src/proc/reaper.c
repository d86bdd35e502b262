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
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/log.h"

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

static void child_free(struct proc_child *c)
{
    if (c->pidfd >= 0)
        close(c->pidfd);
    if (c->cgroup) {
        if (cgroup_remove(c->cgroup) == -EBUSY)
            reaper_linger(c->reaper, TAKE_PTR(c->cgroup));
        free(c->cgroup);
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
        child_free(c);
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
    free(h->data);
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
            child_free(c);
        }
    free(r->buckets);
    reaper_sweep(r);
    for (struct lingering *l = r->lingering, *next; l; l = next) {
        next = l->next;
        free(l->path);
        free(l);
    }
    r->lingering = NULL;
    cgroup_root_done(&r->cg);
    uv_close((uv_handle_t *)&r->sigchld, reaper_closed);
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
