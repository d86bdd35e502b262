/* Conversations (Stratavore's "sessions"): what a runner works on, kept across the runners that
 * continue or resume it. Every runner has one: a new one for a NEW launch, the one named for
 * CONTINUE and RESUME. ACTIVE while a live runner works on it, INACTIVE after (resumable),
 * ENDED once its project is archived. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/macro.h"
#include "base/strv.h"
#include "runner/runner-internal.h"

struct rn_conv *rn_conv_find(struct rn_mgr *m, const char *id)
{
    for (struct rn_conv *c = m->convs.first; c && id && *id; c = c->link.next)
        if (strcmp(c->id, id) == 0)
            return c;
    return NULL;
}

/* The next in order of activity, newest first (ties: creation order). A scan, as projects: the
 * face pages through a few hundred at most. */
static bool before(const struct rn_conv *a, const struct rn_conv *b)
{
    return a->activity_ns > b->activity_ns;
}

struct rn_conv *rn_conv_next(struct rn_mgr *m, struct rn_conv *prev)
{
    struct rn_conv *best = NULL;
    bool past = !prev;
    /* Elements equal to prev in activity come after it in creation order. */
    for (struct rn_conv *c = m->convs.first; c; c = c->link.next) {
        if (c == prev) {
            past = true;
            continue;
        }
        bool after = !prev || before(prev, c) || (c->activity_ns == prev->activity_ns && past);
        if (after && (!best || before(c, best)))
            best = c;
    }
    return best;
}

enum rn_conv_status rn_conv_status(struct rn_mgr *m, const struct rn_conv *c)
{
    if (c->ended_ns || !c->resumable)
        return RN_CONV_ENDED;
    struct rn_runner *r = rn_runner_find(m, c->runner_id);
    return r && rn_runner_live(r) && strcmp(r->conv_id, c->id) == 0 ? RN_CONV_ACTIVE
                                                                    : RN_CONV_INACTIVE;
}

void rn_conv_free(struct rn_conv *c)
{
    if (!c)
        return;
    free(c->project);
    free(c->model);
    free(c->summary);
    strv_free(c->metadata);
    strv_free(c->runner_ids);
    free(c);
}

static struct rn_conv *conv_new(struct rn_mgr *m, const char *project, const char *model,
                                char *const *metadata)
{
    struct rn_conv *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    rn_uuid(c->id);
    c->resumable = true;
    c->mode = RN_MODE_NEW;
    c->created_ns = c->updated_ns = c->activity_ns = rn_now();
    if (!(c->project = strdup(project)) || !(c->model = strdup(model ? model : "")) ||
        !(c->summary = strdup("")) || !(c->metadata = strv_copy(metadata)) ||
        !(c->runner_ids = strv_copy(NULL))) {
        rn_conv_free(c);
        return NULL;
    }
    DQUEUE_APPEND(&m->convs, c, link);
    return c;
}

static int add_runner(struct rn_conv *c, const char *runner_id)
{
    size_t n = strv_length(c->runner_ids);
    for (size_t i = 0; i < n; i++)
        if (strcmp(c->runner_ids[i], runner_id) == 0)
            return 0;
    return strv_push(&c->runner_ids, &n, strdup(runner_id));
}

static void conv_event(struct rn_mgr *m, struct rn_conv *c, enum rn_event_type t,
                       const struct rn_runner *r)
{
    rn_emit(m, &(struct rn_event){.type = t,
                                  .conv = c,
                                  .runner = r,
                                  .project = rn_project_find(m, c->project),
                                  .project_name = c->project});
}

int rn_conv_bind(struct rn_mgr *m, struct rn_runner *r, bool reuse, char *err, size_t size)
{
    struct rn_conv *c = reuse ? rn_conv_find(m, r->conv_id) : NULL;
    bool created = !c;

    if (reuse && r->conv_id[0] && !c)
        return snprintf(err, size, "session %s not found", r->conv_id), -ENOENT;
    if (!c) {
        if (!(c = conv_new(m, r->project, r->model, NULL)))
            return -ENOMEM;
        c->mode = r->mode;
        c->started_ns = rn_now();
    }
    if (add_runner(c, r->id) < 0)
        return -ENOMEM;
    snprintf(c->runner_id, sizeof c->runner_id, "%s", r->id);
    snprintf(r->conv_id, sizeof r->conv_id, "%s", c->id);
    c->updated_ns = c->activity_ns = rn_now();
    rn_db_put_conv(m, c);
    conv_event(m, c, created ? RN_EV_SESSION_CREATED : RN_EV_SESSION_RESUMED, r);
    return 0;
}

void rn_conv_touch(struct rn_mgr *m, const char *conv_id)
{
    struct rn_conv *c = rn_conv_find(m, conv_id);
    if (c) {
        c->activity_ns = c->updated_ns = rn_now();
        rn_db_put_conv(m, c);
    }
}

void rn_conv_runner_ended(struct rn_mgr *m, struct rn_runner *r)
{
    struct rn_conv *c = rn_conv_find(m, r->conv_id);
    if (c && strcmp(c->runner_id, r->id) == 0) {
        c->updated_ns = c->activity_ns = rn_now();
        rn_db_put_conv(m, c);
    }
}

static void conv_remove(struct rn_mgr *m, struct rn_conv *c)
{
    rn_transcript_purge(m, c);
    DQUEUE_REMOVE(&m->convs, c, link);
    rn_db_delete(m, "session", c->id);
    rn_conv_free(c);
}

void rn_conv_end_project(struct rn_mgr *m, const char *project, bool delete)
{
    for (struct rn_conv *c = m->convs.first, *next; c; c = next) {
        next = c->link.next;
        if (strcmp(c->project, project) != 0)
            continue;
        if (delete) {
            conv_remove(m, c);
        } else if (!c->ended_ns) {
            c->ended_ns = c->updated_ns = rn_now();
            c->resumable = false;
            rn_db_put_conv(m, c);
            conv_event(m, c, RN_EV_SESSION_ENDED, NULL);
        }
    }
}

void rn_conv_delete_runner(struct rn_mgr *m, const char *runner_id)
{
    for (struct rn_conv *c = m->convs.first, *next; c; c = next) {
        next = c->link.next;
        if (strcmp(c->runner_id, runner_id) == 0)
            conv_remove(m, c);
    }
}

/* A launch: a runner with a conversation of its own, which gets the metadata asked for. */
static int create_launched(struct rn_mgr *m, const char *project, const char *model,
                           char *const *metadata, const struct rn_create *launch,
                           struct rn_conv **ret, struct rn_runner **ret_runner, char *err,
                           size_t size)
{
    struct rn_create q = *launch;
    struct rn_runner *r = NULL;
    struct rn_conv *c;
    char **meta = NULL;

    if (q.project && *q.project && project && *project && strcmp(q.project, project) != 0)
        return snprintf(err, size, "launch.project_name %s differs from project_name %s", q.project,
                        project),
               -EINVAL;
    if (!q.project || !*q.project)
        q.project = project;
    if ((!q.model || !*q.model) && model)
        q.model = model;
    q.mode = RN_MODE_NEW;
    q.conv_id = NULL;
    if (rn_map_valid(metadata) < 0)
        return snprintf(err, size, "metadata is not a map"), -EINVAL;
    int x = rn_runner_create(m, &q, &r, err, size);
    if (!r)
        return x;
    *ret_runner = r;
    if (!(c = rn_conv_find(m, r->conv_id)))
        return x < 0 ? x : -ENOENT;
    if (strv_length(metadata) && (meta = strv_copy(metadata))) {
        strv_free(c->metadata);
        c->metadata = meta;
        rn_db_put_conv(m, c);
    }
    *ret = c;
    return x;
}

int rn_conv_create(struct rn_mgr *m, const char *project, const char *runner_id, const char *model,
                   char *const *metadata, const struct rn_create *launch, struct rn_conv **ret,
                   struct rn_runner **ret_runner, char *err, size_t size)
{
    struct rn_project *p = rn_project_find(m, project);
    struct rn_runner *r = runner_id && *runner_id ? rn_runner_find(m, runner_id) : NULL;
    struct rn_conv *c;

    *ret_runner = NULL;
    if (launch && runner_id && *runner_id)
        return snprintf(err, size, "runner_id and launch exclude each other"), -EINVAL;
    if (launch)
        return create_launched(m, project, model, metadata, launch, ret, ret_runner, err, size);
    if (!project || !*project)
        return snprintf(err, size, "project_name is required"), -EINVAL;
    if (!p)
        return snprintf(err, size, "project %s not found", project), -ENOENT;
    if (p->archived)
        return snprintf(err, size, "project %s is archived", p->name), -EBUSY;
    if (rn_map_valid(metadata) < 0)
        return snprintf(err, size, "metadata is not a map"), -EINVAL;
    if (runner_id && *runner_id) {
        if (!r)
            return snprintf(err, size, "runner %s not found", runner_id), -ENOENT;
        if (strcmp(r->project, p->name) != 0)
            return snprintf(err, size, "runner %s belongs to project %s", r->id, r->project),
                   -EINVAL;
        if (!rn_runner_live(r))
            return snprintf(err, size, "runner %s is not running", r->id), -EBUSY;
    }
    if (!(c = conv_new(m, p->name, model && *model ? model : r ? r->model : "", metadata)))
        return -ENOMEM;
    if (r) { /* the live runner works on this conversation from now on */
        c->started_ns = rn_now();
        if (add_runner(c, r->id) < 0) {
            conv_remove(m, c);
            return -ENOMEM;
        }
        snprintf(c->runner_id, sizeof c->runner_id, "%s", r->id);
        rn_conv_runner_ended(m, r);
        snprintf(r->conv_id, sizeof r->conv_id, "%s", c->id);
        rn_db_put_runner(m, r);
        *ret_runner = r;
    }
    rn_db_put_conv(m, c);
    conv_event(m, c, RN_EV_SESSION_CREATED, r);
    *ret = c;
    return 0;
}

int rn_conv_resume(struct rn_mgr *m, struct rn_conv *c, const struct rn_create *overrides,
                   bool force_new, struct rn_runner **ret, bool *ret_was_active, char *err,
                   size_t size)
{
    struct rn_runner *live = rn_runner_find(m, c->runner_id);
    struct rn_create q = overrides ? *overrides : (struct rn_create){0};

    *ret_was_active = false;
    if (rn_conv_status(m, c) == RN_CONV_ENDED)
        return snprintf(err, size, "session %s has ended", c->id), -ESTALE;
    if (live && rn_runner_live(live) && strcmp(live->conv_id, c->id) == 0 && !force_new) {
        *ret_was_active = true;
        *ret = live;
        return 0;
    }
    q.project = c->project;
    q.conv_id = c->id;
    q.mode = RN_MODE_RESUME;
    if (!q.model || !*q.model)
        q.model = c->model;
    return rn_runner_create(m, &q, ret, err, size);
}
