/* Probes as JSON, for the places that keep a definition outside the process: the database's
 * `probes` column and the snapshot's `probes` key. A list of objects:
 *
 *   {"type": "exec"|"tcp"|"http", "cmd": [...], "host", "port", "path", "method", "status",
 *    "interval_ms", "timeout_ms", "failure_threshold", "success_threshold", "name"}
 *
 * Reading is strict about types and ranges: a probe that does not check what it says is worse
 * than an error. */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "base/macro.h"
#include "base/strv.h"
#include "supervise/supervise.h"

static const char *const kind_words[] = {
    [SVC_PROBE_EXEC] = "exec",
    [SVC_PROBE_TCP] = "tcp",
    [SVC_PROBE_HTTP] = "http",
};

static void set_opt(json_t *o, const char *key, const char *v)
{
    if (v)
        json_object_set_new(o, key, json_string(v));
}

json_t *svc_probes_to_json(const struct svc_probe *v, size_t n)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < n; i++) {
        const struct svc_probe *p = &v[i];
        json_t *o = json_pack("{s:s, s:i, s:I, s:I, s:I, s:I, s:I}", "type", kind_words[p->kind],
                              "port", (int)p->port, "status", (json_int_t)p->status, "interval_ms",
                              (json_int_t)p->interval_ms, "timeout_ms", (json_int_t)p->timeout_ms,
                              "failure_threshold", (json_int_t)p->failure_threshold,
                              "success_threshold", (json_int_t)MAX(p->success_threshold, 1u));
        if (!o) {
            json_decref(a);
            return NULL;
        }
        if (p->argv) {
            json_t *cmd = json_array();
            for (size_t k = 0; p->argv[k]; k++)
                json_array_append_new(cmd, json_string(p->argv[k]));
            json_object_set_new(o, "cmd", cmd);
        }
        set_opt(o, "host", p->host);
        set_opt(o, "path", p->path);
        set_opt(o, "method", p->method);
        set_opt(o, "name", p->name);
        json_array_append_new(a, o);
    }
    return a;
}

/* A number in [min, max] at key (absent: dflt), or -1. */
static int64_t num(json_t *o, const char *key, int64_t dflt, int64_t min, int64_t max)
{
    json_t *j = json_object_get(o, key);
    if (!j)
        return dflt;
    json_int_t v = json_is_integer(j) ? json_integer_value(j) : -1;
    return v >= min && v <= max ? v : -1;
}

/* A string at key, copied into *dst; absent leaves NULL. */
static int str(json_t *o, const char *key, char **dst)
{
    json_t *j = json_object_get(o, key);
    if (!j)
        return 0;
    if (!json_is_string(j))
        return -EINVAL;
    return (*dst = strdup(json_string_value(j))) ? 0 : -ENOMEM;
}

static int one_from_json(json_t *o, struct svc_probe *p)
{
    const char *type = json_string_value(json_object_get(o, "type"));
    json_t *cmd = json_object_get(o, "cmd");
    int64_t port = num(o, "port", 0, 0, 65535), status = num(o, "status", 0, 0, 999),
            interval = num(o, "interval_ms", -1, 1, UINT32_MAX),
            timeout = num(o, "timeout_ms", -1, 1, UINT32_MAX),
            failures = num(o, "failure_threshold", -1, 1, UINT32_MAX),
            successes = num(o, "success_threshold", 1, 1, UINT32_MAX);
    int r;

    if (!json_is_object(o) || !type || port < 0 || status < 0 || interval < 0 || timeout < 0 ||
        failures < 0 || successes < 0 || (cmd && !json_is_array(cmd)))
        return -EINVAL;
    *p = (struct svc_probe){
        .kind = !strcmp(type, "exec")  ? SVC_PROBE_EXEC
                : !strcmp(type, "tcp") ? SVC_PROBE_TCP
                                       : SVC_PROBE_HTTP,
        .port = (uint16_t)port,
        .status = (uint32_t)status,
        .interval_ms = (uint32_t)interval,
        .timeout_ms = (uint32_t)timeout,
        .failure_threshold = (uint32_t)failures,
        .success_threshold = (uint32_t)successes,
    };
    if (strcmp(type, "exec") && strcmp(type, "tcp") && strcmp(type, "http"))
        return -EINVAL;
    if ((r = str(o, "host", &p->host)) < 0 || (r = str(o, "path", &p->path)) < 0 ||
        (r = str(o, "method", &p->method)) < 0 || (r = str(o, "name", &p->name)) < 0)
        return r;
    if (cmd) {
        size_t n = json_array_size(cmd);
        if (!(p->argv = calloc(n + 1, sizeof *p->argv)))
            return -ENOMEM;
        for (size_t k = 0; k < n; k++) {
            const char *w = json_string_value(json_array_get(cmd, k));
            if (!w)
                return -EINVAL;
            if (!(p->argv[k] = strdup(w)))
                return -ENOMEM;
        }
    }
    return 0;
}

int svc_probes_from_json(json_t *a, struct svc_probe **ret, size_t *ret_n)
{
    size_t n = json_is_array(a) ? json_array_size(a) : 0;
    struct svc_probe *v = calloc(n ? n : 1, sizeof *v);
    int r = a && !json_is_array(a) ? -EINVAL : v ? 0 : -ENOMEM;

    for (size_t i = 0; r == 0 && i < n; i++)
        r = one_from_json(json_array_get(a, i), &v[i]);
    if (r < 0) {
        if (v)
            svc_probes_free(v, n);
        return r;
    }
    *ret = v;
    *ret_n = n;
    return 0;
}
