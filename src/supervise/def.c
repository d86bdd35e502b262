/* Service definitions (struct svc_config): signal names, copying, comparing, checking and freeing
 * definitions and their probes, and the log file names a definition gives. Pure code: nothing
 * here touches the engine, so every face and reader can build and compare definitions. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/macro.h"
#include "base/strv.h"
#include "supervise/supervise-internal.h"

static const struct {
    const char *name;
    int sig;
} signal_names[] = {
    {"TERM", SIGTERM}, {"INT", SIGINT},   {"QUIT", SIGQUIT},   {"HUP", SIGHUP},   {"KILL", SIGKILL},
    {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"WINCH", SIGWINCH}, {"CONT", SIGCONT},
};

int svc_signal_from_name(const char *s)
{
    if (!strncmp(s, "SIG", 3))
        s += 3;
    for (size_t i = 0; i < ARRAY_SIZE(signal_names); i++)
        if (!strcmp(s, signal_names[i].name))
            return signal_names[i].sig;
    char *end;
    long v = strtol(s, &end, 10);
    return !*s || *end || v <= 0 || v >= NSIG ? -1 : (int)v;
}

const char *svc_signal_name(int sig)
{
    for (size_t i = 0; i < ARRAY_SIZE(signal_names); i++)
        if (signal_names[i].sig == sig)
            return signal_names[i].name;
    return "TERM";
}

void svc_probe_done(struct svc_probe *p)
{
    free(p->name);
    strv_free(p->argv);
    free(p->host);
    free(p->path);
    free(p->method);
    *p = (struct svc_probe){0};
}

void svc_probes_free(struct svc_probe *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        svc_probe_done(&v[i]);
    free(v);
}

void svc_config_done(struct svc_config *c)
{
    free(c->name);
    strv_free(c->argv);
    free(c->cwd);
    strv_free(c->env);
    strv_free(c->depends_on);
    svc_probes_free(c->probes, c->n_probes);
    free(c->log_file[0]);
    free(c->log_file[1]);
    free(c->ctr.image);
    strv_free(c->ctr.volumes);
    *c = (struct svc_config){0};
}

/* A copy of a string that may be NULL; false when memory ran out. */
static bool dup_opt(char **dst, const char *src)
{
    *dst = src ? strdup(src) : NULL;
    return !src || *dst;
}

static struct svc_probe *probes_copy(const struct svc_probe *v, size_t n)
{
    struct svc_probe *c = calloc(n ? n : 1, sizeof *c);
    bool ok = c != NULL;

    for (size_t i = 0; ok && i < n; i++) {
        c[i] = v[i];
        c[i].argv = v[i].argv ? strv_copy(v[i].argv) : NULL;
        ok = (!v[i].argv || c[i].argv) & dup_opt(&c[i].name, v[i].name) &
             dup_opt(&c[i].host, v[i].host) & dup_opt(&c[i].path, v[i].path) &
             dup_opt(&c[i].method, v[i].method);
    }
    if (!ok && c) {
        svc_probes_free(c, n);
        return NULL;
    }
    return c;
}

void svc_configs_free(struct svc_config *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        svc_config_done(&v[i]);
    free(v);
}

static bool str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

static bool probes_equal(const struct svc_probe *a, size_t na, const struct svc_probe *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (!str_eq(a[i].name, b[i].name) || a[i].kind != b[i].kind ||
            !strv_equal(a[i].argv, b[i].argv) || !str_eq(a[i].host, b[i].host) ||
            a[i].port != b[i].port || !str_eq(a[i].path, b[i].path) ||
            !str_eq(a[i].method, b[i].method) || a[i].status != b[i].status ||
            a[i].interval_ms != b[i].interval_ms || a[i].timeout_ms != b[i].timeout_ms ||
            a[i].failure_threshold != b[i].failure_threshold ||
            MAX(a[i].success_threshold, 1u) != MAX(b[i].success_threshold, 1u))
            return false;
    return true;
}

int svc_config_copy(struct svc_config *dst, const struct svc_config *src)
{
    *dst = *src;
    dst->name = strdup(src->name);
    dst->argv = strv_copy(src->argv);
    dst->cwd = src->cwd ? strdup(src->cwd) : NULL;
    dst->env = strv_copy(src->env);
    dst->depends_on = strv_copy(src->depends_on);
    dst->probes = probes_copy(src->probes, src->n_probes);
    bool logs =
        dup_opt(&dst->log_file[0], src->log_file[0]) & dup_opt(&dst->log_file[1], src->log_file[1]);
    bool ctr = dup_opt(&dst->ctr.image, src->ctr.image);
    dst->ctr.volumes = src->ctr.volumes ? strv_copy(src->ctr.volumes) : NULL;
    if (!dst->name || !dst->argv || !dst->env || !dst->depends_on || (src->cwd && !dst->cwd) ||
        !dst->probes || !logs || !ctr || (src->ctr.volumes && !dst->ctr.volumes)) {
        svc_config_done(dst);
        return -ENOMEM;
    }
    if (!dst->stop_signal)
        dst->stop_signal = SIGTERM;
    return 0;
}

int svc_config_check(const struct svc_config *c)
{
    if (!c->name || !*c->name || strlen(c->name) > 200 || !c->argv ||
        (!c->ctr.image && (!c->argv[0] || !*c->argv[0])) || (c->ctr.image && !*c->ctr.image))
        return -EINVAL;
    for (size_t i = 0; c->env && c->env[i]; i++) {
        const char *eq = strchr(c->env[i], '=');
        if (!eq || eq == c->env[i])
            return -EINVAL;
    }
    for (size_t i = 0; i < c->n_probes; i++) {
        const struct svc_probe *p = &c->probes[i];
        if ((p->kind == SVC_PROBE_EXEC && (!p->argv || !p->argv[0])) ||
            (p->kind != SVC_PROBE_EXEC && !p->port) || !p->interval_ms || !p->timeout_ms ||
            !p->failure_threshold)
            return -EINVAL;
    }
    for (int i = 0; i < 2; i++)
        if (c->log_file[i] && (!*c->log_file[i] || strlen(c->log_file[i]) >= PATH_MAX))
            return -EINVAL;
    return c->stop_signal < 0 || c->stop_signal >= NSIG ? -EINVAL : 0;
}

bool svc_config_equal(const struct svc_config *a, const struct svc_config *b)
{
    return str_eq(a->name, b->name) && strv_equal(a->argv, b->argv) && str_eq(a->cwd, b->cwd) &&
           strv_equal(a->env, b->env) && a->clear_env == b->clear_env && a->restart == b->restart &&
           a->max_restarts == b->max_restarts && a->restart_delay_ms == b->restart_delay_ms &&
           a->restart_delay_max_ms == b->restart_delay_max_ms &&
           a->min_uptime_ms == b->min_uptime_ms && a->kill_timeout_ms == b->kill_timeout_ms &&
           (a->stop_signal ? a->stop_signal : SIGTERM) ==
               (b->stop_signal ? b->stop_signal : SIGTERM) &&
           a->oneshot == b->oneshot && a->autostart == b->autostart &&
           a->from_config == b->from_config && strv_equal(a->depends_on, b->depends_on) &&
           a->set_ids == b->set_ids && a->uid == b->uid && a->gid == b->gid &&
           a->set_umask == b->set_umask && a->umask == b->umask &&
           a->log_max_bytes == b->log_max_bytes && a->log_keep == b->log_keep &&
           a->log_max_age_s == b->log_max_age_s && str_eq(a->log_file[0], b->log_file[0]) &&
           str_eq(a->log_file[1], b->log_file[1]) && str_eq(a->ctr.image, b->ctr.image) &&
           a->ctr.memory == b->ctr.memory && a->ctr.cpu_pct == b->ctr.cpu_pct &&
           a->ctr.pids == b->ctr.pids && a->ctr.read_only == b->ctr.read_only &&
           a->ctr.host_network == b->ctr.host_network &&
           (a->ctr.volumes && b->ctr.volumes
                ? strv_equal(a->ctr.volumes, b->ctr.volumes)
                : !strv_length(a->ctr.volumes) && !strv_length(b->ctr.volumes)) &&
           probes_equal(a->probes, a->n_probes, b->probes, b->n_probes);
}

/* <dir>/<name>-<suffix>.log, with anything in the name outside [A-Za-z0-9._-] as '_' (upstream's
 * rule), so a name can never climb out of the directory; or the configured file, relative to
 * dir unless absolute. */
char *svc_log_name(const char *dir, const char *name, const char *file, const char *suffix)
{
    char *p;

    if (file && file[0] == '/')
        return strdup(file);
    if (file)
        return asprintf(&p, "%s/%s", dir, file) < 0 ? NULL : p;
    _cleanup_free_ char *safe = strdup(name);
    if (!safe)
        return NULL;
    for (char *c = safe; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '.' || *c == '_' || *c == '-'))
            *c = '_';
    if (!strcmp(safe, ".") || !strcmp(safe, ".."))
        safe[0] = '_';
    return asprintf(&p, "%s/%s-%s.log", dir, safe, suffix) < 0 ? NULL : p;
}
