/* Services in YAML: the `services:` list of droverd's configuration, and a file of services alone
 * (drover start FILE). One mapping per service, in drover's keys (conf-drover.c) or superviz's
 * (conf-superviz.c); this file reads the list, the keys both dialects share (name, cwd or
 * working_dir, env or environment, depends_on), applies the defaults, and checks that every
 * dependency is in the list and that none leads back to itself. Errors are "FILE:LINE: ..." for
 * unknown keys, bad values, dependencies outside the list and cycles.
 *
 * A service's log rotation stays unset (CONF_UNSET_*) until svc_conf_apply_log_defaults gives it
 * the file's defaults: the top-level `logging:` may come after the list. Durations are
 * milliseconds as numbers, or strings with a unit ("500ms", "5s", "2m", "1h", "7d"). Services
 * from a file start with droverd unless `autostart: false`. daemon/config.c calls in here for
 * `services:`, `logging:` and `version:`. */
#include "supervise/conf-internal.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/strv.h"
#include "base/vec.h"

#define DEFAULT_RESTART_DELAY_MS     500
#define DEFAULT_RESTART_DELAY_MAX_MS 30000
#define DEFAULT_MIN_UPTIME_MS        2000
#define DEFAULT_KILL_TIMEOUT_MS      3000
#define MAX_SERVICES                 4096
#define MAX_WORDS                    1024

int conf_push_word(char ***v, size_t *n, char *s)
{
    if (*n >= MAX_WORDS) {
        free(s);
        return -E2BIG;
    }
    return strv_push(v, n, s);
}

int conf_push_split(char ***v, size_t *n, const char *text)
{
    _cleanup_free_ char *copy = strdup(text);
    char *save = NULL;
    int e = copy ? 0 : -ENOMEM;

    for (char *w = copy ? strtok_r(copy, " \t\n", &save) : NULL; e == 0 && w;
         w = strtok_r(NULL, " \t\n", &save))
        e = conf_push_word(v, n, strdup(w));
    return e;
}

int conf_set_str(char **dst, const char *v)
{
    char *copy = strdup(v);
    if (!copy)
        return -ENOMEM;
    free(*dst);
    *dst = copy;
    return 0;
}

int conf_parse_rotation(const char *key, const char *const names[3], const char *val,
                        uint64_t *max_bytes, uint32_t *keep, uint32_t *max_age_s)
{
    if (!strcmp(key, names[0]))
        return yaml_parse_size(val, max_bytes);
    if (!strcmp(key, names[1]))
        return yaml_parse_count(val, keep);
    if (!strcmp(key, names[2]))
        return yaml_parse_duration(val, 1000, max_age_s);
    return -ENOENT;
}

int conf_parse_port(const char *v, uint16_t *ret)
{
    uint32_t port;
    if (yaml_parse_count(v, &port) < 0 || port == 0 || port > 65535)
        return -EINVAL;
    *ret = (uint16_t)port;
    return 0;
}

int conf_want_scalar(struct svc_reader *r, const char *key, yaml_event_t *ev)
{
    int e = yaml_next(r->rd, ev);
    if (e < 0)
        return e;
    if (ev->type != YAML_SCALAR_EVENT) {
        e = yaml_fail_at(r->rd, yaml_line(ev), "service key '%s' takes a single value", key);
        yaml_event_delete(ev);
        return e;
    }
    return 0;
}

int conf_open(struct svc_reader *r, const char *key, yaml_event_type_t type, const char *what)
{
    yaml_event_t ev;
    int e = yaml_next(r->rd, &ev);

    if (e < 0)
        return e;
    if (ev.type != type)
        e = yaml_fail_at(r->rd, yaml_line(&ev), "service key '%s' takes %s", key, what);
    yaml_event_delete(&ev);
    return e;
}

int conf_next_item(struct yaml_reader *rd, yaml_event_type_t end, yaml_event_t *ev)
{
    int e = yaml_next(rd, ev);
    if (e < 0)
        return e;
    if (ev->type == end) {
        yaml_event_delete(ev);
        return 0;
    }
    return 1;
}

int conf_walk_map(struct svc_reader *r, const char *prefix, conf_key_fn fn, void *ctx)
{
    yaml_event_t k;
    int e;

    while ((e = conf_next_item(r->rd, YAML_MAPPING_END_EVENT, &k)) > 0) {
        char path[160];
        if (k.type != YAML_SCALAR_EVENT)
            e = yaml_fail_at(r->rd, yaml_line(&k), "keys of '%s' must be plain names", prefix);
        else if (snprintf(path, sizeof path, "%s.%s", prefix, yaml_scalar(&k)) >= (int)sizeof path)
            e = yaml_fail_at(r->rd, yaml_line(&k), "key '%.60s...' is too long", yaml_scalar(&k));
        else
            e = fn(r, &k, path, ctx);
        yaml_event_delete(&k);
        if (e < 0)
            return e;
    }
    return e;
}

int conf_scalar_value(struct svc_reader *r, const yaml_event_t *k, const char *path,
                      conf_value_fn parse, void *ctx)
{
    yaml_event_t v;
    int e = conf_want_scalar(r, path, &v);

    if (e < 0)
        return e;
    e = parse(r, yaml_scalar(k), yaml_scalar(&v), ctx);
    if (e == -ENOENT)
        e = yaml_fail_at(r->rd, yaml_line(k), "unknown key '%s'", path);
    else if (e == -EINVAL)
        e = yaml_fail_at(r->rd, yaml_line(&v), "bad value '%s' for '%s'", yaml_scalar(&v), path);
    yaml_event_delete(&v);
    return e;
}

int conf_read_words(struct svc_reader *r, const char *key, char ***v, size_t *n)
{
    yaml_event_t ev;
    int e = conf_open(r, key, YAML_SEQUENCE_START_EVENT, "a list");

    if (e < 0)
        return e;
    while ((e = conf_next_item(r->rd, YAML_SEQUENCE_END_EVENT, &ev)) > 0) {
        if (ev.type != YAML_SCALAR_EVENT) {
            e = yaml_fail_at(r->rd, yaml_line(&ev), "'%s' holds words, not lists or mappings", key);
            yaml_event_delete(&ev);
            return e;
        }
        e = conf_push_word(v, n, strdup(yaml_scalar(&ev)));
        yaml_event_delete(&ev);
        if (e < 0)
            return e;
    }
    return e;
}

/* env (drover) or environment (superviz): a mapping of NAME: value, in file order. */
static int read_env(struct svc_reader *r, const char *key)
{
    yaml_event_t k, v;
    int e = conf_open(r, key, YAML_MAPPING_START_EVENT, "a mapping of NAME: value");

    if (e < 0)
        return e;
    while ((e = conf_next_item(r->rd, YAML_MAPPING_END_EVENT, &k)) > 0) {
        if (k.type != YAML_SCALAR_EVENT || !*yaml_scalar(&k) || strchr(yaml_scalar(&k), '=')) {
            e = yaml_fail_at(r->rd, yaml_line(&k), "'%s' wants variable names (no '='), not '%s'",
                             key,
                             k.type == YAML_SCALAR_EVENT ? yaml_scalar(&k) : "a list or mapping");
            yaml_event_delete(&k);
            return e;
        }
        if ((e = conf_want_scalar(r, yaml_scalar(&k), &v)) < 0) {
            yaml_event_delete(&k);
            return e;
        }
        char *entry;
        e = asprintf(&entry, "%s=%s", yaml_scalar(&k), yaml_scalar(&v)) < 0 ? -ENOMEM : 0;
        if (e == 0)
            e = conf_push_word(&r->c.env, &r->n_env, entry);
        yaml_event_delete(&k);
        yaml_event_delete(&v);
        if (e < 0)
            return e;
    }
    return e;
}

/* The scalar keys both dialects have, under either's name. */
static int shared_value(struct svc_reader *r, const char *key, const char *val, void *ctx)
{
    if (!strcmp(key, "name"))
        return conf_set_str(&r->c.name, val);
    if (!strcmp(key, "cwd") || !strcmp(key, "working_dir")) {
        char *cwd = yaml_resolve_path(val, r->dir);
        if (!cwd)
            return -ENOMEM;
        free(r->c.cwd);
        r->c.cwd = cwd;
        return 0;
    }
    return conf_drover_value(r, key, val, ctx);
}

/* A key whose value is a scalar; bad values and unknown keys are file:line errors. */
static int read_scalar_key(struct svc_reader *r, const yaml_event_t *k)
{
    const char *key = yaml_scalar(k);
    yaml_event_t v;
    int e = conf_want_scalar(r, key, &v);

    if (e < 0)
        return e;
    e = shared_value(r, key, yaml_scalar(&v), NULL);
    if (e == -EINVAL)
        e = yaml_fail_at(r->rd, yaml_line(&v), "bad value '%s' for '%s'", yaml_scalar(&v), key);
    else if (e == -ENOENT)
        e = yaml_fail_at(r->rd, yaml_line(k), "unknown service key '%s'", key);
    yaml_event_delete(&v);
    return e;
}

static int read_key(struct svc_reader *r, const yaml_event_t *k)
{
    const char *key = yaml_scalar(k);
    int e;

    if (!strcmp(key, "depends_on")) {
        size_t n = 0;
        strv_free(r->c.depends_on);
        r->c.depends_on = NULL;
        return conf_read_words(r, key, &r->c.depends_on, &n);
    }
    if (!strcmp(key, "env") || !strcmp(key, "environment"))
        return read_env(r, key);
    if ((e = conf_drover_key(r, k)) != -ENOENT)
        return e;
    if ((e = conf_superviz_key(r, k)) != -ENOENT)
        return e;
    return read_scalar_key(r, k);
}

/* What a service read whole must have; superviz's args go after its command. */
static int finish_service(struct svc_reader *r, const yaml_event_t *start)
{
    int e = 0;

    for (size_t i = 0; e == 0 && i < r->n_args; i++)
        e = conf_push_word(&r->c.argv, &r->n_argv, strdup(r->args[i]));
    if (e < 0)
        return e;
    if (!r->c.name || !*r->c.name)
        return yaml_fail_at(r->rd, yaml_line(start), "a service needs a 'name'");
    if (!r->n_argv && !r->c.ctr.image)
        return yaml_fail_at(r->rd, yaml_line(start), "service '%s' needs a 'cmd' (or 'command')",
                            r->c.name);
    if (!r->c.argv && !(r->c.argv = calloc(1, sizeof *r->c.argv)))
        return -ENOMEM; /* an image's own command */
    if (!r->c.env && !(r->c.env = calloc(1, sizeof *r->c.env)))
        return -ENOMEM;
    if (!r->c.depends_on && !(r->c.depends_on = calloc(1, sizeof *r->c.depends_on)))
        return -ENOMEM;
    return 0;
}

/* One `- name: ...` mapping, its start taken. */
static int read_service(struct yaml_reader *rd, const char *dir, const yaml_event_t *start,
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
        .log_max_bytes = CONF_UNSET_U64,
        .log_keep = CONF_UNSET_U32,
        .log_max_age_s = CONF_UNSET_U32,
    };
    while ((e = conf_next_item(rd, YAML_MAPPING_END_EVENT, &k)) > 0) {
        if (k.type != YAML_SCALAR_EVENT)
            e = yaml_fail_at(rd, yaml_line(&k), "service keys must be plain names");
        else
            e = read_key(&r, &k);
        yaml_event_delete(&k);
        if (e < 0)
            break;
    }
    if (e == 0)
        e = finish_service(&r, start);
    strv_free(r.args);
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
static int check_dependencies(struct yaml_reader *rd, const struct svc_config *v, size_t n,
                              size_t line)
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
                return yaml_fail_at(rd, line,
                                    "service '%s' depends on '%s', which is not in the list",
                                    v[i].name, v[i].depends_on[j]);
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
                return yaml_fail_at(rd, line,
                                    "services depend on each other in a cycle ('%s' needs '%s', "
                                    "which needs it back)",
                                    v[cur].name, dep);
            if (mark[k] == 0) {
                mark[k] = 1;
                next[k] = 0;
                stack[depth++] = k;
            }
        }
    }
    return 0;
}

/* The items of the open list into *v (n of them, room for cap). */
static int read_list(struct yaml_reader *rd, const char *dir, struct svc_config **v, size_t *n,
                     size_t *cap)
{
    yaml_event_t ev;
    int e;

    while ((e = conf_next_item(rd, YAML_SEQUENCE_END_EVENT, &ev)) > 0) {
        size_t at = yaml_line(&ev);
        if (ev.type != YAML_MAPPING_START_EVENT || *n >= MAX_SERVICES)
            e = yaml_fail_at(rd, at, "each service is a mapping (name: ..., cmd: ...)");
        else if (VEC_RESERVE(*v, *cap, *n + 1) < 0)
            e = -ENOMEM;
        else
            e = read_service(rd, dir, &ev, &(*v)[*n]);
        yaml_event_delete(&ev);
        if (e < 0)
            return e;
        if (index_of(*v, *n, (*v)[*n].name) >= 0) {
            e = yaml_fail_at(rd, at, "service '%s' is defined twice", (*v)[*n].name);
            svc_config_done(&(*v)[*n]);
            return e;
        }
        (*n)++;
    }
    return e;
}

int svc_conf_read_services(struct yaml_reader *rd, size_t line, const char *dir,
                           struct svc_config **services, size_t *n_services)
{
    struct svc_config *v = NULL;
    size_t n = 0, cap = 0;
    yaml_event_t ev;
    int e = yaml_next(rd, &ev);

    if (e < 0)
        return e;
    if (ev.type == YAML_SCALAR_EVENT && yaml_is_null(&ev))
        e = 0; /* `services:` with nothing: none */
    else if (ev.type != YAML_SEQUENCE_START_EVENT)
        e = yaml_fail_at(rd, line, "'services' takes a list of services");
    else
        e = 1;
    yaml_event_delete(&ev);
    if (e > 0)
        e = read_list(rd, dir, &v, &n, &cap);
    if (e == 0)
        e = check_dependencies(rd, v, n, line);
    if (e < 0) {
        svc_configs_free(v, n);
        return e;
    }
    svc_configs_free(*services, *n_services);
    *services = v;
    *n_services = n;
    return 0;
}

void svc_conf_apply_log_defaults(struct svc_config *v, size_t n, const struct svc_log_defaults *d)
{
    for (size_t i = 0; i < n; i++) {
        if (v[i].log_max_bytes == CONF_UNSET_U64)
            v[i].log_max_bytes = d->max_bytes;
        if (v[i].log_keep == CONF_UNSET_U32)
            v[i].log_keep = d->keep;
        if (v[i].log_max_age_s == CONF_UNSET_U32)
            v[i].log_max_age_s = d->max_age_s;
    }
}

/* ---- a file of services alone ---- */

struct services_file {
    const char *dir;             /* for relative paths */
    struct svc_config *services; /* the list read */
    size_t n_services;           /* its length */
};

static int services_file_key(struct yaml_reader *rd, const yaml_event_t *key, void *userdata)
{
    struct services_file *f = userdata;
    const char *k = yaml_scalar(key);

    if (!strcmp(k, "services"))
        return svc_conf_read_services(rd, yaml_line(key), f->dir, &f->services, &f->n_services);
    if (!strcmp(k, "version"))
        return svc_conf_read_version(rd, yaml_line(key));
    return yaml_fail_at(rd, yaml_line(key),
                        "'%s' is a droverd setting: a file of services holds 'services' (and "
                        "'version')",
                        k);
}

int svc_conf_parse(struct yaml_reader *rd, const char *text, size_t len, const char *dir,
                   struct svc_config **ret, size_t *ret_n)
{
    static const struct svc_log_defaults none = {0};
    struct services_file f = {.dir = dir};
    int r = yaml_read_document(rd, text, len, services_file_key, &f);

    if (r >= 0 && !f.n_services)
        r = yaml_fail(rd->err, "%s: no services in it (a 'services:' list)", rd->name);
    if (r < 0) {
        svc_configs_free(f.services, f.n_services);
        return r;
    }
    svc_conf_apply_log_defaults(f.services, f.n_services, &none);
    *ret = f.services;
    *ret_n = f.n_services;
    return 0;
}
