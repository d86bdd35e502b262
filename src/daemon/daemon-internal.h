/* Shared by the files of src/daemon: the daemon's state, and the seams between its lifecycle
 * (daemon.c), its services (services.c) and upgrade in place (upgrade.c). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "api/api.h"
#include "daemon/config.h"

#define MAX_TO_START 4096
#define FD_RESERVE   64 /* descriptors connections never take: for spawning and administration */

/* What droverd last logged of a service, so that a spawn error is logged when it changes, not at
 * every retry, and a stop's survivors once. Only services with something to say have one. */
struct said {
    uint32_t id;        /* the service */
    int last_error;     /* its spawn error */
    uint32_t survivors; /* what its last stop left running */
};

struct daemon {
    uv_loop_t loop;                    /* the one loop */
    struct config cfg;                 /* effective settings */
    const struct config_flag *flags;   /* command-line settings, re-applied on SIGHUP */
    size_t n_flags;                    /* entries in flags */
    struct api_host host;              /* what the faces see of us */
    struct grpc_server *grpc;          /* the gRPC server, all doors */
    struct net_listener *listener;     /* gRPC unix socket */
    struct net_listener *tcp;          /* gRPC over TCP, or NULL */
    struct net_listener *http_l;       /* the HTTP door's listener, or NULL */
    struct http_server *http;          /* the HTTP door, or NULL */
    struct api_web *web;               /* its face (/metrics, /ws), or NULL */
    struct net_tls *http_tls;          /* its TLS, or NULL */
    struct net_tls *grpc_tls;          /* the TCP gRPC door's TLS, or NULL */
    struct authz *authz;               /* who may call what, through which door */
    struct metrics *metrics;           /* the metrics engine */
    struct health *health;             /* grpc.health.v1 state */
    struct reflection *reflection;     /* server reflection state */
    struct proc_reaper *reaper;        /* children and kill-trees */
    struct sess_mgr *sessions;         /* PTY and pipe sessions */
    struct store *store;               /* the database */
    struct track *track;               /* tracked processes */
    struct rp_server *rp;              /* the running-process door, or NULL */
    struct svc_engine *services;       /* supervised services */
    struct svc_db *svc_db;             /* their rows */
    struct rn_mgr *runners;            /* Stratavore's runners */
    struct api_stratavore *stratavore; /* its face */
    struct ctr_mgr *containers;        /* images and containers */
    struct ev_bus *bus;                /* the event bus */
    struct ag_mgr *agents;             /* the agent hub (baaaht's face) */
    struct net_listener *baaaht_l;     /* baaaht's socket, or NULL */
    char *holder_path;                 /* the descriptor holder's socket (<socket>.holder) */
    unsigned doors_open;               /* doors still shutting down */
    char cwd[4096];                    /* working directory at start (running-process scope_cwd) */
    struct said *said;                 /* what was logged of services with news */
    size_t n_said, cap_said;           /* used and allocated */
    uint32_t to_start[MAX_TO_START];   /* services to start once all are loaded */
    size_t n_to_start;                 /* how many */
    bool restoring;                    /* rows are being reconciled: write none back yet */
    bool clean_start;       /* the previous droverd stopped cleanly (or there was none) */
    uv_signal_t sig_term;   /* graceful stop */
    uv_signal_t sig_int;    /* graceful stop */
    uv_signal_t sig_hup;    /* reload the configuration */
    uv_timer_t exit_guard;  /* runs the teardown, then ends a loop a peer holds open */
    uv_timer_t grace_timer; /* a stop's grace (shutdown_grace_ms): then what runs is killed */
    uint64_t grace_end_ms;  /* when it runs out (mono_ms) */
    bool forced;            /* the stop had to SIGKILL something: exit code EXIT_FORCED */
    int lock_fd;            /* flock on <socket>.lock */
    bool stopping;          /* shutdown began */
    bool core_freed;        /* core_free ran: from then on the core's pointers are stale */
    int exit_code;          /* daemon_run's result */
    uv_timer_t log_flush;   /* says what rate-limited log lines dropped, once their window
                               ends (log_ratelimit_flush) */
    uv_timer_t sync_timer;  /* writes again what could not be written (sync_later) */
    uv_prepare_t
        flush_prep; /* writes the turn's changes before the loop waits (daemon_flush_services) */
    uv_prepare_t quiet_prep;   /* every loop turn: droverd is busy, the quiet timer starts over */
    uv_timer_t quiet_timer;    /* QUIET_MS without a turn: the code a burst used is handed back */
    bool quiet_trimmed;        /* that turn was the trim's own: it arms nothing */
    uint32_t sync_delay_ms;    /* its next delay: SYNC_FIRST_MS doubling to SYNC_MAX_MS */
    bool out_of_sync;          /* a write failed or the reserve went since all was synced */
    struct upgrade *upgrade;   /* upgrade in place: what was handed over, one under way */
    struct net_listener *rp_l; /* the running-process socket, when inherited */
    uv_signal_t sig_usr2;      /* upgrade in place */
};

/* ---- containers.c ---- */

/* The container manager, its rows loaded, live containers adopted. */
/* Opening the core (core.c): the lock beside the socket (-errno, logged, when another droverd
 * holds it), then the store, reaper, tracked processes, sessions, runners. */
int daemon_take_lock(struct daemon *d);
int daemon_start_core(struct daemon *d);
/* net's descriptor reserve ran low or recovered: said once each way. */
void daemon_on_fd_low(bool low, unsigned long free, void *userdata);
int daemon_start_containers(struct daemon *d);
/* ---- agents.c ---- */

/* The event bus and the agent hub, rows loaded. */
int daemon_start_agents(struct daemon *d);
/* Health answers baaaht's short names (orchestrator, agent, gateway, llm, tool). */
void daemon_baaaht_health(struct daemon *d);
/* baaaht's socket (baaaht_socket), when configured: 0660, its group baaaht_socket_group. */
int daemon_listen_baaaht(struct daemon *d);

/* doors.c: the listeners of the other doors. */
void daemon_on_accept(struct net_listener *l, struct net_conn *conn, void *userdata);
int daemon_listen_tcp(struct daemon *d);
int daemon_listen_http(struct daemon *d);
int daemon_listen_rp(struct daemon *d);

/* Services with an image run as containers of the manager (set on the engine once made). */
void daemon_services_in_containers(struct daemon *d);

/* ---- services.c ---- */

/* Loads the services table, adopts what still runs, applies the configuration's services,
 * kills strays of dead droverds, saves every row once, then starts what must run. */
int daemon_start_services(struct daemon *d);
/* Writes the services' rows changed since the last call, in one transaction (services.c). */
void daemon_flush_services(struct daemon *d);
/* The configuration's services onto the engine (svc_apply_config). */
int daemon_apply_services(struct daemon *d, const struct config *cfg, struct svc_apply_counts *ret);
/* Every row as the engine has it now, in one transaction (userdata: the daemon). */
int daemon_save_rows(void *userdata);
