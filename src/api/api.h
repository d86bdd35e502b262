/* The faces: each file in api/ maps one API onto the core. This header is what the daemon hands
 * them (struct api_host) and the registration call of each face. Faces do not include daemon/
 * headers: the host is all they know of the process around them. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/socktop.h"

struct grpc_server;
struct net_conn;
struct proc_reaper;
struct store;
struct svc_config;
struct svc_engine;
struct track;
struct sess_mgr;
struct metrics;
struct http_server;
struct http_request;
struct buf;
struct authz;

/* What a reload changed. */
struct api_reload {
    unsigned added, changed, removed, unchanged; /* services */
};

struct api_host {
    struct uv_loop_s *loop;      /* the daemon's loop, for timers */
    const char *version;         /* droverd's version */
    const char *socket_path;     /* the gRPC unix socket */
    const char *state_dir;       /* state directory */
    const char *config_path;     /* YAML read, or NULL for the built-in default */
    uint64_t started_real_ns;    /* wall clock at start */
    uint64_t started_mono_ns;    /* monotonic clock at start */
    struct grpc_server *grpc;    /* for connection and call counters */
    struct store *store;         /* the database */
    struct track *track;         /* tracked processes */
    struct proc_reaper *reaper;  /* spawning, reaping, kill-tree */
    struct svc_engine *services; /* supervised services */
    struct sess_mgr *sessions;   /* PTY and pipe sessions */
    struct metrics *metrics;     /* the machine and its processes, measured on demand */
    struct http_server *http;    /* the HTTP door, or NULL when it is off */
    struct authz *authz;         /* access control for every door */
    uint32_t metrics_ttl_ms;     /* how old a measurement a unary request accepts */
    const char *rp_socket_path;  /* the running-process door, or NULL when it is off */
    const char *scope;           /* running-process scope name, or NULL: "global" */
    const char *scope_cwd;       /* droverd's working directory at start */
    uint32_t rp_connections;     /* open running-process connections */
    /* Begins a graceful shutdown; returns at once. */
    void (*shutdown)(struct api_host *host, const char *why);
    /* Re-reads the configuration; -errno with err filled when it is not valid (nothing changes
     * then). */
    int (*reload)(struct api_host *host, struct api_reload *ret, char *err, size_t err_size);
    /* Reads the services of a YAML document (name for errors, dir for relative paths): *ret
     * freed with svc_config_done on each and free; -EINVAL with err filled when not valid. */
    int (*parse_services)(const char *text, size_t len, const char *name, const char *dir,
                          struct svc_config **ret, size_t *ret_n, char *err, size_t err_size);
};

struct health;

/* drover.v1.Admin. */
int api_admin_register(struct grpc_server *s, struct api_host *host);

/* grpc.health.v1.Health. Every registered service, and "" for the whole server, is SERVING
 * until health_shutdown. */
struct health *api_health_new(struct grpc_server *s);
int api_health_register(struct grpc_server *s, struct health *h);
/* NOT_SERVING to every watcher, then their streams end (UNAVAILABLE). */
void api_health_shutdown(struct health *h);
void api_health_free(struct health *h);

struct reflection;
struct rp_server;

/* drover.v1.Services: supervised services. */
int api_services_register(struct grpc_server *s, struct api_host *host);

/* drover.v1.Sessions: PTY and pipe sessions, attach streams included. */
int api_sessions_register(struct grpc_server *s, struct api_host *host);

/* drover.v1.Metrics: snapshots for drover top and drover metrics. */
int api_metrics_register(struct grpc_server *s, struct api_host *host);

/* superviz's daemon.v1: DaemonService and MetricsService. */
int api_superviz_register(struct grpc_server *s, struct api_host *host);

/* The HTTP door's face: /healthz, /metrics, and socktop's agent WebSocket on /ws. */
struct api_web;
struct api_web_opts {
    struct socktop_opts socktop; /* /ws: TTLs and switches */
    const char *socktop_token;   /* /ws accepts ?token= this too (socktop's scheme), or NULL */
    bool require_token;          /* /metrics and /ws need a bearer token with scope read */
};
struct api_web *api_web_new(struct api_host *host, const struct api_web_opts *o);
void api_web_free(struct api_web *w);
/* The HTTP door's request handler; userdata is the api_web. */
void api_http_handle(struct http_request *req, void *userdata);
/* The Prometheus text page of the machine, the services and droverd. */
int api_prometheus_render(struct api_host *h, struct buf *out);

/* drover.v1.Processes: running-process's operations over gRPC. */
int api_processes_register(struct grpc_server *s, struct api_host *host);

/* The running-process door: 4-byte big-endian framed DaemonRequest/DaemonResponse on a unix
 * socket (created with mode 0600 in a directory that must be exactly 0700 and ours). */
struct rp_limits {
    uint32_t max_connections; /* further connections are closed at accept */
    uint32_t idle_timeout_ms; /* a connection waiting this long for a request is closed */
};
int api_rp_listen(struct api_host *host, const char *path, const struct rp_limits *lim,
                  struct rp_server **ret);
/* A door without a socket of its own, fed connections with api_rp_accept (tests, fuzzers). */
struct rp_server *api_rp_new(struct api_host *host, const struct rp_limits *lim);
void api_rp_accept(struct rp_server *s, struct net_conn *conn);
/* Stops accepting (the socket file goes), lets requests in flight answer, closes connections
 * once their replies are written, then runs done. */
void api_rp_shutdown(struct rp_server *s, void (*done)(void *userdata), void *userdata);
void api_rp_free(struct rp_server *s);

/* grpc.reflection.v1 and v1alpha ServerReflection, answering from the descriptor set embedded at
 * build time. */
struct reflection *api_reflection_new(struct grpc_server *s);
int api_reflection_register(struct grpc_server *s, struct reflection *rf);
void api_reflection_free(struct reflection *rf);
