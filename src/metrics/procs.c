/* Every process on the machine: one pass over /proc reading <pid>/stat and <pid>/statm, and CPU
 * usage from the difference with the previous pass.
 *
 * This is the expensive sample (two small files per process, all kernel work), so it is taken
 * only when asked and shared through the TTL cache. statm is read besides stat because stat's
 * rss leaves out per-CPU counts the kernel has not folded in yet (Linux 6.2+), which makes a
 * young process read as nearly empty.
 *
 * The files stay open between passes (within a budget taken from RLIMIT_NOFILE): reading them
 * again at offset 0 makes procfs render them anew, and skipping the open and close halves the
 * pass. An open file belongs to one process for good: once it has exited, reads fail with ESRCH
 * even if its pid is reused, so a stale file is dropped and the new process opened afresh.
 * metrics_procs_release closes them all; the engine does that when process samples have not
 * been asked for a while, since each open file holds a little kernel memory.
 *
 * CPU usage needs two readings of the same process: pid and start time identify it, so a reused
 * pid is not compared with a stranger's counters. A process seen for the first time gets its
 * average since it started, which for a process born since the previous pass is exact. Passes
 * closer together than METRICS_MIN_WINDOW_MS keep the older baseline. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "base/macro.h"
#include "base/time-util.h"
#include "metrics/metrics-internal.h"
#include "proc/proc.h"

void metrics_procs_release(struct metrics *m)
{
    for (size_t i = 0; i < m->n_fds; i++) {
        close(m->fds[i].stat);
        if (m->fds[i].statm >= 0)
            close(m->fds[i].statm);
    }
    free(m->fds);
    m->fds = NULL;
    m->n_fds = 0;
}

void metrics_procs_done(struct metrics *m)
{
    metrics_procs_release(m);
    free(m->procs.v);
    free(m->prev);
    m->procs.v = m->prev = NULL;
    m->procs.n = m->n_prev = 0;
}

/* One small procfs file read again from its start (a single call renders all of it). */
static ssize_t reread(int fd, char *buf, size_t size)
{
    ssize_t n = pread(fd, buf, size - 1, 0);
    if (n < 0)
        return errno == ESRCH ? -ESRCH : -errno;
    buf[n] = '\0';
    return n;
}

static int open_at(int dir, const char *pid, const char *name)
{
    char path[64];
    snprintf(path, sizeof path, "%s/%s", pid, name);
    int fd = openat(dir, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    return fd < 0 ? (errno == ENOENT ? -ESRCH : -errno) : fd;
}

static void fill(struct metrics *m, const struct proc_stat *st, struct metrics_proc *e)
{
    *e = (struct metrics_proc){
        .pid = st->pid,
        .ppid = st->ppid,
        .state = st->state,
        .threads =
            st->num_threads > 0 && st->num_threads < UINT32_MAX ? (uint32_t)st->num_threads : 0,
        .starttime = st->starttime,
        .utime = st->utime,
        .stime = st->stime,
        .vsize = st->vsize,
        .rss = st->rss > 0 ? (uint64_t)st->rss * m->page : 0,
    };
    snprintf(e->comm, sizeof e->comm, "%.15s", st->comm);
}

/* Reads one process through its kept files (f->stat >= 0) or by opening them (f->stat < 0;
 * f then holds the new descriptors, which the caller keeps or closes). -ESRCH when the process
 * those files belong to is gone. */
static int read_proc_fd(struct metrics *m, const char *pid, struct metrics_fd *f,
                        struct metrics_proc *e)
{
    char buf[1024];
    struct proc_stat st;
    struct proc_statm sm;
    ssize_t n;

    if (f->stat < 0 && (f->stat = open_at(m->proc_fd, pid, "stat")) < 0)
        return f->stat;
    if ((n = reread(f->stat, buf, sizeof buf)) <= 0)
        return n < 0 ? (int)n : -ESRCH;
    if (proc_stat_parse(buf, (size_t)n, &st) < 0)
        return -EINVAL;
    fill(m, &st, e);
    /* Kernel threads and zombies have no memory (vsize 0): no statm to read, which saves a
     * third of the pass on a typical machine. A process that exits between the two reads keeps
     * stat's figures. */
    if (!st.vsize)
        return 0;
    if (f->statm < 0)
        f->statm = open_at(m->proc_fd, pid, "statm");
    if (f->statm >= 0 && (n = reread(f->statm, buf, sizeof buf)) > 0 &&
        proc_statm_parse(buf, (size_t)n, &sm) == 0) {
        e->rss = sm.resident * m->page;
        e->shared = sm.shared * m->page;
    }
    return 0;
}

static void close_fd(struct metrics_fd *f)
{
    if (f->stat >= 0)
        close(f->stat);
    if (f->statm >= 0)
        close(f->statm);
    f->stat = f->statm = -1;
}

/* A process outside the sample (born after it): read once, nothing kept. */
static int read_proc(struct metrics *m, const char *pid, struct metrics_proc *e)
{
    struct metrics_fd f = {.stat = -1, .statm = -1};
    int r = read_proc_fd(m, pid, &f, e);
    close_fd(&f);
    return r;
}

static uint64_t boot_ticks(const struct metrics *m)
{
    return now_ns(CLOCK_BOOTTIME) / (1000000000u / m->hz);
}

static const struct metrics_proc *find(const struct metrics_proc *v, size_t n, pid_t pid)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid].pid == pid)
            return &v[mid];
        if (v[mid].pid < pid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const struct metrics_proc *metrics_proc_find(const struct metrics_procs *p, pid_t pid)
{
    return find(p->v, p->n, pid);
}

/* Share of one core since the baseline, or over the process's life when it has none. */
static float usage(const struct metrics *m, const struct metrics_proc *e,
                   const struct metrics_proc *base, uint64_t window_ms, uint64_t now_ticks,
                   uint32_t n_cpus)
{
    uint64_t ticks = e->utime + e->stime;
    double pct;
    if (base && base->starttime == e->starttime && window_ms) {
        uint64_t before = base->utime + base->stime;
        uint64_t d = ticks >= before ? ticks - before : 0;
        pct = 100.0 * (double)d * 1000.0 / ((double)m->hz * (double)window_ms);
    } else {
        uint64_t life = now_ticks > e->starttime ? now_ticks - e->starttime : 0;
        pct = life ? 100.0 * (double)ticks / (double)life : 0;
    }
    double cap = 100.0 * (double)n_cpus;
    return (float)(pct < 0 ? 0 : pct > cap ? cap : pct);
}

/* Doubles both arrays of a pass. */
static int grow(struct metrics_proc **v, struct metrics_fd **f, size_t *cap)
{
    size_t nc = *cap ? *cap * 2 : 512;
    struct metrics_proc *nv = realloc(*v, nc * sizeof **v);
    if (!nv)
        return -ENOMEM;
    *v = nv;
    struct metrics_fd *nf = realloc(*f, nc * sizeof **f);
    if (!nf)
        return -ENOMEM;
    *f = nf;
    *cap = nc;
    return 0;
}

static int cmp_pid(const void *a, const void *b)
{
    const struct metrics_proc *x = a, *y = b;
    return (x->pid > y->pid) - (x->pid < y->pid);
}

/* Reads every process into a new array (sorted by pid). */
/* The kept files of pid from the previous pass, searching from *cursor (both lists ascend by
 * pid, so a pass walks the old list once). */
static struct metrics_fd *kept(struct metrics *m, pid_t pid, size_t *cursor)
{
    while (*cursor < m->n_fds && m->fds[*cursor].pid < pid)
        (*cursor)++;
    if (*cursor < m->n_fds && m->fds[*cursor].pid == pid)
        return &m->fds[*cursor];
    return NULL;
}

/* How many processes may keep their two files open: what RLIMIT_NOFILE leaves after 512 for
 * connections and children's pipes, at most 8192. */
static size_t fd_budget(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return 0;
    if (rl.rlim_cur == RLIM_INFINITY)
        return 8192;
    return rl.rlim_cur <= 512 ? 0 : MIN((size_t)(rl.rlim_cur - 512) / 2, (size_t)8192);
}

static int scan(struct metrics *m, struct metrics_proc **ret, size_t *ret_n)
{
    struct metrics_proc *v = NULL;
    struct metrics_fd *nf = NULL;
    size_t n = 0, cap = 0, n_nf = 0, cursor = 0;
    bool sorted = true;
    struct dirent *de;
    DIR *d;

    if (!m->fd_budget)
        m->fd_budget = fd_budget() + 1;

    int fd = metrics_proc_fd(m);
    if (fd < 0)
        return fd;
    fd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || !(d = fdopendir(fd))) {
        int r = -errno;
        if (fd >= 0)
            close(fd);
        return r;
    }
    while ((de = readdir(d))) {
        if (de->d_name[0] < '1' || de->d_name[0] > '9')
            continue;
        if (n == cap && grow(&v, &nf, &cap) < 0) {
            for (size_t i = 0; i < n_nf; i++)
                close_fd(&nf[i]);
            free(v);
            free(nf);
            closedir(d);
            return -ENOMEM;
        }
        pid_t pid = (pid_t)strtol(de->d_name, NULL, 10);
        struct metrics_fd *old = kept(m, pid, &cursor), f = {pid, -1, -1};
        if (old) { /* the files move to this pass */
            f = *old;
            old->stat = old->statm = -1;
        }
        int r = read_proc_fd(m, de->d_name, &f, &v[n]);
        if (r == -ESRCH && old) {
            /* The kept files were an earlier process's: this pid is someone new. */
            close_fd(&f);
            f = (struct metrics_fd){pid, -1, -1};
            r = read_proc_fd(m, de->d_name, &f, &v[n]);
        }
        if (r < 0) { /* exited during the pass: simply missing */
            close_fd(&f);
            continue;
        }
        if (n_nf + 1 < m->fd_budget)
            nf[n_nf++] = f;
        else
            close_fd(&f);
        sorted &= n == 0 || v[n - 1].pid < v[n].pid;
        n++;
    }
    closedir(d);
    /* What is left of the old list: processes that are gone. */
    metrics_procs_release(m);
    m->fds = nf;
    m->n_fds = n_nf;
    if (!sorted) /* kept() needs the list in pid order */
        metrics_procs_release(m);
    /* procfs lists pids in ascending order; sort anyway if some other root does not. */
    if (!sorted)
        qsort(v, n, sizeof *v, cmp_pid);
    *ret = v;
    *ret_n = n;
    return 0;
}

int metrics_procs_sample(struct metrics *m)
{
    struct metrics_proc *v = NULL;
    size_t n = 0;
    int r = scan(m, &v, &n);
    if (r < 0)
        return r;

    uint64_t now = mono_ms(), ticks = boot_ticks(m);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    uint32_t n_cpus = cpus > 0 ? (uint32_t)cpus : 1;
    /* The baseline: the latest pass if it is old enough, else the one before it. */
    bool rotate = m->procs_cache.have && now - m->procs.mono_ms >= METRICS_MIN_WINDOW_MS;
    const struct metrics_proc *base = rotate ? m->procs.v : m->prev;
    size_t n_base = rotate ? m->procs.n : m->n_prev;
    uint64_t base_ms = rotate ? m->procs.mono_ms : m->prev_mono_ms;
    uint64_t window = base ? now - base_ms : 0;

    for (size_t i = 0; i < n; i++)
        v[i].cpu_pct = usage(m, &v[i], find(base, n_base, v[i].pid), window, ticks, n_cpus);
    if (rotate) {
        free(m->prev);
        m->prev = m->procs.v;
        m->n_prev = m->procs.n;
        m->prev_mono_ms = m->procs.mono_ms;
    } else {
        free(m->procs.v);
    }
    m->procs = (struct metrics_procs){
        .real_ms = now_ns(CLOCK_REALTIME) / 1000000u,
        .mono_ms = now,
        .window_ms = window,
        .n_cpus = n_cpus,
        .v = v,
        .n = n,
    };
    metrics_arm_release(m);
    return 0;
}

METRICS_GETTER(metrics_procs, struct metrics_procs, procs, metrics_procs_sample)

/* ---- one process, a set of processes -------------------------------------------------------- */

int metrics_proc_mem(struct metrics *m, pid_t pid, struct metrics_proc_mem *ret)
{
    char path[64];
    struct proc_status st;
    snprintf(path, sizeof path, "%d/status", (int)pid);
    ssize_t n = metrics_read_proc(m, path);
    if (n < 0)
        return (int)n;
    if (proc_status_parse(m->buf, (size_t)n, &st) < 0)
        return -EINVAL;
    *ret = (struct metrics_proc_mem){
        .rss = st.vm_rss_kb * 1024,
        .vms = st.vm_size_kb * 1024,
        .swap = st.vm_swap_kb * 1024,
        .shared = st.rss_shmem_kb * 1024,
        .data = st.vm_data_kb * 1024,
        .stack = st.vm_stk_kb * 1024,
    };
    return 0;
}

/* Open descriptors: entries of <pid>/fd. Another user's process is -EACCES. */
static int count_fds(struct metrics *m, pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "%d/fd", (int)pid);
    int fd = openat(metrics_proc_fd(m), path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    int n = 0;
    if (!d) {
        int r = -errno;
        if (fd >= 0)
            close(fd);
        return r;
    }
    for (struct dirent *de; (de = readdir(d));)
        n += de->d_name[0] != '.';
    closedir(d);
    return n;
}

static void add_io(struct metrics *m, pid_t pid, struct metrics_tree *t)
{
    char path[64];
    struct proc_io io;
    snprintf(path, sizeof path, "%d/io", (int)pid);
    ssize_t n = metrics_read_proc(m, path);
    if (n >= 0 && proc_io_parse(m->buf, (size_t)n, &io) == 0) {
        t->read_bytes += io.rchar;
        t->write_bytes += io.wchar;
    }
}

int metrics_tree(struct metrics *m, const pid_t *pids, size_t n, bool with_usage,
                 uint32_t max_age_ms, struct metrics_tree *ret)
{
    const struct metrics_procs *snap = NULL;
    struct metrics_tree t = {0};
    int r = metrics_proc_fd(m);
    if (r < 0 || (with_usage && (r = metrics_procs(m, max_age_ms, &snap)) < 0))
        return r;
    uint64_t ns_per_tick = 1000000000u / m->hz;

    for (size_t i = 0; i < n; i++) {
        struct metrics_proc e;
        const struct metrics_proc *p = snap ? metrics_proc_find(snap, pids[i]) : NULL;
        char name[16];
        if (!p) {
            /* Born after the snapshot: its lifetime average is its usage. */
            snprintf(name, sizeof name, "%d", (int)pids[i]);
            if (read_proc(m, name, &e) < 0)
                continue;
            e.cpu_pct = snap ? usage(m, &e, NULL, 0, boot_ticks(m), snap->n_cpus) : 0;
            p = &e;
        }
        struct metrics_proc_mem mem;
        if (p->state == 'Z' || metrics_proc_mem(m, pids[i], &mem) < 0)
            continue;
        t.processes++;
        t.threads += p->threads;
        t.user_ns += p->utime * ns_per_tick;
        t.system_ns += p->stime * ns_per_tick;
        t.cpu_pct += p->cpu_pct;
        t.mem.rss += mem.rss;
        t.mem.vms += mem.vms;
        t.mem.swap += mem.swap;
        t.mem.shared += mem.shared;
        t.mem.data += mem.data;
        t.mem.stack += mem.stack;
        int fds = count_fds(m, pids[i]);
        t.fds += fds > 0 ? (uint32_t)fds : 0;
        add_io(m, pids[i], &t);
    }
    *ret = t;
    return 0;
}
