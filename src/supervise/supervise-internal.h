/* Shared by the files of src/supervise: the structs behind struct svc and struct svc_engine, and
 * the seams between the state machine (svc.c), dependencies (deps.c), definitions (def.c), the
 * engine's bookkeeping (engine.c), probes (probe.c) and measurements (usage.c). */
#pragma once

#include "supervise/supervise.h"

#define DEFAULT_ROTATE_MS 10000 /* log size checks while a rotating service runs */

struct probe;

enum svc_event {
    EV_START,
    EV_STOP,
    EV_EXIT,
    EV_TIMER,
    SVC_N_EVENTS,
};

/* Someone waiting for a service to settle (svc_on_settled). */
struct waiter {
    struct waiter *next; /* list */
    svc_settled_fn fn;   /* called once */
    void *userdata;      /* its argument */
};

struct svc {
    struct svc_engine *e;        /* owner */
    uint32_t id;                 /* unique, stable: targets may name it */
    struct waiter *waiters;      /* called at the next settled state */
    struct svc_config cfg;       /* owned copy */
    char *log_path[2];           /* <log_dir>/<name>-out.log, -err.log */
    struct svc_status st;        /* what svc_get_status reports */
    pid_t recorded_pid;          /* the pid its row in the database says (svc-db.c) */
    struct proc_child *child;    /* the main process, in ONLINE and STOPPING */
    uint64_t started_mono_ms;    /* when it was spawned */
    uv_timer_t timer;            /* backoff, deferred start, kill timeout; frees us on close */
    int exit_status;             /* the status EXIT carries */
    bool want_up;                /* the last request was start (or restart) */
    bool removed;                /* svc_remove: free once stopped */
    bool in_container;           /* its run is a container the engine's ctr_ops release */
    bool hard_killed;            /* the kill timeout fired during this stop */
    struct svc_config *next_cfg; /* svc_redefine of a running service: used at its next start */
    bool stop_deferred;          /* a stop waits for the services that depend on this one */
    struct probe **probes;       /* health checks while the main process runs (cfg.n_probes) */
    struct svc_usage usage;      /* svc_usage's last answer for this child */
    uint64_t usage_at_ms;        /* when it was measured (0: never, or for another child) */
    bool restarting;             /* inside svc_restart: dependents waiting to start keep waiting */
    bool starting;               /* inside begin_start: a dependency cycle must not recurse */
};

struct svc_watch {
    struct svc_watch *next; /* list */
    struct svc_engine *e;   /* owner */
    svc_change_fn fn;       /* NULL once unwatched (freed after the walk) */
    void *userdata;         /* its argument */
};

struct svc_engine {
    uv_loop_t *loop;               /* the loop */
    struct proc_reaper *reaper;    /* spawning and killing */
    char *log_dir;                 /* where log files go */
    struct svc **v;                /* services in definition order */
    size_t n, cap;                 /* used and allocated */
    struct svc **dying;            /* removed ones not freed yet (a stop under way) */
    size_t n_dying, cap_dying;     /* used and allocated */
    size_t n_alive;                /* services not freed yet: the engine outlives them all */
    size_t n_with_deps;            /* services of v with a depends_on: none, no walks for them */
    bool closed;                   /* svc_engine_free's rotate_timer close has run */
    svc_change_fn on_change;       /* observer */
    void *userdata;                /* its argument */
    struct svc_watch *watches;     /* further observers */
    uv_timer_t rotate_timer;       /* log size checks, armed while a rotating service runs */
    uint32_t rotate_ms;            /* their period */
    unsigned walking;              /* nested walks of watches: unwatched ones wait */
    void (*shutdown_done)(void *); /* svc_engine_shutdown's callback, until all are stopped */
    void *shutdown_data;           /* its argument */
    bool forced;                   /* the shutdown SIGKILLed a service */
    char *snapshot_path;           /* svc_save's file, or NULL: SVC_SNAPSHOT_FILE */
    struct svc_persist persist;    /* the daemon's durability hook (write NULL: none) */
    uint32_t last_id;              /* the highest id given out: a removed service's is not reused */
    const struct svc_container_ops *ctr_ops; /* services with an image (NULL: none run) */
    void *ctr_data;                          /* its argument */
};

/* Whether a definition names dependencies (the engine counts those in n_with_deps). */
static inline bool svc_config_has_deps(const struct svc_config *c)
{
    return c->depends_on && c->depends_on[0];
}

/* ---- the state machine (svc.c) ---- */

/* Feeds an event to the table; a removed service is freed once it has come to rest. */
void svc_event(struct svc *s, enum svc_event ev);
/* Tells the engine's observers. */
void svc_changed(struct svc *s);
/* Enters a state: observers, settle waiters, and what it means for dependents. */
void svc_set_state(struct svc *s, enum svc_state st);
/* Calls (and forgets) the settle waiters. */
void svc_fire_waiters(struct svc *s);
/* Spawns now: ONLINE; on a transient failure (EMFILE, ENOMEM...) BACKOFF as after a crash;
 * otherwise ERRORED with the reason kept. */
void svc_spawn_now(struct svc *s);
/* Sends the stop signal and arms the kill timeout (STOPPING). */
void svc_really_stop(struct svc *s);
/* SIGKILLs s's process tree now (STOPPING until it is reaped), its dependents not waited for. */
void svc_kill_now(struct svc *s);
void svc_stop_probes(struct svc *s);

/* ---- dependencies (deps.c) ---- */

/* Wants s up: its dependencies are started first; it spawns once they are all online, and
 * waits in STARTING until then. */
void svc_begin_start(struct svc *s);
/* Stops the services that depend on s; true while any of them still runs (s's own stop then
 * waits). */
bool svc_stop_dependents(struct svc *s);
/* Restarts the running services that depend on s along with it. */
void svc_restart_dependents(struct svc *s);
/* What s's new state means for the others: dependents start or fail, deferred stops go on. */
void svc_after_state(struct svc *s);

/* ---- definitions (def.c) ---- */

/* -EINVAL for a definition the engine cannot run. */
int svc_config_check(const struct svc_config *c);
/* A deep copy (stop_signal 0 becomes SIGTERM); -ENOMEM. */
int svc_config_copy(struct svc_config *dst, const struct svc_config *src);
/* A log file's path: the configured file (relative to dir unless absolute), or
 * <dir>/<name>-<suffix>.log with the name made safe. NULL when out of memory. */
char *svc_log_name(const char *dir, const char *name, const char *file, const char *suffix);

/* ---- the engine (engine.c) ---- */

/* The id the next service defined without one gets: above every id given out so far, so that a
 * service still stopping after its removal (whose row goes when it is down) never shares it. */
uint32_t svc_next_id(const struct svc_engine *e);
/* The close callback of a removed service's timer: frees it. */
void svc_closed(uv_handle_t *h);
/* A shutdown waiting for every service to stop: done when none runs. */
void svc_engine_check_shutdown(struct svc_engine *e);

/* ---- probes (probe.c) ---- */

/* Starts probing s (its config's probe) until probe_free; the first check comes soon. */
struct probe *probe_new(struct svc *s, const struct svc_probe *cfg, uv_loop_t *loop,
                        struct proc_reaper *r);
/* Stops probing; a check in flight is abandoned. NULL is a no-op. */
void probe_free(struct probe *p);
bool probe_healthy(const struct probe *p);
/* A check ended (probe.c calls it on itself). */
void probe_result(struct probe *p, bool ok);
/* The engine's side: one of s's probes became healthy or unhealthy (failures > 0 when its
 * threshold was reached: s must restart). */
void svc_probe_changed(struct svc *s, uint32_t failures);
