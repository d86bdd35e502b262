/* superviz's service keys: command (split on whitespace, no shell) and args, restart as a policy
 * word or a mapping {policy, max_retries, delay, delay_max, stability_window}, health_checks,
 * listeners[].probe, and logging {stdout, stderr} with each stream's file and rotation. Also
 * the top-level keys of superviz's file: `logging:` (base_dir and defaults.rotation, which give
 * the services their log defaults) and `version: 1`.
 *
 * Health checks and listener probes read the probe mapping of conf-drover.c with superviz's
 * defaults (status 200). Compressed rotation is an error, not a setting silently ignored;
 * timestamp_format is accepted with a warning (through the reader's warn hook: this layer does
 * not log), since services write their log files themselves, byte-exact. conf.c calls in here
 * for a service's keys, daemon/config.c for the top-level ones. */
#include "supervise/conf-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int conf_parse_endpoint(const char *v, struct svc_probe *p)
{
    const char *path = v;

    if (!strncmp(v, "http://", 7)) {
        const char *auth = v + 7;
        path = auth + strcspn(auth, "/");
        _cleanup_free_ char *hostport = strndup(auth, (size_t)(path - auth));
        char *host = hostport, *digits = NULL;
        uint16_t port = 80;
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
        if (!*host || (digits && conf_parse_port(digits, &port) < 0))
            return -EINVAL;
        if (conf_set_str(&p->host, host) < 0)
            return -ENOMEM;
        p->port = port;
    } else if (v[0] != '/') {
        return -EINVAL; /* https, and anything else */
    }
    return conf_set_str(&p->path, *path ? path : "/");
}

static void warn_timestamps(struct svc_reader *r, const char *val)
{
    if (*val && strcmp(val, "none") != 0)
        yaml_warn(r->rd,
                  "%s: timestamp_format '%s' is ignored: services write their logs themselves, "
                  "byte-exact, without timestamps",
                  r->rd->name, val);
}

/* restart: {policy, max_retries, delay, delay_max, stability_window}, its start taken. */
static int read_restart_map(struct svc_reader *r)
{
    yaml_event_t k, v;
    int e;

    while ((e = conf_next_item(r->rd, YAML_MAPPING_END_EVENT, &k)) > 0) {
        const char *key = k.type == YAML_SCALAR_EVENT ? yaml_scalar(&k) : "";
        if ((e = conf_want_scalar(r, key, &v)) < 0) {
            yaml_event_delete(&k);
            return e;
        }
        const char *val = yaml_scalar(&v);
        if (!strcmp(key, "policy"))
            e = parse_policy(val, &r->c.restart);
        else if (!strcmp(key, "max_retries"))
            e = yaml_parse_count(val, &r->c.max_restarts);
        else if (!strcmp(key, "delay"))
            e = yaml_parse_duration(val, 1, &r->c.restart_delay_ms);
        else if (!strcmp(key, "delay_max"))
            e = yaml_parse_duration(val, 1, &r->c.restart_delay_max_ms);
        else if (!strcmp(key, "stability_window"))
            e = yaml_parse_duration(val, 1, &r->c.min_uptime_ms);
        else
            e = -ENOENT;
        if (e == -ENOENT)
            e = yaml_fail_at(r->rd, yaml_line(&k), "unknown key 'restart.%s'", key);
        else if (e < 0)
            e = yaml_fail_at(r->rd, yaml_line(&v), "bad value '%s' for 'restart.%s'", val, key);
        yaml_event_delete(&k);
        yaml_event_delete(&v);
        if (e < 0)
            return e;
    }
    return e;
}

/* restart: a policy word (drover's files use it too), or superviz's mapping. */
static int read_restart(struct svc_reader *r)
{
    yaml_event_t v;
    int e = yaml_next(r->rd, &v);

    if (e < 0)
        return e;
    if (v.type == YAML_MAPPING_START_EVENT)
        e = 1;
    else if (v.type != YAML_SCALAR_EVENT || parse_policy(yaml_scalar(&v), &r->c.restart) < 0)
        e = yaml_fail_at(r->rd, yaml_line(&v), "'restart' wants always, on-failure or never");
    yaml_event_delete(&v);
    return e > 0 ? read_restart_map(r) : e;
}

/* ---- log rotation ---- */

struct rotation {
    uint64_t max_bytes; /* CONF_UNSET_U64 when not given */
    uint32_t keep;      /* CONF_UNSET_U32 when not given */
    uint32_t max_age_s; /* CONF_UNSET_U32 when not given */
};

static int rotation_value(struct svc_reader *r, const char *key, const char *val, void *ctx)
{
    static const char *const names[3] = {"max_size", "max_files", "max_age"};
    struct rotation *rot = ctx;
    bool b;
    (void)r;

    if (!strcmp(key, "compress"))
        return yaml_parse_bool(val, &b) < 0 ? -EINVAL : b ? -EOPNOTSUPP : 0;
    return conf_parse_rotation(key, names, val, &rot->max_bytes, &rot->keep, &rot->max_age_s);
}

static int rotation_key(struct svc_reader *r, const yaml_event_t *k, const char *path, void *ctx)
{
    int e = conf_scalar_value(r, k, path, rotation_value, ctx);
    if (e == -EOPNOTSUPP)
        e = yaml_fail_at(r->rd, yaml_line(k),
                         "'%s: true' is not supported: rotated logs stay uncompressed", path);
    return e;
}

/* rotation: {max_size, max_files, max_age, compress: false}. */
static int read_rotation(struct svc_reader *r, const char *path, struct rotation *rot)
{
    int e = conf_open(r, path, YAML_MAPPING_START_EVENT, "a mapping");
    return e < 0 ? e : conf_walk_map(r, path, rotation_key, rot);
}

/* ---- probes ---- */

/* health_checks: a list of {name, type: http|tcp|command, interval, timeout, retries, endpoint,
 * method, status_code, host, port, command}, expecting 200 by default. */
static int read_health_checks(struct svc_reader *r, const char *key)
{
    yaml_event_t ev;
    int e = conf_open(r, key, YAML_SEQUENCE_START_EVENT, "a list of checks");

    while (e >= 0 && (e = conf_next_item(r->rd, YAML_SEQUENCE_END_EVENT, &ev)) > 0) {
        struct probe_reader pr = {.p = {.interval_ms = 30000,
                                        .timeout_ms = 5000,
                                        .failure_threshold = 3,
                                        .success_threshold = 1,
                                        .status = 200}};
        if (ev.type != YAML_MAPPING_START_EVENT)
            e = yaml_fail_at(r->rd, yaml_line(&ev), "each of '%s' is a mapping (type: ..., ...)",
                             key);
        else if ((e = conf_read_probe_map(r, key, &pr)) >= 0)
            e = conf_add_probe(r, &ev, key, &pr);
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
    bool b;
    (void)r;

    if (!strcmp(key, "name"))
        return conf_set_str(&l->pr.p.name, val);
    if (!strcmp(key, "address"))
        return conf_set_str(&l->address, val);
    if (!strcmp(key, "port"))
        return conf_parse_port(val, &l->port);
    if (!strcmp(key, "protocol"))
        return !strcmp(val, "tcp") || !strcmp(val, "udp") ? 0 : -EINVAL;
    if (!strcmp(key, "exposed"))
        return yaml_parse_bool(val, &b);
    return -ENOENT;
}

static int listener_key(struct svc_reader *r, const yaml_event_t *k, const char *path, void *ctx)
{
    struct listener_reader *l = ctx;
    int e;

    if (strcmp(yaml_scalar(k), "probe") != 0)
        return conf_scalar_value(r, k, path, listener_value, ctx);
    if ((e = conf_open(r, path, YAML_MAPPING_START_EVENT, "a mapping")) < 0)
        return e;
    l->has_probe = true;
    return conf_read_probe_map(r, path, &l->pr);
}

/* One item of listeners, its start at ev; a probe, if it has one, checks the listener's address
 * and port unless it names its own. */
static int read_listener(struct svc_reader *r, const char *key, const yaml_event_t *ev)
{
    struct listener_reader l = {.pr.p = {.interval_ms = 10000,
                                         .timeout_ms = 5000,
                                         .failure_threshold = 3,
                                         .success_threshold = 1,
                                         .status = 200}};
    int e;

    if (ev->type != YAML_MAPPING_START_EVENT)
        e = yaml_fail_at(r->rd, yaml_line(ev), "each of '%s' is a mapping (name: ..., port: ...)",
                         key);
    else
        e = conf_walk_map(r, key, listener_key, &l);
    if (e >= 0 && !l.port)
        e = yaml_fail_at(r->rd, yaml_line(ev), "a listener needs a 'port'");
    if (e >= 0 && l.has_probe) {
        if (!l.pr.p.port)
            l.pr.p.port = l.port;
        if (!l.pr.p.host && l.address)
            l.pr.p.host = strdup(l.address);
        e = conf_add_probe(r, ev, "listeners.probe", &l.pr);
    } else {
        svc_probe_done(&l.pr.p);
    }
    free(l.address);
    return e;
}

static int read_listeners(struct svc_reader *r, const char *key)
{
    yaml_event_t ev;
    int e = conf_open(r, key, YAML_SEQUENCE_START_EVENT, "a list of listeners");

    while (e >= 0 && (e = conf_next_item(r->rd, YAML_SEQUENCE_END_EVENT, &ev)) > 0) {
        e = read_listener(r, key, &ev);
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
        return *val ? conf_set_str(sr->file, val) : -EINVAL;
    if (!strcmp(key, "timestamp_format")) {
        warn_timestamps(r, val);
        return 0;
    }
    return -ENOENT;
}

static int stream_key(struct svc_reader *r, const yaml_event_t *k, const char *path, void *ctx)
{
    struct stream_reader *sr = ctx;
    if (!strcmp(yaml_scalar(k), "rotation"))
        return read_rotation(r, path, sr->rot);
    return conf_scalar_value(r, k, path, stream_value, ctx);
}

static int service_logging_key(struct svc_reader *r, const yaml_event_t *k, const char *path,
                               void *ctx)
{
    int i = !strcmp(yaml_scalar(k), "stdout") ? 0 : !strcmp(yaml_scalar(k), "stderr") ? 1 : -1;
    struct rotation rot = {CONF_UNSET_U64, CONF_UNSET_U32, CONF_UNSET_U32};
    struct stream_reader sr = {.file = &r->c.log_file[i < 0 ? 0 : i], .rot = &rot};
    int e;
    (void)ctx;

    if (i < 0)
        return yaml_fail_at(r->rd, yaml_line(k), "unknown key '%s' (stdout or stderr)", path);
    if ((e = conf_open(r, path, YAML_MAPPING_START_EVENT, "a mapping")) < 0 ||
        (e = conf_walk_map(r, path, stream_key, &sr)) < 0)
        return e;
    if (rot.max_bytes == CONF_UNSET_U64 && rot.keep == CONF_UNSET_U32 &&
        rot.max_age_s == CONF_UNSET_U32)
        return 0;
    /* Both files of a service rotate alike. */
    if (r->rotation_set && (rot.max_bytes != r->c.log_max_bytes || rot.keep != r->c.log_keep ||
                            rot.max_age_s != r->c.log_max_age_s))
        return yaml_fail_at(r->rd, yaml_line(k),
                            "'%s.rotation' differs from the other stream's: a service's logs "
                            "rotate alike",
                            path);
    r->rotation_set = true;
    r->c.log_max_bytes = rot.max_bytes;
    r->c.log_keep = rot.keep;
    r->c.log_max_age_s = rot.max_age_s;
    return 0;
}

int conf_superviz_key(struct svc_reader *r, const yaml_event_t *k)
{
    const char *key = yaml_scalar(k);
    yaml_event_t v;
    int e;

    if (!strcmp(key, "command")) {
        if ((e = conf_want_scalar(r, key, &v)) < 0)
            return e;
        e = conf_push_split(&r->c.argv, &r->n_argv, yaml_scalar(&v));
        yaml_event_delete(&v);
        return e;
    }
    if (!strcmp(key, "args"))
        return conf_read_words(r, key, &r->args, &r->n_args);
    if (!strcmp(key, "restart"))
        return read_restart(r);
    if (!strcmp(key, "health_checks"))
        return read_health_checks(r, key);
    if (!strcmp(key, "listeners"))
        return read_listeners(r, key);
    if (!strcmp(key, "logging")) {
        e = conf_open(r, key, YAML_MAPPING_START_EVENT, "a mapping (stdout, stderr)");
        return e < 0 ? e : conf_walk_map(r, key, service_logging_key, NULL);
    }
    return -ENOENT;
}

/* ---- the top-level logging mapping, and version ---- */

struct logging_reader {
    char **log_dir;      /* where base_dir goes */
    const char *dir;     /* for a relative base_dir */
    struct rotation rot; /* defaults.rotation */
};

static int defaults_key(struct svc_reader *r, const yaml_event_t *k, const char *path, void *ctx)
{
    struct logging_reader *lr = ctx;
    yaml_event_t v;
    int e;

    if (!strcmp(yaml_scalar(k), "rotation"))
        return read_rotation(r, path, &lr->rot);
    if (strcmp(yaml_scalar(k), "timestamp_format") != 0)
        return yaml_fail_at(r->rd, yaml_line(k), "unknown key '%s'", path);
    if ((e = conf_want_scalar(r, path, &v)) < 0)
        return e;
    warn_timestamps(r, yaml_scalar(&v));
    yaml_event_delete(&v);
    return 0;
}

static int logging_key(struct svc_reader *r, const yaml_event_t *k, const char *path, void *ctx)
{
    struct logging_reader *lr = ctx;
    yaml_event_t v;
    int e;

    if (!strcmp(yaml_scalar(k), "defaults")) {
        e = conf_open(r, path, YAML_MAPPING_START_EVENT, "a mapping");
        return e < 0 ? e : conf_walk_map(r, path, defaults_key, lr);
    }
    if (!strcmp(yaml_scalar(k), "daemon"))
        return yaml_fail_at(r->rd, yaml_line(k),
                            "'%s' is not supported: droverd logs to its standard error, at "
                            "log_level",
                            path);
    if (strcmp(yaml_scalar(k), "base_dir") != 0)
        return yaml_fail_at(r->rd, yaml_line(k), "unknown key '%s'", path);
    if ((e = conf_want_scalar(r, path, &v)) < 0)
        return e;
    char *dir = NULL;
    if (!*yaml_scalar(&v)) {
        e = yaml_fail_at(r->rd, yaml_line(&v), "'%s' must not be empty", path);
    } else if (!(dir = yaml_resolve_path(yaml_scalar(&v), lr->dir))) {
        e = -ENOMEM;
    } else {
        free(*lr->log_dir);
        *lr->log_dir = dir;
    }
    yaml_event_delete(&v);
    return e;
}

int svc_conf_read_logging(struct yaml_reader *rd, const char *dir, char **log_dir,
                          struct svc_log_defaults *defaults)
{
    struct svc_reader r = {.rd = rd, .dir = dir};
    struct logging_reader lr = {
        .log_dir = log_dir, .dir = dir, .rot = {CONF_UNSET_U64, CONF_UNSET_U32, CONF_UNSET_U32}};
    int e = conf_open(&r, "logging", YAML_MAPPING_START_EVENT, "a mapping");

    if (e >= 0)
        e = conf_walk_map(&r, "logging", logging_key, &lr);
    if (e < 0)
        return e;
    if (lr.rot.max_bytes != CONF_UNSET_U64)
        defaults->max_bytes = lr.rot.max_bytes;
    if (lr.rot.keep != CONF_UNSET_U32)
        defaults->keep = lr.rot.keep;
    if (lr.rot.max_age_s != CONF_UNSET_U32)
        defaults->max_age_s = lr.rot.max_age_s;
    return 0;
}

int svc_conf_read_version(struct yaml_reader *rd, size_t line)
{
    yaml_event_t v;
    int e = yaml_next(rd, &v);

    if (e < 0)
        return e;
    if (v.type != YAML_SCALAR_EVENT || strcmp(yaml_scalar(&v), "1") != 0)
        e = yaml_fail_at(rd, line, "'version' must be 1");
    yaml_event_delete(&v);
    return e;
}
