/* drover's service keys: cmd (a list), the restart settings (autorestart, max_restarts,
 * restart_delay, restart_delay_max, min_uptime), kill_timeout, stop_signal, user, group, umask,
 * the log rotation (log_max_size, log_keep, log_max_age), oneshot, autostart and probe. Time
 * keys take milliseconds or a duration with a unit, and answer to their _ms name too.
 *
 * Also the probe mapping every dialect uses: drover's `probe`, superviz's `health_checks` items
 * and each listener's `probe` (conf-superviz.c) read the same keys, each place with its own
 * defaults (superviz expects status 200, drover any 2xx or 3xx). Probe types drover cannot run
 * (udp, grpc, icmp) are errors, not settings silently ignored. conf.c calls in here. */
#include "supervise/conf-internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/strv.h"
#include "base/vec.h"

#define MAX_PROBES 64

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

static int parse_umask(const char *v, struct svc_config *c)
{
    char *end;
    long m = strtol(v, &end, 8);

    if (!*v || *end || m < 0 || m > 0777)
        return -EINVAL;
    c->umask = (unsigned)m;
    c->set_umask = true;
    return 0;
}

/* One of the times a service waits, by either of its names. */
static uint32_t *time_field(struct svc_config *c, const char *key)
{
    static const struct {
        const char *name, *ms_name; /* "restart_delay", "restart_delay_ms" */
        size_t offset;              /* its field */
    } keys[] = {
        {"restart_delay", "restart_delay_ms", offsetof(struct svc_config, restart_delay_ms)},
        {"restart_delay_max", "restart_delay_max_ms",
         offsetof(struct svc_config, restart_delay_max_ms)},
        {"min_uptime", "min_uptime_ms", offsetof(struct svc_config, min_uptime_ms)},
        {"kill_timeout", "kill_timeout_ms", offsetof(struct svc_config, kill_timeout_ms)},
    };
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
        if (!strcmp(key, keys[i].name) || !strcmp(key, keys[i].ms_name))
            return (uint32_t *)((char *)c + keys[i].offset);
    return NULL;
}

/* drover's names for a service's log rotation. */
static const char *const rotation_keys[3] = {"log_max_size", "log_keep", "log_max_age"};

/* docker-compose's names for a container's image and limits. */
static int container_value(struct svc_container *c, const char *key, const char *val)
{
    if (!strcmp(key, "image"))
        return *val ? conf_set_str(&c->image, val) : -EINVAL;
    if (!strcmp(key, "mem_limit") || !strcmp(key, "memory"))
        return yaml_parse_size(val, &c->memory);
    if (!strcmp(key, "pids_limit"))
        return yaml_parse_count(val, &c->pids);
    if (!strcmp(key, "read_only"))
        return yaml_parse_bool(val, &c->read_only);
    if (!strcmp(key, "network_mode")) {
        if (strcmp(val, "none") && strcmp(val, "host"))
            return -EINVAL;
        c->host_network = !strcmp(val, "host");
        return 0;
    }
    if (!strcmp(key, "cpus")) {
        char *end;
        double x = strtod(val, &end);
        if (end == val || *end || x <= 0 || x > 4096)
            return -EINVAL;
        c->cpu_pct = (uint32_t)(x * 100 + 0.5);
        return 0;
    }
    return -ENOENT;
}

int conf_drover_value(struct svc_reader *r, const char *key, const char *val, void *ctx)
{
    struct svc_config *c = &r->c;
    uint32_t *ms = time_field(c, key);
    bool b;
    (void)ctx;

    if (ms)
        return yaml_parse_duration(val, 1, ms);
    if (!strcmp(key, "autorestart")) {
        int e = yaml_parse_bool(val, &b);
        if (e == 0 && !b)
            c->restart = SVC_RESTART_NEVER;
        return e;
    }
    if (!strcmp(key, "max_restarts"))
        return yaml_parse_count(val, &c->max_restarts);
    if (!strcmp(key, "stop_signal"))
        return parse_signal(val, &c->stop_signal);
    if (!strcmp(key, "user"))
        return parse_user(val, c);
    if (!strcmp(key, "group"))
        return parse_group(val, c);
    if (!strcmp(key, "umask"))
        return parse_umask(val, c);
    if (!strcmp(key, "oneshot"))
        return yaml_parse_bool(val, &c->oneshot);
    if (!strcmp(key, "autostart"))
        return yaml_parse_bool(val, &c->autostart);
    int e = container_value(&c->ctr, key, val);
    if (e != -ENOENT)
        return e;
    return conf_parse_rotation(key, rotation_keys, val, &c->log_max_bytes, &c->log_keep,
                               &c->log_max_age_s);
}

/* ---- probes ---- */

static int parse_probe_type(const char *v, enum svc_probe_kind *ret)
{
    if (!strcmp(v, "exec") || !strcmp(v, "command"))
        *ret = SVC_PROBE_EXEC;
    else if (!strcmp(v, "tcp"))
        *ret = SVC_PROBE_TCP;
    else if (!strcmp(v, "http"))
        *ret = SVC_PROBE_HTTP;
    else if (!strcmp(v, "udp") || !strcmp(v, "grpc") || !strcmp(v, "icmp"))
        return -EOPNOTSUPP;
    else
        return -EINVAL;
    return 0;
}

/* Like a duration or a count, but a probe's intervals, timeouts and thresholds must not be 0. */
static int nonzero(int e, const uint32_t *v)
{
    return e < 0 || *v ? e : -EINVAL;
}

static int probe_value(struct svc_reader *r, const char *key, const char *val, void *ctx)
{
    struct probe_reader *pr = ctx;
    struct svc_probe *p = &pr->p;
    (void)r;

    if (!strcmp(key, "type")) {
        pr->typed = true;
        return parse_probe_type(val, &p->kind);
    }
    if (!strcmp(key, "command"))
        return conf_push_split(&p->argv, &pr->n_argv, val);
    if (!strcmp(key, "name"))
        return conf_set_str(&p->name, val);
    if (!strcmp(key, "host") || !strcmp(key, "address"))
        return conf_set_str(&p->host, val);
    if (!strcmp(key, "path"))
        return conf_set_str(&p->path, val);
    if (!strcmp(key, "endpoint"))
        return conf_parse_endpoint(val, p);
    if (!strcmp(key, "method")) {
        if (!*val || strlen(val) > 16 || strspn(val, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != strlen(val))
            return -EINVAL;
        return conf_set_str(&p->method, val);
    }
    if (!strcmp(key, "port"))
        return conf_parse_port(val, &p->port);
    if (!strcmp(key, "status_code"))
        return yaml_parse_count(val, &p->status);
    if (!strcmp(key, "interval"))
        return nonzero(yaml_parse_duration(val, 1, &p->interval_ms), &p->interval_ms);
    if (!strcmp(key, "timeout"))
        return nonzero(yaml_parse_duration(val, 1, &p->timeout_ms), &p->timeout_ms);
    if (!strcmp(key, "failure_threshold") || !strcmp(key, "retries"))
        return nonzero(yaml_parse_count(val, &p->failure_threshold), &p->failure_threshold);
    if (!strcmp(key, "success_threshold"))
        return nonzero(yaml_parse_count(val, &p->success_threshold), &p->success_threshold);
    return -ENOENT;
}

static int probe_key(struct svc_reader *r, const yaml_event_t *k, const char *path, void *ctx)
{
    struct probe_reader *pr = ctx;

    if (!strcmp(yaml_scalar(k), "cmd"))
        return conf_read_words(r, path, &pr->p.argv, &pr->n_argv);
    if (!strcmp(yaml_scalar(k), "args"))
        return conf_read_words(r, path, &pr->args, &pr->n_args);
    int e = conf_scalar_value(r, k, path, probe_value, ctx);
    if (e == -EOPNOTSUPP)
        e = yaml_fail_at(r->rd, yaml_line(k),
                         "'%s': this probe type is not supported (exec, tcp or http)", path);
    return e;
}

int conf_read_probe_map(struct svc_reader *r, const char *path, struct probe_reader *pr)
{
    int e = conf_walk_map(r, path, probe_key, pr);
    for (size_t i = 0; e >= 0 && i < pr->n_args; i++)
        e = conf_push_word(&pr->p.argv, &pr->n_argv, strdup(pr->args[i]));
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

/* What a probe read at ev lacks or has wrong, as a file:line error; 0 if nothing. */
static int check_probe(struct svc_reader *r, const yaml_event_t *ev, const char *path,
                       const struct svc_probe *p)
{
    size_t line = yaml_line(ev);

    if (p->kind == SVC_PROBE_EXEC && !p->argv)
        return yaml_fail_at(r->rd, line, "'%s': an exec probe needs a 'command' (or 'cmd')", path);
    if (p->kind != SVC_PROBE_EXEC && !p->port)
        return yaml_fail_at(r->rd, line, "'%s': a %s probe needs a 'port'", path,
                            p->kind == SVC_PROBE_TCP ? "tcp" : "http");
    if (p->host && strcmp(p->host, "localhost") != 0 && !numeric_host(p->host))
        return yaml_fail_at(r->rd, line,
                            "'%s': host '%s' must be a numeric address or localhost (probes do "
                            "not wait on DNS)",
                            path, p->host);
    if (r->c.n_probes >= MAX_PROBES)
        return yaml_fail_at(r->rd, line, "'%s': more than 64 probes", path);
    return 0;
}

int conf_add_probe(struct svc_reader *r, const yaml_event_t *ev, const char *path,
                   struct probe_reader *pr)
{
    struct svc_probe *p = &pr->p;
    int e = check_probe(r, ev, path, p);

    if (e == 0 && VEC_RESERVE(r->c.probes, r->probes_cap, r->c.n_probes + 1) < 0)
        e = -ENOMEM;
    if (e < 0) {
        svc_probe_done(p);
        return e;
    }
    if (p->kind != SVC_PROBE_HTTP)
        p->status = 0; /* superviz's default 200 means nothing here */
    r->c.probes[r->c.n_probes++] = *p;
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
    int e = conf_open(r, key, YAML_MAPPING_START_EVENT, "a mapping");

    if (e >= 0)
        e = conf_read_probe_map(r, key, &pr);
    if (e < 0) {
        svc_probe_done(&pr.p);
        return e;
    }
    return conf_add_probe(r, k, key, &pr);
}

int conf_drover_key(struct svc_reader *r, const yaml_event_t *k)
{
    const char *key = yaml_scalar(k);

    if (!strcmp(key, "cmd"))
        return conf_read_words(r, key, &r->c.argv, &r->n_argv);
    if (!strcmp(key, "probe"))
        return read_probe(r, k, key);
    if (!strcmp(key, "volumes")) {
        size_t n = 0;
        strv_free(r->c.ctr.volumes);
        r->c.ctr.volumes = NULL;
        return conf_read_words(r, key, &r->c.ctr.volumes, &n);
    }
    return -ENOENT;
}
