/* The process core: /proc readers, the process table, spawning, reaping and kill-tree.
 *
 * Parsers are pure (buffer in, struct out) so they can be fuzzed and tested on hostile input;
 * readers open the file and call them. Spawning is our own fork/exec (PTYs, sessions, cgroups,
 * an exec-error pipe); the reaper owns SIGCHLD and waitpid(-1); kill-tree runs on timers and never
 * blocks the loop. Nothing here logs above debug or knows which API asked. */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <uv.h>

/* ---- /proc parsers ------------------------------------------------------------------------ */

#define PROC_COMM_MAX 64 /* the kernel's comm is 16 bytes; room for what a hostile file holds */

struct proc_statm {
    uint64_t size;     /* total program size, pages */
    uint64_t resident; /* resident set, pages */
    uint64_t shared;   /* resident shared (file-backed) pages */
    uint64_t text;     /* code pages */
    uint64_t data;     /* data + stack pages */
};

/* /proc/PID/stat. comm may hold spaces and parentheses: it runs from the first '(' to the last
 * ')'. Times are clock ticks; starttime counts from boot. */
struct proc_stat {
    pid_t pid;                /* field 1 */
    char comm[PROC_COMM_MAX]; /* field 2, without the parentheses, truncated to fit */
    char state;               /* R, S, D, Z, T, t, X, I... */
    pid_t ppid;               /* parent */
    pid_t pgrp;               /* process group */
    pid_t session;            /* session id */
    int tty_nr;               /* controlling terminal, 0 if none */
    pid_t tpgid;              /* foreground process group of that terminal, -1 if none */
    uint64_t minflt, majflt;  /* page faults */
    uint64_t utime, stime;    /* CPU time in user and kernel mode, ticks */
    int64_t cutime, cstime;   /* waited-for children's CPU time, ticks */
    int64_t priority, nice;   /* scheduling */
    int64_t num_threads;      /* threads */
    uint64_t starttime;       /* start, ticks after boot */
    uint64_t vsize;           /* virtual memory, bytes */
    int64_t rss;              /* resident set, pages; approximate (statm is exact) */
    int processor;            /* CPU last run on */
};

/* /proc/PID/status: the fields stat lacks. */
struct proc_status {
    char name[PROC_COMM_MAX]; /* Name, with the kernel's escapes left as they are */
    char state;               /* State letter */
    pid_t tgid, ppid;         /* Tgid, PPid */
    uid_t ruid, euid;         /* Uid: real, effective */
    gid_t rgid, egid;         /* Gid: real, effective */
    uint64_t vm_size_kb;      /* VmSize (absent for kernel threads: 0) */
    uint64_t vm_rss_kb;       /* VmRSS (absent for kernel threads: 0) */
    uint64_t vm_swap_kb;      /* VmSwap */
    uint64_t rss_shmem_kb;    /* RssShmem + RssFile: resident shared */
    uint64_t vm_data_kb;      /* VmData */
    uint64_t vm_stk_kb;       /* VmStk */
    uint32_t threads;         /* Threads */
    uint64_t vol_ctxt;        /* voluntary_ctxt_switches */
    uint64_t nonvol_ctxt;     /* nonvoluntary_ctxt_switches */
};

/* /proc/PID/io. */
struct proc_io {
    uint64_t rchar, wchar;            /* bytes through read/write-like calls */
    uint64_t syscr, syscw;            /* read/write syscalls */
    uint64_t read_bytes, write_bytes; /* bytes that reached the storage layer */
    uint64_t cancelled_write_bytes;   /* written, then truncated away */
};

/* Each returns 0 or -EINVAL when the buffer is not the file it claims to be. */
int proc_statm_parse(const char *buf, size_t len, struct proc_statm *ret);
int proc_stat_parse(const char *buf, size_t len, struct proc_stat *ret);
int proc_status_parse(const char *buf, size_t len, struct proc_status *ret);
int proc_io_parse(const char *buf, size_t len, struct proc_io *ret);
/* /proc/stat's "btime" line: boot time in seconds since the epoch. */
int proc_btime_parse(const char *buf, size_t len, uint64_t *ret);
/* NUL-separated argv into one string joined by spaces (trailing NULs dropped), truncated to
 * fit out (always terminated). Returns the length written; 0 for an empty cmdline (a kernel
 * thread or a zombie). */
size_t proc_cmdline_join(const char *buf, size_t len, char *out, size_t out_size);

/* Reads what fd has, up to size - 1 bytes, into buf and terminates it: the length, or -errno
 * (-ESRCH when the process behind a /proc file went meanwhile). once: stop after one read(2),
 * for files procfs renders whole in one pass. */
ssize_t proc_read_fd(int fd, char *buf, size_t size, bool once);
/* Readers: 0, or -ENOENT/-ESRCH when the process is gone, -EACCES, -EINVAL... pid 0 is us. */
int proc_read_stat(pid_t pid, struct proc_stat *ret);
int proc_read_status(pid_t pid, struct proc_status *ret);
int proc_read_io(pid_t pid, struct proc_io *ret);
int proc_read_cmdline(pid_t pid, char *out, size_t out_size);
/* Resident set size of pid (0: ourselves) in bytes. */
int proc_rss_bytes(pid_t pid, uint64_t *ret_bytes);

/* Start time (stat's starttime ticks) as milliseconds since the epoch. */
uint64_t proc_ticks_to_epoch_ms(uint64_t starttime);
/* Clock ticks per second (sysconf(_SC_CLK_TCK)). */
unsigned proc_ticks_per_second(void);

/* ---- the process table -------------------------------------------------------------------- */

struct proc_entry {
    pid_t pid;                /* process id */
    pid_t ppid;               /* parent */
    pid_t pgrp;               /* process group */
    pid_t session;            /* session */
    uint64_t starttime;       /* start, ticks after boot: with pid, the process's identity */
    char state;               /* stat's state letter */
    char comm[PROC_COMM_MAX]; /* short name */
    int32_t parent;           /* index of the parent entry, -1 if not in the table */
    int32_t first_child;      /* index of the first child (lowest pid), -1 if none */
    int32_t next_sibling;     /* index of the next child of the same parent, -1 at the end */
};

/* A snapshot of every process, sorted by pid, with parent/child links. A child is linked to its
 * parent only if it started no earlier than the parent: a pid reused after the real parent died
 * is not mistaken for it. */
struct proc_table {
    struct proc_entry *v; /* entries sorted by pid */
    size_t n;             /* number of entries */
};

/* Scans /proc (root: "/proc", or another directory holding <pid>/stat files, for tests). */
int proc_table_read(struct proc_table *t, const char *root);
void proc_table_done(struct proc_table *t);
const struct proc_entry *proc_table_find(const struct proc_table *t, pid_t pid);
/* Indices of the descendants of the entry at index root, deepest first (children before their
 * parents), root excluded. The caller frees *ret. */
int proc_table_descendants(const struct proc_table *t, size_t root, int32_t **ret, size_t *ret_n);

/* ---- environment -------------------------------------------------------------------------- */

enum proc_env_policy {
    PROC_ENV_INHERIT,       /* droverd's own environment */
    PROC_ENV_USER_BASELINE, /* a login-like baseline built from the user's passwd entry */
    PROC_ENV_CLEAR,         /* nothing */
};

/* An environment being built: NAME=value strings, in insertion order, one per name. */
struct proc_env {
    char **v;   /* "NAME=value", NULL-terminated once v is non-NULL */
    size_t n;   /* entries */
    size_t cap; /* allocated slots, the terminator included */
};

/* Starts from a policy; base is the environment INHERIT copies and USER_BASELINE borrows LANG,
 * TZ, TMPDIR, XDG_RUNTIME_DIR and LC_* from (normally environ). */
int proc_env_init(struct proc_env *e, enum proc_env_policy policy, char *const *base);
/* Sets name to value; an existing entry keeps its place and takes the new value (last wins). */
int proc_env_set(struct proc_env *e, const char *name, const char *value);
int proc_env_unset(struct proc_env *e, const char *name);
const char *proc_env_get(const struct proc_env *e, const char *name);
void proc_env_done(struct proc_env *e);

/* ---- spawning ----------------------------------------------------------------------------- */

enum proc_stdio {
    PROC_STDIO_NULL,    /* /dev/null */
    PROC_STDIO_PIPE,    /* a pipe; droverd keeps the other end */
    PROC_STDIO_PTY,     /* the PTY slave (all three streams share it) */
    PROC_STDIO_INHERIT, /* droverd's own */
    PROC_STDIO_FD,      /* a file descriptor the caller supplies */
    PROC_STDIO_MERGE,   /* stderr only: wherever stdout goes (2>&1) */
};

enum proc_group {
    PROC_GROUP_SESSION, /* setsid(): a new session and process group (the default) */
    PROC_GROUP_PGRP,    /* a new process group in droverd's session */
    PROC_GROUP_NONE,    /* droverd's own group */
};

#define PROC_RLIMITS_MAX 8

/* Limits a cgroup controller enforces on a tree, or on a slice of trees; 0 is none. */
struct proc_limits {
    uint64_t memory_max; /* bytes: the OOM killer acts past it */
    uint32_t cpu_pct;    /* percent of one CPU (CFS bandwidth over 100 ms) */
    uint32_t pids_max;   /* processes and threads */
};

struct proc_spawn_opts {
    char *const *argv;        /* program and arguments; argv[0] is looked up in PATH */
    const char *cwd;          /* working directory, or NULL */
    char *const *envp;        /* environment (proc_env.v); NULL: an empty one */
    enum proc_stdio stdio[3]; /* stdin, stdout, stderr (PTY applies to all three) */
    int fd[3];                /* for PROC_STDIO_FD */
    enum proc_group group;    /* session or process group */
    uint16_t rows, cols;      /* PTY window size; 0 means 24x80 */
    uid_t uid;                /* with set_ids: the user to become */
    gid_t gid;                /* with set_ids: the group to become */
    bool set_ids;             /* change identity (needs privilege) */
    int umask;                /* -1 keeps droverd's */
    struct {
        int resource;      /* RLIMIT_* */
        struct rlimit lim; /* soft and hard */
    } rlimits[PROC_RLIMITS_MAX];
    size_t n_rlimits;  /* entries used */
    bool cgroup;       /* put the child in a cgroup of its own, if cgroups are writable */
    const char *slice; /* with cgroup: the named slice its group goes in, or NULL */
    const struct proc_limits *limits; /* with cgroup: limits of its own group, or NULL */
};

struct proc_reaper;
/* Creates the slice if needed and sets its limits (what every tree in it shares). -EINVAL for
 * a bad name, -EOPNOTSUPP for a limit this host's cgroups cannot hold. */
int proc_slice_limits(struct proc_reaper *r, const char *slice, const struct proc_limits *l);
/* How each controller is reached: "memory:v1 cpu:v1 pids:v2" (v2, v1 or none). */
void proc_reaper_limits_mode(struct proc_reaper *r, char *buf, size_t size);

/* Raises our soft RLIMIT_NOFILE to the hard limit (as systemd does for itself: a supervisor holds
 * many descriptors), and remembers the soft limit as it was: every child spawned from then on
 * gets it back, so each program sees what it would have seen without droverd (select() breaks
 * past 1024). *ret_old and *ret_new say what the limit was and is. */
int proc_raise_nofile(struct rlimit *ret_old, struct rlimit *ret_new);

struct proc_child;
/* The status of a process that ended but was not droverd's child (adopted after droverd
 * restarted): its real parent reaped it, and the kernel tells nobody else how it ended. */
#define PROC_EXIT_UNKNOWN INT_MIN
/* The child ended: status is the exit code, -signal, or PROC_EXIT_UNKNOWN. The child is freed
 * after this returns. */
typedef void (*proc_exit_fn)(struct proc_child *c, int status, void *userdata);

/* What a spawn gives back besides the child. */
struct proc_spawn_io {
    int fd[3]; /* droverd's ends of PIPE stdio (-1 otherwise); the PTY master is fd[0] */
};

struct proc_reaper;

/* Forks and execs. On success the child is registered with the reaper and on_exit will run once
 * it has been waited for. A program that cannot be executed is an error here (-ENOENT for a
 * missing program, -EACCES, ...), never a child that exits 127. */
int proc_spawn(struct proc_reaper *r, const struct proc_spawn_opts *o, proc_exit_fn on_exit,
               void *userdata, struct proc_spawn_io *ret_io, struct proc_child **ret);

/* Takes charge of a process droverd did not spawn, or spawned before it restarted: the one with
 * this pid and /proc start time (and, with cgroup, a member of that group, which becomes its
 * tree's group). It is watched through a pidfd: on_exit runs with PROC_EXIT_UNKNOWN when it
 * ends, unless it is droverd's child after all (then its status is collected). -ESRCH when no
 * such process runs (gone, or the pid reused), -EXDEV when it runs outside that group. */
int proc_adopt(struct proc_reaper *r, pid_t pid, uint64_t starttime, const char *cgroup,
               proc_exit_fn on_exit, void *userdata, struct proc_child **ret);

pid_t proc_child_pid(const struct proc_child *c);
/* The child's tree's group (its path), or NULL without one. */
const char *proc_child_cgroup(const struct proc_child *c);
uint64_t proc_child_starttime(const struct proc_child *c);
/* Signals the child through its pidfd: never a stranger who got the pid after the child died.
 * -ESRCH once it is gone. */
int proc_child_signal(struct proc_child *c, int sig);
/* SIGKILLs what is left of the child's tree: its cgroup's members, or without a cgroup the
 * members of its session. Meant for on_exit, when the main process has gone and orphans may
 * remain. Returns how many were signalled one by one (cgroup.kill does not say), or -errno. */
int proc_child_kill_remains(struct proc_child *c);
/* The processes of the child's tree: its cgroup's members, else its session's, else it and its
 * descendants. The caller frees *ret. */
int proc_child_members(struct proc_child *c, pid_t **ret, size_t *ret_n);
/* New limits for the child's own group (0: none); -EOPNOTSUPP when it was spawned without a
 * group for one of them, -EBUSY when memory in use is above a new v1 limit. */
int proc_child_set_limits(struct proc_child *c, const struct proc_limits *l);
/* What its memory group says: usage, peak, OOM kills. -EOPNOTSUPP without one. */
struct proc_res_usage {
    uint64_t memory_current, memory_peak; /* bytes */
    uint64_t oom_kills;                   /* processes the OOM killer took from it */
};
int proc_child_usage(struct proc_child *c, struct proc_res_usage *ret);
/* Freezes (or thaws) the child's tree: the cgroup v2 freezer when its group has one
 * (*ret_freezer true), else SIGSTOP/SIGCONT to each member. */
int proc_child_freeze(struct proc_child *c, bool frozen, bool *ret_freezer);
/* Stops reporting to on_exit: the child runs on, and is reaped silently when it ends. */
void proc_child_forget(struct proc_child *c);

/* ---- reaping ------------------------------------------------------------------------------ */

/* Names this droverd's instance (its socket path): the droverds that share it succeed one
 * another, and a droverd sweeps the cgroups only its own predecessors left, never those of
 * another instance. Call it before proc_reaper_new. */
void proc_set_instance(const char *name);
/* Makes droverd a child subreaper and reaps every child on SIGCHLD, owned or re-parented. */
int proc_reaper_new(uv_loop_t *loop, struct proc_reaper **ret);
/* Closes the signal handle; children still running are forgotten (they outlive droverd). */
void proc_reaper_free(struct proc_reaper *r);
/* Children spawned and alive. */
size_t proc_reaper_count(const struct proc_reaper *r);
/* The child with this pid, if droverd spawned it and it is alive. */
struct proc_child *proc_reaper_find(struct proc_reaper *r, pid_t pid);
/* Kills what runs in the tree groups of droverds that are gone and that no child droverd has
 * (spawned or adopted with proc_adopt) claims: processes a crashed droverd spawned but never
 * recorded, or whose service is gone. Call it once the recorded instances are adopted. Each
 * process is reported before it is killed; returns how many were killed. */
int proc_reaper_kill_strays(struct proc_reaper *r,
                            void (*report)(const char *group, pid_t pid, void *userdata),
                            void *userdata);
/* Processes that escaped a tree droverd stopped (escape.c): droverd's orphans (it is their
 * subreaper) that it did not spawn, outside the tree's session and not in exclude, started at
 * or after since_ticks, whose stdout or stderr is one of the files; and their descendants. */
struct proc_escape_query {
    uint64_t since_ticks; /* the tree's start */
    pid_t session;        /* the tree's own session: its members are not escapees */
    const pid_t *exclude; /* the tree's cgroup members (killed, maybe not dead yet) */
    size_t n_exclude;     /* their number */
    struct {
        dev_t dev;  /* device */
        ino_t ino;  /* inode */
    } files[2];     /* what an escapee still writes to */
    size_t n_files; /* entries used */
};
/* Writes at most max pids into ret; returns how many there are (perhaps more than max). */
size_t proc_find_escapees(struct proc_reaper *r, const struct proc_escape_query *q, pid_t *ret,
                          size_t max);
/* Whether droverd runs spawned trees in cgroups, and which kind ("v2", "v1", or "none"). */
const char *proc_reaper_cgroup_mode(const struct proc_reaper *r);

/* ---- groups an OCI runtime makes (cgstat.c) ------------------------------------------------ */

/* How the host mounts its cgroups. HYBRID: v1 controllers with a unified hierarchy beside them
 * (*ret_unified_controllers says whether that one holds any controller: crun refuses such a
 * host). */
enum proc_cgroup_layout {
    PROC_CGROUP_NONE,
    PROC_CGROUP_V1,
    PROC_CGROUP_V2,
    PROC_CGROUP_HYBRID,
};
enum proc_cgroup_layout proc_cgroup_layout(bool *ret_unified_controllers);
/* The instance's tag (proc_set_instance's hash), for names of groups outside our base. */
const char *proc_instance(void);

/* What the controllers of the group at rel (relative to droverd's own group, in each
 * hierarchy: where a runtime droverd runs puts a relative cgroupsPath) say. A v1 controller's
 * own hierarchy is preferred to the unified one. Limits: 0 is none. -ENOENT when no hierarchy
 * has the group. */
struct proc_group_stats {
    bool has_memory, has_cpu, has_pids;               /* which controllers answered */
    uint64_t memory_current, memory_peak, memory_max; /* bytes */
    uint64_t oom_kills;                               /* the OOM killer's kills in it */
    uint64_t cpu_usage_ns;                            /* CPU time used */
    uint64_t pids_current, pids_max;                  /* processes and threads */
};
int proc_group_stats(const char *rel, struct proc_group_stats *ret);
/* The processes in the group at rel (zombies included); the caller frees *ret. -ENOENT when no
 * hierarchy has it. */
int proc_group_members(const char *rel, pid_t **ret, size_t *ret_n);
/* Removes the group at rel and its parents up to our own group, in every hierarchy, where they
 * are empty (a runtime removes only its leaf). */
void proc_group_prune(const char *rel);

/* ---- kill-tree ---------------------------------------------------------------------------- */

struct proc_kill;
/* Done: killed is how many distinct processes were signalled, survivors how many are still
 * there (0 unless the timeout passed). */
typedef void (*proc_kill_fn)(uint32_t killed, uint32_t survivors, void *userdata);

/* SIGKILLs pid and every descendant (by ppid, with the start-time guard), deepest first, and
 * again every few milliseconds until none is left or timeout_ms passes. If droverd spawned pid,
 * the members of its cgroup (or, without cgroups, of its session) die too: orphans that escaped
 * their parent included. A pid that is not running finishes at once with killed = 0. done runs
 * from the loop, never inside this call, exactly once (proc_reaper_free ends kills early). */
int proc_kill_tree(struct proc_reaper *r, pid_t pid, uint32_t timeout_ms, proc_kill_fn done,
                   void *userdata, struct proc_kill **ret);

/* ---- the end of a PID namespace (sweep.c) ------------------------------------------------- */

/* For droverd as PID 1, after its loop has ended: every other process of the namespace gets
 * SIGTERM and grace_ms to exit, then SIGKILL; all are reaped. *ret_killed is how many had to be
 * SIGKILLed. -EPERM when not PID 1 (nothing is signalled); -ETIMEDOUT when some were still
 * there 5 s after SIGKILL. Blocks: not for a running loop. */
int proc_sweep_namespace(uint32_t grace_ms, unsigned *ret_killed);
