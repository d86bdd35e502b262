/* orchestrator.v1's container RPCs on drover's container core: a session's containers, created
 * and started at once (the API has no StartContainer), with ContainerConfig mapped as baaaht
 * maps it onto Docker's (command ++ args replaces the image's command, resources as limits,
 * read-only root, auto-removal), every capability dropped and no new privileges. Create, Stop
 * and Remove answer once the container core has done it. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "api/baaaht/baaaht-internal.h"
#include "api/msg.h"
#include "base/strv.h"
#include "container/container.h"

/* One create, stop or remove in flight. */
struct ctr_call {
    struct ctr_wait w;
    struct grpc_call *call;
    char id[CTR_ID_LEN];
    int kind; /* 0 create, 1 stop, 2 remove */
};

static struct ctr_mgr *need_ctrs(struct grpc_call *call)
{
    struct api_host *h = grpc_call_service_data(call);
    if (!h->containers)
        grpc_call_finish(call, GRPC_UNIMPLEMENTED,
                         "containers are not set up in this droverd (no OCI runtime)");
    return h->containers;
}

static struct container *need_ctr(struct grpc_call *call, struct ctr_mgr *m, const char *id)
{
    struct container *c = NULL;
    if (!*id)
        grpc_call_finish(call, GRPC_INVALID_ARGUMENT, "container_id is required");
    else if (!(c = ctr_find(m, id)))
        grpc_call_finish(call, GRPC_NOT_FOUND, "no such container: %s", id);
    return c;
}

static const char *label(char *const *labels, const char *key)
{
    for (size_t i = 0; labels && labels[i] && labels[i + 1]; i += 2)
        if (!strcmp(labels[i], key))
            return labels[i + 1];
    return "";
}

static Orchestrator__V1__ContainerState state_out(enum ctr_state s)
{
    switch (s) {
    case CTR_CREATING:
    case CTR_CREATED:
    case CTR_STARTING:
        return ORCHESTRATOR__V1__CONTAINER_STATE__CONTAINER_STATE_CREATED;
    case CTR_RUNNING:
    case CTR_STOPPING:
        return ORCHESTRATOR__V1__CONTAINER_STATE__CONTAINER_STATE_RUNNING;
    case CTR_EXITED:
        return ORCHESTRATOR__V1__CONTAINER_STATE__CONTAINER_STATE_EXITED;
    case CTR_REMOVING:
        return ORCHESTRATOR__V1__CONTAINER_STATE__CONTAINER_STATE_REMOVING;
    }
    return ORCHESTRATOR__V1__CONTAINER_STATE__CONTAINER_STATE_UNKNOWN;
}

static Common__V1__Status status_out(const struct ctr_info *i)
{
    if (i->state == CTR_EXITED)
        return i->exit_known && i->exit_code == 0 && !i->oom_killed
                   ? COMMON__V1__STATUS__STATUS_STOPPED
                   : COMMON__V1__STATUS__STATUS_ERROR;
    return i->state == CTR_RUNNING    ? COMMON__V1__STATUS__STATUS_RUNNING
           : i->state == CTR_STOPPING ? COMMON__V1__STATUS__STATUS_STOPPING
                                      : COMMON__V1__STATUS__STATUS_STARTING;
}

/* The configuration as the request gave it, from what the container was made of. */
static Orchestrator__V1__ContainerConfig *config_out(struct api_arena *a, const struct ctr_spec *s)
{
    Orchestrator__V1__ContainerConfig *o =
        arena_msg(a, &orchestrator__v1__container_config__descriptor);
    Common__V1__ResourceLimits *r = arena_msg(a, &common__v1__resource_limits__descriptor);
    size_t ne = strv_length(s->env), k = 0;
    char **env = arena_alloc(a, (2 * ne + 1) * sizeof *env);
    for (size_t i = 0; i < ne; i++) {
        char *kv = arena_strdup(a, s->env[i]), *eq = strchr(kv, '=');
        if (!strncmp(kv, "BAAAHT_CONTAINER_TOKEN=", 23))
            continue; /* its agent's credential is not for readers */
        env[k++] = kv;
        env[k++] = eq ? (*eq = '\0', eq + 1) : "";
    }
    o->image = bh_out(s->image);
    o->command = s->command;
    o->n_command = strv_length(s->command);
    o->env = (Orchestrator__V1__ContainerConfig__EnvEntry **)arena_map_out(
        a, &orchestrator__v1__container_config__env_entry__descriptor, env, &o->n_env);
    o->working_dir = bh_out(s->cwd);
    o->labels = (Orchestrator__V1__ContainerConfig__LabelsEntry **)arena_map_out(
        a, &orchestrator__v1__container_config__labels_entry__descriptor, s->labels, &o->n_labels);
    o->mounts = s->n_mounts ? arena_alloc(a, s->n_mounts * sizeof *o->mounts) : NULL;
    for (size_t i = 0; i < s->n_mounts; i++) {
        Orchestrator__V1__Mount *mt = arena_msg(a, &orchestrator__v1__mount__descriptor);
        mt->type = (Orchestrator__V1__MountType)(s->mounts[i].type + 1);
        mt->source = bh_out(s->mounts[i].source);
        mt->target = bh_out(s->mounts[i].destination);
        mt->read_only = s->mounts[i].read_only;
        o->mounts[o->n_mounts++] = mt;
    }
    o->network_mode = s->host_network ? "host" : "none";
    r->memory_bytes = (int64_t)s->res.memory;
    r->memory_swap = (int64_t)s->res.memory_swap;
    r->pids_limit = s->res.pids;
    if (s->res.cpu_period_us)
        r->nano_cpus = (int64_t)(s->res.cpu_quota_us * 1000000000 / s->res.cpu_period_us);
    o->resources = r;
    o->read_only_rootfs = s->read_only;
    o->remove_on_stop = s->auto_remove;
    return o;
}

static Orchestrator__V1__Container *ctr_out(struct api_arena *a, struct container *c)
{
    struct ctr_info i;
    struct ctr_stats st;
    ctr_info(c, &i);
    Orchestrator__V1__Container *o = arena_msg(a, &orchestrator__v1__container__descriptor);
    Common__V1__ResourceUsage *u = arena_msg(a, &common__v1__resource_usage__descriptor);
    o->id = arena_strdup(a, i.id);
    o->name = arena_strdup(a, i.name);
    o->image = arena_strdup(a, i.image);
    o->state = state_out(i.state);
    o->status = status_out(&i);
    o->health = COMMON__V1__HEALTH__HEALTH_UNKNOWN;
    o->created_at = arena_ts(a, (uint64_t)(i.created_at * 1e9));
    o->started_at = arena_ts(a, (uint64_t)(i.started_at * 1e9));
    o->exited_at = arena_ts(a, (uint64_t)(i.finished_at * 1e9));
    o->exit_code = i.state == CTR_EXITED ? (i.exit_code < 0 ? 128 - i.exit_code : i.exit_code) : 0;
    o->config = config_out(a, i.spec);
    o->session_id = arena_strdup(a, label(i.spec->labels, "baaaht.session_id"));
    if (i.state != CTR_EXITED && ctr_get_stats(c, &st) == 0) {
        u->memory_usage = (int64_t)(st.g.has_memory ? st.g.memory_current : st.rss_bytes);
        u->memory_limit = (int64_t)(st.g.has_memory ? st.g.memory_max : 0);
        if (u->memory_limit > 0)
            u->memory_percent = 100.0 * (double)u->memory_usage / (double)u->memory_limit;
        u->pids_count = (int64_t)(st.g.has_pids ? st.g.pids_current : st.processes);
    }
    o->resources = u;
    return o;
}

/* ContainerConfig into a spec (pointers into the request and the arena); -errno with err. */
static int spec_in(struct api_arena *a, const Orchestrator__V1__ContainerConfig *q,
                   struct ctr_spec *s, char *err, size_t err_size)
{
    static char *drop_all[] = {"ALL", NULL};
    *s = (struct ctr_spec){.image = q->image,
                           .cwd = bh_in(q->working_dir),
                           .read_only = q->read_only_rootfs,
                           .auto_remove = q->remove_on_stop,
                           .cap_drop = drop_all,
                           .stop_signal = SIGTERM};
    if (!*q->image)
        return snprintf(err, err_size, "container image is required"), -EINVAL;
    if (q->n_ports)
        return snprintf(err, err_size,
                        "port bindings are not supported: containers have no network of their "
                        "own"),
               -EINVAL;
    if (q->n_networks)
        return snprintf(err, err_size,
                        "networks are not supported: a container has only "
                        "loopback, or the host's network"),
               -EINVAL;
    if (!strcmp(q->network_mode, "host"))
        s->host_network = true;
    else if (*q->network_mode && strcmp(q->network_mode, "none"))
        return snprintf(err, err_size, "network mode %s is not supported (none or host)",
                        q->network_mode),
               -EINVAL;
    if (q->restart_policy && *q->restart_policy->name && strcmp(q->restart_policy->name, "no"))
        return snprintf(err, err_size, "restart policy %s is not supported",
                        q->restart_policy->name),
               -EOPNOTSUPP;
    size_t n = q->n_command + q->n_args;
    if (n) {
        s->command = arena_alloc(a, (n + 1) * sizeof *s->command);
        if (q->n_command)
            memcpy(s->command, q->command, q->n_command * sizeof *s->command);
        if (q->n_args)
            memcpy(s->command + q->n_command, q->args, q->n_args * sizeof *s->command);
    }
    s->env = arena_alloc(a, (q->n_env + 1) * sizeof *s->env);
    for (size_t i = 0; i < q->n_env; i++)
        s->env[i] = arena_printf(a, "%s=%s", q->env[i]->key, q->env[i]->value);
    s->labels = arena_map_in(a, (void *const *)q->labels, q->n_labels);
    s->mounts = q->n_mounts ? arena_alloc(a, q->n_mounts * sizeof *s->mounts) : NULL;
    for (size_t i = 0; i < q->n_mounts; i++) {
        const Orchestrator__V1__Mount *m = q->mounts[i];
        if (m->type < ORCHESTRATOR__V1__MOUNT_TYPE__MOUNT_TYPE_BIND ||
            m->type > ORCHESTRATOR__V1__MOUNT_TYPE__MOUNT_TYPE_TMPFS)
            return snprintf(err, err_size, "mount type is required: %s", m->target), -EINVAL;
        s->mounts[s->n_mounts++] = (struct ctr_mount){.type = (enum ctr_mount_type)(m->type - 1),
                                                      .source = bh_in(m->source),
                                                      .destination = m->target,
                                                      .read_only = m->read_only};
    }
    if (q->resources) {
        const Common__V1__ResourceLimits *r = q->resources;
        if (r->nano_cpus < 0 || r->memory_bytes < 0 || r->pids_limit < 0 || r->memory_swap < -1)
            return snprintf(err, err_size, "resource limits must not be negative"), -EINVAL;
        if (r->memory_swap == -1)
            return snprintf(err, err_size, "memory_swap -1 (unlimited swap) is not supported"),
                   -EINVAL;
        if (r->memory_swap > 0 && r->memory_swap < r->memory_bytes)
            return snprintf(err, err_size, "memory_swap is less than memory_bytes"), -EINVAL;
        s->res.memory = (uint64_t)r->memory_bytes;
        s->res.memory_swap = (uint64_t)r->memory_swap;
        s->res.pids = (uint32_t)r->pids_limit;
        if (r->nano_cpus > 0) {
            s->res.cpu_period_us = 100000;
            s->res.cpu_quota_us = (uint64_t)r->nano_cpus * 100000 / 1000000000;
        }
    }
    return a->failed ? (snprintf(err, err_size, "out of memory"), -ENOMEM) : 0;
}

/* ---- the calls ---- */

static void done(struct ctr_wait *w, int r, const char *err)
{
    struct ctr_call *cc = w->userdata;
    struct grpc_call *call = cc->call;
    struct api_host *h = grpc_call_service_data(call);
    struct container *c = h->containers ? ctr_find(h->containers, cc->id) : NULL;
    if (r < 0)
        return bh_fail(call, r, err);
    struct api_arena a = {0};
    if (cc->kind == 0) {
        Orchestrator__V1__CreateContainerResponse *o =
            arena_msg(&a, &orchestrator__v1__create_container_response__descriptor);
        o->container_id = cc->id;
        if (c)
            o->container = ctr_out(&a, c);
        return arena_reply(call, &a, &o->base);
    }
    if (cc->kind == 1) {
        Orchestrator__V1__StopContainerResponse o = ORCHESTRATOR__V1__STOP_CONTAINER_RESPONSE__INIT;
        struct ctr_info i;
        o.container_id = cc->id;
        o.state = c ? (ctr_info(c, &i), state_out(i.state))
                    : ORCHESTRATOR__V1__CONTAINER_STATE__CONTAINER_STATE_REMOVING;
        return grpc_call_reply(call, &o.base);
    }
    Orchestrator__V1__RemoveContainerResponse o = ORCHESTRATOR__V1__REMOVE_CONTAINER_RESPONSE__INIT;
    o.container_id = cc->id;
    grpc_call_reply(call, &o.base);
}

static struct ctr_call *new_call(struct grpc_call *call, int kind)
{
    struct ctr_call *cc = calloc(1, sizeof *cc);
    if (!cc) {
        grpc_call_finish(call, GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return NULL;
    }
    cc->call = call;
    cc->kind = kind;
    cc->w.done = done;
    cc->w.userdata = cc;
    grpc_call_set_data(call, cc);
    return cc;
}

void bh_ctr_call_close(struct grpc_call *call)
{
    struct ctr_call *cc = grpc_call_get_data(call);
    if (!cc)
        return;
    ctr_wait_cancel(&cc->w);
    free(cc);
    grpc_call_set_data(call, NULL);
}

void bh_create_container(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Orchestrator__V1__CreateContainerRequest *q = (const void *)msg;
    struct ag_mgr *m = bh_hub(call);
    struct api_arena a = {0};
    struct ctr_spec spec;
    struct container *c;
    struct ctr_call *cc;
    char err[CTR_ERR_MAX] = "";
    if (!m)
        return;
    if (!*q->session_id)
        return grpc_call_finish(call, GRPC_INVALID_ARGUMENT, "session_id is required");
    if (!q->config)
        return grpc_call_finish(call, GRPC_INVALID_ARGUMENT, "config is required");
    int r = spec_in(&a, q->config, &spec, err, sizeof err);
    if (r < 0)
        return arena_free(&a), bh_fail(call, r, err);
    if (!need_ctrs(call) || !(cc = new_call(call, 0)))
        return arena_free(&a);
    r = ag_ctr_create(m, q->session_id, &spec, &cc->w, &c, err, sizeof err);
    arena_free(&a);
    if (r < 0)
        return bh_fail(call, r, err);
    snprintf(cc->id, sizeof cc->id, "%s", ctr_id(c));
}

void bh_get_container(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Orchestrator__V1__GetContainerRequest *q = (const void *)msg;
    struct ctr_mgr *m = need_ctrs(call);
    struct container *c = m ? need_ctr(call, m, q->container_id) : NULL;
    struct api_arena a = {0};
    if (!c)
        return;
    Orchestrator__V1__GetContainerResponse *o =
        arena_msg(&a, &orchestrator__v1__get_container_response__descriptor);
    o->container = ctr_out(&a, c);
    arena_reply(call, &a, &o->base);
}

void bh_list_containers(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Orchestrator__V1__ListContainersRequest *q = (const void *)msg;
    const Orchestrator__V1__ContainerFilter *f = q->filter;
    struct ctr_mgr *m = need_ctrs(call);
    struct api_arena a = {0};
    size_t all = 0, n = 0;
    if (!m)
        return;
    for (struct container *c = ctr_next(m, NULL); c; c = ctr_next(m, c))
        all++;
    Orchestrator__V1__ListContainersResponse *o =
        arena_msg(&a, &orchestrator__v1__list_containers_response__descriptor);
    o->containers = all ? arena_alloc(&a, all * sizeof *o->containers) : NULL;
    for (struct container *c = ctr_next(m, NULL); c && n < all; c = ctr_next(m, c)) {
        struct ctr_info i;
        ctr_info(c, &i);
        char *const *l = i.spec->labels;
        bool ok = !strcmp(label(l, "baaaht.managed"), "true"); /* this face's own */
        if (f) {
            ok = ok && (!*f->session_id || !strcmp(label(l, "baaaht.session_id"), f->session_id));
            ok = ok && (!f->state || f->state == state_out(i.state));
            ok = ok && (!f->status || f->status == status_out(&i));
            for (size_t k = 0; ok && k < f->n_labels; k++)
                ok = !strcmp(label(l, f->labels[k]->key), f->labels[k]->value);
        }
        if (ok)
            o->containers[n++] = ctr_out(&a, c);
    }
    o->n_containers = n;
    o->total_count = (int32_t)n;
    arena_reply(call, &a, &o->base);
}

void bh_stop_container(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Orchestrator__V1__StopContainerRequest *q = (const void *)msg;
    struct ctr_mgr *m = need_ctrs(call);
    struct container *c = m ? need_ctr(call, m, q->container_id) : NULL;
    struct ctr_call *cc;
    char err[CTR_ERR_MAX] = "";
    if (!c || !(cc = new_call(call, 1)))
        return;
    if (q->timeout_ns < 0)
        return grpc_call_finish(call, GRPC_INVALID_ARGUMENT, "timeout_ns must not be negative");
    uint64_t s = (uint64_t)q->timeout_ns / 1000000000u; /* whole seconds, as Docker's */
    snprintf(cc->id, sizeof cc->id, "%s", ctr_id(c));
    int r = ctr_stop(c, 0, q->timeout_ns ? (uint32_t)(s * 1000) : 10000, &cc->w, err, sizeof err);
    if (r < 0)
        bh_fail(call, r, err);
}

void bh_remove_container(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Orchestrator__V1__RemoveContainerRequest *q = (const void *)msg;
    struct ctr_mgr *m = need_ctrs(call);
    struct container *c = m ? need_ctr(call, m, q->container_id) : NULL;
    struct ctr_call *cc;
    char err[CTR_ERR_MAX] = "";
    if (!c || !(cc = new_call(call, 2)))
        return;
    snprintf(cc->id, sizeof cc->id, "%s", ctr_id(c));
    int r = ctr_remove(c, q->force, &cc->w, err, sizeof err);
    if (r < 0)
        bh_fail(call, r, err);
}
