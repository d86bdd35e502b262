/* What a stop leaves running. Without a cgroup, a process that starts a session of its own
 * (setsid after a double fork) has left the tree droverd can see: a stop neither signals nor
 * kills it, and droverd, its subreaper, inherits it. Such a process is found by what it still
 * holds: its owner's files (a service's log files) as its stdout or stderr. Processes on their
 * way out (a SIGKILL pending, or exiting) are left out: the stop may have killed them a moment
 * ago. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proc/proc-internal.h"

/* /proc/PID/file into buf, terminated: its length, or -errno (the process is gone). */
static ssize_t read_proc(pid_t pid, const char *file, char *buf, size_t size)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, file);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = proc_read_fd(fd, buf, size, true);
    close(fd);
    return n;
}

static bool kill_pending(const char *status, const char *key)
{
    const char *p = strstr(status, key);
    return p && strtoull(p + strlen(key), NULL, 16) & (1ull << (SIGKILL - 1));
}

/* On its way out: a SIGKILL pending, or exiting already (PF_EXITING in stat's flags). The stop
 * may have killed it a moment ago, which makes it no survivor. */
static bool dying(pid_t pid)
{
    char buf[4096], *p;
    unsigned flags;

    if (read_proc(pid, "status", buf, sizeof buf) <= 0 || kill_pending(buf, "\nSigPnd:") ||
        kill_pending(buf, "\nShdPnd:") || read_proc(pid, "stat", buf, sizeof buf) <= 0)
        return true;
    p = strrchr(buf, ')');
    return !p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %u", &flags) != 1 || (flags & 0x4);
}

/* Whether pid's stdout or stderr is one of the files. */
static bool writes_to(pid_t pid, const struct proc_escape_query *q)
{
    for (int fd = 1; fd <= 2; fd++) {
        char path[64];
        struct stat st;
        snprintf(path, sizeof path, "/proc/%d/fd/%d", (int)pid, fd);
        if (stat(path, &st) < 0)
            continue;
        for (size_t i = 0; i < q->n_files; i++)
            if (st.st_dev == q->files[i].dev && st.st_ino == q->files[i].ino)
                return true;
    }
    return false;
}

struct found {
    pid_t *v;   /* the caller's array */
    size_t max; /* its room */
    size_t n;   /* how many found (may pass max) */
};

static void add(struct found *f, const struct proc_entry *p)
{
    if (p->state == 'Z' || dying(p->pid))
        return;
    if (f->n < f->max)
        f->v[f->n] = p->pid;
    f->n++;
}

static bool listed(const pid_t *v, size_t n, pid_t pid)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == pid)
            return true;
    return false;
}

size_t proc_find_escapees(struct proc_reaper *r, const struct proc_escape_query *q, pid_t *ret,
                          size_t max)
{
    struct found f = {ret, max, 0};
    struct proc_table tab;

    if (!q->n_files || proc_table_read(&tab, NULL) < 0)
        return 0;
    for (size_t i = 0; i < tab.n; i++) {
        const struct proc_entry *p = &tab.v[i];
        int32_t *d;
        size_t nd;
        if (p->ppid != getpid() || p->session == q->session || p->starttime < q->since_ticks ||
            proc_reaper_find(r, p->pid) || listed(q->exclude, q->n_exclude, p->pid) ||
            !writes_to(p->pid, q))
            continue;
        add(&f, p);
        if (proc_table_descendants(&tab, i, &d, &nd) < 0)
            continue;
        for (size_t k = 0; k < nd; k++)
            add(&f, &tab.v[d[k]]);
        free(d);
    }
    proc_table_done(&tab);
    return f.n;
}
