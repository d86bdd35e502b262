/* running-process's services.snapshot.json (version 1): every service's definition and status,
 * written atomically by SAVE and read back by RESURRECT. The upstream keys come first; drover
 * adds its own (restart_policy, restart_delay_max_ms, clear_env, stop_signal, oneshot,
 * autostart, depends_on, probes), and when they are present the numbers are taken as they are.
 * Without them (a snapshot upstream wrote), a zero restart_delay_ms, kill_timeout_ms or
 * min_uptime_ms means upstream's default, as on its wire. */
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/paths.h"
#include "base/macro.h"
#include "base/strv.h"
#include "base/time-util.h"
#include "supervise/supervise.h"

#define UPSTREAM_RESTART_DELAY_MS 500
#define UPSTREAM_KILL_TIMEOUT_MS  3000
#define UPSTREAM_MIN_UPTIME_MS    2000
#define UPSTREAM_BACKOFF_CAP_MS   30000

static const char *const policy_words[] = {"always", "on-failure", "never"};

static json_t *service_json(struct svc *s)
{
    const struct svc_config *c = svc_get_config(s);
    struct svc_status st;
    json_t *cmd = json_array(), *env = json_array(), *deps = json_array();

    svc_get_status(s, &st);
    for (size_t i = 0; c->depends_on && c->depends_on[i]; i++)
        json_array_append_new(deps, json_string(c->depends_on[i]));
    for (size_t i = 0; c->argv[i]; i++)
        json_array_append_new(cmd, json_string(c->argv[i]));
    for (size_t i = 0; c->env && c->env[i]; i++) {
        const char *eq = strchr(c->env[i], '=');
        json_array_append_new(env, json_pack("[s%s]", c->env[i], (size_t)(eq - c->env[i]), eq + 1));
    }
    return json_pack(
        "{s:i, s:s, s:o, s:s, s:o, s:b, s:i, s:i, s:i, s:i, s:s, s:i, s:i, s:f, s:f,"
        " s:i, s:s, s:i, s:b, s:i, s:b, s:b, s:o, s:o*}",
        "id", (int)svc_id(s), "name", c->name, "cmd", cmd, "cwd", c->cwd ? c->cwd : "", "env", env,
        "autorestart", c->restart != SVC_RESTART_NEVER, "max_restarts", (int)c->max_restarts,
        "restart_delay_ms", (int)c->restart_delay_ms, "kill_timeout_ms", (int)c->kill_timeout_ms,
        "min_uptime_ms", (int)c->min_uptime_ms, "status", svc_status_word(st.state), "pid",
        (int)st.pid, "restart_count", (int)st.restarts, "last_started_at", st.last_started_at,
        "last_exited_at", st.last_exited_at, "last_exit_code", st.last_exit, "restart_policy",
        policy_words[c->restart], "restart_delay_max_ms", (int)c->restart_delay_max_ms, "clear_env",
        c->clear_env, "stop_signal", c->stop_signal, "oneshot", c->oneshot, "autostart",
        c->autostart, "depends_on", deps, "probes", svc_probes_to_json(c->probes, c->n_probes));
}

/* Writes path atomically through path.tmp (upstream's ".json.tmp"). */
static int write_atomic(const char *path, const char *data, size_t len)
{
    _cleanup_free_ char *tmp = NULL;
    size_t n = strlen(path);

    if (asprintf(&tmp, "%.*s.json.tmp", (int)(n > 5 ? n - 5 : n), path) < 0)
        return -ENOMEM;
    return paths_write_atomic(path, tmp, data, len, 0600);
}

int svc_snapshot_save(struct svc_engine *e, const char *path, size_t *ret_count)
{
    json_t *list = json_array();

    for (size_t i = 0; list && i < svc_count(e); i++)
        json_array_append_new(list, service_json(svc_at(e, i)));
    json_t *doc = json_pack("{s:i, s:I, s:o}", "version", 1, "saved_at_ms",
                            (json_int_t)(now_ns(CLOCK_REALTIME) / 1000000), "services", list);
    char *text = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(doc);
    int r = text ? write_atomic(path, text, strlen(text)) : -ENOMEM;
    free(text);
    if (r >= 0)
        *ret_count = svc_count(e);
    return r;
}

static uint32_t u32(json_t *j, const char *key, uint32_t if_zero)
{
    json_int_t v = json_integer_value(json_object_get(j, key));
    return v > 0 && v <= UINT32_MAX ? (uint32_t)v : if_zero;
}

static enum svc_restart policy(json_t *j)
{
    const char *w = json_string_value(json_object_get(j, "restart_policy"));
    json_t *ar = json_object_get(j, "autorestart");
    if (w)
        return !strcmp(w, "never")        ? SVC_RESTART_NEVER
               : !strcmp(w, "on-failure") ? SVC_RESTART_ON_FAILURE
                                          : SVC_RESTART_ALWAYS;
    return !ar || json_is_true(ar) ? SVC_RESTART_ALWAYS : SVC_RESTART_NEVER;
}

/* One entry back into a definition. *ret_online says it was running when saved. */
static int restore_one(struct svc_engine *e, json_t *j, struct svc **ret, bool *ret_online)
{
    json_t *cmd = json_object_get(j, "cmd"), *env = json_object_get(j, "env");
    json_t *deps = json_object_get(j, "depends_on");
    const char *name = json_string_value(json_object_get(j, "name"));
    const char *status = json_string_value(json_object_get(j, "status"));
    const char *cwd = json_string_value(json_object_get(j, "cwd"));
    size_t n = json_array_size(cmd), m = json_array_size(env);
    bool ours = json_object_get(j, "restart_policy") != NULL;

    *ret_online = status && !strcmp(status, "online");
    if (!name || !*name || !json_is_array(cmd) || n == 0 || (env && !json_is_array(env)))
        return -EINVAL;
    size_t nd = json_is_array(deps) ? json_array_size(deps) : 0;
    _cleanup_free_ char **argv = calloc(n + 1, sizeof *argv);
    _cleanup_free_ char **depv = calloc(nd + 1, sizeof *depv);
    char **envv = calloc(m + 1, sizeof *envv);
    struct svc_probe *probes = NULL;
    size_t n_probes = 0;
    int r = argv && envv && depv ? 0 : -ENOMEM;
    if (r == 0)
        r = svc_probes_from_json(json_object_get(j, "probes"), &probes, &n_probes);
    for (size_t i = 0; r == 0 && i < nd; i++)
        if (!(depv[i] = (char *)json_string_value(json_array_get(deps, i))))
            r = -EINVAL;
    for (size_t i = 0; r == 0 && i < n; i++)
        if (!(argv[i] = (char *)json_string_value(json_array_get(cmd, i))))
            r = -EINVAL;
    for (size_t i = 0; r == 0 && i < m; i++) {
        const char *k = json_string_value(json_array_get(json_array_get(env, i), 0));
        const char *v = json_string_value(json_array_get(json_array_get(env, i), 1));
        if (!k || !v || !*k || strchr(k, '=') || asprintf(&envv[i], "%s=%s", k, v) < 0) {
            envv[i] = NULL;
            r = -EINVAL;
        }
    }
    if (r == 0) {
        struct svc_config c = {
            .name = (char *)name,
            .argv = argv,
            .cwd = cwd && *cwd ? (char *)cwd : NULL,
            .env = envv,
            .clear_env = ours ? json_is_true(json_object_get(j, "clear_env")) : m > 0,
            .restart = policy(j),
            .max_restarts = u32(j, "max_restarts", 0),
            .restart_delay_ms = u32(j, "restart_delay_ms", ours ? 0 : UPSTREAM_RESTART_DELAY_MS),
            .restart_delay_max_ms = u32(j, "restart_delay_max_ms", UPSTREAM_BACKOFF_CAP_MS),
            .kill_timeout_ms = u32(j, "kill_timeout_ms", ours ? 0 : UPSTREAM_KILL_TIMEOUT_MS),
            .min_uptime_ms = u32(j, "min_uptime_ms", ours ? 0 : UPSTREAM_MIN_UPTIME_MS),
            .stop_signal = (int)u32(j, "stop_signal", SIGTERM),
            .oneshot = json_is_true(json_object_get(j, "oneshot")),
            .autostart = json_is_true(json_object_get(j, "autostart")),
            .depends_on = depv,
            .probes = probes,
            .n_probes = n_probes,
        };
        struct svc *s = svc_find(e, name);
        /* A service running now goes on as it is: resurrect adds what is missing. */
        if (s && svc_running(s))
            *ret = s;
        else
            r = svc_define(e, (uint32_t)u32(j, "id", 0), &c, ret);
    }
    strv_free(envv);
    if (probes)
        svc_probes_free(probes, n_probes);
    return r;
}

int svc_snapshot_load(struct svc_engine *e, const char *path, size_t *ret_restored)
{
    json_error_t err;
    size_t restored = 0;

    if (access(path, F_OK) < 0)
        return -errno;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
    json_t *list = json_object_get(doc, "services");
    if (!doc || json_integer_value(json_object_get(doc, "version")) != 1 || !json_is_array(list)) {
        json_decref(doc);
        return -EINVAL;
    }
    size_t n = json_array_size(list);
    _cleanup_free_ uint32_t *start = calloc(n ? n : 1, sizeof *start);
    size_t n_start = 0;
    if (!start) {
        json_decref(doc);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        struct svc *s;
        bool online;
        if (restore_one(e, json_array_get(list, i), &s, &online) < 0)
            continue;
        restored++;
        if (online && !svc_running(s))
            start[n_start++] = svc_id(s);
    }
    /* Started once all are defined, so that dependencies are found whatever the order. */
    for (size_t i = 0; i < n_start; i++) {
        struct svc *s = svc_find_id(e, start[i]);
        if (s && !svc_running(s))
            svc_start(s);
    }
    json_decref(doc);
    *ret_restored = restored;
    return 0;
}
