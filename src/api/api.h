/* The faces: each folder under api/ maps one API onto the core (drover/, rp/, superviz/, web/).
 * This header is what the daemon hands every face (struct api_host); each face's own header
 * (api/drover/drover.h, ...) has its registration call. Faces do not include daemon/ headers:
 * the host is all they know of the process around them. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct grpc_server;
struct net_conn;
struct proc_reaper;
struct store;
struct svc_apply_counts;
struct svc_config;
struct svc_engine;
struct track;
struct sess_mgr;
struct rn_mgr;
struct ctr_mgr;
struct ag_mgr;
struct ev_bus;
struct metrics;
struct http_server;
struct http_request;
struct buf;
struct authz;

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
    struct rn_mgr *runners;      /* Stratavore's projects, runners and conversations */
    struct ctr_mgr *containers;  /* images and containers */
    struct ag_mgr *agents;       /* the agent hub: conversations, agents, tasks (baaaht's) */
    struct ev_bus *bus;          /* the daemon's event bus */
    struct metrics *metrics;     /* the machine and its processes, measured on demand */
    struct http_server *http;    /* the HTTP door, or NULL when it is off */
    struct authz *authz;         /* access control for every door */
    uint32_t metrics_ttl_ms;     /* how old a measurement a unary request accepts */
    const char *rp_socket_path;  /* the running-process door, or NULL when it is off */
    const char *scope;           /* running-process scope name, or NULL: "global" */
    const char *scope_cwd;       /* droverd's working directory at start */
    uint32_t rp_connections;     /* open running-process connections */
    uint32_t gateway_streams;    /* baaaht's StreamChat and StreamResponses calls open */
    /* Begins a graceful shutdown; returns at once. */
    void (*shutdown)(struct api_host *host, const char *why);
    /* Re-reads the configuration and applies its services (ret says how); -errno with err
     * filled when it is not valid (nothing changes then). */
    int (*reload)(struct api_host *host, struct svc_apply_counts *ret, char *err, size_t err_size);
    /* Reads the services of a YAML document (name for errors, dir for relative paths): *ret
     * freed with svc_config_done on each and free; -EINVAL with err filled when not valid. */
    int (*parse_services)(const char *text, size_t len, const char *name, const char *dir,
                          struct svc_config **ret, size_t *ret_n, char *err, size_t err_size);
    /* Re-executes droverd in place (binary NULL or "": the installed one). done runs once,
     * maybe before this returns: r >= 0 with the binary about to run and its version (the exec
     * follows once the doors have closed their connections), or -errno with why in error. */
    void (*upgrade)(struct api_host *host, const char *binary,
                    void (*done)(int r, const char *binary, const char *version, const char *error,
                                 void *userdata),
                    void *userdata);
};
