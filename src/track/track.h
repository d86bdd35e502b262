/* The registry of tracked processes: processes other tools started and registered with us
 * (running-process REGISTER), plus the detached daemons we start for them (SPAWN_DAEMON). Rows
 * live in SQLite and in memory; liveness is computed from /proc whenever someone asks.
 *
 * Identity: a pid alone means nothing once its process is gone (the kernel reuses it). At
 * registration we read the process's start time, and its parent's, from /proc; from then on a
 * pid whose start time differs is someone else: reported as reused, never signalled. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct store;
struct proc_reaper;
struct proc_env;
struct uv_loop_s;

struct track_proc {
    pid_t pid;                 /* the process */
    int64_t created_at_ms;     /* what the registrant said (ms since the epoch) */
    char *kind;                /* "subprocess", "pty"... */
    char *command;             /* command line, never empty */
    char *cwd;                 /* working directory, may be "" */
    char *originator;          /* "TOOL:PID" by convention, may be "" */
    char *containment;         /* "contained" or "detached" */
    double registered_at;      /* when we took it, seconds since the epoch */
    uint64_t start_ticks;      /* its /proc start time at registration, 0 if it was not running */
    pid_t ppid;                /* its parent then */
    uint64_t ppid_start_ticks; /* the parent's start time then */
};

enum track_state {
    TRACK_UNKNOWN, /* not looked at */
    TRACK_ALIVE,   /* running, same process as registered */
    TRACK_DEAD,    /* gone, or its pid now belongs to another process */
    TRACK_ZOMBIE,  /* exited, not yet reaped by its parent */
};

/* A row as seen now. */
struct track_view {
    const struct track_proc *p; /* the registration (valid until the next change) */
    enum track_state state;     /* from /proc */
    bool parent_alive;          /* the parent it had at registration still runs */
    double uptime_seconds;      /* now - registered_at */
    double validated_at;        /* when state was computed, seconds since the epoch */
};

enum track_verdict {
    TRACK_GONE,    /* "process N no longer exists" */
    TRACK_REUSED,  /* "PID N reused: ..."; never signalled */
    TRACK_ORPHAN,  /* "parent PID P of process N is dead"; SIGKILLed unless dry run */
    TRACK_DEFUNCT, /* a zombie: dead already, nothing to signal */
};

struct track_zombie {
    pid_t pid;                  /* the row's pid */
    char *command;              /* its command */
    char reason[160];           /* upstream's wording */
    bool killed;                /* signalled (or already gone) */
    enum track_verdict verdict; /* why */
};

struct track;

/* Loads the registry and drops rows whose process is gone or whose pid was reused since. The
 * periodic zombie pass (interval_ms; 0 disables it) runs only while the registry is non-empty. */
int track_new(struct uv_loop_s *loop, struct store *s, uint32_t interval_ms, struct track **ret);
void track_free(struct track *t);
size_t track_count(const struct track *t);
/* Registrations and their ends are told on bus from now on: "process.registered" and
 * "process.unregistered" (the row dropped: unregistered, replaced, or found gone), source
 * "processes", data pid, command and originator. NULL stops. */
struct ev_bus;
void track_set_bus(struct track *t, struct ev_bus *bus);

/* Adds or replaces (same pid: replaced, whatever created_at says) a registration. Fields are
 * copied; registered_at and the /proc identity are filled in here. -EINVAL for pid 0 or an
 * empty command. */
int track_register(struct track *t, const struct track_proc *p);
/* Removes the latest registration of pid; -ENOENT if there is none. */
int track_unregister(struct track *t, pid_t pid);
/* Removes the row only if it is still this registration (pid and created_at_ms). */
void track_unregister_exact(struct track *t, pid_t pid, int64_t created_at_ms);

/* Rows in registration order, optionally only those whose originator starts with prefix
 * ("tool:"). The caller frees *ret (not the rows). */
int track_list(struct track *t, const char *prefix, struct track_view **ret, size_t *ret_n);
/* Classifies every row; unless dry_run, SIGKILLs orphans and drops every classified row. The
 * caller frees with track_zombies_free. */
int track_zombies(struct track *t, bool dry_run, struct track_zombie **ret, size_t *ret_n);
void track_zombies_free(struct track_zombie *z, size_t n);

/* SPAWN_DAEMON: starts `/bin/sh -lc command` (trimmed) in its own session with null stdio and
 * env (to which RUNNING_PROCESS_ORIGINATOR and RUNNING_PROCESS_IS_DAEMON=1 are added), and
 * registers it (kind "subprocess", containment "detached") until it exits. It is not killed
 * when droverd stops. On success *ret holds a copy of the registration (free with
 * track_proc_done). */
int track_spawn_daemon(struct track *t, struct proc_reaper *r, const char *command, const char *cwd,
                       struct proc_env *env, const char *originator, struct track_proc *ret);
void track_proc_done(struct track_proc *p);
