/* Configuration: see config.h. The YAML reader (base/yaml.h) walks one document whose root is a
 * mapping of plain keys; droverd's settings take scalar values, and anything else is an error
 * pointing at the line. `services:`, `logging:` and `version:` belong to the services reader of
 * supervise/ (svc_conf_*), which this file hands them to. The embedded default file
 * (default-config.yaml, compiled in) is the only place defaults are written down. */
#include "daemon/config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "auth/auth.h"
#include "base/macro.h"
#include "base/paths.h"
#include "base/yaml.h"
#include "net/net.h"

_Static_assert(CONFIG_ERROR_MAX == YAML_ERROR_MAX, "one error buffer size for both readers");

extern const unsigned char drover_default_config[];
extern const size_t drover_default_config_len;

/* A row says what is particular to its setting: the field, its type (NUM: a whole number and
 * its bounds) and the help line. The YAML key is the field's name, except where the field sits
 * in another module's struct (and for socket_path): the _AS rows give their key. Renaming a
 * field of an OPT or NUM row therefore renames a setting users write. */
#define OPT_AS(k, f, t, h)                                                                         \
    {                                                                                              \
        k, t, offsetof(struct config, f), 0, 0, h                                                  \
    }
#define NUM_AS(k, f, lo, hi, h)                                                                    \
    {                                                                                              \
        k, CONFIG_UINT, offsetof(struct config, f), lo, hi, h                                      \
    }
#define OPT(f, t, h)      OPT_AS(#f, f, t, h)
#define NUM(f, lo, hi, h) NUM_AS(#f, f, lo, hi, h)

static const struct config_option options[] = {
    OPT_AS("socket", socket_path, CONFIG_PATH, "gRPC unix socket"),
    OPT(state_dir, CONFIG_PATH, "state directory (database, logs)"),
    OPT(log_dir, CONFIG_PATH, "service logs (default: <state_dir>/logs)"),
    OPT(log_level, CONFIG_LOG_LEVEL, "error|warning|notice|info|debug"),
    NUM_AS("max_connections", grpc.max_connections, 1, 1000000, "gRPC connections at once"),
    NUM_AS("max_concurrent_streams", grpc.max_concurrent_streams, 1, 65536,
           "gRPC calls in flight per connection"),
    NUM_AS("max_header_list_size", grpc.max_header_list_size, 1024, 1048576,
           "bytes of request headers per call"),
    NUM_AS("max_message_size", grpc.max_message_size, 1024, 64u << 20, "bytes of one gRPC message"),
    NUM_AS("shutdown_timeout_ms", grpc.shutdown_timeout_ms, 0, 3600000, "graceful shutdown bound"),
    NUM_AS("grpc_preface_timeout_ms", grpc.preface_timeout_ms, 0, 3600000,
           "a gRPC connection that sends no HTTP/2 preface this long is closed (0: never)"),
    NUM_AS("grpc_idle_timeout_ms", grpc.idle_timeout_ms, 0, 86400000,
           "a gRPC connection without calls, quiet this long, gets GOAWAY (0: never)"),
    NUM_AS("grpc_keepalive_ms", grpc.keepalive_ms, 0, 86400000,
           "a gRPC connection with calls, quiet this long, is sent a PING (0: never)"),
    NUM_AS("grpc_keepalive_timeout_ms", grpc.keepalive_timeout_ms, 1, 3600000,
           "...and closed when nothing comes back this long"),
    NUM_AS("grpc_queue_budget_bytes", grpc.queue_budget, 1u << 20, 4095u << 20,
           "answers queued for every gRPC client together; past it streams wait, unary "
           "answers go on"),
    OPT(db_path, CONFIG_PATH, "SQLite database (default: STATE_DIR/drover.sqlite3)"),
    NUM(emergency_reserve_bytes, 0, 1u << 30,
        "disk space held back beside the database for a full disk"),
    NUM(shutdown_grace_ms, 100, 3600000,
        "a stop SIGKILLs what still runs this long after it began (services, sessions and, as "
        "PID 1, every process)"),
    NUM(zombie_pass_interval_ms, 0, 86400000, "tracked-process zombie pass period (0: never)"),
    NUM(log_rotate_check_ms, 100, 3600000,
        "how often service log sizes are checked (only while one rotates)"),
    OPT(rp_socket, CONFIG_PATH, "running-process socket ('default': upstream's path; empty: off)"),
    NUM_AS("rp_max_connections", rp.max_connections, 1, 1000000,
           "running-process connections at once"),
    NUM_AS("rp_idle_timeout_ms", rp.idle_timeout_ms, 0, 86400000,
           "close a running-process connection idle this long (0: never)"),
    NUM(session_backlog_bytes, 4096, 1u << 30, "bytes of output kept per session stream"),
    NUM(session_max, 1, 65536, "sessions kept at once (exited ones until purged)"),
    NUM(session_input_max, 4096, 1u << 30, "bytes of input queued per session"),
    NUM(session_tee_queue, 1, 1u << 20, "a session tee's default queue, in chunks"),
    NUM(session_stall_ms, 1, 3600000,
        "an attached client that takes nothing this long stops holding its session back"),
    OPT(grpc_tcp, CONFIG_ADDR, "gRPC over TCP, HOST:PORT ('default': 127.0.0.1:50051; empty: off)"),
    OPT(grpc_tcp_plaintext, CONFIG_BOOL,
        "serve gRPC over TCP without TLS (loopback addresses only)"),
    OPT(grpc_tcp_plaintext_remote, CONFIG_BOOL,
        "serve plaintext gRPC on a non-loopback address (anyone who reaches it controls droverd)"),
    OPT(grpc_tcp_anonymous, CONFIG_SCOPES,
        "scopes of a TCP caller without credentials: none, read or control"),
    OPT(grpc_tls, CONFIG_BOOL,
        "TLS on the TCP door with a self-signed certificate made on first start"),
    OPT(grpc_tls_cert, CONFIG_PATH,
        "TLS certificate (chain) of the TCP door; setting it turns TLS on"),
    OPT(grpc_tls_key, CONFIG_PATH,
        "its private key (default: beside the certificate, grpc-key.pem)"),
    OPT(grpc_tls_sans, CONFIG_STRING,
        "more names and addresses for a generated certificate, comma-separated"),
    OPT(grpc_tls_client_ca, CONFIG_PATH,
        "mTLS: clients must show a certificate signed by one of these CAs (PEM)"),
    OPT(grpc_tls_client_scopes, CONFIG_SCOPES,
        "scopes of a client with a verified certificate: none, read or control"),
    OPT(socket_read_group, CONFIG_STRING,
        "members of this group may use read calls on the unix socket"),
    OPT_AS("auth_tokens", auth.tokens_file, CONFIG_PATH,
           "bearer tokens file: lines 'NAME SCOPES sha256:HEX' (drover token new)"),
    OPT_AS("jwt_secret", auth.jwt_secret, CONFIG_PATH, "file holding the HS256 secret for JWTs"),
    OPT_AS("jwt_public_key", auth.jwt_public_key, CONFIG_PATH,
           "PEM public key or certificate for RS256 (RSA) or ES256 (P-256) JWTs"),
    OPT_AS("jwt_issuer", auth.jwt_issuer, CONFIG_STRING, "JWTs must have this iss"),
    OPT_AS("jwt_audience", auth.jwt_audience, CONFIG_STRING, "JWTs must name this aud"),
    NUM_AS("jwt_leeway_s", auth.jwt_leeway_s, 0, 300,
           "clock skew tolerated on a JWT's exp and nbf, seconds"),
    OPT(audit_file, CONFIG_PATH,
        "audit lines (control calls over TCP, refusals) are appended here too"),
    OPT(http, CONFIG_ADDR,
        "HTTP door (/metrics, /healthz), HOST:PORT ('default': 127.0.0.1:3000; empty: off)"),
    OPT(http_tls, CONFIG_BOOL,
        "serve the HTTP door over TLS (a self-signed certificate is made on first start)"),
    OPT(http_tls_cert, CONFIG_PATH,
        "its certificate (default: $XDG_CONFIG_HOME/drover/tls/cert.pem)"),
    OPT(http_tls_key, CONFIG_PATH, "its private key (default: beside the certificate, key.pem)"),
    OPT(http_tls_sans, CONFIG_STRING,
        "more names and addresses for a generated certificate, comma-separated"),
    OPT(http_auth, CONFIG_BOOL, "/metrics and /ws need a bearer token with scope read"),
    NUM_AS("http_max_connections", http_limits.max_connections, 1, 1000000,
           "HTTP connections at once"),
    NUM_AS("http_max_header_bytes", http_limits.max_header_bytes, 256, 1048576,
           "bytes of an HTTP request's line and headers"),
    NUM_AS("http_max_body_bytes", http_limits.max_body_bytes, 1024, 64u << 20,
           "bytes of an HTTP request's body (a Connect call's request)"),
    NUM_AS("http_header_timeout_ms", http_limits.header_timeout_ms, 100, 3600000,
           "time a client has to send a whole HTTP request head"),
    NUM_AS("http_idle_timeout_ms", http_limits.idle_timeout_ms, 100, 86400000,
           "an idle keep-alive HTTP connection is closed after this long"),
    OPT(stratavore_runner_command, CONFIG_STRING,
        "Stratavore runners' default command, split at spaces, with {project_path}, "
        "{project_name}, {runner_id}, {session_id}, {model}, {temperature}, {max_tokens}"),
    NUM(stratavore_reconcile_ms, 100, 86400000,
        "Stratavore: heartbeat TTLs are checked this often"),
    NUM(stratavore_heartbeat_s, 1, 3600, "Stratavore: runners are told to heartbeat this often"),
    OPT(baaaht_socket, CONFIG_STRING,
        "baaaht's API on this unix socket too (default: /tmp/baaaht-grpc.sock); off when empty"),
    OPT(baaaht_socket_group, CONFIG_STRING, "the group baaaht's socket belongs to (mode 0660)"),
    OPT(baaaht_auth, CONFIG_STRING,
        "on baaaht's socket: peer (droverd's user, root and the group pass; others show a bearer "
        "token) or bearer (everyone does)"),
    NUM(event_ring, 16, 1048576, "events the daemon's event bus keeps for slow subscribers"),
    NUM(agents_max_sessions, 1, 1000000,
        "baaaht: sessions open at once (closed ones do not count)"),
    NUM(agents_idle_timeout_ms, 1, 604800000,
        "baaaht: a session without activity this long becomes idle"),
    NUM(agents_agent_ttl_ms, 1, 86400000,
        "baaaht: an agent that sends no heartbeat this long is terminated"),
    NUM(agents_route_timeout_ms, 1, 86400000,
        "baaaht: a user message's reply from the assistant must come by then"),
    OPT(container_runtime, CONFIG_STRING,
        "the OCI runtime containers run with: auto (crun where it can run, else runc), crun, "
        "runc, or a path"),
    NUM(metrics_ttl_ms, 0, 60000, "a measurement of the machine serves every client this long"),
    OPT(socktop_token, CONFIG_STRING,
        "socktop's /ws requires ?token= this value (also $SOCKTOP_TOKEN); empty: none"),
    NUM_AS("socktop_metrics_ttl_ms", socktop.ttl_metrics_ms, 0, 3600000,
           "socktop: get_metrics answers share a reading this long"),
    NUM_AS("socktop_disks_ttl_ms", socktop.ttl_disks_ms, 0, 3600000,
           "socktop: get_disks answers share a reading this long"),
    NUM_AS("socktop_processes_ttl_ms", socktop.ttl_processes_ms, 0, 3600000,
           "socktop: get_processes answers share a reading this long"),
    NUM_AS("socktop_details_ttl_ms", socktop.ttl_details_ms, 0, 3600000,
           "socktop: get_process_metrics answers are kept this long per pid"),
    NUM_AS("socktop_journal_ttl_ms", socktop.ttl_journal_ms, 0, 3600000,
           "socktop: get_journal_entries answers are kept this long per pid"),
    OPT_AS("socktop_gpu", socktop.gpu, CONFIG_BOOL, "socktop: report NVIDIA GPUs (NVML)"),
    OPT_AS("socktop_temp", socktop.temp, CONFIG_BOOL, "socktop: report the CPU temperature"),
    OPT(podinfo_dir, CONFIG_PATH, "Kubernetes downward-API volume holding the pod's 'labels' file"),
};

/* Its field is a heap string (NULL: none), which config_done frees. */
static bool holds_string(const struct config_option *o)
{
    return o->type == CONFIG_PATH || o->type == CONFIG_ADDR || o->type == CONFIG_STRING;
}

const struct config_option *config_option_at(size_t i)
{
    return i < ARRAY_SIZE(options) ? &options[i] : NULL;
}

const struct config_option *config_option_find(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
        const char *a = options[i].key, *b = name;
        while (*a && (*a == *b || (*a == '_' && *b == '-')))
            a++, b++;
        if (!*a && !*b)
            return &options[i];
    }
    return NULL;
}

static int parse_uint(const char *v, uint32_t min, uint32_t max, uint32_t *ret)
{
    uint64_t n = 0;

    if (!*v)
        return -EINVAL;
    for (; *v; v++) {
        if (*v < '0' || *v > '9')
            return -EINVAL;
        n = n * 10 + (uint64_t)(*v - '0');
        if (n > max)
            return -ERANGE;
    }
    if (n < min)
        return -ERANGE;
    *ret = (uint32_t)n;
    return 0;
}

/* A string option: a copy of value, or NULL for an empty one. */
static int set_string(char **field, const char *value)
{
    char *v = *value ? strdup(value) : NULL;
    if (*value && !v)
        return -ENOMEM;
    free(*field);
    *field = v;
    return 0;
}

int config_set(struct config *c, const struct config_option *o, const char *value, const char *dir,
               const char *where, char err[CONFIG_ERROR_MAX])
{
    void *field = (char *)c + o->offset;
    int r;

    switch (o->type) {
    case CONFIG_PATH: {
        char **p = field;
        char *v = NULL;
        /* An empty path means "the default", filled in by config_finish; so does the word
         * "default" where the default is not to have the thing at all (rp_socket). */
        if (*value &&
            !(v = strcmp(value, "default") ? yaml_resolve_path(value, dir) : strdup(value)))
            return -ENOMEM;
        free(*p);
        *p = v;
        return 0;
    }
    case CONFIG_UINT:
        r = parse_uint(value, o->min, o->max, field);
        if (r == -ERANGE)
            return yaml_fail(err, "%s'%s': %s is out of range (%u to %u)", where, o->key, value,
                             o->min, o->max);
        if (r < 0)
            return yaml_fail(err, "%s'%s': expected a whole number, got '%s'", where, o->key,
                             value);
        return 0;
    case CONFIG_ADDR: {
        struct sockaddr_storage ss;
        if (*value && strcmp(value, "default") != 0 && net_parse_addr(value, &ss) < 0)
            return yaml_fail(err,
                             "%s'%s': expected HOST:PORT with a numeric address or localhost, "
                             "got '%s'",
                             where, o->key, value);
        return set_string(field, value);
    }
    case CONFIG_BOOL: {
        static const char *const yes[] = {"true", "yes", "on", "1"}, *const no[] = {"false", "no",
                                                                                    "off", "0"};
        for (size_t i = 0; i < ARRAY_SIZE(yes); i++)
            if (!strcasecmp(value, yes[i]) || !strcasecmp(value, no[i])) {
                *(bool *)field = !strcasecmp(value, yes[i]);
                return 0;
            }
        return yaml_fail(err, "%s'%s': expected true or false, got '%s'", where, o->key, value);
    }
    case CONFIG_STRING:
        return set_string(field, value);
    case CONFIG_SCOPES: {
        char why[128];
        if (auth_scopes_parse(value, field, why, sizeof why) < 0)
            return yaml_fail(err, "%s'%s': %s", where, o->key, why);
        return 0;
    }
    case CONFIG_LOG_LEVEL:
        if (log_level_from_string(value, field) < 0)
            return yaml_fail(err,
                             "%s'%s': expected error, warning, notice, info or debug, got '%s'",
                             where, o->key, value);
        return 0;
    }
    return -EINVAL;
}

static int read_pair(struct yaml_reader *rd, struct config *c, const yaml_event_t *key,
                     size_t *seen_line, const char *dir)
{
    const char *k = yaml_scalar(key);
    size_t line = yaml_line(key);
    const struct config_option *o = NULL;
    yaml_event_t val;
    char where[256];
    int r;

    for (size_t i = 0; i < ARRAY_SIZE(options); i++)
        if (!strcmp(options[i].key, k))
            o = &options[i];
    if (!o)
        return yaml_fail_at(rd, line, "unknown key '%s'", k);
    size_t idx = (size_t)(o - options);
    if (seen_line[idx])
        return yaml_fail_at(rd, line, "key '%s' given twice (first on line %zu)", k,
                            seen_line[idx]);
    seen_line[idx] = line;

    r = yaml_next(rd, &val);
    if (r < 0)
        return r;
    if (val.type != YAML_SCALAR_EVENT) {
        r = yaml_fail_at(rd, line, "key '%s' takes a single value, not a list or a mapping", k);
    } else if (yaml_is_null(&val) && !holds_string(o) && o->type != CONFIG_SCOPES) {
        r = yaml_fail_at(rd, line, "key '%s' has no value", k);
    } else {
        snprintf(where, sizeof where, "%s:%zu: ", rd->name, yaml_line(&val));
        r = config_set(c, o, yaml_is_null(&val) ? "" : yaml_scalar(&val), dir, where, rd->err);
    }
    yaml_event_delete(&val);
    return r;
}

/* One document being read on top of a configuration. */
struct document {
    struct config *c;                      /* what it sets */
    const char *dir;                       /* for relative paths */
    size_t seen_line[ARRAY_SIZE(options)]; /* where each setting was given, 0: not yet */
};

/* A top-level key: a setting, or one of the services reader's. */
static int read_key(struct yaml_reader *rd, const yaml_event_t *key, void *userdata)
{
    struct document *d = userdata;
    struct config *c = d->c;
    const char *k = yaml_scalar(key);

    if (!strcmp(k, "services"))
        return svc_conf_read_services(rd, yaml_line(key), d->dir, &c->services, &c->n_services);
    if (!strcmp(k, "logging"))
        return svc_conf_read_logging(rd, d->dir, &c->log_dir, &c->log_defaults);
    if (!strcmp(k, "version"))
        return svc_conf_read_version(rd, yaml_line(key));
    return read_pair(rd, c, key, d->seen_line, d->dir);
}

/* Warnings from the readers (settings accepted but ignored) go to droverd's log. */
static void warn(const char *msg)
{
    log_warning("%s", msg);
}

int config_load_yaml(struct config *c, const char *text, size_t len, const char *name,
                     const char *dir, char err[CONFIG_ERROR_MAX])
{
    struct yaml_reader rd = {.name = name, .err = err, .warn = warn};
    struct document d = {.c = c, .dir = dir};
    int r = yaml_read_document(&rd, text, len, read_key, &d);

    if (r >= 0)
        svc_conf_apply_log_defaults(c->services, c->n_services, &c->log_defaults);
    return r;
}

int config_parse_services(const char *text, size_t len, const char *name, const char *dir,
                          struct svc_config **ret, size_t *ret_n, char err[CONFIG_ERROR_MAX])
{
    struct yaml_reader rd = {.name = name, .err = err, .warn = warn};
    return svc_conf_parse(&rd, text, len, dir, ret, ret_n);
}

int config_parse_services_err(const char *text, size_t len, const char *name, const char *dir,
                              struct svc_config **ret, size_t *ret_n, char *err, size_t err_size)
{
    char e[CONFIG_ERROR_MAX] = "";
    int r = config_parse_services(text, len, name, dir, ret, ret_n, e);
    snprintf(err, err_size, "%s", e);
    return r;
}

int config_load_file(struct config *c, const char *path, char err[CONFIG_ERROR_MAX])
{
    _cleanup_free_ char *text = NULL, *dir = NULL;
    size_t len = 0;
    FILE *f = fopen(path, "re");
    int r;

    if (!f)
        return r = -errno, yaml_fail(err, "%s: %s", path, strerror(-r)), r;
    text = malloc(1 << 20);
    if (!text) {
        fclose(f);
        return -ENOMEM;
    }
    len = fread(text, 1, 1 << 20, f);
    bool too_big = !feof(f);
    fclose(f);
    if (too_big)
        return yaml_fail(err, "%s: larger than 1 MiB", path);

    dir = strdup(path);
    if (!dir)
        return -ENOMEM;
    char *slash = strrchr(dir, '/');
    if (slash)
        slash == dir ? (void)(slash[1] = '\0') : (void)(*slash = '\0');
    r = config_load_yaml(c, text, len, path, slash ? dir : NULL, err);
    if (r < 0)
        return r;
    free(c->config_path);
    c->config_path = strdup(path);
    return c->config_path ? 0 : -ENOMEM;
}

int config_init(struct config *c, char err[CONFIG_ERROR_MAX])
{
    *c = (struct config){.http_limits.max_body_bytes = 1u << 20}; /* a Connect call's request */
    return config_load_yaml(c, (const char *)drover_default_config, drover_default_config_len,
                            "(built-in)", NULL, err);
}

/* A TLS door's certificate and key paths where they were not given: the certificate under
 * $XDG_CONFIG_HOME/drover/tls/, the key beside the certificate. */
static int tls_paths(char **cert, char **key, const char *cert_name, const char *key_name)
{
    if (!*cert) {
        _cleanup_free_ char *conf = paths_default_config();
        char *slash = conf ? strrchr(conf, '/') : NULL;
        if (!slash)
            return -ENOMEM;
        *slash = '\0';
        if (asprintf(cert, "%s/tls/%s", conf, cert_name) < 0) {
            *cert = NULL;
            return -ENOMEM;
        }
    }
    if (!*key) {
        char *slash = strrchr(*cert, '/');
        if (asprintf(key, "%.*s/%s", slash ? (int)(slash - *cert) : 1, slash ? *cert : ".",
                     key_name) < 0) {
            *key = NULL;
            return -ENOMEM;
        }
    }
    return 0;
}

int config_finish(struct config *c)
{
    if (!c->socket_path && !(c->socket_path = paths_default_socket()))
        return -ENOMEM;
    if (!c->state_dir && !(c->state_dir = paths_default_state_dir()))
        return -ENOMEM;
    if (c->socket_path && !strcmp(c->socket_path, "default")) {
        free(c->socket_path);
        if (!(c->socket_path = paths_default_socket()))
            return -ENOMEM;
    }
    if (c->grpc_tcp && !strcmp(c->grpc_tcp, "default")) {
        free(c->grpc_tcp);
        if (!(c->grpc_tcp = strdup("127.0.0.1:50051")))
            return -ENOMEM;
    }
    if (c->http && !strcmp(c->http, "default")) {
        free(c->http);
        if (!(c->http = strdup("127.0.0.1:3000")))
            return -ENOMEM;
    }
    if (c->http_tls && tls_paths(&c->http_tls_cert, &c->http_tls_key, "cert.pem", "key.pem") < 0)
        return -ENOMEM;
    if ((c->grpc_tls || c->grpc_tls_cert) &&
        tls_paths(&c->grpc_tls_cert, &c->grpc_tls_key, "grpc-cert.pem", "grpc-key.pem") < 0)
        return -ENOMEM;
    if (c->rp_socket && !strcmp(c->rp_socket, "default")) {
        free(c->rp_socket);
        if (!(c->rp_socket = paths_rp_socket(c->scope)))
            return -ENOMEM;
    }
    if (!c->log_dir && asprintf(&c->log_dir, "%s/logs", c->state_dir) < 0) {
        c->log_dir = NULL;
        return -ENOMEM;
    }
    if ((!c->db_path || !strcmp(c->db_path, "default")) &&
        asprintf(&c->db_path, "%s/drover.sqlite3", c->state_dir) < 0) {
        c->db_path = NULL;
        return -ENOMEM;
    }
    return 0;
}

void config_done(struct config *c)
{
    for (size_t i = 0; i < ARRAY_SIZE(options); i++)
        if (holds_string(&options[i]))
            free(*(char **)((char *)c + options[i].offset));
    free(c->config_path);
    free(c->scope);
    svc_configs_free(c->services, c->n_services);
    *c = (struct config){0};
}

/* socktop's agent reads these variables; droverd honours them on top of its built-in defaults
 * (the configuration file and flags still win). */
static int config_apply_env(struct config *c, char err[CONFIG_ERROR_MAX])
{
    static const struct {
        const char *var; /* socktop's variable */
        const char *key; /* the setting it stands for */
    } vars[] = {
        {"SOCKTOP_TOKEN", "socktop_token"},
        {"SOCKTOP_AGENT_METRICS_TTL_MS", "socktop_metrics_ttl_ms"},
        {"SOCKTOP_AGENT_DISKS_TTL_MS", "socktop_disks_ttl_ms"},
        {"SOCKTOP_AGENT_PROCESSES_TTL_MS", "socktop_processes_ttl_ms"},
        {"SOCKTOP_AGENT_GPU", "socktop_gpu"},
        {"SOCKTOP_AGENT_TEMP", "socktop_temp"},
        {"SOCKTOP_ENABLE_SSL", "http_tls"},
        {"SOCKTOP_AGENT_EXTRA_SANS", "http_tls_sans"},
    };
    char where[96];
    for (size_t i = 0; i < ARRAY_SIZE(vars); i++) {
        const char *v = getenv(vars[i].var);
        if (!v || !*v)
            continue;
        const struct config_option *o = config_option_find(vars[i].key);
        /* socktop's switches: "0" turns the feature off, any other value leaves it on. */
        if (o->type == CONFIG_BOOL)
            v = strcmp(v, "0") == 0 ? "false" : "true";
        snprintf(where, sizeof where, "environment %s: ", vars[i].var);
        int r = config_set(c, o, v, NULL, where, err);
        if (r < 0)
            return r;
    }
    return 0;
}

int config_load_all(struct config *c, const char *path, const struct config_flag *flags,
                    size_t n_flags, char err[CONFIG_ERROR_MAX])
{
    _cleanup_free_ char *def = NULL;
    char where[128];
    int r;

    r = config_init(c, err);
    if (r < 0)
        return r;
    r = config_apply_env(c, err);
    if (r < 0)
        return r;
    if (!path) {
        def = paths_default_config();
        if (!def)
            return -ENOMEM;
        if (access(def, F_OK) == 0)
            path = def;
    }
    if (path) {
        r = config_load_file(c, path, err);
        if (r < 0)
            return r;
    }
    for (size_t i = 0; i < n_flags; i++) {
        snprintf(where, sizeof where, "--%s: ", flags[i].opt->key);
        for (char *p = where; *p; p++)
            *p = *p == '_' ? '-' : *p;
        r = config_set(c, flags[i].opt, flags[i].value, NULL, where, err);
        if (r < 0)
            return r;
    }
    return config_finish(c);
}
