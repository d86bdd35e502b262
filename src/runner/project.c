/* Projects: a directory, a quota and how its runners are launched. Also the small helpers the
 * other files share (ids, clocks, maps). */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "base/macro.h"
#include "base/strv.h"
#include "base/time-util.h"
#include "proc/proc.h"
#include "runner/runner-internal.h"

void rn_uuid(char out[RN_ID_LEN])
{
    uint8_t b[16];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) {
        uint64_t t = now_ns(CLOCK_REALTIME) ^ ((uint64_t)getpid() << 32);
        for (size_t i = 0; i < sizeof b; i++)
            b[i] = (uint8_t)(t >> (8 * (i % 8))) ^ (uint8_t)(i * 37);
    }
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    snprintf(out, RN_ID_LEN, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

uint64_t rn_now(void)
{
    return now_ns(CLOCK_REALTIME);
}

/* ---- maps ---- */

const char *rn_map_get(char *const *map, const char *key)
{
    for (size_t i = 0; map && map[i] && map[i + 1]; i += 2)
        if (strcmp(map[i], key) == 0)
            return map[i + 1];
    return NULL;
}

bool rn_map_match(char *const *map, char *const *filter)
{
    for (size_t i = 0; filter && filter[i] && filter[i + 1]; i += 2) {
        const char *v = rn_map_get(map, filter[i]);
        if (!v || strcmp(v, filter[i + 1]) != 0)
            return false;
    }
    return true;
}

int rn_map_valid(char *const *map)
{
    return strv_length(map) % 2 == 0 ? 0 : -EINVAL;
}

/* ---- launch settings ---- */

int32_t rn_launch_max_restarts(const struct rn_launch *l)
{
    return l->max_restarts > 0 ? l->max_restarts : RN_DEF_MAX_RESTARTS;
}

int32_t rn_launch_ttl(const struct rn_launch *l)
{
    return l->ttl_s > 0 ? l->ttl_s : RN_DEF_TTL_S;
}

uint32_t rn_launch_stop_ms(const struct rn_launch *l)
{
    return (uint32_t)(l->stop_timeout_s > 0 ? l->stop_timeout_s : RN_DEF_STOP_S) * 1000u;
}

int32_t rn_launch_backoff(const struct rn_launch *l)
{
    return l->backoff_ms > 0 ? l->backoff_ms : RN_DEF_BACKOFF_MS;
}

void rn_launch_done(struct rn_launch *l)
{
    strv_free(l->command);
    strv_free(l->env);
    strv_free(l->flags);
    strv_free(l->caps);
    strv_free(l->continue_args);
    strv_free(l->resume_args);
    free(l->model);
    free(l->usage_parser);
    *l = (struct rn_launch){0};
}

static int dup_str(char **dst, const char *src)
{
    *dst = strdup(src ? src : "");
    return *dst ? 0 : -ENOMEM;
}

/* A NULL vector stays NULL (it means "the default"); an empty one stays empty. */
static int dup_strv(char ***dst, char *const *src)
{
    *dst = NULL;
    if (!src)
        return 0;
    *dst = strv_copy(src);
    return *dst ? 0 : -ENOMEM;
}

int rn_launch_copy(struct rn_launch *dst, const struct rn_launch *src)
{
    *dst = *src;
    dst->command = dst->env = dst->flags = dst->caps = NULL;
    dst->continue_args = dst->resume_args = NULL;
    dst->model = dst->usage_parser = NULL;
    if (dup_strv(&dst->command, src->command) < 0 || dup_strv(&dst->env, src->env) < 0 ||
        dup_strv(&dst->flags, src->flags) < 0 || dup_strv(&dst->caps, src->caps) < 0 ||
        dup_strv(&dst->continue_args, src->continue_args) < 0 ||
        dup_strv(&dst->resume_args, src->resume_args) < 0 || dup_str(&dst->model, src->model) ||
        dup_str(&dst->usage_parser, src->usage_parser)) {
        rn_launch_done(dst);
        return -ENOMEM;
    }
    return 0;
}

static int launch_check(const struct rn_launch *l, char *err, size_t size)
{
    if (l->has_temperature &&
        (!isfinite(l->temperature) || l->temperature < 0 || l->temperature > 2))
        return snprintf(err, size, "config.default_temperature must be between 0 and 2"), -EINVAL;
    if (l->has_max_tokens && l->max_tokens < 0)
        return snprintf(err, size, "config.default_max_tokens must not be negative"), -EINVAL;
    if (l->policy < RN_POLICY_INHERIT || l->policy > RN_ALWAYS)
        return snprintf(err, size, "config.restart_policy %d is not a policy", l->policy), -EINVAL;
    if (l->max_restarts < 0 || l->backoff_ms < 0 || l->ttl_s < 0 || l->stop_timeout_s < 0 ||
        l->transcript_max < 0)
        return snprintf(err, size, "config: counts and durations must not be negative"), -EINVAL;
    if (l->command && !l->command[0])
        return snprintf(err, size, "config.command is empty"), -EINVAL;
    if (rn_map_valid(l->env) < 0)
        return snprintf(err, size, "config.environment is not a map"), -EINVAL;
    if (l->usage_parser && *l->usage_parser && strcmp(l->usage_parser, "none") != 0 &&
        strcmp(l->usage_parser, "json-usage") != 0)
        return snprintf(err, size, "config.usage_parser '%s' is not none or json-usage",
                        l->usage_parser),
               -EINVAL;
    for (size_t i = 0; l->env && l->env[i]; i += 2)
        if (!l->env[i][0] || strchr(l->env[i], '='))
            return snprintf(err, size, "config.environment: '%s' is not a variable name",
                            l->env[i]),
                   -EINVAL;
    return 0;
}

static int quota_check(const struct rn_quota *q, char *err, size_t size)
{
    if (q->max_runners < 0 || q->max_memory_mb < 0 || q->max_cpu_pct < 0 || q->max_tokens_day < 0 ||
        q->max_pids < 0)
        return snprintf(err, size, "quota values must not be negative"), -EINVAL;
    return 0;
}

/* ---- limits ---- */

bool rn_quota_limits(const struct rn_quota *q, struct proc_limits *ret)
{
    *ret = (struct proc_limits){
        .memory_max = (uint64_t)q->max_memory_mb << 20,
        .cpu_pct = (uint32_t)q->max_cpu_pct,
        .pids_max = (uint32_t)q->max_pids,
    };
    return ret->memory_max || ret->cpu_pct || ret->pids_max;
}

void rn_slice_name(const char *project, char *buf, size_t size)
{
    snprintf(buf, size, "stratavore.%s", project);
}

int rn_project_apply_limits(struct rn_mgr *m, const char *project, const struct rn_quota *q,
                            char *err, size_t size)
{
    struct proc_limits l;
    char slice[RN_NAME_MAX + 16], modes[96];
    bool any = rn_quota_limits(q, &l);

    rn_slice_name(project, slice, sizeof slice);
    int x = proc_slice_limits(m->reaper, slice, &l);
    if (x == -EOPNOTSUPP && !any)
        return 0; /* nothing asked: no controllers is fine */
    if (x < 0) {
        proc_reaper_limits_mode(m->reaper, modes, sizeof modes);
        snprintf(err, size, "cannot set the quota's cgroup limits (%s): %s", modes,
                 x == -EOPNOTSUPP ? "a controller it needs is not available to droverd"
                                  : strerror(-x));
    }
    return x;
}

/* ---- projects ---- */

void rn_project_free(struct rn_project *p)
{
    if (!p)
        return;
    free(p->name);
    free(p->description);
    free(p->path);
    strv_free(p->metadata);
    strv_free(p->tags);
    rn_launch_done(&p->launch);
    free(p);
}

void rn_project_insert(struct rn_mgr *m, struct rn_project *p)
{
    DQUEUE_APPEND(&m->projects, p, link);
    m->n_projects++;
}

struct rn_project *rn_project_find(struct rn_mgr *m, const char *name)
{
    for (struct rn_project *p = m->projects.first; p && name; p = p->link.next)
        if (strcmp(p->name, name) == 0)
            return p;
    return NULL;
}

/* The next name after prev's (a scan: projects are few). */
struct rn_project *rn_project_next(struct rn_mgr *m, struct rn_project *prev)
{
    struct rn_project *best = NULL;
    for (struct rn_project *p = m->projects.first; p; p = p->link.next)
        if ((!prev || strcmp(p->name, prev->name) > 0) &&
            (!best || strcmp(p->name, best->name) < 0))
            best = p;
    return best;
}

size_t rn_project_count(const struct rn_mgr *m)
{
    return m->n_projects;
}

int32_t rn_project_live(struct rn_mgr *m, const char *name)
{
    int32_t n = 0;
    for (struct rn_runner *r = m->runners.first; r; r = r->link.next)
        n += strcmp(r->project, name) == 0 && rn_runner_live(r);
    return n;
}

void rn_project_token_day(struct rn_project *p)
{
    int64_t day = (int64_t)(rn_now() / 1000000000u / 86400u);
    if (p->token_day != day) {
        p->token_day = day;
        p->tokens_today = 0;
        p->token_alert = 0;
    }
}

static bool name_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > RN_NAME_MAX || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("._-", s[i]))
            return false;
    return true;
}

static struct rn_project *by_path(struct rn_mgr *m, const char *path,
                                  const struct rn_project * not )
{
    for (struct rn_project *p = m->projects.first; p; p = p->link.next)
        if (p != not &&strcmp(p->path, path) == 0)
            return p;
    return NULL;
}

static int path_check(struct rn_mgr *m, const char *path, const struct rn_project *self, char *err,
                      size_t size)
{
    struct rn_project *o;
    if (!path || path[0] != '/')
        return snprintf(err, size, "path '%s' is not absolute", path ? path : ""), -EINVAL;
    if ((o = by_path(m, path, self)))
        return snprintf(err, size, "path %s belongs to project %s", path, o->name), -EEXIST;
    return 0;
}

int rn_project_create(struct rn_mgr *m, const struct rn_project *in, struct rn_project **ret,
                      char *err, size_t size)
{
    struct rn_project *p;
    int r;

    if (!name_ok(in->name))
        return snprintf(err, size, "project name '%s' must be 1-64 of [A-Za-z0-9._-]",
                        in->name ? in->name : ""),
               -EINVAL;
    if (rn_project_find(m, in->name))
        return snprintf(err, size, "project %s already exists", in->name), -EEXIST;
    if ((r = path_check(m, in->path, NULL, err, size)) < 0 ||
        (r = quota_check(&in->quota, err, size)) < 0 ||
        (r = launch_check(&in->launch, err, size)) < 0)
        return r;
    if (rn_map_valid(in->metadata) < 0)
        return snprintf(err, size, "metadata is not a map"), -EINVAL;
    if ((r = rn_project_apply_limits(m, in->name, &in->quota, err, size)) < 0)
        return r;
    if (!(p = calloc(1, sizeof *p)))
        return -ENOMEM;
    p->quota = in->quota;
    if (!in->quota.max_runners && !in->quota.max_memory_mb && !in->quota.max_cpu_pct &&
        !in->quota.max_tokens_day && !in->quota.max_pids)
        p->quota.max_runners = RN_DEF_MAX_RUNNERS;
    if (dup_str(&p->name, in->name) < 0 || dup_str(&p->description, in->description) < 0 ||
        dup_str(&p->path, in->path) < 0 || !(p->metadata = strv_copy(in->metadata)) ||
        !(p->tags = strv_copy(in->tags)) || rn_launch_copy(&p->launch, &in->launch) < 0) {
        rn_project_free(p);
        return -ENOMEM;
    }
    p->created_ns = p->updated_ns = rn_now();
    rn_project_token_day(p);
    rn_project_insert(m, p);
    rn_db_put_project(m, p);
    rn_emit(m, &(struct rn_event){
                   .type = RN_EV_PROJECT_CREATED, .project = p, .project_name = p->name});
    *ret = p;
    return 0;
}

int rn_project_update(struct rn_mgr *m, struct rn_project *p, const struct rn_project *in,
                      unsigned mask, char *err, size_t size)
{
    struct rn_launch launch = {0};
    char **meta = NULL, **tags = NULL, *desc = NULL, *path = NULL;
    int r;

    if ((mask & RN_P_PATH) && (r = path_check(m, in->path, p, err, size)) < 0)
        return r;
    if ((mask & RN_P_QUOTA) &&
        ((r = quota_check(&in->quota, err, size)) < 0 ||
         (r = rn_project_apply_limits(m, p->name, &in->quota, err, size)) < 0))
        return r;
    if ((mask & RN_P_LAUNCH) && (r = launch_check(&in->launch, err, size)) < 0)
        return r;
    if ((mask & RN_P_METADATA) && rn_map_valid(in->metadata) < 0)
        return snprintf(err, size, "metadata is not a map"), -EINVAL;
    bool archive = (mask & RN_P_STATUS) && in->archived && !p->archived;
    int32_t live = archive ? rn_project_live(m, p->name) : 0;
    if (live)
        return snprintf(err, size,
                        "project %s has %d live runner%s: stop them first, or archive with "
                        "DeleteProject(archive=true, force=true)",
                        p->name, live, live == 1 ? "" : "s"),
               -EBUSY;
    if (((mask & RN_P_LAUNCH) && rn_launch_copy(&launch, &in->launch) < 0) ||
        ((mask & RN_P_METADATA) && !(meta = strv_copy(in->metadata))) ||
        ((mask & RN_P_TAGS) && !(tags = strv_copy(in->tags))) ||
        ((mask & RN_P_DESCRIPTION) && dup_str(&desc, in->description) < 0) ||
        ((mask & RN_P_PATH) && dup_str(&path, in->path) < 0)) {
        rn_launch_done(&launch);
        strv_free(meta);
        strv_free(tags);
        free(desc);
        free(path);
        return -ENOMEM;
    }
    if (mask & RN_P_LAUNCH) {
        rn_launch_done(&p->launch);
        p->launch = launch;
    }
    if (mask & RN_P_METADATA) {
        strv_free(p->metadata);
        p->metadata = meta;
    }
    if (mask & RN_P_TAGS) {
        strv_free(p->tags);
        p->tags = tags;
    }
    if (mask & RN_P_DESCRIPTION) {
        free(p->description);
        p->description = desc;
    }
    if (mask & RN_P_PATH) {
        free(p->path);
        p->path = path;
    }
    if (mask & RN_P_QUOTA)
        p->quota = in->quota;
    if ((mask & RN_P_STATUS) && !in->archived && p->archived) { /* unarchive */
        p->archived = false;
        p->archived_ns = 0;
    }
    if (archive) {
        p->archived = true;
        p->archived_ns = rn_now();
        rn_conv_end_project(m, p->name, false);
    }
    p->updated_ns = rn_now();
    rn_db_put_project(m, p);
    rn_emit(m, &(struct rn_event){.type = archive ? RN_EV_PROJECT_ARCHIVED : RN_EV_PROJECT_UPDATED,
                                  .project = p,
                                  .project_name = p->name});
    return 0;
}

void rn_project_stats(struct rn_mgr *m, struct rn_project *p, struct rn_project_stats *ret)
{
    *ret = (struct rn_project_stats){0};
    for (struct rn_runner *r = m->runners.first; r; r = r->link.next)
        if (strcmp(r->project, p->name) == 0) {
            ret->total_runners++;
            ret->active_runners += rn_runner_live(r);
        }
    for (struct rn_conv *c = m->convs.first; c; c = c->link.next)
        if (strcmp(c->project, p->name) == 0) {
            ret->total_convs++;
            ret->active_convs += rn_conv_status(m, c) == RN_CONV_ACTIVE;
        }
    rn_project_token_day(p);
    ret->tokens_total = p->tokens_total;
    ret->tokens_today = p->tokens_today;
}

/* ---- delete and archive: once the project's live runners have exited ---- */

struct pdel {
    struct rn_mgr *m;
    char *name;
    bool archive;
    int32_t stopped;
    size_t pending;
    rn_done_fn done;
    void *userdata;
    struct rn_wait waits[];
};

static void pdel_finish(struct pdel *d)
{
    struct rn_mgr *m = d->m;
    struct rn_project *p = rn_project_find(m, d->name);
    int r = 0;

    if (!p) {
        r = -ENOENT;
    } else if (d->archive) {
        p->archived = true;
        p->archived_ns = p->updated_ns = rn_now();
        rn_conv_end_project(m, p->name, false);
        rn_db_put_project(m, p);
        rn_emit(m, &(struct rn_event){
                       .type = RN_EV_PROJECT_ARCHIVED, .project = p, .project_name = p->name});
    } else {
        for (struct rn_runner *x = m->runners.first, *next; x; x = next) {
            next = x->link.next;
            if (strcmp(x->project, p->name) == 0 && !rn_runner_live(x)) {
                char ignored[RN_ERR_MAX];
                (void)rn_runner_delete(m, x, true, false, NULL, NULL, ignored, sizeof ignored);
            }
        }
        rn_conv_end_project(m, p->name, true);
        rn_emit(m, &(struct rn_event){
                       .type = RN_EV_PROJECT_DELETED, .project = p, .project_name = p->name});
        DQUEUE_REMOVE(&m->projects, p, link);
        m->n_projects--;
        rn_db_delete(m, "project", p->name);
        rn_project_free(p);
    }
    if (d->done)
        d->done(r, d->stopped, d->userdata);
    free(d->name);
    free(d);
}

static void pdel_one(struct rn_wait *w, int r)
{
    struct pdel *d = w->userdata;
    (void)r;
    if (--d->pending == 0)
        pdel_finish(d);
}

int rn_project_delete(struct rn_mgr *m, struct rn_project *p, bool archive, bool force,
                      rn_done_fn done, void *userdata, char *err, size_t size)
{
    int32_t live = rn_project_live(m, p->name);
    struct pdel *d;

    if (live && !force)
        return snprintf(err, size, "project %s has %d live runner%s: stop them or use force",
                        p->name, live, live == 1 ? "" : "s"),
               -EBUSY;
    if (archive && p->archived)
        return snprintf(err, size, "project %s is already archived", p->name), -EBUSY;
    if (!(d = calloc(1, sizeof *d + (size_t)live * sizeof d->waits[0])))
        return -ENOMEM;
    if (!(d->name = strdup(p->name))) {
        free(d);
        return -ENOMEM;
    }
    *d = (struct pdel){
        .m = m, .name = d->name, .archive = archive, .done = done, .userdata = userdata};
    size_t i = 0;
    for (struct rn_runner *r = m->runners.first; r; r = r->link.next) {
        bool was = false;
        if (strcmp(r->project, p->name) != 0 || !rn_runner_live(r))
            continue;
        d->waits[i].done = pdel_one;
        d->waits[i].userdata = d;
        d->pending++;
        if (rn_runner_stop(m, r, false, rn_launch_stop_ms(&p->launch), "project deleted",
                           &d->waits[i], &was) < 0 ||
            !was)
            d->pending--;
        d->stopped += was;
        i++;
    }
    if (d->pending == 0)
        pdel_finish(d);
    return 0;
}
