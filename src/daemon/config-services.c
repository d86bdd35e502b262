/* The `services:` list of the YAML configuration: one mapping per service, in drover's keys and
 * superviz's (command + args, working_dir, environment, restart {policy, max_retries, delay,
 * delay_max, stability_window}, depends_on), with file:line errors for unknown keys, bad values,
 * dependencies outside the list and dependency cycles. Keys of features not built yet (logging
 * options; superviz's listeners and health_checks, whose job `probe` does) are errors that say
 * so, rather than settings silently ignored.
 *
 * Durations are milliseconds as numbers, or strings with a unit ("500ms", "5s", "2m", "1h").
 * Services from the file start with droverd unless `autostart: false`. */
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

void config_services_free(struct svc_config *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        svc_config_done(&v[i]);
    free(v);
}

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

/* Milliseconds: "250", "250ms", "5s", "2m", "1h". */
static int parse_ms(const char *v, uint32_t *ret)
{
    char *end;
    double x = strtod(v, &end);
    double mult = !*end || !strcmp(end, "ms") ? 1
                  : !strcmp(end, "s")         ? 1000
                  : !strcmp(end, "m")         ? 60000
                  : !strcmp(end, "h")         ? 3600000
                                              : -1;
    if (end == v || mult < 0 || !(x >= 0) || x * mult > UINT32_MAX)
        return -EINVAL;
    *ret = (uint32_t)(x * mult);
    return 0;
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
        /* superviz splits on whitespace, no shell */
        _cleanup_free_ char *copy = strdup(val);
        char *save = NULL;
        r->seen_cmd = true;
        e = copy ? 0 : -ENOMEM;
        for (char *w = copy ? strtok_r(copy, " \t\n", &save) : NULL; e == 0 && w;
             w = strtok_r(NULL, " \t\n", &save))
            e = push_word(&r->c.argv, &r->n_argv, strdup(w));
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

static const char *const not_yet[] = {"health_checks", "listeners", "logging"};

/* probe: {type: exec|tcp|http, command|cmd, host, port, path, status_code, interval, timeout,
 * failure_threshold}. */
static int read_probe(struct svc_reader *r, const char *key)
{
    struct svc_probe *p = calloc(1, sizeof *p);
    yaml_event_t k, v;
    size_t n_argv = 0;
    bool typed = false;
    int e = p ? open_collection(r, key, YAML_MAPPING_START_EVENT, "a mapping") : -ENOMEM;

    if (e < 0) {
        free(p);
        return e;
    }
    *p = (struct svc_probe){.interval_ms = 10000, .timeout_ms = 5000, .failure_threshold = 3};
    svc_probe_free(r->c.probe); /* a second probe: the last one wins */
    r->c.probe = p;
    while ((e = next_item(r->rd, YAML_MAPPING_END_EVENT, &k)) > 0) {
        const char *name = k.type == YAML_SCALAR_EVENT ? scalar(&k) : "";
        if (!strcmp(name, "cmd")) {
            e = read_words(r, "probe.cmd", &p->argv, &n_argv);
            yaml_event_delete(&k);
            if (e < 0)
                return e;
            continue;
        }
        if ((e = want_scalar(r, name, &v)) < 0) {
            yaml_event_delete(&k);
            return e;
        }
        const char *val = scalar(&v);
        uint32_t port = 0;
        if (!strcmp(name, "type")) {
            typed = true;
            if (!strcmp(val, "exec"))
                p->kind = SVC_PROBE_EXEC;
            else if (!strcmp(val, "tcp"))
                p->kind = SVC_PROBE_TCP;
            else if (!strcmp(val, "http"))
                p->kind = SVC_PROBE_HTTP;
            else
                e = -EINVAL;
        } else if (!strcmp(name, "command")) {
            _cleanup_free_ char *copy = strdup(val);
            char *save = NULL;
            e = copy ? 0 : -ENOMEM;
            for (char *w = copy ? strtok_r(copy, " \t\n", &save) : NULL; e == 0 && w;
                 w = strtok_r(NULL, " \t\n", &save))
                e = push_word(&p->argv, &n_argv, strdup(w));
        } else if (!strcmp(name, "host")) {
            free(p->host);
            e = (p->host = strdup(val)) ? 0 : -ENOMEM;
        } else if (!strcmp(name, "port")) {
            e = parse_count(val, &port);
            if (e == 0 && (port == 0 || port > 65535))
                e = -EINVAL;
            p->port = (uint16_t)port;
        } else if (!strcmp(name, "path")) {
            free(p->path);
            e = (p->path = strdup(val)) ? 0 : -ENOMEM;
        } else if (!strcmp(name, "status_code")) {
            e = parse_count(val, &p->status);
        } else if (!strcmp(name, "interval")) {
            e = parse_ms(val, &p->interval_ms);
        } else if (!strcmp(name, "timeout")) {
            e = parse_ms(val, &p->timeout_ms);
        } else if (!strcmp(name, "failure_threshold")) {
            e = parse_count(val, &p->failure_threshold);
        } else {
            e = -ENOENT;
        }
        if (e == -ENOENT)
            e = err_at(r, &k, "unknown key 'probe.%s'%s", name, "");
        else if (e == -EINVAL)
            e = err_at(r, &v, "bad value '%s' for 'probe.%s'", val, name);
        yaml_event_delete(&k);
        yaml_event_delete(&v);
        if (e < 0)
            return e;
    }
    if (e < 0)
        return e;
    if (!typed)
        p->kind = p->argv ? SVC_PROBE_EXEC : p->path ? SVC_PROBE_HTTP : SVC_PROBE_TCP;
    if (p->kind == SVC_PROBE_EXEC && !p->argv)
        return config_fail(r->rd->err, "%s: an exec probe needs a 'command' (or 'cmd')",
                           r->rd->name);
    if (p->kind != SVC_PROBE_EXEC && !p->port)
        return config_fail(r->rd->err, "%s: a %s probe needs a 'port'", r->rd->name,
                           p->kind == SVC_PROBE_TCP ? "tcp" : "http");
    if (!p->interval_ms || !p->timeout_ms || !p->failure_threshold)
        return config_fail(r->rd->err,
                           "%s: probe interval, timeout and failure_threshold must not be 0",
                           r->rd->name);
    return 0;
}

static int read_key(struct svc_reader *r, const yaml_event_t *k)
{
    const char *key = scalar(k);

    for (size_t i = 0; i < ARRAY_SIZE(not_yet); i++)
        if (!strcmp(key, not_yet[i]))
            return err_at(r, k, "service key '%s' is not supported yet%s", key, "");
    if (!strcmp(key, "cmd")) {
        r->seen_cmd = true;
        return read_words(r, key, &r->c.argv, &r->n_argv);
    }
    if (!strcmp(key, "args"))
        return read_words(r, key, &r->args, &r->n_args);
    if (!strcmp(key, "probe"))
        return read_probe(r, key);
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
        config_services_free(v, n);
        return e;
    }
done:
    config_services_free(c->services, c->n_services);
    c->services = v;
    c->n_services = n;
    return 0;
}
