/* Resource limits on spawned trees: memory, CPU and process count, enforced by the kernel's
 * cgroup controllers, on a tree's own group and on a named slice that holds several trees (a
 * Stratavore project: the sum of its runners).
 *
 * Each controller is found once, where this host has it:
 *   - in the hierarchy of our tree groups (cgroup v2 with the controller delegated to us, or v1
 *     pids when the tree groups are v1 pids groups): a slice is the directory s-<name> under our
 *     base, a limited tree's group is created inside it, the limits go in the same directories;
 *   - else in its own v1 hierarchy (/sys/fs/cgroup/memory, cpu, pids: hybrid hosts like this
 *     one): droverd makes a parallel tree of groups there (…/drover.<pid>/s-<name>/t<n>) and the
 *     child joins each before exec, beside its tree group.
 * A limit asked for a controller the host does not give us is -EOPNOTSUPP: never a limit that
 * only looks set. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/macro.h"
#include "proc/proc-internal.h"

static const char *const res_name[RES_N] = {"memory", "cpu", "pids"};

static int write_file(const char *dir, const char *file, const char *value)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    int fd = open(p, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = write(fd, value, strlen(value));
    int e = n == (ssize_t)strlen(value) ? 0 : n < 0 ? -errno : -EIO;
    close(fd);
    return e;
}

static bool has_word(const char *dir, const char *file, const char *word)
{
    char p[PATH_MAX], buf[512];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    for (char *save, *t = strtok_r(buf, " \n", &save); t; t = strtok_r(NULL, " \n", &save))
        if (strcmp(t, word) == 0)
            return true;
    return false;
}

static void remove_empty(const char *path, void *userdata)
{
    (void)userdata;
    (void)rmdir(path);
}

/* Finds each controller (once). */
static void probe(struct proc_reaper *r)
{
    struct res_root *x = &r->res;
    if (x->probed)
        return;
    x->probed = true;
    for (int i = 0; i < RES_N; i++) {
        if (r->cg.mode == CGROUP_V2 && has_word(r->cg.base, "cgroup.controllers", res_name[i])) {
            char plus[16];
            snprintf(plus, sizeof plus, "+%s", res_name[i]);
            x->in_tree[i] = write_file(r->cg.base, "cgroup.subtree_control", plus) == 0;
            if (x->in_tree[i])
                continue;
        }
        if (r->cg.mode == CGROUP_V1 && i == RES_PIDS) { /* our tree groups are pids groups */
            x->in_tree[i] = true;
            continue;
        }
        char mount[64], *own = cgroup_own_path(res_name[i]), *parent = NULL;
        snprintf(mount, sizeof mount, "/sys/fs/cgroup/%s", res_name[i]);
        if (own && access(mount, F_OK) == 0 &&
            asprintf(&parent, "%s%s", mount, strcmp(own, "/") ? own : "") >= 0) {
            cgroup_each_stale(parent, true, remove_empty, NULL);
            char name[64];
            cgroup_base_name(name, sizeof name);
            if (asprintf(&x->v1[i], "%s/%s", parent, name) < 0)
                x->v1[i] = NULL;
            else if (mkdir(x->v1[i], 0755) < 0 && errno != EEXIST) {
                free(x->v1[i]);
                x->v1[i] = NULL;
            }
        }
        free(parent);
        free(own);
    }
}

void res_root_done(struct proc_reaper *r)
{
    for (int i = 0; i < RES_N; i++) {
        if (r->res.v1[i]) {
            each_tree_group(r->res.v1[i], remove_empty, NULL);
            (void)rmdir(r->res.v1[i]);
        }
        free(r->res.v1[i]);
    }
    if (r->cg.base) { /* our slices in the tree hierarchy, once their trees are gone */
        DIR *d = opendir(r->cg.base);
        for (struct dirent *de; d && (de = readdir(d));)
            if (strncmp(de->d_name, "s-", 2) == 0) {
                char p[PATH_MAX];
                snprintf(p, sizeof p, "%s/%s", r->cg.base, de->d_name);
                (void)rmdir(p);
            }
        if (d)
            closedir(d);
    }
    r->res = (struct res_root){0};
}

bool res_available(struct proc_reaper *r, int i)
{
    probe(r);
    return r->res.in_tree[i] || r->res.v1[i];
}

/* ---- values ---- */

static bool v2_files(const struct proc_reaper *r, int i)
{
    return r->res.in_tree[i] && r->cg.mode == CGROUP_V2;
}

/* Writes the limit of controller i (0: none) into the group dir. */
static int set_one(const struct proc_reaper *r, int i, const char *dir, const struct proc_limits *l)
{
    char v[64];
    bool v2 = v2_files(r, i);
    switch (i) {
    case RES_MEMORY:
        if (l->memory_max)
            snprintf(v, sizeof v, "%llu", (unsigned long long)l->memory_max);
        else
            snprintf(v, sizeof v, v2 ? "max" : "-1");
        return write_file(dir, v2 ? "memory.max" : "memory.limit_in_bytes", v);
    case RES_CPU:
        if (v2) {
            if (l->cpu_pct)
                snprintf(v, sizeof v, "%u 100000", l->cpu_pct * 1000u);
            else
                snprintf(v, sizeof v, "max 100000");
            return write_file(dir, "cpu.max", v);
        }
        (void)write_file(dir, "cpu.cfs_period_us", "100000");
        snprintf(v, sizeof v, "%lld", l->cpu_pct ? (long long)l->cpu_pct * 1000 : -1ll);
        return write_file(dir, "cpu.cfs_quota_us", v);
    default:
        if (l->pids_max)
            snprintf(v, sizeof v, "%u", l->pids_max);
        else
            snprintf(v, sizeof v, "max");
        return write_file(dir, "pids.max", v);
    }
}

static bool wants(const struct proc_limits *l, int i)
{
    return i == RES_MEMORY ? l->memory_max != 0 : i == RES_CPU ? l->cpu_pct != 0 : l->pids_max != 0;
}

/* Every controller l sets must be there. */
static int check(struct proc_reaper *r, const struct proc_limits *l)
{
    for (int i = 0; l && i < RES_N; i++)
        if (wants(l, i) && !res_available(r, i))
            return -EOPNOTSUPP;
    return 0;
}

/* Sets every controller's limit in the groups paths[i] (NULL: none there). */
static int set_all(const struct proc_reaper *r, char *const paths[RES_N],
                   const struct proc_limits *l)
{
    static const struct proc_limits none;
    for (int i = 0; i < RES_N; i++) {
        if (!paths[i])
            continue;
        int e = set_one(r, i, paths[i], l ? l : &none);
        if (e < 0 && (l && wants(l, i)))
            return e;
    }
    return 0;
}

/* ---- slices ---- */

static bool slice_name_ok(const char *name)
{
    if (!name || !*name || strlen(name) > 128 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return false;
    for (const char *p = name; *p; p++)
        if (*p == '/' || *p == '\n')
            return false;
    return true;
}

/* The slice's directory in each place a controller lives (made if missing): paths[i] for
 * controller i, and its directory in the tree hierarchy in *ret_tree_dir. */
static int slice_dirs(struct proc_reaper *r, const char *name, char *paths[RES_N],
                      char **ret_tree_dir)
{
    char *tree = NULL;
    memset(paths, 0, RES_N * sizeof *paths);
    if (!slice_name_ok(name))
        return -EINVAL;
    probe(r);
    if (r->cg.base) {
        if (asprintf(&tree, "%s/s-%s", r->cg.base, name) < 0)
            return -ENOMEM;
        if (mkdir(tree, 0755) < 0 && errno != EEXIST) {
            int e = -errno;
            free(tree);
            return e;
        }
        if (r->cg.mode == CGROUP_V2)
            for (int i = 0; i < RES_N; i++)
                if (r->res.in_tree[i]) {
                    char plus[16];
                    snprintf(plus, sizeof plus, "+%s", res_name[i]);
                    (void)write_file(tree, "cgroup.subtree_control", plus);
                }
    }
    for (int i = 0; i < RES_N; i++) {
        if (r->res.in_tree[i] && tree) {
            paths[i] = strdup(tree);
        } else if (r->res.v1[i]) {
            if (asprintf(&paths[i], "%s/s-%s", r->res.v1[i], name) < 0)
                paths[i] = NULL;
            else if (mkdir(paths[i], 0755) < 0 && errno != EEXIST) {
                free(paths[i]);
                paths[i] = NULL;
            }
        }
    }
    *ret_tree_dir = tree;
    return 0;
}

static void free_paths(char *paths[RES_N])
{
    for (int i = 0; i < RES_N; i++) {
        free(paths[i]);
        paths[i] = NULL;
    }
}

int proc_slice_limits(struct proc_reaper *r, const char *slice, const struct proc_limits *l)
{
    char *paths[RES_N], *tree = NULL;
    int e = check(r, l);
    if (e < 0)
        return e;
    if ((e = slice_dirs(r, slice, paths, &tree)) < 0)
        return e;
    e = set_all(r, paths, l);
    free_paths(paths);
    free(tree);
    return e;
}

/* ---- a tree's own groups ---- */

int res_prepare(struct proc_reaper *r, const char *slice, const struct proc_limits *l,
                char **ret_tree_dir, struct res_leaf *ret)
{
    char *paths[RES_N] = {0};
    int e;

    *ret = (struct res_leaf){.fd = {-1, -1, -1}};
    *ret_tree_dir = NULL;
    if ((e = check(r, l)) < 0)
        return e;
    if (!slice && !l)
        return 0;
    probe(r);
    if (slice && (e = slice_dirs(r, slice, paths, ret_tree_dir)) < 0)
        return e;
    /* Leaves in the separate v1 hierarchies, named like the tree group will be. */
    for (int i = 0; i < RES_N; i++) {
        if (!r->res.v1[i] || r->res.in_tree[i])
            continue;
        char procs[PATH_MAX];
        if (asprintf(&ret->path[i], "%s/l%llu", paths[i] ? paths[i] : r->res.v1[i],
                     (unsigned long long)++r->res.seq) < 0) {
            ret->path[i] = NULL;
            e = -ENOMEM;
            break;
        }
        if (mkdir(ret->path[i], 0755) < 0 && errno != EEXIST) {
            e = -errno;
            break;
        }
        snprintf(procs, sizeof procs, "%s/cgroup.procs", ret->path[i]);
        if ((ret->fd[i] = open(procs, O_WRONLY | O_CLOEXEC)) < 0) {
            e = -errno;
            break;
        }
    }
    free_paths(paths);
    if (e >= 0 && l)
        e = set_all(r, ret->path, l);
    if (e < 0) {
        res_leaf_done(ret, true);
        free(*ret_tree_dir);
        *ret_tree_dir = NULL;
    }
    return e;
}

void res_leaf_done(struct res_leaf *leaf, bool remove)
{
    for (int i = 0; i < RES_N; i++) {
        if (leaf->fd[i] >= 0)
            close(leaf->fd[i]);
        leaf->fd[i] = -1;
        if (remove && leaf->path[i]) {
            (void)rmdir(leaf->path[i]);
            free(leaf->path[i]);
            leaf->path[i] = NULL;
        }
    }
}

/* The groups holding the child's limits: its own v1 leaves, and its tree group for the
 * controllers that live there. */
static void child_paths(const struct proc_child *c, char *paths[RES_N])
{
    for (int i = 0; i < RES_N; i++)
        paths[i] = c->res[i] ? c->res[i] : c->reaper->res.in_tree[i] ? c->cgroup : NULL;
}

int proc_child_set_limits(struct proc_child *c, const struct proc_limits *l)
{
    char *paths[RES_N];
    int e = check(c->reaper, l);
    if (e < 0)
        return e;
    child_paths(c, paths);
    for (int i = 0; l && i < RES_N; i++)
        if (wants(l, i) && !paths[i])
            return -EOPNOTSUPP; /* spawned without a group for it (no limits then) */
    return set_all(c->reaper, paths, l);
}

static uint64_t read_u64(const char *dir, const char *file, const char *key)
{
    uint64_t v = 0;
    return cgroup_read_value(dir, file, key, &v) ? v : 0;
}

int proc_child_usage(struct proc_child *c, struct proc_res_usage *ret)
{
    char *paths[RES_N];
    *ret = (struct proc_res_usage){0};
    child_paths(c, paths);
    const char *m = paths[RES_MEMORY];
    if (!m)
        return -EOPNOTSUPP;
    if (v2_files(c->reaper, RES_MEMORY)) {
        ret->memory_current = read_u64(m, "memory.current", NULL);
        ret->memory_peak = read_u64(m, "memory.peak", NULL);
        ret->oom_kills = read_u64(m, "memory.events", "oom_kill");
    } else {
        ret->memory_current = read_u64(m, "memory.usage_in_bytes", NULL);
        ret->memory_peak = read_u64(m, "memory.max_usage_in_bytes", NULL);
        ret->oom_kills = read_u64(m, "memory.oom_control", "oom_kill");
    }
    return 0;
}

void proc_reaper_limits_mode(struct proc_reaper *r, char *buf, size_t size)
{
    size_t o = 0;
    probe(r);
    buf[0] = '\0';
    for (int i = 0; i < RES_N && o < size; i++)
        o += (size_t)snprintf(buf + o, size - o, "%s%s:%s", i ? " " : "", res_name[i],
                              r->res.in_tree[i] ? (r->cg.mode == CGROUP_V2 ? "v2" : "v1")
                              : r->res.v1[i]    ? "v1"
                                                : "none");
}
