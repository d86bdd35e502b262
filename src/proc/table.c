/* The process table: one pass over /proc reading each <pid>/stat, sorted by pid, with
 * parent/child links. Kill-tree, GET_PROCESS_TREE and the registry use it to see processes as a
 * forest. A process found with a parent that started after it is not that parent's child: the
 * parent's pid was reused, and linking them would make kill-tree kill a stranger. Processes that
 * vanish during the scan are simply missing. */
#include "proc/proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/macro.h"
#include "base/vec.h"

static int cmp_pid(const void *a, const void *b)
{
    const struct proc_entry *x = a, *y = b;
    return (x->pid > y->pid) - (x->pid < y->pid);
}

static bool all_digits(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

static int read_entry(int root_fd, const char *name, struct proc_entry *e)
{
    char path[32], buf[1024];
    struct proc_stat st;
    ssize_t n;

    snprintf(path, sizeof path, "%s/stat", name);
    _cleanup_close_ int fd = openat(root_fd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -errno;
    n = read(fd, buf, sizeof buf);
    if (n <= 0)
        return n < 0 ? -errno : -EINVAL;
    if (proc_stat_parse(buf, (size_t)n, &st) < 0)
        return -EINVAL;
    *e = (struct proc_entry){
        .pid = st.pid,
        .ppid = st.ppid,
        .pgrp = st.pgrp,
        .session = st.session,
        .starttime = st.starttime,
        .state = st.state,
        .parent = -1,
        .first_child = -1,
        .next_sibling = -1,
    };
    memcpy(e->comm, st.comm, sizeof e->comm);
    return 0;
}

/* Links children to parents. Walking entries in descending pid order and pushing each at the
 * head of its parent's list leaves every list in ascending pid order. */
static void link_entries(struct proc_table *t)
{
    for (size_t i = t->n; i-- > 0;) {
        struct proc_entry *e = &t->v[i];
        const struct proc_entry *p = e->ppid > 0 ? proc_table_find(t, e->ppid) : NULL;
        if (!p || p == e || e->starttime < p->starttime)
            continue;
        size_t pi = (size_t)(p - t->v);
        e->parent = (int32_t)pi;
        e->next_sibling = t->v[pi].first_child;
        t->v[pi].first_child = (int32_t)i;
    }
}

int proc_table_read(struct proc_table *t, const char *root)
{
    DIR *d = opendir(root ? root : "/proc");
    struct dirent *de;
    size_t cap = 256;

    *t = (struct proc_table){0};
    if (!d)
        return -errno;
    t->v = malloc(cap * sizeof *t->v);
    if (!t->v) {
        closedir(d);
        return -ENOMEM;
    }
    while ((de = readdir(d))) {
        if (!all_digits(de->d_name))
            continue;
        if (VEC_RESERVE(t->v, cap, t->n + 1) < 0) {
            closedir(d);
            proc_table_done(t);
            return -ENOMEM;
        }
        if (read_entry(dirfd(d), de->d_name, &t->v[t->n]) == 0)
            t->n++;
    }
    closedir(d);
    qsort(t->v, t->n, sizeof *t->v, cmp_pid);
    link_entries(t);
    return 0;
}

void proc_table_done(struct proc_table *t)
{
    free(t->v);
    *t = (struct proc_table){0};
}

const struct proc_entry *proc_table_find(const struct proc_table *t, pid_t pid)
{
    struct proc_entry key = {.pid = pid};
    return t->n ? bsearch(&key, t->v, t->n, sizeof key, cmp_pid) : NULL;
}

/* Post-order walk without recursion (a hostile tree can be deep): children are listed before
 * their parent, so signalling in list order kills leaves first. */
int proc_table_descendants(const struct proc_table *t, size_t root, int32_t **ret, size_t *ret_n)
{
    int32_t *out = malloc((t->n ? t->n : 1) * sizeof *out);
    size_t n = 0;

    if (!out)
        return -ENOMEM;
    int32_t cur = t->v[root].first_child;
    /* Links come from a file system a test may forge: a cycle must not loop forever. */
    size_t steps = 0, max_steps = 2 * t->n + 2;
    while (cur >= 0 && steps++ < max_steps && n < t->n) {
        /* Go down to the deepest first child. */
        while (t->v[cur].first_child >= 0 && steps++ < max_steps)
            cur = t->v[cur].first_child;
        /* Emit it, then move to its next sibling, or climb, emitting each parent on the way. */
        while (n < t->n && steps++ < max_steps) {
            out[n++] = cur;
            if (t->v[cur].next_sibling >= 0) {
                cur = t->v[cur].next_sibling;
                break;
            }
            cur = t->v[cur].parent;
            if (cur == (int32_t)root) {
                cur = -1;
                break;
            }
        }
    }
    *ret = out;
    *ret_n = n;
    return 0;
}
