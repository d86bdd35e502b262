/* Runners: agent programs launched per project, supervised in drover sessions (Stratavore's
 * model, served by api/stratavore/). A project is a directory with a quota and a launch
 * configuration; a runner is one supervised program of a project, running in a PTY (or pipe)
 * session that clients attach to; a conversation (Stratavore calls it a "session", a word drover
 * already uses for the PTY) is what a runner works on, kept across the runners that continue or
 * resume it.
 *
 * The manager owns all three, their rows in the database, the restart policy, the concurrency
 * quota, heartbeats with their TTL and reconciliation. It knows no API: faces translate requests
 * into these calls and the events it reports into their messages. Numbering of the enums
 * follows stratavore.v1 so that a face maps them one to one.
 *
 * Errors, as everywhere in the core, are -errno with a sentence in the caller's err buffer:
 *   -EINVAL     a bad value          -ENOENT  no such project, runner or conversation
 *   -EEXIST     name or path taken   -EBUSY   live runners and no force; archived project
 *   -ENOTDIR    the working directory does not exist
 *   -ENOEXEC    the program could not be started (the runner is kept, FAILED)
 *   -EDQUOT     a quota is reached   -ESTALE  the conversation has ended
 *   -ERANGE     a replay older than what is kept
 *   -EOPNOTSUPP a runtime drover does not run here (remote)
 *   -ESHUTDOWN  droverd is stopping */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "base/list.h"

struct sess_mgr;
struct store;
struct proc_reaper;
struct session;

#define RN_ERR_MAX    256 /* err buffers */
#define RN_ID_LEN     37  /* a UUID and its terminator */
#define RN_NAME_MAX   64  /* project names: [A-Za-z0-9._-]{1,64} */
#define RN_EVENT_RING 1024

enum rn_status {
    RN_STATUS_NONE = 0,
    RN_STARTING = 1,
    RN_RUNNING = 2,
    RN_PAUSED = 3,
    RN_STOPPING = 4,
    RN_TERMINATED = 5,
    RN_FAILED = 6,
};

enum rn_policy {
    RN_POLICY_INHERIT = 0, /* the project's (whose own 0 is NEVER) */
    RN_NEVER = 1,
    RN_ON_FAILURE = 2,
    RN_ALWAYS = 3,
};

enum rn_mode {
    RN_MODE_NEW = 1,
    RN_MODE_CONTINUE = 2,
    RN_MODE_RESUME = 3,
};

enum rn_runtime {
    RN_RUNTIME_PROCESS = 1,
    RN_RUNTIME_CONTAINER = 2,
    RN_RUNTIME_REMOTE = 3,
};

enum rn_conv_status {
    RN_CONV_ACTIVE = 1,   /* a live runner works on it */
    RN_CONV_INACTIVE = 2, /* none does; it can be resumed */
    RN_CONV_ENDED = 3,    /* not resumable, or its project was archived */
};

enum rn_event_type {
    RN_EV_RUNNER_STARTED = 1,
    RN_EV_RUNNER_STOPPED = 2,
    RN_EV_RUNNER_FAILED = 3,
    RN_EV_RUNNER_HEARTBEAT = 4,
    RN_EV_RUNNER_RESTARTED = 5,
    RN_EV_RUNNER_PAUSED = 6,
    RN_EV_RUNNER_RESUMED = 7,
    RN_EV_RUNNER_UPDATED = 8,
    RN_EV_RUNNER_DELETED = 9,
    RN_EV_SESSION_CREATED = 20,
    RN_EV_SESSION_RESUMED = 21,
    RN_EV_SESSION_ENDED = 22,
    RN_EV_PROJECT_CREATED = 30,
    RN_EV_PROJECT_UPDATED = 31,
    RN_EV_PROJECT_ARCHIVED = 32,
    RN_EV_PROJECT_DELETED = 33,
    RN_EV_QUOTA_EXCEEDED = 40,
    RN_EV_SYSTEM_ALERT = 41,
    RN_EV_RECONCILE_COMPLETED = 42,
};

/* Maps are NULL-terminated vectors of alternating keys and values ("k1","v1","k2","v2",NULL). */

struct rn_quota {
    int32_t max_runners;    /* live runners of the project at once; 0: unlimited */
    int64_t max_memory_mb;  /* MiB; 0: none */
    int32_t max_cpu_pct;    /* percent of one CPU; 0: none */
    int64_t max_tokens_day; /* tokens per UTC day; 0: none */
    int32_t max_pids;       /* processes; 0: none */
};

/* How a project's runners are launched. Zero values mean the daemon's defaults. */
struct rn_launch {
    char **command;          /* argv with {placeholders}; NULL: the daemon's runner command */
    char **env;              /* a map: added to the environment */
    char **flags;            /* appended to argv */
    char **caps;             /* capabilities, recorded */
    char *model;             /* default model */
    bool has_temperature;    /* default temperature set */
    double temperature;      /* 0..2 */
    bool has_max_tokens;     /* default max_tokens set */
    int32_t max_tokens;      /* >= 0 */
    enum rn_policy policy;   /* restart policy (INHERIT: NEVER) */
    int32_t max_restarts;    /* attempts (0: 3) */
    int32_t backoff_ms;      /* first restart delay, doubling (0: 1000) */
    int32_t ttl_s;           /* heartbeat TTL (0: 30) */
    bool heartbeat_required; /* RUNNING only after the first heartbeat; TTL from the start */
    int32_t stop_timeout_s;  /* SIGTERM to SIGKILL (0: 10) */
    bool use_pipes;          /* pipes instead of a PTY */
    char **continue_args;    /* CONTINUE mode (NULL: --continue) */
    char **resume_args;      /* RESUME mode (NULL: --resume {session_id}) */
    char *usage_parser;      /* "none" (default), "json-usage" */
    int64_t transcript_max;  /* bytes of transcript kept per conversation (0: 64 MiB) */
};

/* A project's launch settings with the defaults applied where it left them 0. */
int32_t rn_launch_max_restarts(const struct rn_launch *l);
int32_t rn_launch_ttl(const struct rn_launch *l);
uint32_t rn_launch_stop_ms(const struct rn_launch *l);
int32_t rn_launch_backoff(const struct rn_launch *l);

struct rn_project {
    char *name;        /* unique, [A-Za-z0-9._-]{1,64} */
    char *description; /* free text */
    char *path;        /* absolute, unique */
    bool archived;     /* no new runners */
    struct rn_quota quota;
    struct rn_launch launch;
    char **metadata;                                           /* a map */
    char **tags;                                               /* labels */
    uint64_t created_ns, updated_ns, accessed_ns, archived_ns; /* CLOCK_REALTIME; 0: never */
    int64_t tokens_total;                                      /* tokens of every runner ever */
    int64_t tokens_today;                                      /* since 00:00 UTC of token_day */
    int64_t token_day; /* days since the epoch that tokens_today counts */
    int token_alert;   /* the highest alert of token_day: 0, 75, 90, 100 */
    /* runtime */
    DLIST_LINK(rn_project) link;
};

/* Project fields an update replaces (others keep their values). */
enum rn_project_field {
    RN_P_DESCRIPTION = 1u << 0,
    RN_P_PATH = 1u << 1,
    RN_P_STATUS = 1u << 2,
    RN_P_QUOTA = 1u << 3,
    RN_P_LAUNCH = 1u << 4,
    RN_P_METADATA = 1u << 5,
    RN_P_TAGS = 1u << 6,
};

struct rn_wait;
struct rn_tx;

struct rn_runner {
    char id[RN_ID_LEN];      /* UUID v4 */
    char *project;           /* its project's name */
    enum rn_status status;   /* see the state table in runner.c */
    char *model;             /* free text, may be "" */
    bool has_temperature;    /* temperature set */
    double temperature;      /* 0..2 */
    bool has_max_tokens;     /* max_tokens set */
    int32_t max_tokens;      /* >= 0 */
    char **metadata;         /* a map */
    enum rn_runtime runtime; /* PROCESS */
    char **flags, **caps;    /* as asked */
    char **env;              /* a map: the request's environment */
    char conv_id[RN_ID_LEN]; /* its conversation */
    enum rn_mode mode;       /* how it was launched */
    int32_t restarts;        /* automatic restarts since the last start asked for */
    int32_t max_restarts;    /* allowed */
    enum rn_policy policy;   /* resolved: NEVER, ON_FAILURE or ALWAYS */
    int32_t ttl_s;           /* heartbeat TTL */
    char **command;          /* the argv as launched */
    char **asked_command;    /* the request's command template, NULL: the project's */
    char *workdir;           /* working directory */
    struct rn_quota quota;   /* its own limits (memory, cpu, pids) */
    char *reason;            /* why it is in its state: "exited", "oom", "heartbeat_timeout"... */
    char sess_id[40];        /* the drover session it runs in, "" when none */
    pid_t pid;               /* 0 when not running */
    uint64_t starttime;      /* /proc start time of pid, its identity */
    uint64_t created_ns, updated_ns, started_ns, terminated_ns, heartbeat_ns;
    bool has_exit_code;    /* exited with a code */
    int32_t exit_code;     /* WEXITSTATUS */
    bool has_exit_signal;  /* killed by a signal */
    int32_t exit_signal;   /* the signal */
    int64_t tokens_used;   /* cumulative: the larger of the next two */
    int64_t hb_tokens;     /* heartbeats' counters added up across their resets */
    int64_t hb_last;       /* the last heartbeat's counter */
    int64_t parsed_tokens; /* the usage parser's count of its output */
    int64_t heartbeats;    /* received */
    int32_t oom_kills;     /* processes the OOM killer took, over its runs */
    char token[48];        /* the runner's own credential (heartbeats) */
    /* runtime */
    DLIST_LINK(rn_runner) link;
    struct rn_mgr *m;
    struct session *sess; /* while its program runs */
    uv_timer_t timer;     /* restart backoff */
    bool timer_open, timer_armed;
    bool stop_asked;          /* an exit now is what someone asked for */
    bool failing;             /* being stopped because it failed (reason says why) */
    bool restart_asked;       /* start again after the stop */
    bool delete_asked;        /* delete once stopped */
    bool heartbeat_required;  /* from its project */
    uint32_t stop_timeout_ms; /* its project's grace */
    struct rn_wait *waits;    /* told when the program has exited */
    unsigned in_notify;       /* waits are being told: deleting it frees it afterwards */
    bool free_later;          /* deleted while they were */
    struct rn_tx *tx;         /* its transcript while it runs */
    uint64_t oom_seen;        /* OOM kills of the current run already counted */
};

/* Runner fields an update replaces. */
enum rn_runner_field {
    RN_R_METADATA = 1u << 0,
    RN_R_QUOTA = 1u << 1,
    RN_R_STATUS = 1u << 2, /* desired status: PAUSED or RUNNING */
    RN_R_MAX_RESTARTS = 1u << 3,
    RN_R_POLICY = 1u << 4,
    RN_R_TTL = 1u << 5,
    RN_R_MODEL = 1u << 6,
    RN_R_TEMPERATURE = 1u << 7,
    RN_R_MAX_TOKENS = 1u << 8,
};

struct rn_conv {
    char id[RN_ID_LEN];        /* UUID v4 */
    char runner_id[RN_ID_LEN]; /* the runner working on it now, or its last */
    char *project;             /* its project */
    char *model;               /* as its first runner */
    char **metadata;           /* a map */
    uint64_t created_ns, updated_ns, activity_ns, started_ns, ended_ns;
    int64_t messages;             /* transcript lines */
    int64_t tokens;               /* tokens of its runners */
    bool resumable;               /* can be resumed */
    char resumed_from[RN_ID_LEN]; /* the conversation it continues, "" */
    char *summary;                /* free text */
    char **runner_ids;            /* every runner that worked on it, oldest first */
    enum rn_mode mode;            /* how it was opened */
    DLIST_LINK(rn_conv) link;
};

/* A runner as asked for (CreateRunner; also a resume's overrides). */
struct rn_create {
    const char *project;
    const char *model;
    bool has_temperature;
    double temperature;
    bool has_max_tokens;
    int32_t max_tokens;
    char *const *metadata, *const *flags, *const *caps, *const *env; /* maps and lists */
    const char *runtime_id;  /* a live pid to adopt instead of spawning */
    struct rn_quota quota;   /* the runner's own limits */
    const char *conv_id;     /* a conversation to continue or resume */
    enum rn_mode mode;       /* 0: NEW */
    enum rn_runtime runtime; /* 0: PROCESS */
    char *const *command;    /* overrides the project's */
    enum rn_policy policy;   /* 0: the project's */
    int32_t max_restarts;    /* 0: the project's */
    int32_t ttl_s;           /* 0: the project's */
    const char *workdir;     /* "": the project's path */
};

/* What the daemon's configuration sets. */
struct rn_config {
    char *const *command;          /* the default runner command (NULL: claude --project ...) */
    const char *socket_path;       /* given to runners as STRATAVORE_API_SOCKET */
    const char *state_dir;         /* transcripts go under STATE/stratavore */
    uint32_t reconcile_ms;         /* 0: 30 s */
    uint32_t heartbeat_interval_s; /* told to runners (0: 10) */
    bool keep_runners_on_exit;     /* a graceful stop leaves runners running */
};

/* An event, as the manager reports it. Pointers are valid during the callback only. */
struct rn_event {
    enum rn_event_type type;
    uint64_t ns;                      /* when */
    const struct rn_runner *runner;   /* RUNNER_*, QUOTA_EXCEEDED (may be NULL) */
    const struct rn_project *project; /* its project (NULL once deleted) */
    const char *project_name;         /* always set when there is one */
    const struct rn_conv *conv;       /* SESSION_*; a runner's conversation */
    /* payload pieces */
    const char *reason;                   /* RUNNER_STOPPED/FAILED, SYSTEM_ALERT */
    bool will_restart;                    /* RUNNER_FAILED/STOPPED */
    int32_t restart_attempt;              /* RUNNER_STARTED/RESTARTED */
    const char *quota;                    /* QUOTA_EXCEEDED: "max_concurrent_runners", ... */
    int64_t limit, current;               /* QUOTA_EXCEEDED */
    const char *action;                   /* QUOTA_EXCEEDED: "refused", "notify", "stop" */
    const struct rn_reconcile *reconcile; /* RECONCILE_COMPLETED */
};

typedef void (*rn_event_fn)(const struct rn_event *ev, void *userdata);

struct rn_mgr;

int rn_mgr_new(uv_loop_t *loop, struct proc_reaper *reaper, struct sess_mgr *sessions,
               struct store *store, const struct rn_config *cfg, struct rn_mgr **ret, char *err,
               size_t err_size);
/* Reads projects, runners and conversations from the database and reconciles the runners that
 * were live: re-bound to their session when droverd upgraded in place, else FAILED "lost". */
int rn_mgr_restore(struct rn_mgr *m);
/* droverd is stopping: stops every runner (unless keep_runners_on_exit), refuses new ones;
 * done runs once none is left. */
void rn_mgr_shutdown(struct rn_mgr *m, void (*done)(void *userdata), void *userdata);
void rn_mgr_free(struct rn_mgr *m);
/* One observer (the face): every event. */
void rn_mgr_watch(struct rn_mgr *m, rn_event_fn fn, void *userdata);

/* ---- projects ---- */

int rn_project_create(struct rn_mgr *m, const struct rn_project *in, struct rn_project **ret,
                      char *err, size_t err_size);
struct rn_project *rn_project_find(struct rn_mgr *m, const char *name);
/* In name order: rn_project_next(m, NULL) is the first. */
struct rn_project *rn_project_next(struct rn_mgr *m, struct rn_project *prev);
size_t rn_project_count(const struct rn_mgr *m);
/* Replaces the fields in mask with in's. */
int rn_project_update(struct rn_mgr *m, struct rn_project *p, const struct rn_project *in,
                      unsigned mask, char *err, size_t err_size);
/* Archives (no new runners; its conversations end) or deletes the project. Live runners need
 * force: they are stopped (and deleted with it) first; done runs then with how many were
 * stopped, or at once. */
struct rn_project_stats {
    int32_t active_runners, total_runners, active_convs;
    int64_t total_convs, tokens_total, tokens_today;
};
void rn_project_stats(struct rn_mgr *m, struct rn_project *p, struct rn_project_stats *ret);
typedef void (*rn_done_fn)(int r, int32_t n, void *userdata);
int rn_project_delete(struct rn_mgr *m, struct rn_project *p, bool archive, bool force,
                      rn_done_fn done, void *userdata, char *err, size_t err_size);

/* ---- runners ---- */

/* Validates, checks the quota, records and starts the runner; *ret is it (also when -ENOEXEC:
 * recorded FAILED) and *ret_conv its conversation. warnings (may be NULL) gets lines the caller
 * should pass on (a quota clamped). */
int rn_runner_create(struct rn_mgr *m, const struct rn_create *req, struct rn_runner **ret,
                     char *err, size_t err_size);
struct rn_runner *rn_runner_find(struct rn_mgr *m, const char *id);
/* In creation order. */
struct rn_runner *rn_runner_next(struct rn_mgr *m, struct rn_runner *prev);
bool rn_runner_live(const struct rn_runner *r);
/* What a runner's tree uses now, measured by the metrics engine (a sample at most max_age_ms
 * old). -ESRCH when it is not running. */
struct metrics;
struct rn_usage {
    double cpu_pct;        /* of one CPU */
    uint64_t cpu_ns;       /* user + system */
    uint64_t memory_bytes; /* resident */
    uint64_t read_bytes, write_bytes;
    uint32_t pids;         /* processes */
    bool has_memory_group; /* the next three are known */
    uint64_t memory_peak;  /* the group's peak */
    uint64_t oom_kills;    /* in its current run */
};
int rn_runner_usage(struct rn_mgr *m, struct rn_runner *r, struct metrics *mx, uint32_t max_age_ms,
                    struct rn_usage *ret);
/* Replaces the fields in mask; RN_R_STATUS with PAUSED or RUNNING freezes or thaws. */
int rn_runner_update(struct rn_mgr *m, struct rn_runner *r, const struct rn_runner *in,
                     unsigned mask, char *err, size_t err_size);

/* Waiting for a runner's program to exit: owned by the caller, cancel it if it leaves first. */
struct rn_wait {
    struct rn_wait *next;                   /* in the runner's list */
    struct rn_runner *r;                    /* while queued */
    void (*done)(struct rn_wait *w, int r); /* 0, or -errno (a restart that failed) */
    void *userdata;                         /* the caller's */
};
void rn_wait_cancel(struct rn_wait *w);

/* Stops the program: SIGTERM to its tree, SIGKILL after timeout_ms (force: at once). w->done
 * runs once it has exited; when it was not running nothing is queued and *ret_was_running is
 * false. */
int rn_runner_stop(struct rn_mgr *m, struct rn_runner *r, bool force, uint32_t timeout_ms,
                   const char *reason, struct rn_wait *w, bool *ret_was_running);
/* Stops (as above) and starts it again with the same id; restarts reset. preserve_conv keeps
 * its conversation (CONTINUE), else a new one. w->done runs once it runs again (or failed). */
int rn_runner_restart(struct rn_mgr *m, struct rn_runner *r, bool preserve_conv, bool force,
                      uint32_t timeout_ms, struct rn_wait *w, char *err, size_t err_size);
/* Deletes the record (a live runner needs force: it is killed first, and w->done runs once it
 * is gone; else at once). delete_convs deletes its conversations too. */
int rn_runner_delete(struct rn_mgr *m, struct rn_runner *r, bool force, bool delete_convs,
                     struct rn_wait *w, bool *ret_was_running, char *err, size_t err_size);

struct rn_heartbeat {
    const char *runner_id;
    const char *status;  /* "running", "stopped", ... */
    int64_t tokens_used; /* cumulative */
    const char *conv_id; /* "" */
};
/* What a runner is told back: "", "pause", "resume" or "terminate". */
int rn_heartbeat(struct rn_mgr *m, const struct rn_heartbeat *hb, const char **ret_command,
                 uint32_t *ret_next_s, char *err, size_t err_size);
/* Whether token is runner id's own credential. */
bool rn_runner_token_ok(struct rn_mgr *m, const char *id, const char *token);

struct rn_reconcile {
    uint64_t started_ns, duration_ns;
    char **failed, **adopted, **restarted; /* runner ids */
    int32_t reconciled;
};
/* Fails runners past their TTL (of project, or all when NULL); dry_run only reports. Free *ret
 * with rn_reconcile_done. */
int rn_reconcile(struct rn_mgr *m, const char *project, bool dry_run, struct rn_reconcile *ret);
void rn_reconcile_done(struct rn_reconcile *rc);

/* ---- conversations ---- */

struct rn_conv *rn_conv_find(struct rn_mgr *m, const char *id);
/* Most recent activity first. */
struct rn_conv *rn_conv_next(struct rn_mgr *m, struct rn_conv *prev);
enum rn_conv_status rn_conv_status(struct rn_mgr *m, const struct rn_conv *c);
/* A conversation: without a runner (INACTIVE); or for runner_id, a live runner of the project
 * that works on it from now on; or with launch, a new runner for it (*ret_runner, also when
 * -ENOEXEC says it failed to start). */
int rn_conv_create(struct rn_mgr *m, const char *project, const char *runner_id, const char *model,
                   char *const *metadata, const struct rn_create *launch, struct rn_conv **ret,
                   struct rn_runner **ret_runner, char *err, size_t err_size);
/* Resumes a conversation: its live runner (*ret_was_active) unless force_new, else a new runner
 * from overrides (project, conversation and RESUME mode are set here). */
int rn_conv_resume(struct rn_mgr *m, struct rn_conv *c, const struct rn_create *overrides,
                   bool force_new, struct rn_runner **ret, bool *ret_was_active, char *err,
                   size_t err_size);

/* ---- transcripts ---- */

struct rn_tmsg {
    int64_t seq;  /* 1, 2, ... in the conversation */
    uint64_t ns;  /* when */
    char *role;   /* "assistant", "user", "system" */
    char *stream; /* "stdout", "stderr", "stdin", "event" */
    char *runner_id;
    char *content; /* UTF-8 */
};
/* Messages offset.. (at most limit) of the conversation's transcript; *ret_total counts them
 * all. Free with rn_tmsgs_free. */
int rn_transcript_read(struct rn_mgr *m, const struct rn_conv *c, size_t offset, size_t limit,
                       struct rn_tmsg **ret, size_t *ret_n, int64_t *ret_total);
void rn_tmsgs_free(struct rn_tmsg *v, size_t n);
/* Its file (malloc'd; NULL without a state directory) and size in bytes. */
char *rn_transcript_path(struct rn_mgr *m, const char *project, const char *conv_id);
int64_t rn_transcript_size(struct rn_mgr *m, const struct rn_conv *c);

/* ---- maps ---- */

const char *rn_map_get(char *const *map, const char *key);
/* Every pair of filter is in map. */
bool rn_map_match(char *const *map, char *const *filter);
