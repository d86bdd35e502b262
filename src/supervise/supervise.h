/* Services: programs droverd keeps running. Each service is driven by a table-driven state machine
 * (states × events, after s6-supervise): start, stop, restart with backoff, give up after
 * max_restarts. All waiting is timers; a crashed service with delay 0 is running again on the
 * next loop iteration.
 *
 * The engine knows plain C structs only. Faces (running-process SERVICE_*, drover.v1 Services,
 * YAML config) fill struct svc_config, applying their own defaults. */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

struct proc_reaper;

enum svc_restart {
    SVC_RESTART_ALWAYS,     /* after any exit that was not asked for */
    SVC_RESTART_ON_FAILURE, /* after a non-zero exit or a signal death */
    SVC_RESTART_NEVER,      /* never */
};

enum svc_probe_kind {
    SVC_PROBE_EXEC, /* a command that exits 0 */
    SVC_PROBE_TCP,  /* a connection that opens */
    SVC_PROBE_HTTP, /* a GET that answers the expected status */
};

struct svc_probe {
    char *name;                 /* a label for people ("listener http", a health_checks name) */
    enum svc_probe_kind kind;   /* what to check */
    char **argv;                /* exec: the command, NULL-terminated */
    char *host;                 /* tcp, http: a numeric address or "localhost" */
    uint16_t port;              /* tcp, http */
    char *path;                 /* http: "/" by default */
    char *method;               /* http: "GET" by default */
    uint32_t status;            /* http: the expected status; 0: any 2xx or 3xx */
    uint32_t interval_ms;       /* between checks */
    uint32_t timeout_ms;        /* of one check */
    uint32_t failure_threshold; /* failures in a row that restart the service */
    uint32_t success_threshold; /* successes in a row that make it healthy again; 0 means 1 */
};

/* A service whose program runs in a container of an OCI image (the image: key). Its command,
 * when given, replaces the image's; the rest of the service (restart policy, probes,
 * dependencies, logs) is as for any service. The daemon's container manager builds the
 * container (svc_engine_set_container). */
struct svc_container {
    char *image;       /* NULL: the service is a plain program */
    uint64_t memory;   /* bytes; 0: none */
    uint32_t cpu_pct;  /* percent of one CPU; 0: none */
    uint32_t pids;     /* processes and threads; 0: none */
    bool read_only;    /* a read-only root (a tmpfs on /tmp) */
    bool host_network; /* the host's network; else a namespace with only lo */
    char **volumes;    /* "SRC:DST[:ro]" (SRC absolute: a bind; else a named volume), or NULL */
};

struct svc_config {
    char *name;                    /* unique; [A-Za-z0-9._-] is kept as is in log file names */
    char **argv;                   /* program and arguments, NULL-terminated */
    char *cwd;                     /* working directory, or NULL */
    char **env;                    /* "NAME=value" entries layered on the policy, NULL-terminated */
    bool clear_env;                /* start from an empty environment, not droverd's */
    enum svc_restart restart;      /* restart policy */
    uint32_t max_restarts;         /* consecutive restarts before errored; 0 = unlimited */
    uint32_t restart_delay_ms;     /* first backoff delay; doubles per consecutive restart */
    uint32_t restart_delay_max_ms; /* backoff cap */
    uint32_t min_uptime_ms;        /* a run this long resets the consecutive-restart count */
    uint32_t kill_timeout_ms;      /* stop signal → this long → SIGKILL of the whole tree */
    int stop_signal;               /* SIGTERM by default */
    bool oneshot;                  /* runs once to completion; exit 0 is success, not a crash */
    bool autostart;                /* started with droverd (the engine itself ignores it) */
    bool from_config;              /* defined by the YAML file: a reload may change or remove it */
    char **depends_on;        /* names of services that must be online first, NULL-terminated */
    struct svc_probe *probes; /* health probes: healthy when every one is */
    size_t n_probes;          /* their number */
    bool set_ids;             /* run as uid/gid (needs privilege) */
    uid_t uid;                /* with set_ids */
    gid_t gid;                /* with set_ids */
    bool set_umask;           /* apply umask (otherwise droverd's own is kept) */
    unsigned umask;           /* with set_umask: the file mode creation mask */
    uint64_t log_max_bytes;   /* rotate a log file past this size; 0: never */
    uint32_t log_keep;        /* rotated files kept (path.1 ... path.N); 0 means 5 */
    uint32_t log_max_age_s;   /* rotated files older than this are removed; 0: kept by count */
    char *log_file[2]; /* stdout, stderr log paths; NULL: <log_dir>/<name>-out.log, -err.log */
    struct svc_container ctr; /* with ctr.image: argv may be empty (the image's command) */
};

enum svc_state {
    SVC_STOPPED,  /* not running, not wanted */
    SVC_STARTING, /* wanted; waiting to be spawned */
    SVC_ONLINE,   /* running */
    SVC_STOPPING, /* stop signal sent; waiting for the exit (then SIGKILL after kill_timeout) */
    SVC_BACKOFF,  /* crashed, or a spawn failed for now; waiting before the next start */
    SVC_ERRORED,  /* gave up: a spawn failed for good, or max_restarts consecutive restarts */
    SVC_N_STATES,
};

#define SVC_SURVIVORS_MAX 32 /* survivors listed by pid */

struct svc_status {
    enum svc_state state;    /* where the machine is */
    pid_t pid;               /* the main process while online or stopping, else 0 */
    uint32_t restarts;       /* consecutive restarts (reset after min_uptime) */
    uint32_t restarts_total; /* every restart since the service was defined */
    double last_started_at;  /* seconds since the epoch, 0 if never */
    double last_exited_at;   /* seconds since the epoch, 0 if never */
    int last_exit;           /* exit code, or -signal */
    int last_error;          /* -errno of the last failed spawn, 0 once one succeeds */
    uint64_t start_ticks;    /* the main process's /proc start time, with pid its identity */
    char reason[96];         /* why it is errored when errno alone does not say (dependencies) */
    bool probed;             /* it has health probes */
    bool healthy;            /* with probes: each one's last checks succeeded */
    bool wanted;             /* the user wants it up (it may not be yet, or be restarting) */
    /* Processes that left the service's tree (a new session without a cgroup to hold them) and
     * still ran when its last stop ended: found by the log files they write to. */
    uint32_t survivors;                     /* how many; cleared when the next stop begins */
    pid_t survivor_pids[SVC_SURVIVORS_MAX]; /* the first of them */
};

/* last_exit of an instance droverd adopted after restarting: it was not droverd's child, so how
 * it ended is not known (its real parent reaped it). */
#define SVC_EXIT_UNKNOWN      INT_MIN
#define SVC_EXIT_UNKNOWN_TEXT "exit status unknown: it ended while droverd had adopted it"

struct svc;
struct svc_engine;

/* Something changed about svc: its definition, state, pid or counters; or it was removed. */
typedef void (*svc_change_fn)(struct svc *s, void *userdata);
/* svc settled: it is neither starting nor stopping (also called when it is freed). */
typedef void (*svc_settled_fn)(struct svc *s, void *userdata);

/* log_dir receives <name>-out.log and <name>-err.log (created if missing). */
int svc_engine_new(uv_loop_t *loop, struct proc_reaper *r, const char *log_dir,
                   svc_change_fn on_change, void *userdata, struct svc_engine **ret);
/* How often log sizes are checked while a service with log_max_bytes runs (default 10 s). */
void svc_engine_set_rotate_interval(struct svc_engine *e, uint32_t ms);
/* How services with an image run: prepare builds a run's container and gives the command that
 * runs it in the foreground (a malloc'd strv; -errno with err filled when it cannot: no
 * runtime, no such image); release lets it go once that command ended. Without it, such a
 * service fails to start with -EOPNOTSUPP. */
struct svc_container_ops {
    int (*prepare)(void *userdata, uint32_t id, const struct svc_config *c, char ***ret_argv,
                   char *err, size_t err_size);
    void (*release)(void *userdata, uint32_t id);
};
void svc_engine_set_container(struct svc_engine *e, const struct svc_container_ops *ops,
                              void *userdata);
/* Stops every service (dependents first, else in reverse order of definition) and calls done
 * when all are stopped. */
void svc_engine_shutdown(struct svc_engine *e, void (*done)(void *userdata), void *userdata);
/* During a shutdown: SIGKILLs every service's process tree now, without waiting for dependents
 * or kill timeouts (a stop's grace ran out). */
void svc_engine_kill_all(struct svc_engine *e);
/* Whether the shutdown had to SIGKILL anything (a kill_timeout or svc_engine_kill_all). */
bool svc_engine_forced(const struct svc_engine *e);
/* Frees the engine; services still running are left running. */
void svc_engine_free(struct svc_engine *e);

/* Defines a service (the config is copied) with id (0: the next free one). -EEXIST if the name
 * or id is taken, -EINVAL for a bad config. The service starts stopped. */
int svc_add(struct svc_engine *e, uint32_t id, const struct svc_config *c, struct svc **ret);
/* Adds the service, or replaces the definition of the one with that name (its id kept) if it is
 * not running (-EBUSY otherwise). */
int svc_define(struct svc_engine *e, uint32_t id, const struct svc_config *c, struct svc **ret);
/* Stop signals by name ("TERM", "SIGINT") or number; -1 for anything else. */
int svc_signal_from_name(const char *name);
/* The name of a stop signal ("TERM" for one without a name here). */
const char *svc_signal_name(int sig);
/* Frees what a definition owns (as svc_add copies it, or a reader builds it). */
void svc_config_done(struct svc_config *c);
/* svc_config_done on each of n definitions, then free(v). */
void svc_configs_free(struct svc_config *v, size_t n);
/* Frees what a probe owns (not the struct). */
void svc_probe_done(struct svc_probe *p);
/* Frees an array of n probes and what they own. */
void svc_probes_free(struct svc_probe *v, size_t n);
/* Compares two definitions. */
bool svc_config_equal(const struct svc_config *a, const struct svc_config *b);
/* Replaces the definition; a running service is restarted with it (the new definition takes
 * effect when the old process has stopped). */
int svc_redefine(struct svc *s, const struct svc_config *c);
/* Replaces the definition of a service that is not running (-EBUSY otherwise); same name. */
int svc_set_config(struct svc *s, const struct svc_config *c);
/* Stops and forgets it; the struct goes once it is stopped. */
void svc_remove(struct svc *s);
struct svc *svc_find(struct svc_engine *e, const char *name);
struct svc *svc_find_id(struct svc_engine *e, uint32_t id);
uint32_t svc_id(const struct svc *s);
/* Takes charge of the instance that was (a droverd that restarted found it in the database):
 * the process with was->pid and was->start_ticks (and in cgroup, when one is given) becomes the
 * service's main process, ONLINE, as if droverd had spawned it at was->last_started_at. Its
 * exit, when it comes, has an unknown status (SVC_EXIT_UNKNOWN) and the restart policy takes it
 * as a failure. -ESRCH when that process is gone or its pid was reused, -EXDEV when it runs but
 * outside its group, -EBUSY unless the service is stopped. */
int svc_adopt(struct svc *s, const struct svc_status *was, const char *cgroup);
/* The tree group of its running instance, or NULL. */
const char *svc_cgroup(const struct svc *s);
/* Whether its main process runs (online, or stopping). */
bool svc_running(const struct svc *s);
/* svc_remove was called: the on_change that says so is the last one. */
bool svc_is_removed(const struct svc *s);
/* Services in definition order; NULL past the end. */
struct svc *svc_at(struct svc_engine *e, size_t i);
size_t svc_count(const struct svc_engine *e);

/* Wants the service up: spawns now (or when a stop in progress ends). The consecutive-restart
 * count starts over. */
void svc_start(struct svc *s);
/* Wants it down: stop signal, then SIGKILL of the whole tree after kill_timeout. */
void svc_stop(struct svc *s);
/* Stop, then start again. */
void svc_restart(struct svc *s);
/* Calls fn once the service is settled (online, stopped, backoff or errored): at once if it
 * is. For answering a stop or restart when it is done. */
int svc_on_settled(struct svc *s, svc_settled_fn fn, void *userdata);
/* All of v settled: v holds those still defined (one deleted meanwhile is left out), or is NULL
 * when that list could not be made (out of memory). */
typedef void (*svc_all_settled_fn)(struct svc **v, size_t n, void *userdata);
/* Calls fn once every service of v has settled (at once, if they all have): for answering a
 * stop, restart or delete of several services when they are all done. */
int svc_when_settled(struct svc_engine *e, struct svc *const *v, size_t n, svc_all_settled_fn fn,
                     void *userdata);

const char *svc_name(const struct svc *s);
const struct svc_config *svc_get_config(const struct svc *s);
void svc_get_status(const struct svc *s, struct svc_status *ret);
const char *svc_state_name(enum svc_state st);
/* What a running service's tree uses now. */
struct svc_usage {
    uint32_t processes; /* live processes in its tree */
    uint64_t rss_bytes; /* their resident memory */
    double cpu_seconds; /* their CPU time (user + system) */
};
/* Zeros when it is not running. One measurement serves every caller for 500 ms. */
int svc_usage(struct svc *s, struct svc_usage *ret);
/* The processes of its tree, none when it is not running; *ret freed by the caller. */
int svc_members(struct svc *s, pid_t **ret, size_t *ret_n);
/* Running, and passing its probes if it has any (usage.c). */
bool svc_healthy(const struct svc_status *st);
struct metrics;
struct metrics_tree;
/* Its tree (cgroup or session members) added up by the metrics engine; zeros when it is not
 * running. With usage, CPU % comes from a process snapshot no older than max_age_ms. */
int svc_tree(struct svc *s, struct metrics *m, bool usage, uint32_t max_age_ms,
             struct metrics_tree *ret);

struct svc_watch;
/* Another observer of every change (the engine's own on_change comes first). */
struct svc_watch *svc_engine_watch(struct svc_engine *e, svc_change_fn fn, void *userdata);
void svc_engine_unwatch(struct svc_watch *w);

/* The stdout and stderr log paths. */
const char *svc_log_path(const struct svc *s, int stream);

/* ---- operations (ops.c): what every face calls, each -errno with one meaning ----
 *
 *   -ENOENT  the target names no service          -EEXIST  a service of that name runs
 *   -EINVAL  a definition that cannot run         -EBUSY   it belongs to droverd's configuration
 *   -ENOSPC, -EIO  the change cannot be recorded (see durability below); nothing changed
 *   another -errno: the spawn failed at once (-ENOENT: no such program); the service is ERRORED
 *   (a transient failure, -EMFILE, -ENOMEM, -EAGAIN..., is no error: the service waits in
 *   BACKOFF with last_error set, and its restart policy retries)
 *
 * why (may be NULL) gets a sentence for people naming the service or the bad value. */

/* The services a target names: "all" (when all_ok), else an id, else an exact name. -ENOENT
 * when it names none (also "all" with no service defined), -ENOMEM; *ret (an array the caller
 * frees) and *ret_n are written only on success. */
int svc_resolve(struct svc_engine *e, const char *target, bool all_ok, struct svc ***ret,
                size_t *ret_n);
/* The one service a target (an id, else a name) names; -ENOENT. */
int svc_resolve_one(struct svc_engine *e, const char *target, struct svc **ret);
/* Defines c (a new service, or a new definition of a stopped one, its id kept) and starts it:
 * -EINVAL (no name, no command, a bad value), -EEXIST when a service of that name runs, or the
 * spawn's -errno (*ret is then set: the service is defined, and ERRORED). */
int svc_start_config(struct svc_engine *e, const struct svc_config *c, struct svc **ret, char *why,
                     size_t why_size);
/* Starts the defined service target names: -ENOENT, -EEXIST when it runs, or the spawn's
 * -errno (*ret set). */
int svc_start_target(struct svc_engine *e, const char *target, struct svc **ret, char *why,
                     size_t why_size);

enum svc_act {
    SVC_ACT_STOP,    /* stop signal, then SIGKILL of the tree after kill_timeout */
    SVC_ACT_RESTART, /* stop, then start again */
    SVC_ACT_DELETE,  /* stop, then forget (after fn has run) */
};
/* Every service acted on has settled: v holds those still defined (NULL when that list could
 * not be made), n_running how many of all those targeted ran when asked. */
typedef void (*svc_acted_fn)(struct svc **v, size_t n, size_t n_running, void *userdata);
/* Acts on the services target names ("all" allowed) and calls fn once they have all settled
 * (perhaps at once). -ENOENT, -ENOMEM; fn is then never called. */
int svc_act(struct svc_engine *e, const char *target, enum svc_act act, svc_acted_fn fn,
            void *userdata, char *why, size_t why_size);
/* Empties both log files of the services target names ("all" allowed): -ENOENT. *ret (freed by
 * the caller) lists them. */
int svc_flush(struct svc_engine *e, const char *target, struct svc ***ret, size_t *ret_n, char *why,
              size_t why_size);

/* Where svc_save writes and svc_resurrect reads (SVC_SNAPSHOT_FILE in the working directory
 * until set). */
int svc_engine_set_snapshot_path(struct svc_engine *e, const char *path);
const char *svc_engine_snapshot_path(const struct svc_engine *e);
/* svc_snapshot_save and svc_snapshot_load at that path: -ENOENT (no snapshot), -EINVAL (not a
 * version 1 snapshot), or what the file system says. */
int svc_save(struct svc_engine *e, size_t *ret_n, char *why, size_t why_size);
int svc_resurrect(struct svc_engine *e, size_t *ret_n, char *why, size_t why_size);

/* What applying the configuration's services did. */
struct svc_apply_counts {
    unsigned added, changed, removed, unchanged; /* services */
};
/* One definition could not be applied (the others were). */
typedef void (*svc_apply_failed_fn)(const char *name, int r, void *userdata);
/* The configuration's services (droverd's start and every reload): new ones defined and
 * started when autostart, changed ones redefined (a running one restarts with its new
 * definition), ones that came from the configuration and are no longer listed stopped and
 * removed, the rest left alone. The persist hook's -errno when what it would change cannot be
 * recorded: nothing is changed then. */
int svc_apply_config(struct svc_engine *e, const struct svc_config *v, size_t n,
                     svc_apply_failed_fn failed, void *userdata, struct svc_apply_counts *ret);
/* A file's services (drover start FILE), whole or not at all: -EBUSY if one of them belongs to
 * droverd's configuration; new ones defined, changed running ones redefined (restarted),
 * identical running ones left alone, every one not running started. *ret (freed by the caller)
 * lists them in file order. */
int svc_apply_file(struct svc_engine *e, const struct svc_config *v, size_t n, struct svc ***ret,
                   char *why, size_t why_size);

/* ---- persistence (svc-db.c): definitions and status in the services table ---- */

struct store;
struct svc_db;

/* A row as stored. */
struct svc_db_row {
    uint32_t id;           /* the service's id */
    struct svc_config cfg; /* its definition (strings owned by the row) */
    enum svc_state state;  /* the state last recorded */
    struct svc_status st;  /* the status last recorded (wanted: what the user wants) */
    const char *cgroup;    /* the recorded instance's tree group, or "" */
};

int svc_db_new(struct store *st, struct svc_db **ret);
void svc_db_free(struct svc_db *db);
/* Calls fn for every row, by id; a negative return stops the walk and is returned. */
int svc_db_load(struct svc_db *db, int (*fn)(const struct svc_db_row *row, void *userdata),
                void *userdata);
/* Brings one row back at droverd's start (restore.c): the service defined with the row's id and
 * history; the recorded instance adopted if it still runs (stopped if the row wants it down);
 * *ret_start says whether it must be started once every row is in (wanted up, not adopted).
 * Nothing is written back: the caller's change observer should not record rows until every
 * row is reconciled, so that a crash meanwhile finds the table as it was. */
int svc_restore(struct svc_engine *e, const struct svc_db_row *row, struct svc **ret,
                bool *ret_start);
/* "online", "stopped", "errored" or "starting": running-process's words for a state. */
const char *svc_status_word(enum svc_state st);

/* ---- probes as JSON (probe-json.c): the database's and the snapshot's form ---- */

typedef struct json_t json_t;
/* A new JSON array, or NULL when memory ran out. */
json_t *svc_probes_to_json(const struct svc_probe *v, size_t n);
/* The probes of a JSON array (NULL: none); *ret is an array (freed with svc_probe_done on each
 * entry and free) even when empty. -EINVAL for anything malformed. */
int svc_probes_from_json(json_t *a, struct svc_probe **ret, size_t *ret_n);

/* ---- snapshots (snapshot.c): running-process's services.snapshot.json, version 1 ---- */

#define SVC_SNAPSHOT_FILE "services.snapshot.json" /* beside the database, as upstream */

/* Writes every service's definition and status, atomically (temporary file, fsync, rename). */
int svc_snapshot_save(struct svc_engine *e, const char *path, size_t *ret_count);
/* Defines (keeping ids) every service in the snapshot that is not running now, and starts those
 * that were online. -ENOENT without a file, -EINVAL for one that is not version 1. */
int svc_snapshot_load(struct svc_engine *e, const char *path, size_t *ret_restored);

/* ---- log files (logs.c) ---- */

/* The last `lines` lines of a file (an unterminated last line counts), reading at most max bytes
 * from its end. NULL with *ret_len 0 for a missing file. */
char *svc_log_tail(const char *path, uint32_t lines, size_t max, size_t *ret_len);
/* When path is larger than max: path.N becomes path.N+1 (path.keep is dropped) and the live file's
 * beginning moves to path.1. Lossless where the file system can collapse a range (ext4, xfs);
 * elsewhere copy-then-truncate, which can lose what is written in the instant between. Returns
 * 1 if it rotated, 0 if there was nothing to do. */
int svc_log_rotate(const char *path, uint64_t max, uint32_t keep);
/* Removes path.1 ... path.keep last modified more than max_age_s seconds ago. */
void svc_log_prune(const char *path, uint32_t keep, uint32_t max_age_s);
/* The same from an open file, as it was up to offset end (a follower goes on from there). */
char *svc_log_tail_fd(int fd, uint64_t end, uint32_t lines, size_t max, size_t *ret_len);

/* ---- configuration files (conf.c, conf-drover.c, conf-superviz.c): services in YAML ---- */

/* The services of a YAML file, in drover's keys or superviz's (see conf.c). The readers take a
 * base/yaml.h reader positioned after a top-level key and read its value; errors are "FILE:LINE:
 * ..." in the reader's err (-EINVAL), and warnings go to its warn hook. */
struct yaml_reader;

/* What a file's top-level `logging:` gives the services that set no log rotation of their own. */
struct svc_log_defaults {
    uint64_t max_bytes; /* rotate past this size; 0: never */
    uint32_t keep;      /* rotated files kept; 0 means 5 */
    uint32_t max_age_s; /* rotated files older than this are removed; 0: kept by count */
};

/* Reads the value of `services:` (its key on line), a list of services; on success the list in
 * *services (n_services long) is freed and replaced. Their log rotation stays unset until
 * svc_conf_apply_log_defaults. */
int svc_conf_read_services(struct yaml_reader *rd, size_t line, const char *dir,
                           struct svc_config **services, size_t *n_services);
/* Reads the value of the top-level `logging:` (superviz's): base_dir into *log_dir (relative to
 * dir), defaults.rotation into *defaults (what it gives; the rest is left alone). */
int svc_conf_read_logging(struct yaml_reader *rd, const char *dir, char **log_dir,
                          struct svc_log_defaults *defaults);
/* Reads the value of superviz's `version:` (its key on line), which must be 1. */
int svc_conf_read_version(struct yaml_reader *rd, size_t line);
/* Gives the services of v the log rotation they left to the file's defaults. */
void svc_conf_apply_log_defaults(struct svc_config *v, size_t n, const struct svc_log_defaults *d);
/* A YAML document of services alone (drover start FILE): `services:` and `version:`, nothing
 * else, and at least one service. rd holds the name, err and warn; *ret is freed with
 * svc_configs_free. */
int svc_conf_parse(struct yaml_reader *rd, const char *text, size_t len, const char *dir,
                   struct svc_config **ret, size_t *ret_n);

/* ---- durability (ops.c, svc-db.c): what a client asks is on disk before it is done ----
 *
 * The operations above that a client asks for (svc_start_config, svc_start_target, svc_act,
 * svc_apply_file, svc_apply_config) first hand the rows as they will be to the engine's persist
 * hook, and are refused with its -errno (-ENOSPC: the state disk is full) when it fails: nothing
 * is changed then. What the engine does on its own (a crash, a restart after backoff) is never
 * refused: its observer records it when it can, and rows that could not be written wait in the
 * svc_db to be written again (svc_db_resync). */

/* A row as an operation will leave it. */
struct svc_intent {
    struct svc_db_row row; /* id, definition and status; st.wanted is what the user wants now */
    bool gone;             /* the row is deleted (row.id alone counts) */
};

/* The daemon's side of durability. */
struct svc_persist {
    /* Writes v, all of it or none, before the operation is carried out: 0, or -errno and the
     * operation is refused. */
    int (*write)(const struct svc_intent *v, size_t n, void *userdata);
    /* Rows that failed to be written and wait to be written again. */
    size_t (*unsynced)(void *userdata);
    void *userdata; /* their argument */
};

/* Sets (copies) or, with NULL, removes the hook; without one nothing is refused. */
void svc_engine_set_persist(struct svc_engine *e, const struct svc_persist *p);
/* What the hook's unsynced says, 0 without a hook. */
size_t svc_engine_unsynced(const struct svc_engine *e);

/* Writes v in one transaction without spending the emergency reserve (store_try): the persist
 * hook's work. The ids written no longer wait to be written again: these rows are newer. A
 * deletion holds while the service stops: saves of it delete its row, until it is gone. */
int svc_db_persist(struct svc_db *db, const struct svc_intent *v, size_t n);
/* Every service of e in one transaction (after a restore); on failure each waits to be written
 * again. */
int svc_db_save_all(struct svc_db *db, struct svc_engine *e);
/* Writes again, as e has them now, the rows that failed (svc_db_flush remembers
 * them by id; deletions first, so that a new row may take a deleted one's name): 0 once none
 * waits, else the first -errno (the others are still tried). */
int svc_db_resync(struct svc_db *db, struct svc_engine *e);
/* How many rows wait to be written again. */
size_t svc_db_unsynced(const struct svc_db *db);
/* Marks a service's row as changed (or gone): svc_db_flush writes every marked row, as e has it
 * then, in one transaction; a row that could not be written waits to be written again. 0 or the
 * -errno of the transaction. svc_db_marked says how many wait for the flush. */
void svc_db_mark(struct svc_db *db, uint32_t id);
int svc_db_flush(struct svc_db *db, struct svc_engine *e);
size_t svc_db_marked(const struct svc_db *db);
uint32_t svc_db_marked_id(const struct svc_db *db, size_t i); /* 0 past the end */
/* Whether s runs a process its row does not name yet (a spawn since the last write): such a
 * change is written before anything answers, so that a droverd started after a crash adopts
 * that process instead of starting another. */
bool svc_db_pid_unrecorded(const struct svc *s);
