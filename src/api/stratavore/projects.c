/* stratavore.v1.ProjectService over the runner core. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/stratavore/stratavore-internal.h"
#include "base/macro.h"

static void project_in(struct api_arena *a, struct rn_project *p, const char *name,
                       const char *description, const char *path,
                       const Stratavore__V1__ResourceQuota *quota,
                       const Stratavore__V1__ProjectConfig *config, void *const *metadata,
                       size_t n_metadata, char *const *tags, size_t n_tags)
{
    *p = (struct rn_project){0};
    p->name = (char *)name;
    p->description = (char *)description;
    p->path = (char *)path;
    sv_quota_in(&p->quota, quota);
    sv_launch_in(a, &p->launch, config);
    p->metadata = arena_map_in(a, metadata, n_metadata);
    p->tags = arena_strv_in(a, tags, n_tags, false);
}

static struct rn_project *find(struct grpc_call *call, struct sv *sv, const char *name)
{
    struct rn_project *p = name && *name ? rn_project_find(sv->m, name) : NULL;
    if (!name || !*name)
        grpc_call_finish(call, GRPC_INVALID_ARGUMENT, "name is required");
    else if (!p)
        grpc_call_finish(call, GRPC_NOT_FOUND, "project %s not found", name);
    return p;
}

static void create(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Stratavore__V1__CreateProjectRequest *q = (const void *)msg;
    struct sv *sv = grpc_call_service_data(call);
    struct api_arena a = {0};
    struct rn_project in, *p;
    char err[RN_ERR_MAX] = "";

    project_in(&a, &in, q->name, q->description, q->path, q->quota, q->config,
               (void *const *)q->metadata, q->n_metadata, q->tags, q->n_tags);
    int x = rn_project_create(sv->m, &in, &p, err, sizeof err);
    if (x < 0)
        return arena_free(&a), sv_fail(call, x, err);
    Stratavore__V1__CreateProjectResponse *m =
        arena_msg(&a, &stratavore__v1__create_project_response__descriptor);
    m->project = sv_project_out(sv, &a, p, true);
    arena_reply(call, &a, &m->base);
}

static void get(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Stratavore__V1__GetProjectRequest *q = (const void *)msg;
    struct sv *sv = grpc_call_service_data(call);
    struct rn_project *p = find(call, sv, q->name);
    struct api_arena a = {0};

    if (!p)
        return;
    Stratavore__V1__GetProjectResponse *m =
        arena_msg(&a, &stratavore__v1__get_project_response__descriptor);
    m->project = sv_project_out(sv, &a, p, q->include_stats);
    arena_reply(call, &a, &m->base);
}

static void list(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Stratavore__V1__ListProjectsRequest *q = (const void *)msg;
    struct sv *sv = grpc_call_service_data(call);
    struct api_arena a = {0};
    struct sv_page pg;

    if (!sv_page_begin(call, q->limit, q->offset, q->status,
                       STRATAVORE__V1__PROJECT_STATUS__PROJECT_STATUS_ARCHIVED, &pg))
        return;
    Stratavore__V1__ListProjectsResponse *m =
        arena_msg(&a, &stratavore__v1__list_projects_response__descriptor);
    m->projects = arena_alloc(&a, pg.limit * sizeof *m->projects);
    for (struct rn_project *p = NULL; (p = rn_project_next(sv->m, p));) {
        Stratavore__V1__Project *pm = sv_project_out(sv, &a, p, q->include_stats);
        if ((!q->status || pm->status == q->status) && sv_page_take(&pg))
            m->projects[pg.n - 1] = pm;
    }
    m->n_projects = pg.n;
    sv_page_end(&pg, &m->total_count, &m->has_more);
    arena_reply(call, &a, &m->base);
}

static const char *const update_fields[] = {
    "description", "path", "status", "quota", "config", "metadata", "tags", NULL,
};
static const unsigned update_bits[] = {
    RN_P_DESCRIPTION, RN_P_PATH, RN_P_STATUS, RN_P_QUOTA, RN_P_LAUNCH, RN_P_METADATA, RN_P_TAGS,
};

static void update(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Stratavore__V1__UpdateProjectRequest *q = (const void *)msg;
    struct sv *sv = grpc_call_service_data(call);
    struct rn_project *p = find(call, sv, q->name);
    struct api_arena a = {0};
    struct rn_project in;
    char err[RN_ERR_MAX] = "";
    unsigned paths, mask = 0;
    int x;

    if (!p)
        return;
    if ((x = sv_mask(q->update_mask, update_fields, &paths, err, sizeof err)) < 0)
        return sv_fail(call, x, err);
    if (!q->update_mask || !q->update_mask->n_paths) /* without a mask: what is set */
        paths = (*q->description ? 1u : 0) << 0 | (*q->path ? 1u : 0) << 1 |
                (q->status ? 1u : 0) << 2 | (q->quota ? 1u : 0) << 3 | (q->config ? 1u : 0) << 4 |
                (q->n_metadata ? 1u : 0) << 5 | (q->n_tags ? 1u : 0) << 6;
    for (size_t i = 0; i < ARRAY_SIZE(update_bits); i++)
        if (paths & (1u << i))
            mask |= update_bits[i];
    if ((mask & RN_P_STATUS) &&
        (q->status < 0 || q->status > STRATAVORE__V1__PROJECT_STATUS__PROJECT_STATUS_ARCHIVED))
        return grpc_call_finish(call, GRPC_INVALID_ARGUMENT, "status %d is not a status",
                                q->status);
    project_in(&a, &in, q->name, q->description, q->path, q->quota, q->config,
               (void *const *)q->metadata, q->n_metadata, q->tags, q->n_tags);
    in.archived = q->status == STRATAVORE__V1__PROJECT_STATUS__PROJECT_STATUS_ARCHIVED;
    if ((x = rn_project_update(sv->m, p, &in, mask, err, sizeof err)) < 0)
        return arena_free(&a), sv_fail(call, x, err);
    Stratavore__V1__UpdateProjectResponse *m =
        arena_msg(&a, &stratavore__v1__update_project_response__descriptor);
    m->project = sv_project_out(sv, &a, p, true);
    arena_reply(call, &a, &m->base);
}

/* A delete waits for the project's live runners to exit; the call may go first. The state is
 * freed by whichever of the two ends last. */
struct pdel {
    struct grpc_call *call; /* NULL once the call closed */
    bool archive, done;
};

static void deleted(int x, int32_t stopped, void *userdata)
{
    struct pdel *d = userdata;
    struct api_arena a = {0};

    d->done = true;
    if (!d->call) {
        free(d);
        return;
    }
    if (x < 0)
        return sv_fail(d->call, x, NULL);
    Stratavore__V1__DeleteProjectResponse *m =
        arena_msg(&a, &stratavore__v1__delete_project_response__descriptor);
    m->deleted = !d->archive;
    m->archived = d->archive;
    m->stopped_runners = stopped;
    arena_reply(d->call, &a, &m->base);
}

static void delete_close(struct grpc_call *call)
{
    struct pdel *d = grpc_call_get_data(call);
    if (!d)
        return;
    grpc_call_set_data(call, NULL);
    if (d->done)
        free(d);
    else
        d->call = NULL;
}

static void delete (struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Stratavore__V1__DeleteProjectRequest *q = (const void *)msg;
    struct sv *sv = grpc_call_service_data(call);
    struct rn_project *p = find(call, sv, q->name);
    char err[RN_ERR_MAX] = "";
    struct pdel *d;

    if (!p)
        return;
    if (!(d = calloc(1, sizeof *d)))
        return grpc_call_finish(call, GRPC_RESOURCE_EXHAUSTED, "out of memory");
    d->call = call;
    d->archive = q->archive;
    grpc_call_set_data(call, d);
    int x = rn_project_delete(sv->m, p, q->archive, q->force, deleted, d, err, sizeof err);
    if (x < 0) {
        d->done = true;
        sv_fail(call, x, err);
    }
}

#define UNARY(n, f, T, c)                                                                          \
    {                                                                                              \
        n, GRPC_UNARY, &stratavore__v1__##T##__descriptor, f, NULL, NULL, c                        \
    }

static const struct grpc_method methods[] = {
    UNARY("CreateProject", create, create_project_request, NULL),
    UNARY("GetProject", get, get_project_request, NULL),
    UNARY("ListProjects", list, list_projects_request, NULL),
    UNARY("UpdateProject", update, update_project_request, NULL),
    UNARY("DeleteProject", delete, delete_project_request, delete_close),
};

const struct grpc_service sv_project_service = {"stratavore.v1.ProjectService", methods,
                                                ARRAY_SIZE(methods),
                                                &stratavore__v1__project_service__descriptor};
