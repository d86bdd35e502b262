/* Cgroups for process trees droverd spawns, so that kill-tree reaches a double-forked orphan
 * that escaped its parent: it cannot leave its cgroup. Each spawned tree gets a group
 * <own cgroup>/drover.<pid>/t<seq>; the child joins it before exec.
 *
 * The unified hierarchy (v2, pure or the hybrid "unified" mount) is preferred for cgroup.kill,
 * which kills every member atomically. A v1 "pids" hierarchy works too: members are listed and
 * killed one by one, again on each kill-tree tick until none is left. Without a writable
 * hierarchy (an unprivileged user without delegation) the mode is NONE and kill-tree falls back
 * to session membership. No controllers are enabled: we only need membership. */
#include "proc/proc-internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/macro.h"
#include "base/strv.h"
#include "base/vec.h"

#define CGROUP_FS "/sys/fs/cgroup"

/* Our own path in a hierarchy, from /proc/self/cgroup: "0::/path" for v2, or the line whose
 * controller list holds want ("4:pids:/path") for v1. */
char *cgroup_own_path(const char *want)
{
    _cleanup_fclose_ FILE *f = fopen("/proc/self/cgroup", "re");
    char line[4096];

    while (f && fgets(line, sizeof line, f)) {
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c1 = *c2 = '\0';
        c2[1 + strcspn(c2 + 1, "\n")] = '\0';
        bool match = !want && strcmp(line, "0") == 0 && c1[1] == '\0';
        if (want) {
            for (char *tok = strtok(c1 + 1, ","); tok; tok = strtok(NULL, ","))
                if (strcmp(tok, want) == 0)
                    match = true;
        }
        if (match)
            return strdup(c2 + 1);
    }
    return NULL;
}

static bool exists(const char *dir, const char *file)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    return access(p, F_OK) == 0;
}

static bool pid_alive(pid_t pid)
{
    return kill(pid, 0) == 0 || errno == EPERM;
}

/* Calls fn for every per-tree group under base (t<n>, or l<n>: a tree's leaf in a separate v1
 * controller hierarchy, limits.c), those of its slices (s-<name>/...) included; a slice is
 * removed once its groups are. */
void each_tree_group(const char *base, void (*fn)(const char *path, void *userdata), void *userdata)
{
    DIR *sub = opendir(base);
    for (struct dirent *se; sub && (se = readdir(sub));) {
        char path[1400];
        snprintf(path, sizeof path, "%s/%s", base, se->d_name);
        if ((se->d_name[0] == 't' || se->d_name[0] == 'l') && se->d_type == DT_DIR) {
            fn(path, userdata);
        } else if (strncmp(se->d_name, "s-", 2) == 0 && se->d_type == DT_DIR) {
            each_tree_group(path, fn, userdata);
            (void)rmdir(path);
        }
    }
    if (sub)
        closedir(sub);
}

/* Which droverd this is: those that share a socket are one instance, each the successor of the
 * last. Its groups' base is drover.<pid>.<instance>: a droverd sweeps what its own
 * predecessors left, never the groups of another instance that crashed (whose successor will
 * adopt what still runs there). */
static char instance[17];

void proc_set_instance(const char *name)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)name; p && *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    snprintf(instance, sizeof instance, "%016llx", (unsigned long long)h);
}

const char *cgroup_instance(void)
{
    return instance;
}

void cgroup_base_name(char *buf, size_t size)
{
    if (instance[0])
        snprintf(buf, size, "drover.%d.%s", (int)getpid(), instance);
    else
        snprintf(buf, size, "drover.%d", (int)getpid());
}

/* Whether name is the base of a droverd that is gone: of our instance, or of any with
 * any_instance (a base without an instance, from a droverd that had none, is everyone's). */
static bool stale_base(const char *name, bool any_instance)
{
    int pid, end = 0;
    if (sscanf(name, "drover.%d%n", &pid, &end) != 1 || pid == getpid() || pid_alive(pid))
        return false;
    return any_instance || name[end] == '\0' ||
           (name[end] == '.' && strcmp(name + end + 1, instance) == 0);
}

/* Calls fn for every per-tree group of the droverds of our instance that are gone (a
 * drover.<pid>.<instance> directory under parent whose pid runs no more), then removes each
 * such base if it has emptied. */
void cgroup_each_stale(const char *parent, bool any_instance,
                       void (*fn)(const char *path, void *userdata), void *userdata)
{
    DIR *d = opendir(parent);

    for (struct dirent *de; d && (de = readdir(d));) {
        char base[1024];
        if (!stale_base(de->d_name, any_instance))
            continue;
        snprintf(base, sizeof base, "%s/%s", parent, de->d_name);
        each_tree_group(base, fn, userdata);
        (void)rmdir(base); /* only if every group in it is gone */
    }
    if (d)
        closedir(d);
}

static void remove_group(const char *path, void *userdata)
{
    (void)userdata;
    (void)rmdir(path); /* only an empty one: members may be adopted */
}

/* Removes empty per-tree groups, and the base, of droverds that are gone. */
static void sweep_stale(const char *parent)
{
    cgroup_each_stale(parent, true, remove_group, NULL); /* empty groups are nobody's */
}

/* Tries one hierarchy: mount point and our path in it. */
static bool try_root(struct cgroup_root *cg, enum cgroup_mode mode, const char *mount,
                     const char *own)
{
    char *parent = NULL;

    if (!own || asprintf(&parent, "%s%s", mount, strcmp(own, "/") ? own : "") < 0)
        return false;
    sweep_stale(parent);
    char name[64];
    cgroup_base_name(name, sizeof name);
    if (asprintf(&cg->base, "%s/%s", parent, name) < 0) {
        free(parent);
        cg->base = NULL;
        return false;
    }
    free(parent);
    if (mkdir(cg->base, 0755) < 0 && errno != EEXIST) {
        free(cg->base);
        cg->base = NULL;
        return false;
    }
    cg->mode = mode;
    cg->has_kill = mode == CGROUP_V2 && exists(cg->base, "cgroup.kill");
    return true;
}

void cgroup_root_init(struct cgroup_root *cg)
{
    *cg = (struct cgroup_root){.mode = CGROUP_NONE};
    /* DROVER_CGROUP=v1|none narrows the choice: tests use it to run each way on one host. */
    const char *want = getenv("DROVER_CGROUP");
    if (want && strcmp(want, "none") == 0)
        return;

    _cleanup_free_ char *v2 = cgroup_own_path(NULL);
    bool v2_ok = !want || strcmp(want, "v1") != 0;
    if (v2_ok && exists(CGROUP_FS, "cgroup.controllers") && try_root(cg, CGROUP_V2, CGROUP_FS, v2))
        return;
    if (v2_ok && exists(CGROUP_FS "/unified", "cgroup.controllers") &&
        try_root(cg, CGROUP_V2, CGROUP_FS "/unified", v2))
        return;
    _cleanup_free_ char *v1 = cgroup_own_path("pids");
    if (exists(CGROUP_FS "/pids", "cgroup.procs"))
        try_root(cg, CGROUP_V1, CGROUP_FS "/pids", v1);
}

void cgroup_root_done(struct cgroup_root *cg)
{
    /* A base still busy (a child group's release is asynchronous) is swept by the next
     * droverd: nothing here waits. */
    if (cg->base)
        (void)rmdir(cg->base);
    free(cg->base);
    *cg = (struct cgroup_root){0};
}

int cgroup_create(struct cgroup_root *cg, const char *dir, char **ret_path, int *ret_procs_fd)
{
    char *path, procs[1100];

    if (cg->mode == CGROUP_NONE)
        return -EOPNOTSUPP;
    /* A group of that name may be there already: after an upgrade in place droverd has the same
     * pid, and the trees its previous image spawned (adopted now) are in their groups. A tree
     * never joins another's group. */
    for (;;) {
        if (asprintf(&path, "%s/t%llu", dir ? dir : cg->base, (unsigned long long)++cg->seq) < 0)
            return -ENOMEM;
        if (mkdir(path, 0755) == 0)
            break;
        int r = -errno;
        free(path);
        if (r != -EEXIST)
            return r;
    }
    snprintf(procs, sizeof procs, "%s/cgroup.procs", path);
    int fd = open(procs, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        int r = -errno;
        (void)rmdir(path);
        free(path);
        return r;
    }
    *ret_path = path;
    *ret_procs_fd = fd;
    return 0;
}

int cgroup_members(const char *path, pid_t **ret, size_t *ret_n)
{
    char p[1100], buf[4096];
    size_t n = 0, cap = 16, have = 0;
    pid_t *v = malloc(cap * sizeof *v);
    ssize_t k;

    snprintf(p, sizeof p, "%s/cgroup.procs", path);
    _cleanup_close_ int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (!v || fd < 0) {
        int r = v ? -errno : -ENOMEM;
        free(v);
        return r;
    }
    /* One pid per line; a line cut by the buffer's end is carried over to the next read. */
    while ((k = read(fd, buf + have, sizeof buf - 1 - have)) > 0 || (k < 0 && errno == EINTR)) {
        if (k < 0)
            continue;
        have += (size_t)k;
        buf[have] = '\0';
        char *line = buf, *nl;
        while ((nl = strchr(line, '\n'))) {
            if (VEC_RESERVE(v, cap, n + 1) < 0) {
                free(v);
                return -ENOMEM;
            }
            v[n++] = (pid_t)strtol(line, NULL, 10);
            line = nl + 1;
        }
        have = (size_t)(buf + have - line);
        memmove(buf, line, have);
    }
    *ret = v;
    *ret_n = n;
    return 0;
}

int cgroup_kill(const struct cgroup_root *cg, const char *path)
{
    char p[1100];
    pid_t *pids = NULL;
    size_t n = 0;
    int signalled = 0;

    if (cg->has_kill) {
        snprintf(p, sizeof p, "%s/cgroup.kill", path);
        _cleanup_close_ int fd = open(p, O_WRONLY | O_CLOEXEC);
        if (fd >= 0 && write(fd, "1", 1) == 1)
            return 0;
    }
    int r = cgroup_members(path, &pids, &n);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++)
        if (kill(pids[i], SIGKILL) == 0)
            signalled++;
    free(pids);
    return signalled;
}

struct strays {
    struct cgroup_root *cg;                      /* for cgroup_kill */
    bool (*keep)(const char *, void *);          /* groups claimed (adopted) */
    void (*report)(const char *, pid_t, void *); /* told of each process killed */
    void *userdata;                              /* their argument */
    char **busy;                                 /* groups still emptying */
    size_t n_busy;                               /* their number */
    int killed;                                  /* processes killed */
};

static void kill_stray_group(const char *path, void *userdata)
{
    struct strays *x = userdata;
    pid_t *pids = NULL;
    size_t n = 0;

    if ((x->keep && x->keep(path, x->userdata)) || cgroup_members(path, &pids, &n) < 0)
        return;
    for (size_t i = 0; i < n; i++, x->killed++)
        if (x->report)
            x->report(path, pids[i], x->userdata);
    free(pids);
    if (n)
        (void)cgroup_kill(x->cg, path);
    if (cgroup_remove(path) < 0) { /* members still dying: removed once empty */
        char *p = strdup(path);
        if (p)
            (void)strv_push(&x->busy, &x->n_busy, p);
    }
}

int cgroup_sweep_strays(struct cgroup_root *cg, bool (*keep)(const char *path, void *userdata),
                        void (*report)(const char *path, pid_t pid, void *userdata), void *userdata,
                        char ***ret_busy)
{
    _cleanup_free_ char *parent = cg->base ? strdup(cg->base) : NULL;
    char *slash = parent ? strrchr(parent, '/') : NULL;
    struct strays x = {cg, keep, report, userdata, NULL, 0, 0};

    if (!slash)
        return cg->base ? -ENOMEM : 0;
    *slash = '\0';
    cgroup_each_stale(parent, false, kill_stray_group, &x);
    *ret_busy = x.busy;
    return x.killed;
}

int cgroup_remove(const char *path)
{
    return rmdir(path) < 0 ? -errno : 0;
}
