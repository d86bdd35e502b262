/* What the files of src/proc share and nobody else sees: the child and reaper structs and the
 * cgroup helpers. */
#pragma once

#include "proc/proc.h"

enum cgroup_mode {
    CGROUP_NONE, /* no writable hierarchy: session membership stands in */
    CGROUP_V1,   /* a v1 hierarchy (pids): members are listed and killed one by one */
    CGROUP_V2,   /* the unified hierarchy: cgroup.kill where the kernel has it */
};

struct cgroup_root {
    enum cgroup_mode mode; /* what we use */
    char *base;            /* directory our per-tree groups live in (…/drover.<pid>) */
    bool has_kill;         /* v2 cgroup.kill exists */
    uint64_t seq;          /* names per-tree groups */
};

/* Finds a writable hierarchy and creates our base directory in it; mode NONE otherwise. Also
 * removes empty groups left by droverds that are gone. */
void cgroup_root_init(struct cgroup_root *cg);
/* Removes the base directory if it is empty. */
void cgroup_root_done(struct cgroup_root *cg);
/* Creates a group for one tree in dir (NULL: the base); returns its path and an open
 * cgroup.procs fd (CLOEXEC). */
int cgroup_create(struct cgroup_root *cg, const char *dir, char **ret_path, int *ret_procs_fd);
/* The instance's name as proc_set_instance hashed it ("" before). */
const char *cgroup_instance(void);
/* Our groups' base directory name: drover.<pid>.<instance>. */
void cgroup_base_name(char *buf, size_t size);
/* Our path in a hierarchy from /proc/self/cgroup: v2 (want NULL) or the v1 one holding
 * controller want. malloc'd, NULL when none. */
char *cgroup_own_path(const char *want);
/* fn for every tree group of the droverds that are gone, under parent (of our instance only,
 * unless any_instance: for removing empty groups, which are nobody's); their bases removed once
 * empty. */
void cgroup_each_stale(const char *parent, bool any_instance,
                       void (*fn)(const char *path, void *userdata), void *userdata);
/* Pids in the group (zombies included); the caller frees *ret. */
int cgroup_members(const char *path, pid_t **ret, size_t *ret_n);
/* SIGKILLs every member: cgroup.kill on v2, else one by one. Returns how many were signalled
 * one by one (cgroup.kill does not say: 0). */
int cgroup_kill(const struct cgroup_root *cg, const char *path);
/* Calls fn for each tree group under base (slices' included); removes emptied slices. */
void each_tree_group(const char *base, void (*fn)(const char *path, void *userdata),
                     void *userdata);
/* A number from dir/file (the value after "key " on its line when key is given); "max" and v1's
 * "no limit" (near 2^63) are 0. false when the file cannot be read (cgstat.c). */
bool cgroup_read_value(const char *dir, const char *file, const char *key, uint64_t *ret);
/* rmdir: -EBUSY while members remain. */
int cgroup_remove(const char *path);
/* The per-tree groups of droverds that are gone, but those keep() claims (adopted): every
 * member is reported and SIGKILLed, and the group removed (those still busy are listed in
 * *ret_busy, a strv). Returns how many processes were killed. */
int cgroup_sweep_strays(struct cgroup_root *cg, bool (*keep)(const char *path, void *userdata),
                        void (*report)(const char *path, pid_t pid, void *userdata), void *userdata,
                        char ***ret_busy);

/* Resource controllers (limits.c). */
enum { RES_MEMORY, RES_CPU, RES_PIDS, RES_N };

struct res_root {
    bool probed;         /* found once, at the first use */
    bool in_tree[RES_N]; /* the controller is in the hierarchy of our tree groups */
    char *v1[RES_N];     /* else our base in its own v1 hierarchy, or NULL: not available */
    uint64_t seq;        /* names leaves there */
};

/* A tree's leaves in the separate v1 hierarchies, being prepared: the child joins each. */
struct res_leaf {
    char *path[RES_N]; /* the leaf, or NULL */
    int fd[RES_N];     /* its cgroup.procs, -1 */
};

/* Slice and leaves for a spawn: the directory the tree group goes in (a slice's, NULL: the
 * base) and the v1 leaves with their limits set. -EOPNOTSUPP for a limit no controller can
 * hold. */
int res_prepare(struct proc_reaper *r, const char *slice, const struct proc_limits *l,
                char **ret_tree_dir, struct res_leaf *ret);
/* Closes the descriptors; with remove, removes the leaves and frees their paths. */
void res_leaf_done(struct res_leaf *leaf, bool remove);
bool res_available(struct proc_reaper *r, int i);
void res_root_done(struct proc_reaper *r);

struct proc_child {
    struct proc_reaper *reaper; /* owner */
    struct proc_child *next;    /* hash chain */
    pid_t pid;                  /* the child */
    int pidfd;                  /* signals go through it: a reused pid is never hit */
    uint64_t starttime;         /* /proc start ticks, the pid's other half of identity */
    pid_t session;              /* its session id if it got one of its own, else 0 */
    int status;                 /* exit code or -signal, once reaped */
    char *cgroup;               /* its tree's group, or NULL */
    proc_exit_fn on_exit;       /* NULL once forgotten */
    void *userdata;             /* for on_exit */
    uv_poll_t *watch;           /* its pidfd, readable once it exits; NULL: left to SIGCHLD */
    char *res[RES_N];           /* its leaves in separate v1 controller hierarchies, or NULL */
};

/* A group whose main process exited while others still ran in it (orphans). Removed when it
 * empties: we notice after the SIGCHLD its last orphan's death brings us, being their
 * subreaper. */
struct lingering {
    struct lingering *next; /* list */
    char *path;             /* the group */
};

struct proc_reaper {
    uv_loop_t *loop;             /* the loop */
    uv_signal_t sigchld;         /* SIGCHLD as a loop event: for orphans */
    uv_timer_t orphans;          /* the walk for them, a little after the first SIGCHLD */
    size_t n_blind;              /* children without a watched pidfd: SIGCHLD walks at once */
    struct proc_child **buckets; /* children by pid */
    size_t n_buckets;            /* a power of two */
    size_t n;                    /* children in the table */
    struct cgroup_root cg;       /* cgroups for spawned trees */
    struct lingering *lingering; /* groups waiting to empty */
    uv_timer_t sweep;            /* retries them while some remain (not every member is our
                                    child: an adopted tree's SIGCHLD goes elsewhere) */
    uint64_t sweep_ms;           /* the next retry's delay, doubling up to a second */
    unsigned open_handles;       /* while closing: the last close callback frees the reaper */
    struct proc_kill *kills;     /* kill-trees in progress, finished early by proc_reaper_free */
    struct res_root res;         /* resource controllers for limits */
};

/* Ends a kill-tree now, reporting what it achieved (proc_reaper_free). */
void kill_finish_now(struct proc_kill *k);

/* Frees a child that has ended (or that droverd lets go of): its pidfd, its group. */
void reaper_child_free(struct proc_child *c);

/* Records a group that could not be removed yet (takes path). */
void reaper_linger(struct proc_reaper *r, char *path);
/* Tries to remove the lingering groups. */
void reaper_sweep(struct proc_reaper *r);
int reaper_insert(struct proc_reaper *r, struct proc_child *c);
