/* What the files of src/runner share: the manager, and the helpers between them. */
#pragma once

#include <jansson.h>
#include <sqlite3.h>

#include "base/list.h"
#include "proc/proc.h"
#include "session/session.h"
#include "runner/runner.h"

/* Defaults (stratavore.v1's). */
#define RN_DEF_MAX_RUNNERS  5
#define RN_DEF_MAX_RESTARTS 3
#define RN_DEF_BACKOFF_MS   1000
#define RN_MAX_BACKOFF_MS   60000
#define RN_DEF_TTL_S        30
#define RN_DEF_STOP_S       10
#define RN_DEF_RECONCILE_MS 30000
#define RN_DEF_HEARTBEAT_S  10
#define RN_DEF_TRANSCRIPT   (64ll << 20)

struct rn_mgr {
    uv_loop_t *loop;
    struct proc_reaper *reaper;
    struct sess_mgr *sessions;
    struct store *store;
    char **command; /* the default runner command */
    char *socket_path, *state_dir;
    uint32_t reconcile_ms, heartbeat_s;
    bool keep_on_exit;
    DQUEUE_HEAD(rn_project) projects; /* by name */
    DQUEUE_HEAD(rn_runner) runners;   /* by creation */
    DQUEUE_HEAD(rn_conv) convs;       /* by creation */
    size_t n_projects;
    rn_event_fn watch;
    void *watch_data;
    uv_timer_t reconcile;    /* the periodic reconcile */
    uv_timer_t tx_timer;     /* flushes transcript lines left open */
    sqlite3_stmt *put, *del; /* rows */
    bool shutting_down;
    unsigned closing;  /* timers still closing (rn_mgr_free) */
    unsigned tx_depth; /* rn_db_begin nesting */
    bool tx_failed;    /* the transaction could not begin */
    void (*shutdown_done)(void *userdata);
    void *shutdown_data;
};

/* ---- project.c ---- */
void rn_uuid(char out[RN_ID_LEN]);
uint64_t rn_now(void);
void rn_project_free(struct rn_project *p);
void rn_launch_done(struct rn_launch *l);
int rn_launch_copy(struct rn_launch *dst, const struct rn_launch *src);
/* Inserts p in name order. */
void rn_project_insert(struct rn_mgr *m, struct rn_project *p);
/* Live runners of the project. */
int32_t rn_project_live(struct rn_mgr *m, const char *name);
/* Rolls the daily token count over at 00:00 UTC. */
void rn_project_token_day(struct rn_project *p);
int rn_map_valid(char *const *map);

/* ---- limits (project.c) ---- */
/* The kernel's form of a quota's memory, CPU and process limits; false when it has none. */
bool rn_quota_limits(const struct rn_quota *q, struct proc_limits *ret);
/* The project's slice name (its runners' cgroups go in it), into buf. */
void rn_slice_name(const char *project, char *buf, size_t size);
/* Sets the project's slice limits; -EOPNOTSUPP with err for a limit this host cannot hold. */
int rn_project_apply_limits(struct rn_mgr *m, const char *project, const struct rn_quota *q,
                            char *err, size_t size);

/* ---- launch.c ---- */
/* The argv: the command (asked, the project's, the daemon's), the flags, the mode's arguments;
 * -EINVAL when nothing is left. */
int rn_build_argv(struct rn_mgr *m, struct rn_runner *r, const struct rn_project *p,
                  char *const *asked, char ***ret);
int rn_build_env(struct rn_mgr *m, struct rn_runner *r, const struct rn_project *p,
                 struct proc_env *e);

/* ---- runner.c ---- */
void rn_runner_set_reason(struct rn_runner *r, const char *why);
/* Updated now, and written. */
void rn_runner_changed(struct rn_mgr *m, struct rn_runner *r);
/* An event about the runner (more: payload pieces, may be NULL). */
void rn_runner_emit(struct rn_mgr *m, struct rn_runner *r, enum rn_event_type t,
                    const struct rn_event *more);
/* The runner owns the session from now on (exit, transcript). */
void rn_runner_bind(struct rn_mgr *m, struct rn_runner *r, struct session *s);
/* Purges the sessions kept for runners that ended more than older_than_ns ago; how many. */
size_t rn_purge_exited(struct rn_mgr *m, uint64_t older_than_ns);
/* Starts the reconcile timer if there is a runner and it is not running (mgr.c). */
void rn_mgr_arm_reconcile(struct rn_mgr *m);
/* The session's owner callback: the program ended. */
void rn_runner_exited(struct session *s, int status, void *userdata);
void rn_runner_free(struct rn_runner *r);
/* Binds a restored live runner to its session (after an upgrade in place) or fails it. */
void rn_runner_restore(struct rn_mgr *m, struct rn_runner *r);
/* Stops every live runner (shutdown); returns how many are still to exit. */
size_t rn_runner_stop_all(struct rn_mgr *m);
/* Fails a runner (heartbeat timeout): stops its tree. */
void rn_runner_fail(struct rn_mgr *m, struct rn_runner *r, const char *reason);

/* ---- conv.c ---- */
/* A new conversation for a runner, or the runner's conv_id reopened (CONTINUE/RESUME). */
int rn_conv_bind(struct rn_mgr *m, struct rn_runner *r, bool reuse, char *err, size_t err_size);
void rn_conv_touch(struct rn_mgr *m, const char *conv_id);
void rn_conv_free(struct rn_conv *c);
/* The runner ended: its conversation's activity and status changed. */
void rn_conv_runner_ended(struct rn_mgr *m, struct rn_runner *r);
/* Ends the conversations of an archived project; deletes those of a deleted one (or a deleted
 * runner's, runner_id set). */
void rn_conv_end_project(struct rn_mgr *m, const char *project, bool delete);
void rn_conv_delete_runner(struct rn_mgr *m, const char *runner_id);

/* ---- transcript.c ---- */
int rn_transcript_open(struct rn_mgr *m, struct rn_runner *r);
void rn_transcript_close(struct rn_mgr *m, struct rn_runner *r);
void rn_transcript_data(struct rn_mgr *m, struct rn_runner *r, int st, const uint8_t *p, size_t n);
void rn_transcript_note(struct rn_mgr *m, struct rn_runner *r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void rn_transcript_purge(struct rn_mgr *m, const struct rn_conv *c);

/* ---- mgr.c ---- */
/* A line of the runner's output, for its project's usage parser. */
void rn_usage_line(struct rn_mgr *m, struct rn_runner *r, const char *line, size_t n);

/* ---- db.c ---- */
int rn_db_open(struct rn_mgr *m);
void rn_db_close(struct rn_mgr *m);
/* Several writes in one transaction (nested calls join the outer one). */
void rn_db_begin(struct rn_mgr *m);
void rn_db_commit(struct rn_mgr *m);
/* Writes (or deletes) one object's row; failures are logged. */
void rn_db_put_project(struct rn_mgr *m, const struct rn_project *p);
void rn_db_put_runner(struct rn_mgr *m, const struct rn_runner *r);
void rn_db_put_conv(struct rn_mgr *m, const struct rn_conv *c);
void rn_db_delete(struct rn_mgr *m, const char *kind, const char *id);
/* Loads every row into m (projects, runners, conversations). */
int rn_db_load(struct rn_mgr *m);

/* ---- events ---- */
void rn_emit(struct rn_mgr *m, const struct rn_event *ev);
