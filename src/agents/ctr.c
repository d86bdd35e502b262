/* Containers of conversations: created on drover's container core under a conversation's
 * rules (its container limit, allowed images, network and mount policy, its resource limits as
 * defaults), labelled as baaaht labels its own (baaaht.managed, baaaht.session_id, ...), listed
 * in the conversation and stopped when it closes. Every container's changes (these and the
 * others) become container.* events on the bus. */
#include <errno.h>
#include <stdio.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agents/agents-internal.h"
#include "base/errmsg.h"
#include "base/log.h"
#include "base/strv.h"
#include "container/container.h"
#include "events/events.h"

#define LABEL_SESSION "baaaht.session_id"

struct ag_ctr_seen { /* the last state published of a container */
    struct ag_ctr_seen *next;
    char id[CTR_ID_LEN];
    enum ctr_state state;
};

static const char *label(const struct ctr_spec *s, const char *key)
{
    for (size_t i = 0; s->labels && s->labels[i] && s->labels[i + 1]; i += 2)
        if (!strcmp(s->labels[i], key))
            return s->labels[i + 1];
    return NULL;
}

const char *ag_ctr_session(const struct container *c)
{
    struct ctr_info i;
    ctr_info(c, &i);
    return label(i.spec, LABEL_SESSION);
}

/* ---- events ---- */

static void publish(struct ag_mgr *m, const struct ctr_info *i, const char *type,
                    const char *reason)
{
    char code[16], limit[24];
    const char *sid = label(i->spec, LABEL_SESSION);
    snprintf(code, sizeof code, "%d", i->exit_code < 0 ? 128 - i->exit_code : i->exit_code);
    char *d[] = {"container_id",
                 (char *)i->id,
                 "name",
                 (char *)i->name,
                 "image",
                 (char *)i->image,
                 "oom_killed",
                 i->oom_killed ? "true" : "false",
                 "reason",
                 (char *)(reason ? reason : ""),
                 i->state == CTR_EXITED ? "exit_code" : NULL,
                 code,
                 NULL};
    struct ev e = {.type = type,
                   .source = "containers",
                   .session_id = sid ? sid : "",
                   .container_id = i->id,
                   .labels = i->spec->labels,
                   .data = d};
    (void)ev_publish(m->bus, &e, NULL);
    if (i->oom_killed && !strcmp(type, "container.stopped")) {
        snprintf(limit, sizeof limit, "%llu", (unsigned long long)i->spec->res.memory);
        char *t[] = {"container_id", (char *)i->id, "resource", "memory",
                     "limit_bytes",  limit,         NULL};
        struct ev r = {.type = "resource.threshold",
                       .source = "containers",
                       .session_id = sid ? sid : "",
                       .container_id = i->id,
                       .data = t,
                       .priority = 3};
        (void)ev_publish(m->bus, &r, NULL);
    }
}

static void on_change(struct container *c, void *userdata)
{
    struct ag_mgr *m = userdata;
    struct ctr_info i;
    struct ag_ctr_seen **pp = &m->ctr_seen, *s;
    ctr_info(c, &i);
    while ((s = *pp) && strcmp(s->id, i.id))
        pp = &s->next;
    if (!s) {
        if (!(s = calloc(1, sizeof *s)))
            return;
        snprintf(s->id, sizeof s->id, "%s", i.id);
        *pp = s;
    }
    enum ctr_state was = s->state;
    s->state = i.state;
    if (was == i.state || !m->bus)
        return;
    if (!was && i.state <= CTR_CREATED)
        publish(m, &i, "container.created", NULL);
    if (i.state == CTR_RUNNING && was != CTR_STOPPING)
        publish(m, &i, "container.started", NULL);
    if (i.state == CTR_EXITED)
        publish(m, &i, "container.stopped", i.oom_killed ? "oom" : i.error[0] ? "error" : "exit");
    if (i.state == CTR_REMOVING) {
        publish(m, &i, "container.removed", NULL);
        *pp = s->next;
        free(s);
        ag_ctr_forget(m, &i);
        ag_tokens_container_gone(m, i.id);
    }
}

void ag_ctrs_free(struct ag_mgr *m)
{
    while (m->ctr_seen) {
        struct ag_ctr_seen *s = m->ctr_seen;
        m->ctr_seen = s->next;
        free(s);
    }
    if (m->containers)
        ctr_mgr_watch(m->containers, NULL, NULL);
}

void ag_mgr_use(struct ag_mgr *m, struct sess_mgr *sessions, struct ctr_mgr *containers)
{
    m->sessions = sessions;
    m->containers = containers;
    if (containers)
        ctr_mgr_watch(containers, on_change, m);
}

/* ---- a conversation's containers ---- */

void ag_ctr_forget(struct ag_mgr *m, const struct ctr_info *i)
{
    const char *sid = label(i->spec, LABEL_SESSION);
    struct ag_conv *c = sid ? ag_conv_find(m, sid) : NULL;
    if (!c || !c->container_ids)
        return;
    size_t n = 0;
    for (size_t k = 0; c->container_ids[k]; k++) {
        if (!strcmp(c->container_ids[k], i->id))
            free(c->container_ids[k]);
        else
            c->container_ids[n++] = c->container_ids[k];
    }
    c->container_ids[n] = NULL;
    (void)ag_db_put_conv(m, c, false);
}

static bool path_allowed(char *const *allowed, const char *path)
{
    for (size_t i = 0; allowed && allowed[i]; i++) {
        size_t n = strlen(allowed[i]);
        if (!strncmp(path, allowed[i], n) &&
            (path[n] == '\0' || path[n] == '/' || (n && allowed[i][n - 1] == '/')))
            return true;
    }
    return false;
}

static size_t live_count(struct ag_mgr *m, const struct ag_conv *c)
{
    size_t n = 0;
    for (size_t k = 0; c->container_ids && c->container_ids[k]; k++) {
        struct container *x = ctr_find(m->containers, c->container_ids[k]);
        struct ctr_info i;
        if (x && (ctr_info(x, &i), i.state != CTR_EXITED && i.state != CTR_REMOVING))
            n++;
    }
    return n;
}

static int refuse(struct ag_mgr *m, struct ag_conv *c, char *err, size_t err_size, int r,
                  const char *fmt, const char *what)
{
    errmsg_fail(err, err_size, r, fmt, what);
    if (m->bus) {
        char *d[] = {"session_id", c->id, "error", err, NULL};
        struct ev e = {.type = "policy.violation",
                       .source = "orchestrator",
                       .session_id = c->id,
                       .data = d,
                       .priority = 3};
        (void)ev_publish(m->bus, &e, NULL);
    }
    return r;
}

int ag_ctr_create(struct ag_mgr *m, const char *conv_id, const struct ctr_spec *spec,
                  struct ctr_wait *w, struct container **ret, char *err, size_t err_size)
{
    struct ag_conv *c = ag_conv_find(m, conv_id);
    if (!m->containers)
        return errmsg_fail(err, err_size, -EOPNOTSUPP, "containers are not set up in this droverd");
    if (!c)
        return errmsg_fail(err, err_size, -ENOENT, "session not found: %s", conv_id);
    if (c->state == AG_CLOSED || c->state == AG_CLOSING)
        return errmsg_fail(err, err_size, -ESTALE, "cannot add container to closed session");
    const struct ag_config *cf = &c->config;
    if (cf->max_containers > 0 && live_count(m, c) >= (size_t)cf->max_containers)
        return errmsg_fail(err, err_size, -EDQUOT, "maximum containers limit reached: %d",
                           cf->max_containers);
    bool image_ok = !cf->allowed_images || !cf->allowed_images[0];
    for (size_t i = 0; !image_ok && cf->allowed_images[i]; i++)
        image_ok = fnmatch(cf->allowed_images[i], spec->image, 0) == 0;
    if (!image_ok)
        return refuse(m, c, err, err_size, -EACCES, "image not allowed: %s", spec->image);
    if (spec->host_network && !cf->allow_network)
        return refuse(m, c, err, err_size, -EACCES,
                      "the session's policy does not allow the network: %s", "host");
    for (size_t i = 0; i < spec->n_mounts; i++) {
        const struct ctr_mount *mt = &spec->mounts[i];
        if (mt->type == CTR_MOUNT_TMPFS)
            continue;
        if (!cf->allow_volume_mount)
            return refuse(m, c, err, err_size, -EACCES,
                          "the session's policy does not allow mounts: %s", mt->destination);
        if (mt->type == CTR_MOUNT_BIND && cf->allowed_paths && cf->allowed_paths[0] &&
            !path_allowed(cf->allowed_paths, mt->source))
            return refuse(m, c, err, err_size, -EACCES, "path not allowed: %s", mt->source);
    }
    /* baaaht's labels (the caller's own may override them), the session's limits as defaults. */
    struct ctr_spec s = *spec;
    char stamp[32], *own[9];
    time_t now = time(NULL);
    struct tm tm;
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    own[0] = "baaaht.managed", own[1] = "true", own[2] = "baaaht.container_name";
    own[3] = (char *)(spec->name ? spec->name : "");
    own[4] = LABEL_SESSION, own[5] = c->id, own[6] = "baaaht.created_at", own[7] = stamp;
    own[8] = NULL;
    size_t nl = strv_length(spec->labels);
    char **labels = calloc(8 + nl + 1, sizeof *labels);
    if (!labels)
        return errmsg_fail(err, err_size, -ENOMEM, "out of memory");
    memcpy(labels, own, 8 * sizeof *labels);
    for (size_t i = 0; i + 1 < nl; i += 2) { /* the caller's, replacing ours of the same key */
        size_t k = 0;
        while (k < 8 && strcmp(labels[k], spec->labels[i]))
            k += 2;
        if (k < 8 && strcmp(spec->labels[i], LABEL_SESSION))
            labels[k + 1] = spec->labels[i + 1];
        else if (k == 8) {
            size_t e = strv_length(labels);
            labels[e] = spec->labels[i];
            labels[e + 1] = spec->labels[i + 1];
        }
    }
    s.labels = labels;
    if (!s.res.memory && cf->limits.memory_bytes > 0)
        s.res.memory = (uint64_t)cf->limits.memory_bytes;
    if (!s.res.pids && cf->limits.pids_limit > 0)
        s.res.pids = (uint32_t)cf->limits.pids_limit;
    if (!s.res.cpu_quota_us && cf->limits.nano_cpus > 0) {
        s.res.cpu_period_us = 100000;
        s.res.cpu_quota_us = (uint64_t)cf->limits.nano_cpus * 100000 / 1000000000;
    }
    /* Its own token, for the agent it runs to register and act as itself. */
    char token[AG_TOKEN_LEN], *tenv = NULL;
    size_t ne = strv_length(spec->env);
    char **env = calloc(ne + 2, sizeof *env);
    int r = env && ag_token_mint(m, token) == 0 &&
                    asprintf(&tenv, "BAAAHT_CONTAINER_TOKEN=%s", token) > 0
                ? 0
                : -ENOMEM;
    if (r == 0) {
        if (ne)
            memcpy(env, spec->env, ne * sizeof *env);
        env[ne] = tenv;
        s.env = env;
    }
    struct container *x = NULL;
    if (r == 0)
        r = ctr_create(m->containers, &s, true, w, &x, err, err_size);
    else
        errmsg_fail(err, err_size, r, "out of memory");
    free(labels);
    free(env);
    free(tenv);
    if (r < 0) {
        ag_token_drop(m, token);
        return r;
    }
    (void)ag_token_attach(m, token, ctr_id(x));
    size_t n = strv_length(c->container_ids);
    if (strv_push(&c->container_ids, &n, strdup(ctr_id(x))) == 0)
        (void)ag_db_put_conv(m, c, false);
    *ret = x;
    return 0;
}

void ag_ctrs_conv_closed(struct ag_mgr *m, struct ag_conv *c)
{
    char err[CTR_ERR_MAX];
    for (size_t k = 0; m->containers && c->container_ids && c->container_ids[k]; k++) {
        struct container *x = ctr_find(m->containers, c->container_ids[k]);
        struct ctr_info i;
        if (!x || (ctr_info(x, &i), i.state == CTR_EXITED || i.state == CTR_REMOVING))
            continue;
        if (ctr_stop(x, 0, UINT32_MAX, NULL, err, sizeof err) < 0)
            log_warning("session %s: cannot stop container %s: %s", c->id, i.id, err);
    }
}
