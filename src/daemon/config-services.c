/* The `services:` list of the YAML configuration, and the top-level `logging:` mapping that gives
 * their log defaults. One mapping per service, in drover's keys and superviz's (command + args,
 * working_dir, environment, restart {policy, max_retries, delay, delay_max, stability_window},
 * depends_on, health_checks, listeners[].probe, logging {stdout, stderr}), with file:line errors
 * for unknown keys, bad values, dependencies outside the list and dependency cycles.
 *
 * Health checks from all three places (drover's `probe`, superviz's `health_checks` list and each
 * listener's `probe`) become the service's probes; each place keeps its own defaults (superviz
 * expects status 200, drover any 2xx or 3xx). Probe types drover cannot run (udp, grpc, icmp)
 * and compressed rotation are errors, not settings silently ignored. timestamp_format is
 * accepted with a warning: services write their log files themselves, byte-exact.
 *
 * Durations are milliseconds as numbers, or strings with a unit ("500ms", "5s", "2m", "1h",
 * "7d"). Services from the file start with droverd unless `autostart: false`. */
#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/strv.h"
#include "daemon/config-internal.h"

#define DEFAULT_RESTART_DELAY_MS     500
#define DEFAULT_RESTART_DELAY_MAX_MS 30000
#define DEFAULT_MIN_UPTIME_MS        2000
#define DEFAULT_KILL_TIMEOUT_MS      3000
#define MAX_SERVICES                 4096
#define MAX_WORDS                    1024
#define MAX_PROBES                   64
#define UNSET_U32                    UINT32_MAX /* log settings the file's defaults fill */
#define UNSET_U64                    UINT64_MAX

/* Appends a word to a vector, at most MAX_WORDS of them. */
static int push_word(char ***v, size_t *n, char *s)
{
    if (*n >= MAX_WORDS) {
        free(s);
        return -E2BIG;
    }
    return strv_push(v, n, s);
}

/* One service being read. */
struct svc_reader {
    struct reader *rd;    /* the file */
    const char *dir;      /* for relative paths */
    struct svc_config c;  /* the definition */
    size_t n_argv, n_env; /* lengths of c.argv, c.env */
    char **args;          /* superviz's args, appended to command */
    size_t n_args;        /* their number */
    bool seen_cmd;        /* cmd or command given */
    bool rotation_set;    /* logging.stdout/stderr.rotation given (both must agree) */
};

static const char *scalar(const yaml_event_t *ev)
{
    return (const char *)ev->data.scalar.value;
}

static size_t line_of(const yaml_event_t *ev)
{
    return ev->start_mark.line + 1;
}

static int err_at(struct svc_reader *r, const yaml_event_t *ev, const char *fmt, const char *a,
                  const char *b)
{
    char msg[CONFIG_ERROR_MAX];
    snprintf(msg, sizeof msg, fmt, a, b);
    return config_fail(r->rd->err, "%s:%zu: %s", r->rd->name, line_of(ev), msg);
}

/* The next event, which must be a scalar; its text in *ret (owned by ev). */
static int want_scalar(struct svc_reader *r, const char *key, yaml_event_t *ev)
{
    int e = config_next_event(r->rd, ev);
    if (e < 0)
        return e;
    if (ev->type != YAML_SCALAR_EVENT) {
        e = err_at(r, ev, "service key '%s' takes a single value%s", key, "");
        yaml_event_delete(ev);
        return e;
    }
    return 0;
}

static int parse_bool(const char *v, bool *ret)
{
    if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on")) {
        *ret = true;
        return 0;
    }
    if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "off")) {
        *ret = false;
        return 0;
    }
    return -EINVAL;
}

/* A duration in units of unit_ms: "250" (unit_ms 1: milliseconds), "250ms", "5s", "2m", "1h",
 * "7d". */
static int parse_duration(const char *v, double unit_ms, uint32_t *ret)
{
    char *end;
    double x = strtod(v, &end);
    double mult = !*end                ? unit_ms
                  : !strcmp(end, "ms") ? 1
                  : !strcmp(end, "s")  ? 1000
                  : !strcmp(end, "m")  ? 60000
                  : !strcmp(end, "h")  ? 3600000
                  : !strcmp(end, "d")  ? 86400000
                                       : -1;
    if (end == v || mult < 0 || !(x >= 0) || x * mult / unit_ms > UINT32_MAX)
        return -EINVAL;
    *ret = (uint32_t)(x * mult / unit_ms);
    return 0;
}

static int parse_ms(const char *v, uint32_t *ret)
{
    return parse_duration(v, 1, ret);
}

/* Like parse_ms, but a probe's intervals, timeouts and thresholds must not be 0. */
static int parse_nonzero_ms(const char *v, uint32_t *ret)
{
    int e = parse_ms(v, ret);
    return e < 0 || *ret ? e : -EINVAL;
}

/* Bytes: "1048576", "512K", "10M", "1G". */
static int parse_size(const char *v, uint64_t *ret)
{
    char *end;
    unsigned long long x = strtoull(v, &end, 10);
    uint64_t mult = !*end                                     ? 1
                    : !strcmp(end, "K") || !strcmp(end, "KB") ? 1024
                    : !strcmp(end, "M") || !strcmp(end, "MB") ? 1024 * 1024
                    : !strcmp(end, "G") || !strcmp(end, "GB") ? 1024 * 1024 * 1024
                                                              : 0;
    if (end == v || v[0] == '-' || !mult || x > UINT64_MAX / mult)
        return -EINVAL;
    *ret = x * mult;
    return 0;
}

static int parse_count(const char *v, uint32_t *ret)
{
    char *end;
    unsigned long x = strtoul(v, &end, 10);
    if (!*v || *end || v[0] == '-' || x > UINT32_MAX)
        return -EINVAL;
    *ret = (uint32_t)x;
    return 0;
}

static int parse_nonzero(const char *v, uint32_t *ret)
{
    int e = parse_count(v, ret);
    return e < 0 || *ret ? e : -EINVAL;
}

/* A whitespace-separated command (superviz splits on whitespace, no shell), appended to *v. */
static int push_split(char ***v, size_t *n, const char *text)
{
    _cleanup_free_ char *copy = strdup(text);
    char *save = NULL;
    int e = copy ? 0 : -ENOMEM;

    for (char *w = copy ? strtok_r(copy, " \t\n", &save) : NULL; e == 0 && w;
         w = strtok_r(NULL, " \t\n", &save))
        e = push_word(v, n, strdup(w));
    return e;
}

static int parse_policy(const char *v, enum svc_restart *ret)
{
    if (!strcmp(v, "always") || !strcmp(v, "unless-stopped"))
        *ret = SVC_RESTART_ALWAYS;
    else if (!strcmp(v, "on-failure"))
        *ret = SVC_RESTART_ON_FAILURE;
    else if (!strcmp(v, "never") || !strcmp(v, "no"))
        *ret = SVC_RESTART_NEVER;
    else
        return -EINVAL;
    return 0;
}

/* A user name or numeric id; the group defaults to the user's. */
static int parse_user(const char *v, struct svc_config *c)
{
    struct passwd pw, *res = NULL;
    char buf[4096], *end;
    unsigned long id = strtoul(v, &end, 10);

    if (*v && !*end && id <= UINT32_MAX) {
        if (getpwuid_r((uid_t)id, &pw, buf, sizeof buf, &res) != 0 || !res) {
            c->uid = (uid_t)id; /* a numeric id need not be in passwd */
            if (!c->set_ids)
                c->gid = (gid_t)id;
            c->set_ids = true;
            return 0;
        }
    } else if (getpwnam_r(v, &pw, buf, sizeof buf, &res) != 0 || !res) {
        return -EINVAL;
    }
    if (!c->set_ids || c->gid == (gid_t)-1)
        c->gid = pw.pw_gid;
    c->uid = pw.pw_uid;
    c->set_ids = true;
    return 0;
}

static int parse_group(const char *v, struct svc_config *c)
{
    struct group gr, *res = NULL;
    char buf[4096], *end;
    unsigned long id = strtoul(v, &end, 10);

    if (*v && !*end && id <= UINT32_MAX)
        c->gid = (gid_t)id;
    else if (getgrnam_r(v, &gr, buf, sizeof buf, &res) == 0 && res)
        c->gid = gr.gr_gid;
    else
        return -EINVAL;
    if (!c->set_ids)
        c->uid = getuid(); /* a group alone: same user, other group */
    c->set_ids = true;
    return 0;
}

static int parse_signal(const char *v, int *ret)
{
    int sig = svc_signal_from_name(v);
    if (sig < 0)
        return -EINVAL;
    *ret = sig;
    return 0;
}

/* Takes the event that opens the value of key, which must be a collection of this type. */
static int open_collection(struct svc_reader *r, const char *key, yaml_event_type_t type,
                           const char *what)
{
    yaml_event_t ev;
    int e = config_next_event(r->rd, &ev);

    if (e < 0)
        return e;
    if (ev.type != type)
        e = err_at(r, &ev, "service key '%s' takes %s", key, what);
    yaml_event_delete(&ev);
    return e;
}

/* The next item of an open collection: 1 with *ev (the caller deletes it), 0 once the
 * collection ends (its end event consumed), or -errno. */
static int next_item(struct reader *rd, yaml_event_type_t end, yaml_event_t *ev)
{
    int e = config_next_event(rd, ev);
    if (e < 0)
        return e;
    if (ev->type == end) {
        yaml_event_delete(ev);
        return 0;
    }
    return 1;
}

/* A list of scalars into a vector (cmd, args). */
static int read_words(struct svc_reader *r, const char *key, char ***v, size_t *n)
{
    yaml_event_t ev;
    int e = open_collection(r, key, YAML_SEQUENCE_START_EVENT, "a list");

    if (e < 0)
        return e;
    while ((e = next_item(r->rd, YAML_SEQUENCE_END_EVENT, &ev)) > 0) {
        if (ev.type != YAML_SCALAR_EVENT) {
            e = err_at(r, &ev, "'%s' holds words, not lists or mappings%s", key, "");
            yaml_event_delete(&ev);
            return e;
        }
        e = push_word(v, n, strdup(scalar(&ev)));
        yaml_event_delete(&ev);
        if (e < 0)
            return e;
    }
    return e;
}

/* A mapping of NAME: value into env entries, in file order. */
static int read_env(struct svc_reader *r, const char *key)
{
    yaml_event_t k, v;
    int e = open_collection(r, key, YAML_MAPPING_START_EVENT, "a mapping of NAME: value");

    if (e < 0)
        return e;
    while ((e = next_item(r->rd, YAML_MAPPING_END_EVENT, &k)) > 0) {
        if (k.type != YAML_SCALAR_EVENT || !*scalar(&k) || strchr(scalar(&k), '=')) {
            e = err_at(r, &k, "'%s' wants variable names (no '='), not '%s'", key,
                       k.type == YAML_SCALAR_EVENT ? scalar(&k) : "a list or mapping");
            yaml_event_delete(&k);
            return e;
        }
        if ((e = want_scalar(r, scalar(&k), &v)) < 0) {
            yaml_event_delete(&k);
            return e;
        }
        char *entry;
        e = asprintf(&entry, "%s=%s", scalar(&k), scalar(&v)) < 0 ? -ENOMEM : 0;
        if (e == 0)
            e = push_word(&r->c.env, &r->n_env, entry);
        yaml_event_delete(&k);
        yaml_event_delete(&v);
        if (e < 0)
            return e;
    }
    return e;
}

/* superviz's restart: {policy, max_retries, delay, delay_max, stability_window}. */
static int read_restart_map(struct svc_reader *r)
{
    yaml_event_t k, v;
    int e;

    while ((e = next_item(r->rd, YAML_MAPPING_END_EVENT, &k)) > 0) {
        const char *key = k.type == YAML_SCALAR_EVENT ? scalar(&k) : "";
        if ((e = want_scalar(r, key, &v)) < 0) {
            yaml_event_delete(&k);
            return e;
        }
        const char *val = scalar(&v);
        if (!strcmp(key, "policy"))
            e = parse_policy(val, &r->c.restart);
        else if (!strcmp(key, "max_retries"))
            e = parse_count(val, &r->c.max_restarts);
        else if (!strcmp(key, "delay"))
            e = parse_ms(val, &r->c.restart_delay_ms);
        else if (!strcmp(key, "delay_max"))
            e = parse_ms(val, &r->c.restart_delay_max_ms);
        else if (!strcmp(key, "stability_window"))
            e = parse_ms(val, &r->c.min_uptime_ms);
        else
            e = -ENOENT;
        if (e == -ENOENT)
            e = err_at(r, &k, "unknown key 'restart.%s'%s", key, "");
        else if (e < 0)
            e = err_at(r, &v, "bad value '%s' for 'restart.%s'", val, key);
        yaml_event_delete(&k);
        yaml_event_delete(&v);
        if (e < 0)
            return e;
    }
    return e;
}

static int read_scalar_key(struct svc_reader *r, const yaml_event_t *k, const char *key)
{
    yaml_event_t v;
    bool b;
    int e = want_scalar(r, key, &v);

    if (e < 0)
        return e;
    const char *val = scalar(&v);
    if (!strcmp(key, "name")) {
        free(r->c.name);
        e = (r->c.name = strdup(val)) ? 0 : -ENOMEM;
    } else if (!strcmp(key, "command")) {
        r->seen_cmd = true;
        e = push_split(&r->c.argv, &r->n_argv, val);
    } else if (!strcmp(key, "cwd") || !strcmp(key, "working_dir")) {
        free(r->c.cwd);
        e = (r->c.cwd = config_resolve_path(val, r->dir)) ? 0 : -ENOMEM;
    } else if (!strcmp(key, "restart")) {
        e = parse_policy(val, &r->c.restart);
    } else if (!strcmp(key, "autorestart")) {
        e = parse_bool(val, &b);
        if (e == 0 && !b)
            r->c.restart = SVC_RESTART_NEVER;
    } else if (!strcmp(key, "max_restarts")) {
        e = parse_count(val, &r->c.max_restarts);
    } else if (!strcmp(key, "restart_delay_ms") || !strcmp(key, "restart_delay")) {
        e = parse_ms(val, &r->c.restart_delay_ms);
    } else if (!strcmp(key, "restart_delay_max_ms") || !strcmp(key, "restart_delay_max")) {
        e = parse_ms(val, &r->c.restart_delay_max_ms);
    } else if (!strcmp(key, "min_uptime_ms") || !strcmp(key, "min_uptime")) {
        e = parse_ms(val, &r->c.min_uptime_ms);
    } else if (!strcmp(key, "kill_timeout_ms") || !strcmp(key, "kill_timeout")) {
        e = parse_ms(val, &r->c.kill_timeout_ms);
    } else if (!strcmp(key, "stop_signal")) {
        e = parse_signal(val, &r->c.stop_signal);
    } else if (!strcmp(key, "user")) {
        e = parse_user(val, &r->c);
    } else if (!strcmp(key, "group")) {
        e = parse_group(val, &r->c);
    } else if (!strcmp(key, "umask")) {
        char *end;
        long m = strtol(val, &end, 8);
        e = !*val || *end || m < 0 || m > 0777 ? -EINVAL : 0;
        r->c.umask = (unsigned)m;
        r->c.set_umask = true;
    } else if (!strcmp(key, "log_max_size")) {
        e = parse_size(val, &r->c.log_max_bytes);
    } else if (!strcmp(key, "log_keep")) {
        e = parse_count(val, &r->c.log_keep);
    } else if (!strcmp(key, "log_max_age")) {
        e = parse_duration(val, 1000, &r->c.log_max_age_s);
    } else if (!strcmp(key, "oneshot")) {
        e = parse_bool(val, &r->c.oneshot);
    } else if (!strcmp(key, "autostart")) {
        e = parse_bool(val, &r->c.autostart);
    } else {
        e = -ENOENT;
    }
    if (e == -EINVAL)
        e = err_at(r, &v, "bad value '%s' for '%s'", val, key);
    else if (e == -ENOENT)
        e = err_at(r, k, "unknown service key '%s'%s", key, "");
    yaml_event_delete(&v);
    return e;
}

/* ---- mappings ---- */

/* Replaces *dst with a copy of v. */
static int set_str(char **dst, const char *v)
{
    char *copy = strdup(v);
    if (!copy)
        return -ENOMEM;
    free(*dst);
    *dst = copy;
    return 0;
}

/* Reads the value of one key of a mapping; path names it for errors ("probe.port"). */
typedef int (*key_fn)(struct svc_reader *r, const yaml_event_t *k, const char *path, void *ctx);

/* Walks an open mapping (its start consumed) key by key. */
static int walk_map(struct svc_reader *r, const char *prefix, key_fn fn, void *ctx)
{
    yaml_event_t k;
    int e;

    while ((e = next_item(r->rd, YAML_MAPPING_END_EVENT, &k)) > 0) {
        char path[160];
        if (k.type != YAML_SCALAR_EVENT)
            e = err_at(r, &k, "keys of '%s' must be plain names%s", prefix, "");
        else if (snprintf(path, sizeof path, "%s.%s", prefix, scalar(&k)) >= (int)sizeof path)
            e = err_at(r, &k, "key '%.60s...' is too long%s", scalar(&k), "");
        else
            e = fn(r, &k, path, ctx);
        yaml_event_delete(&k);
        if (e < 0)
            return e;
    }
    return e;
}

/* Reads key's scalar value and hands it to parse; its -EINVAL and -ENOENT become file:line
 * errors. */
static int scalar_value(struct svc_reader *r, const yaml_event_t *k, const char *path,
                        int (*parse)(struct svc_reader *r, const char *key, const char *val,
                                     void *ctx),
                        void *ctx)
{
    yaml_event_t v;
    int e = want_scalar(r, path, &v);

    if (e < 0)
        return e;
    e = parse(r, scalar(k), scalar(&v), ctx);
    if (e == -ENOENT)
        e = err_at(r, k, "unknown key '%s'%s", path, "");
    else if (e == -EINVAL)
        e = err_at(r, &v, "bad value '%s' for '%s'", scalar(&v), path);
    yaml_event_delete(&v);
    return e;
}

static void warn_timestamps(struct svc_reader *r, const char *val)
{
    if (*val && strcmp(val, "none") != 0)
        log_warning("%s: timestamp_format '%s' is ignored: services write their logs "
                    "themselves, byte-exact, without timestamps",
                    r->rd->name, val);
}

/* ---- log rotation ---- */

struct rotation {
    uint64_t max_bytes; /* UNSET_U64 when not given */
    uint32_t keep;      /* UNSET_U32 when not given */
    uint32_t max_age_s; /* UNSET_U32 when not given */
};

static int rotation_value(struct svc_reader *r, const char *key, const char *val, void *ctx)
{
    struct rotation *rot = ctx;
    bool b;
    (void)r;

    if (!strcmp(key, "max_size"))
        return parse_size(val, &rot->max_bytes);
    if (!strcmp(key, "max_files"))
        return parse_count(val, &rot->keep);
    if (!strcmp(key, "max_age"))
        return parse_duration(val, 1000, &rot->max_age_s);
    if (!strcmp(key, "compress"))
        return parse_bool(val, &b) < 0 ? -EINVAL : b ? -EOPNOTSUPP : 0;
    return -ENOENT;
}

static int rotation_key(struct svc_reader *r, const yaml_event_t *k, const char *path, void *ctx)
{
    int e = scalar_value(r, k, path, rotation_value, ctx);
    if (e == -EOPNOTSUPP)
        e = err_at(r, k, "'%s: true' is not supported: rotated logs stay uncompressed%s", path, "");
    return e;
}

/* rotation: {max_size, max_files, max_age, compress: false}. */
static int read_rotation(struct svc_reader *r, const char *path, struct rotation *rot)
{
    int e = open_collection(r, path, YAML_MAPPING_START_EVENT, "a mapping");
    return e < 0 ? e : walk_map(r, path, rotation_key, rot);
}

/* ---- probes ---- */

/* One probe being read, from any of the three places. */
struct probe_reader {
    struct svc_probe p; /* the probe */
    size_t n_argv;      /* length of p.argv */
    char **args;        /* superviz's args, appended to command */
    size_t n_args;      /* their number */
    bool typed;         /* type given */
};

/* endpoint: "http://host[:port]/path" (host may be [v6]), or a path alone. */
static int parse_endpoint(const char *v, struct svc_probe *p)
{
    const char *path = v;

    if (!strncmp(v, "http://", 7)) {
        const char *auth = v + 7;
        path = auth + strcspn(auth, "/");
        _cleanup_free_ char *hostport = strndup(auth, (size_t)(path - auth));
        char *host = hostport, *digits = NULL;
        uint32_t port = 80;
        if (!hostport)
            return -ENOMEM;
        if (host[0] == '[') {
            char *close = strchr(host, ']');
            if (!close || (close[1] && close[1] != ':'))
                return -EINVAL;
            *close = '\0';
            host++;
            digits = close[1] ? close + 2 : NULL;
        } else if ((digits = strchr(host, ':'))) {
            *digits++ = '\0';
        }
        if (!*host || (digits && (parse_count(digits, &port) < 0 || !port || port > 65535)))
            return -EINVAL;
        if (set_str(&p->host, host) < 0)
            return -ENOMEM;
        p->port = (uint16_t)port;
    } else if (v[0] != '/') {
        return -EINVAL; /* https, and anything else */
    }
    return set_str(&p->path, *path ? path : "/");
}

static int probe_value(struct svc_reader *r, const char *key, const char *val, void *ctx)
{
    struct probe_reader *pr = ctx;
    struct svc_probe *p = &pr->p;
    uint32_t port;
    (void)r;

    if (!strcmp(key, "type")) {
        pr->typed = true;
        if (!strcmp(val, "exec") || !strcmp(val, "command"))
            p->kind = SVC_PROBE_EXEC;
        else if (!strcmp(val, "tcp"))
            p->kind = SVC_PROBE_TCP;
        else if (!strcmp(val, "http"))
            p->kind = SVC_PROBE_HTTP;
        else if (!strcmp(val, "udp") || !strcmp(val, "grpc") || !strcmp(val, "icmp"))
            return -EOPNOTSUPP;
        else
            return -EINVAL;
        return 0;
    }
    if (!strcmp(key, "command"))
        return push_split(&p->argv, &pr->n_argv, val);
    if (!strcmp(key, "name"))
        return set_str(&p->name, val);
    if (!strcmp(key, "host") || !strcmp(key, "address"))
        return set_str(&p->host, val);
    if (!strcmp(key, "path"))
        return set_str(&p->path, val);
    if (!strcmp(key, "endpoint"))
        return parse_endpoint(val, p);
    if (!strcmp(key, "method")) {
        if (!*val || strlen(val) > 16 || strspn(val, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != strlen(val))
            return -EINVAL;
        return set_str(&p->method, val);
    }
    if (!strcmp(key, "port")) {
        if (parse_count(val, &port) < 0 || port == 0 || port > 65535)
            return -EINVAL;
        p->port = (uint16_t)port;
        return 0;
    }
    if (!strcmp(key, "status_code"))
        return parse_count(val, &p->status);
    if (!strcmp(key, "interval"))
        return parse_nonzero_ms(val, &p->interval_ms);
    if (!strcmp(key, "timeout"))
        return parse_nonzero_ms(val, &p->timeout_ms);
    if (!strcmp(key, "failure_threshold") || !strcmp(key, "retries"))
        return parse_nonzero(val, &p->failure_threshold);
    if (!strcmp(key, "success_threshold"))
        return parse_nonzero(val, &p->success_threshold);
    return -ENOENT;
}

static int probe_key(struct svc_reader *r, const yaml_event_t *k, const char *path, void *ctx)
{
    struct probe_reader *pr = ctx;

    if (!strcmp(scalar(k), "cmd"))
        return read_words(r, path, &pr->p.argv, &pr->n_argv);
    if (!strcmp(scalar(k), "args"))
        return read_words(r, path, &pr->args, &pr->n_args);
    int e = scalar_value(r, k, path, probe_value, ctx);
    if (e == -EOPNOTSUPP)
        e = err_at(r, k, "'%s': this probe type is not supported (exec, tcp or http)%s", path, "");
    return e;
}

/* Reads an open probe mapping into pr (defaults set by the caller). */
static int read_probe_map(struct svc_reader *r, const char *path, struct probe_reader *pr)
{
    int e = walk_map(r, path, probe_key, pr);
    for (size_t i = 0; e >= 0 && i < pr->n_args; i++)
        e = push_word(&pr->p.argv, &pr->n_argv, strdup(pr->args[i]));
    strv_free(pr->args);
    pr->args = NULL;
    if (e >= 0 && !pr->typed)
        pr->p.kind = pr->p.argv ? SVC_PROBE_EXEC : pr->p.path ? SVC_PROBE_HTTP : SVC_PROBE_TCP;
    return e;
}

static bool numeric_host(const char *h)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, h, buf) == 1 || inet_pton(AF_INET6, h, buf) == 1;
}

/* Checks a probe read at ev and moves it into the service's list. */
static int add_probe(struct svc_reader *r, const yaml_event_t *ev, const char *path,
                     struct probe_reader *pr)
{
    struct svc_probe *p = &pr->p;
    int e = 0;

    if (p->kind == SVC_PROBE_EXEC && !p->argv)
        e = err_at(r, ev, "'%s': an exec probe needs a 'command' (or 'cmd')%s", path, "");
    else if (p->kind != SVC_PROBE_EXEC && !p->port)
        e = err_at(r, ev, "'%s': a %s probe needs a 'port'", path,
                   p->kind == SVC_PROBE_TCP ? "tcp" : "http");
    else if (p->host && strcmp(p->host, "localhost") != 0 && !numeric_host(p->host))
        e = err_at(r, ev,
                   "'%s': host '%s' must be a numeric address or localhost (probes do not "
                   "wait on DNS)",
                   path, p->host);
    else if (r->c.n_probes >= MAX_PROBES)
        e = err_at(r, ev, "'%s': more than 64 probes%s", path, "");
    if (p->kind != SVC_PROBE_HTTP)
        p->status = 0; /* superviz's default 200 means nothing here */
    struct svc_probe *v = e < 0 ? NULL : reallocarray(r->c.probes, r->c.n_probes + 1, sizeof *v);
    if (!v) {
        svc_probe_done(p);
        return e < 0 ? e : -ENOMEM;
    }
    r->c.probes = v;
    v[r->c.n_probes++] = *p;
    *p = (struct svc_probe){0};
    return 0;
}

/* drover's probe: {type: exec|tcp|http, command|cmd, host, port, path, method, status_code,
 * interval, timeout, failure_threshold, success_threshold}. Any 2xx or 3xx is healthy unless
 * status_code says otherwise. */
static int read_probe(struct svc_reader *r, const yaml_event_t *k, const char *key)
{
    struct probe_reader pr = {.p = {.interval_ms = 10000,
                                    .timeout_ms = 5000,
                                    .failure_threshold = 3,
                                    .success_threshold = 1}};
    int e = open_collection(r, key, YAML_MAPPING_START_EVENT, "a mapping");

    if (e >= 0)
        e = read_probe_map(r, key, &pr);
    if (e < 0) {
        svc_probe_done(&pr.p);
        return e;
    }
    return add_probe(r, k, key, &pr);
}

/* superviz's health_checks: a list of {name, type: http|tcp|command, interval, timeout,
 * retries, endpoint, method, status_code, host, port, command}, expecting 200 by default. */
static int read_health_checks(struct svc_reader *r, const char *key)
{
    yaml_event_t ev;
    int e = open_collection(r, key, YAML_SEQUENCE_START_EVENT, "a list of checks");

    while (e >= 0 && (e = next_item(r->rd, YAML_SEQUENCE_END_EVENT, &ev)) > 0) {
        struct probe_reader pr = {.p = {.interval_ms = 30000,
                                        .timeout_ms = 5000,
                                        .failure_threshold = 3,
                                        .success_threshold = 1,
                                        .status = 200}};
        if (ev.type != YAML_MAPPING_START_EVENT)
            e = err_at(r, &ev, "each of '%s' is a mapping (type: ..., ...)%s", key, "");
        else if ((e = read_probe_map(r, key, &pr)) >= 0)
            e = add_probe(r, &ev, key, &pr);
        else
            svc_probe_done(&pr.p);
        yaml_event_delete(&ev);
    }
    return e;
}

/* One listener being read: {name, port, protocol, address, exposed, probe}. */
struct listener_reader {
    struct probe_reader pr; /* its probe */
    bool has_probe;         /* probe given */
    char *address;          /* where the probe connects (default localhost) */
    uint16_t port;          /* the port it listens on */
};

static int listener_value(struct svc_reader *r, const char *key, const char *val, void *ctx)
{
    struct listener_reader *l = ctx;
    uint32_t port;
    bool b;
    (void)r;

    if (!strcmp(key, "name"))
        return set_str(&l->pr.p.name, val);
    if (!strcmp(key, "address"))
        return set_str(&l->address, val);
    if (!strcmp(key, "port")) {
        if (parse_count(val, &port) < 0 || port == 0 || port > 65535)
            return -EINVAL;
        l->port = (uint16_t)port;
        return 0;
    }
    if (!strcmp(key, "protocol"))
        return !strcmp(val, "tcp") || !strcmp(val, "udp") ? 0 : -EINVAL;
    if (!strcmp(key, "exposed"))
        return parse_bool(val, &b);
    return -ENOENT;
}

static int listener_key(struct svc_reader *r, const yaml_event_t *k, const char *path, void *ctx)
{
    struct listener_reader *l = ctx;
    int e;

    if (strcmp(scalar(k), "probe") != 0)
        return scalar_value(r, k, path, listener_value, ctx);
    if ((e = open_collection(r, path, YAML_MAPPING_START_EVENT, "a mapping")) < 0)
        return e;
    l->has_probe = true;
    return read_probe_map(r, path, &l->pr);
}

/* superviz's listeners: a probe, if the listener has one, checks the listener's address and
 * port unless it names its own. */
static int read_listeners(struct svc_reader *r, const char *key)
{
    yaml_event_t ev;
    int e = open_collection(r, key, YAML_SEQUENCE_START_EVENT, "a list of listeners");

    while (e >= 0 && (e = next_item(r->rd, YAML_SEQUENCE_END_EVENT, &ev)) > 0) {
        struct listener_reader l = {.pr.p = {.interval_ms = 10000,
                                             .timeout_ms = 5000,
                                             .failure_threshold = 3,
                                             .success_threshold = 1,
                                             .status = 200}};
        if (ev.type != YAML_MAPPING_START_EVENT)
            e = err_at(r, &ev, "each of '%s' is a mapping (name: ..., port: ...)%s", key, "");
        else
            e = walk_map(r, key, listener_key, &l);
        if (e >= 0 && !l.port)
            e = err_at(r, &ev, "a listener needs a 'port'%s%s", "", "");
        if (e >= 0 && l.has_probe) {
            if (!l.pr.p.port)
                l.pr.p.port = l.port;
            if (!l.pr.p.host && l.address)
                l.pr.p.host = strdup(l.address);
            e = add_probe(r, &ev, "listeners.probe", &l.pr);
        } else {
            svc_probe_done(&l.pr.p);
        }
        free(l.address);
        yaml_event_delete(&ev);
    }
    return e;
}

/* ---- a service's logging ---- */

/* logging.stdout or logging.stderr of a service: {file, timestamp_format, rotation}. */
struct stream_reader {
    char **file;          /* the service's log_file[i] */
    struct rotation *rot; /* what rotation says */
};

static int stream_value(struct svc_reader *r, const char *key, const char *val, void *ctx)
{
    struct stream_reader *sr = ctx;

    if (!strcmp(key, "file")) /* relative to the log directory: the engine resolves it */
        return *val ? set_str(sr->file, val) : -EINVAL;
    if (!strcmp(key, "timestamp_format")) {
        warn_timestamps(r, val);
        return 0;
    }
    return -ENOENT;
}

static int stream_key(struct svc_reader *r, const yaml_event_t *k, const char *path, void *ctx)
{
    struct stream_reader *sr = ctx;
    if (!strcmp(scalar(k), "rotation"))
        return read_rotation(r, path, sr->rot);
    return scalar_value(r, k, path, stream_value, ctx);
}

static int service_logging_key(struct svc_reader *r, const yaml_event_t *k, const char *path,
                               void *ctx)
{
    int i = !strcmp(scalar(k), "stdout") ? 0 : !strcmp(scalar(k), "stderr") ? 1 : -1;
    struct rotation rot = {UNSET_U64, UNSET_U32, UNSET_U32};
    struct stream_reader sr = {.file = &r->c.log_file[i < 0 ? 0 : i], .rot = &rot};
    int e;
    (void)ctx;

    if (i < 0)
        return err_at(r, k, "unknown key '%s' (stdout or stderr)%s", path, "");
    if ((e = open_collection(r, path, YAML_MAPPING_START_EVENT, "a mapping")) < 0 ||
        (e = walk_map(r, path, stream_key, &sr)) < 0)
        return e;
    if (rot.max_bytes == UNSET_U64 && rot.keep == UNSET_U32 && rot.max_age_s == UNSET_U32)
        return 0;
    /* Both files of a service rotate alike. */
    if (r->rotation_set && (rot.max_bytes != r->c.log_max_bytes || rot.keep != r->c.log_keep ||
                            rot.max_age_s != r->c.log_max_age_s))
        return err_at(r, k,
                      "'%s.rotation' differs from the other stream's: a service's logs "
                      "rotate alike%s",
                      path, "");
    r->rotation_set = true;
    r->c.log_max_bytes = rot.max_bytes;
    r->c.log_keep = rot.keep;
    r->c.log_max_age_s = rot.max_age_s;
    return 0;
}

static int read_service_logging(struct svc_reader *r, const char *key)
{
    int e = open_collection(r, key, YAML_MAPPING_START_EVENT, "a mapping (stdout, stderr)");
    return e < 0 ? e : walk_map(r, key, service_logging_key, NULL);
}

static int read_key(struct svc_reader *r, const yaml_event_t *k)
{
    const char *key = scalar(k);

    if (!strcmp(key, "cmd")) {
        r->seen_cmd = true;
        return read_words(r, key, &r->c.argv, &r->n_argv);
    }
    if (!strcmp(key, "args"))
        return read_words(r, key, &r->args, &r->n_args);
    if (!strcmp(key, "probe"))
        return read_probe(r, k, key);
    if (!strcmp(key, "health_checks"))
        return read_health_checks(r, key);
    if (!strcmp(key, "listeners"))
        return read_listeners(r, key);
    if (!strcmp(key, "logging"))
        return read_service_logging(r, key);
    if (!strcmp(key, "depends_on")) {
        size_t n = 0;
        strv_free(r->c.depends_on);
        r->c.depends_on = NULL;
        return read_words(r, key, &r->c.depends_on, &n);
    }
    if (!strcmp(key, "env") || !strcmp(key, "environment"))
        return read_env(r, key);
    if (!strcmp(key, "restart")) {
        /* a policy word, or superviz's mapping */
        yaml_event_t v;
        int e;
        if ((e = config_next_event(r->rd, &v)) < 0)
            return e;
        if (v.type == YAML_MAPPING_START_EVENT) {
            yaml_event_delete(&v);
            return read_restart_map(r);
        }
        if (v.type != YAML_SCALAR_EVENT || parse_policy(scalar(&v), &r->c.restart) < 0) {
            e = err_at(r, &v, "'restart' wants always, on-failure or never%s%s", "", "");
            yaml_event_delete(&v);
            return e;
        }
        yaml_event_delete(&v);
        return 0;
    }
    return read_scalar_key(r, k, key);
}

/* One `- name: ...` mapping. */
static int read_service(struct reader *rd, const char *dir, const yaml_event_t *start,
                        struct svc_config *ret)
{
    struct svc_reader r = {.rd = rd, .dir = dir};
    yaml_event_t k;
    int e = 0;

    r.c = (struct svc_config){
        .restart = SVC_RESTART_ALWAYS,
        .restart_delay_ms = DEFAULT_RESTART_DELAY_MS,
        .restart_delay_max_ms = DEFAULT_RESTART_DELAY_MAX_MS,
        .min_uptime_ms = DEFAULT_MIN_UPTIME_MS,
        .kill_timeout_ms = DEFAULT_KILL_TIMEOUT_MS,
        .stop_signal = SIGTERM,
        .autostart = true,
        .log_max_bytes = UNSET_U64,
        .log_keep = UNSET_U32,
        .log_max_age_s = UNSET_U32,
    };
    while ((e = next_item(rd, YAML_MAPPING_END_EVENT, &k)) > 0) {
        if (k.type != YAML_SCALAR_EVENT) {
            e = err_at(&r, &k, "service keys must be plain names%s%s", "", "");
            yaml_event_delete(&k);
            break;
        }
        e = read_key(&r, &k);
        yaml_event_delete(&k);
        if (e < 0)
            break;
    }
    for (size_t i = 0; e == 0 && i < r.n_args; i++)
        e = push_word(&r.c.argv, &r.n_argv, strdup(r.args[i]));
    strv_free(r.args);
    if (e == 0 && (!r.c.name || !*r.c.name))
        e = err_at(&r, start, "a service needs a 'name'%s%s", "", "");
    if (e == 0 && !r.n_argv)
        e = err_at(&r, start, "service '%s' needs a 'cmd' (or 'command')%s", r.c.name, "");
    if (e == 0 && !r.c.env && !(r.c.env = calloc(1, sizeof *r.c.env)))
        e = -ENOMEM;
    if (e == 0 && !r.c.depends_on && !(r.c.depends_on = calloc(1, sizeof *r.c.depends_on)))
        e = -ENOMEM;
    if (e < 0) {
        svc_config_done(&r.c);
        return e;
    }
    *ret = r.c;
    return 0;
}

static ssize_t index_of(const struct svc_config *v, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i].name, name))
            return (ssize_t)i;
    return -1;
}

/* Every dependency is a service of the list, and none leads back to itself. */
static int check_dependencies(struct reader *rd, const struct svc_config *v, size_t n, size_t line)
{
    /* 0: not visited, 1: on the current path, 2: done. Iterative depth-first search. */
    _cleanup_free_ unsigned char *mark = calloc(n ? n : 1, 1);
    _cleanup_free_ size_t *stack = calloc(n ? n : 1, sizeof *stack),
                          *next = calloc(n ? n : 1, sizeof *next);

    if (!mark || !stack || !next)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; v[i].depends_on[j]; j++)
            if (index_of(v, n, v[i].depends_on[j]) < 0)
                return config_fail(rd->err,
                                   "%s:%zu: service '%s' depends on '%s', which is not "
                                   "in the list",
                                   rd->name, line, v[i].name, v[i].depends_on[j]);
    for (size_t root = 0; root < n; root++) {
        if (mark[root])
            continue;
        size_t depth = 0;
        stack[depth++] = root;
        mark[root] = 1;
        next[root] = 0;
        while (depth) {
            size_t cur = stack[depth - 1];
            const char *dep = v[cur].depends_on[next[cur]];
            if (!dep) {
                mark[cur] = 2;
                depth--;
                continue;
            }
            next[cur]++;
            size_t k = (size_t)index_of(v, n, dep);
            if (mark[k] == 1)
                return config_fail(rd->err,
                                   "%s:%zu: services depend on each other in a cycle "
                                   "('%s' needs '%s', which needs it back)",
                                   rd->name, line, v[cur].name, dep);
            if (mark[k] == 0) {
                mark[k] = 1;
                next[k] = 0;
                stack[depth++] = k;
            }
        }
    }
    return 0;
}

int config_read_services(struct reader *rd, struct config *c, size_t line, const char *dir)
{
    struct svc_config *v = NULL;
    size_t n = 0;
    yaml_event_t ev;
    int e = config_next_event(rd, &ev);

    if (e < 0)
        return e;
    if (ev.type == YAML_SCALAR_EVENT && config_is_null(&ev)) {
        yaml_event_delete(&ev);
        goto done; /* `services:` with nothing: none */
    }
    if (ev.type != YAML_SEQUENCE_START_EVENT) {
        yaml_event_delete(&ev);
        return config_fail(rd->err, "%s:%zu: 'services' takes a list of services", rd->name, line);
    }
    yaml_event_delete(&ev);
    while ((e = next_item(rd, YAML_SEQUENCE_END_EVENT, &ev)) > 0) {
        if (ev.type != YAML_MAPPING_START_EVENT || n >= MAX_SERVICES) {
            e = config_fail(rd->err, "%s:%zu: each service is a mapping (name: ..., cmd: ...)",
                            rd->name, ev.start_mark.line + 1);
            yaml_event_delete(&ev);
            break;
        }
        struct svc_config *nv = reallocarray(v, n + 1, sizeof *nv);
        if (!nv) {
            yaml_event_delete(&ev);
            e = -ENOMEM;
            break;
        }
        v = nv;
        e = read_service(rd, dir, &ev, &v[n]);
        size_t at = ev.start_mark.line + 1;
        yaml_event_delete(&ev);
        if (e < 0)
            break;
        for (size_t i = 0; i < n; i++)
            if (!strcmp(v[i].name, v[n].name)) {
                e = config_fail(rd->err, "%s:%zu: service '%s' is defined twice", rd->name, at,
                                v[n].name);
                svc_config_done(&v[n]);
                break;
            }
        if (e < 0)
            break;
        n++;
    }
    if (e == 0)
        e = check_dependencies(rd, v, n, line);
    if (e < 0) {
        svc_configs_free(v, n);
        return e;
    }
done:
    svc_configs_free(c->services, c->n_services);
    c->services = v;
    c->n_services = n;
    return 0;
}

/* ---- the top-level logging mapping ---- */

struct logging_reader {
    struct config *c;    /* what it sets */
    const char *dir;     /* for a relative base_dir */
    struct rotation rot; /* defaults.rotation */
};

static int defaults_key(struct svc_reader *r, const yaml_event_t *k, const char *path, void *ctx)
{
    struct logging_reader *lr = ctx;
    yaml_event_t v;
    int e;

    if (!strcmp(scalar(k), "rotation"))
        return read_rotation(r, path, &lr->rot);
    if (strcmp(scalar(k), "timestamp_format") != 0)
        return err_at(r, k, "unknown key '%s'%s", path, "");
    if ((e = want_scalar(r, path, &v)) < 0)
        return e;
    warn_timestamps(r, scalar(&v));
    yaml_event_delete(&v);
    return 0;
}

static int logging_key(struct svc_reader *r, const yaml_event_t *k, const char *path, void *ctx)
{
    struct logging_reader *lr = ctx;
    yaml_event_t v;
    int e;

    if (!strcmp(scalar(k), "defaults")) {
        e = open_collection(r, path, YAML_MAPPING_START_EVENT, "a mapping");
        return e < 0 ? e : walk_map(r, path, defaults_key, lr);
    }
    if (!strcmp(scalar(k), "daemon"))
        return err_at(r, k,
                      "'%s' is not supported: droverd logs to its standard error, at "
                      "log_level%s",
                      path, "");
    if (strcmp(scalar(k), "base_dir") != 0)
        return err_at(r, k, "unknown key '%s'%s", path, "");
    if ((e = want_scalar(r, path, &v)) < 0)
        return e;
    char *dir = *scalar(&v) ? config_resolve_path(scalar(&v), lr->dir) : NULL;
    e = !*scalar(&v) ? err_at(r, &v, "'%s' must not be empty%s", path, "") : dir ? 0 : -ENOMEM;
    if (dir) {
        free(lr->c->log_dir);
        lr->c->log_dir = dir;
    }
    yaml_event_delete(&v);
    return e;
}

int config_read_logging(struct reader *rd, struct config *c, const char *dir)
{
    struct svc_reader r = {.rd = rd, .dir = dir};
    struct logging_reader lr = {.c = c, .dir = dir, .rot = {UNSET_U64, UNSET_U32, UNSET_U32}};
    int e = open_collection(&r, "logging", YAML_MAPPING_START_EVENT, "a mapping");

    if (e >= 0)
        e = walk_map(&r, "logging", logging_key, &lr);
    if (e < 0)
        return e;
    if (lr.rot.max_bytes != UNSET_U64)
        c->log_max_bytes = lr.rot.max_bytes;
    if (lr.rot.keep != UNSET_U32)
        c->log_keep = lr.rot.keep;
    if (lr.rot.max_age_s != UNSET_U32)
        c->log_max_age_s = lr.rot.max_age_s;
    return 0;
}

void config_services_defaults(struct config *c)
{
    for (size_t i = 0; i < c->n_services; i++) {
        struct svc_config *s = &c->services[i];
        if (s->log_max_bytes == UNSET_U64)
            s->log_max_bytes = c->log_max_bytes;
        if (s->log_keep == UNSET_U32)
            s->log_keep = c->log_keep;
        if (s->log_max_age_s == UNSET_U32)
            s->log_max_age_s = c->log_max_age_s;
    }
}
