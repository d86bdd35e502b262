/* droverd's settings: one table of options read from YAML (the embedded default, then the user's
 * file) and from command-line flags (--state-dir for state_dir), so adding a setting is one
 * struct field and one table row. Errors name the file, the line and the key. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/rp/rp.h"
#include "api/web/web.h"
#include "auth/auth.h"
#include "base/log.h"
#include "grpc/grpc.h"
#include "http1/http1.h"
#include "supervise/supervise.h"

struct config {
    char *config_path;                /* the file read on top of the defaults, or NULL */
    char *socket_path;                /* gRPC unix socket */
    char *state_dir;                  /* database, logs, snapshots */
    struct grpc_server_limits grpc;   /* gRPC doors: connections, streams, sizes, shutdown bound */
    enum log_level log_level;         /* most verbose level logged */
    char *db_path;                    /* SQLite database */
    uint32_t emergency_reserve_bytes; /* reserve file beside the database */
    uint32_t shutdown_grace_ms;       /* a stop SIGKILLs what still runs after this */
    uint32_t zombie_pass_interval_ms; /* tracked-process zombie pass */
    uint32_t log_rotate_check_ms;     /* service log size checks */
    char *rp_socket;                  /* running-process door, or NULL: off */
    struct rp_limits rp;              /* running-process door: connections, idle close */
    uint32_t session_backlog_bytes;   /* sessions: ring per stream */
    uint32_t session_max;             /* sessions kept */
    uint32_t session_input_max;       /* sessions: queued input bytes */
    uint32_t session_tee_queue;       /* sessions: tee queue, chunks */
    uint32_t session_stall_ms;        /* sessions: a stuck client stops holding output back */
    char *grpc_tcp;                   /* gRPC over TCP: "HOST:PORT", or NULL: off */
    bool grpc_tcp_plaintext;          /* allow plaintext gRPC on a loopback address */
    bool grpc_tcp_plaintext_remote;   /* allow plaintext gRPC on a non-loopback address */
    uint32_t grpc_tcp_anonymous;      /* scopes of a TCP caller without credentials */
    bool grpc_tls;                    /* TLS with a generated certificate */
    char *grpc_tls_cert;              /* TCP door certificate (PEM): TLS on */
    char *grpc_tls_key;               /* its key */
    char *grpc_tls_sans;              /* extra names for a generated certificate */
    char *grpc_tls_client_ca;         /* mTLS: CAs whose client certificates are accepted */
    uint32_t grpc_tls_client_scopes;  /* scopes of a verified client certificate */
    char *socket_read_group;          /* group allowed read calls on the unix socket, or NULL */
    struct auth_opts auth;            /* bearer tokens and JWTs (the strings are owned here) */
    char *audit_file;                 /* audit lines appended here, or NULL */
    char *http;                       /* HTTP door: "HOST:PORT", or NULL: off */
    bool http_tls;                    /* HTTP door over TLS */
    char *http_tls_cert;              /* its certificate (PEM), generated when missing */
    char *http_tls_key;               /* its key (PEM, 0600), generated when missing */
    char *http_tls_sans;              /* extra names/addresses for a generated certificate */
    bool http_auth;                   /* /metrics and /ws need a read token */
    struct http_limits http_limits;   /* HTTP door: connections, head size and time, idle */
    struct socktop_opts socktop;      /* socktop's agent: TTLs, GPUs, temperature */
    uint32_t metrics_ttl_ms;          /* a measurement serves every client this long */
    char *socktop_token;              /* socktop's /ws requires ?token= this, or NULL */
    char *podinfo_dir;                /* Kubernetes downward-API volume (pod labels) */
    char *scope;                      /* running-process scope (compatibility mode), or NULL */
    char *log_dir;                    /* service logs (default <state_dir>/logs) */
    char *stratavore_runner_command;  /* Stratavore runners' default command (split at spaces) */
    uint32_t stratavore_reconcile_ms; /* heartbeat TTLs checked this often */
    uint32_t stratavore_heartbeat_s;  /* the interval runners are told to heartbeat at */
    char *container_runtime;          /* auto, crun, runc or a path */
    uint32_t event_ring;              /* events the bus keeps */
    char *baaaht_socket;              /* baaaht's socket, or NULL: off ("default") */
    char *baaaht_socket_group;        /* its group */
    char *baaaht_auth;                /* "peer" or "bearer" */
    uint32_t agents_max_sessions;     /* baaaht sessions open at once */
    uint32_t agents_idle_timeout_ms;  /* a baaaht session's idle timeout */
    uint32_t agents_agent_ttl_ms;     /* a baaaht agent's heartbeat TTL */
    uint32_t agents_route_timeout_ms; /* the assistant's reply must come by then */
    struct svc_config *services;      /* the `services:` list, defaults applied */
    size_t n_services;                /* its length */

    struct svc_log_defaults log_defaults; /* services' log rotation unless they set theirs */
};

enum config_type {
    CONFIG_PATH,      /* a path; relative ones are taken from the file's directory */
    CONFIG_UINT,      /* decimal, within [min, max] */
    CONFIG_LOG_LEVEL, /* a log level name */
    CONFIG_ADDR,      /* "HOST:PORT" (numeric, or localhost); "default" for the usual one */
    CONFIG_BOOL,      /* true/false, yes/no, on/off, 1/0 */
    CONFIG_STRING,    /* any text; empty is none */
    CONFIG_SCOPES,    /* "none", "read", "control", "read,control": auth scope bits */
};

struct config_option {
    const char *key;       /* YAML key; the flag is --key with '_' as '-' */
    enum config_type type; /* how the value parses */
    size_t offset;         /* field in struct config */
    uint32_t min, max;     /* CONFIG_UINT bounds */
    const char *help;      /* one line for --help */
};

#define CONFIG_ERROR_MAX 512

/* Loads the embedded defaults. Returns -ENOMEM, or -EINVAL if the embedded file is broken. */
int config_init(struct config *c, char err[CONFIG_ERROR_MAX]);
void config_done(struct config *c);
/* Reads YAML text on top of c; name is used in errors, dir resolves relative paths (may be
 * NULL: the current directory). -EINVAL with err filled for a bad document. */
int config_load_yaml(struct config *c, const char *text, size_t len, const char *name,
                     const char *dir, char err[CONFIG_ERROR_MAX]);
/* The services of a YAML document that holds nothing else (drover start FILE): a `services:`
 * list as in droverd's configuration. *ret is freed with svc_configs_free. */
int config_parse_services(const char *text, size_t len, const char *name, const char *dir,
                          struct svc_config **ret, size_t *ret_n, char err[CONFIG_ERROR_MAX]);
/* The same with an error buffer of any size: the faces' parse_services (struct api_host). */
int config_parse_services_err(const char *text, size_t len, const char *name, const char *dir,
                              struct svc_config **ret, size_t *ret_n, char *err, size_t err_size);
/* Reads a YAML file on top of c and records it as config_path. */
int config_load_file(struct config *c, const char *path, char err[CONFIG_ERROR_MAX]);
/* Sets one option from a string (a flag's value, say); where says who gave it, for errors. */
int config_set(struct config *c, const struct config_option *o, const char *value, const char *dir,
               const char *where, char err[CONFIG_ERROR_MAX]);
/* Fills paths left empty with their defaults. */
int config_finish(struct config *c);

/* A setting given on the command line, applied after the files. */
struct config_flag {
    const struct config_option *opt; /* which setting */
    const char *value;               /* its value, from argv */
};

/* The whole sequence: built-in defaults, then the file (path, or the default path when it
 * exists; a path that was asked for must exist), then the flags, then default paths. */
int config_load_all(struct config *c, const char *path, const struct config_flag *flags,
                    size_t n_flags, char err[CONFIG_ERROR_MAX]);

/* The option for a YAML key or a flag name ('-' and '_' are the same); NULL if none. */
const struct config_option *config_option_find(const char *name);
/* The i-th option, for --help; NULL past the end. */
const struct config_option *config_option_at(size_t i);
