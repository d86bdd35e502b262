/* Groups another program makes for droverd: an OCI runtime puts each container in a group at a
 * path relative to its caller's group, in every hierarchy separately (v1 memory, cpuacct, pids,
 * the unified one). droverd reads what their controllers say without knowing which runtime
 * made them, and removes the parent directories the runtime leaves behind. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "proc/proc-internal.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

static bool is_cgroup2(const char *path)
{
    struct statfs sf;
    return statfs(path, &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC;
}

/* The unified hierarchy's mount point, or NULL. */
static const char *v2_mount(void)
{
    if (is_cgroup2("/sys/fs/cgroup"))
        return "/sys/fs/cgroup";
    if (is_cgroup2("/sys/fs/cgroup/unified"))
        return "/sys/fs/cgroup/unified";
    return NULL;
}

enum proc_cgroup_layout proc_cgroup_layout(bool *ret_unified_controllers)
{
    const char *v2 = v2_mount();
    bool controllers = false;

    if (v2) {
        char p[256], buf[256] = "";
        snprintf(p, sizeof p, "%s/cgroup.controllers", v2);
        int fd = open(p, O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
        if (fd >= 0)
            close(fd);
        controllers = n > 0 && strspn(buf, " \n") < (size_t)n;
    }
    if (ret_unified_controllers)
        *ret_unified_controllers = controllers;
    if (v2 && strcmp(v2, "/sys/fs/cgroup") == 0)
        return PROC_CGROUP_V2;
    if (access("/sys/fs/cgroup/pids", F_OK) == 0 || access("/sys/fs/cgroup/memory", F_OK) == 0)
        return v2 ? PROC_CGROUP_HYBRID : PROC_CGROUP_V1;
    return v2 ? PROC_CGROUP_V2 : PROC_CGROUP_NONE;
}

/* droverd's own directory in a hierarchy (mount + its path there), found once: it does not move
 * while it runs, and callers ask on every stats read and scrape. want: a v1 controller, or NULL
 * for the unified hierarchy; NULL when that hierarchy is not mounted. */
static const char *own_dir(const char *want)
{
    static struct {
        const char *want;
        char *dir;
    } known[16];
    static size_t n_known;

    for (size_t i = 0; i < n_known; i++)
        if (want ? known[i].want && strcmp(known[i].want, want) == 0 : !known[i].want)
            return known[i].dir;

    char mount[64], *own = NULL, *dir = NULL;
    const char *m = mount;
    if (want)
        snprintf(mount, sizeof mount, "/sys/fs/cgroup/%s", want);
    else
        m = v2_mount();
    if (m && !(want && (access(mount, F_OK) < 0 || is_cgroup2(mount))) &&
        (own = cgroup_own_path(want && strcmp(want, "systemd") == 0 ? "name=systemd" : want)) &&
        asprintf(&dir, "%s%s", m, strcmp(own, "/") ? own : "") < 0)
        dir = NULL;
    free(own);
    if (n_known < sizeof known / sizeof *known) { /* room for every hierarchy asked for */
        known[n_known].want = want;
        known[n_known++].dir = dir;
    }
    return dir;
}

/* rel's directory in a hierarchy, when it exists: droverd's own directory there + rel. */
static char *group_dir(const char *want, const char *rel)
{
    const char *own = own_dir(want);
    char *dir = NULL;

    if (own && asprintf(&dir, "%s/%s", own, rel) < 0)
        dir = NULL;
    if (dir && access(dir, F_OK) < 0) {
        free(dir);
        dir = NULL;
    }
    return dir;
}

/* A number from dir/file (the value after "key " on its line when key is given); "max" and
 * v1's "no limit" (near 2^63) are 0. false when the file cannot be read. */
bool cgroup_read_value(const char *dir, const char *file, const char *key, uint64_t *ret)
{
    char p[PATH_MAX], buf[4096];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    const char *v = buf;
    if (key) {
        size_t kl = strlen(key);
        for (v = buf; v; v = strchr(v, '\n') ? strchr(v, '\n') + 1 : NULL)
            if (strncmp(v, key, kl) == 0 && v[kl] == ' ')
                break;
        if (!v)
            return false;
        v += strlen(key) + 1;
    }
    uint64_t x = strncmp(v, "max", 3) == 0 ? 0 : strtoull(v, NULL, 10);
    *ret = x >= (1ull << 62) ? 0 : x;
    return true;
}

int proc_group_stats(const char *rel, struct proc_group_stats *ret)
{
    char *d;

    *ret = (struct proc_group_stats){0};
    if ((d = group_dir("memory", rel))) {
        ret->has_memory = cgroup_read_value(d, "memory.usage_in_bytes", NULL, &ret->memory_current);
        (void)cgroup_read_value(d, "memory.max_usage_in_bytes", NULL, &ret->memory_peak);
        (void)cgroup_read_value(d, "memory.limit_in_bytes", NULL, &ret->memory_max);
        (void)cgroup_read_value(d, "memory.oom_control", "oom_kill", &ret->oom_kills);
        free(d);
    }
    if ((d = group_dir("cpuacct", rel))) {
        ret->has_cpu = cgroup_read_value(d, "cpuacct.usage", NULL, &ret->cpu_usage_ns);
        free(d);
    }
    if ((d = group_dir("pids", rel))) {
        ret->has_pids = cgroup_read_value(d, "pids.current", NULL, &ret->pids_current);
        (void)cgroup_read_value(d, "pids.max", NULL, &ret->pids_max);
        free(d);
    }
    if ((d = group_dir(NULL, rel))) {
        if (!ret->has_memory &&
            (ret->has_memory = cgroup_read_value(d, "memory.current", NULL, &ret->memory_current))) {
            (void)cgroup_read_value(d, "memory.peak", NULL, &ret->memory_peak);
            (void)cgroup_read_value(d, "memory.max", NULL, &ret->memory_max);
            (void)cgroup_read_value(d, "memory.events", "oom_kill", &ret->oom_kills);
        }
        uint64_t us;
        if (!ret->has_cpu && (ret->has_cpu = cgroup_read_value(d, "cpu.stat", "usage_usec", &us)))
            ret->cpu_usage_ns = us * 1000;
        if (!ret->has_pids && (ret->has_pids = cgroup_read_value(d, "pids.current", NULL, &ret->pids_current)))
            (void)cgroup_read_value(d, "pids.max", NULL, &ret->pids_max);
        free(d);
    }
    return ret->has_memory || ret->has_cpu || ret->has_pids ? 0 : -ENOENT;
}

int proc_group_members(const char *rel, pid_t **ret, size_t *ret_n)
{
    static const char *const each[] = {"pids", NULL, "memory"}; /* NULL: the unified one */
    *ret = NULL;
    *ret_n = 0;
    for (size_t i = 0; i < sizeof each / sizeof *each; i++) {
        char *d = group_dir(each[i], rel);
        if (!d)
            continue;
        int r = cgroup_members(d, ret, ret_n);
        free(d);
        return r;
    }
    return -ENOENT;
}

void proc_group_prune(const char *rel)
{
    /* Every hierarchy a runtime makes groups in, and NULL: the unified one. */
    static const char *const each[] = {"memory", "cpu",       "cpuacct", "pids",
                                       "blkio",  "devices",   "freezer", "cpuset",
                                       "net_cls", "perf_event", "hugetlb", "systemd", NULL};
    char dir[PATH_MAX];

    for (size_t i = 0; i < sizeof each / sizeof *each; i++) {
        /* The leaf (if the runtime left it), then each parent, deepest first: rmdir removes
         * only what is empty. */
        snprintf(dir, sizeof dir, "%s", rel);
        for (;;) {
            char *d = group_dir(each[i], dir), *slash;
            if (d)
                (void)rmdir(d);
            free(d);
            if (!(slash = strrchr(dir, '/')) || slash == dir)
                break;
            *slash = '\0';
        }
    }
}

const char *proc_instance(void)
{
    return cgroup_instance();
}
