/* drover.v1.Containers and drover.v1.Images over the container core. Create, Start, Stop,
 * Remove, Wait and Import answer once the core is done (a ctr_wait in the call, cancelled if
 * the client goes first); Logs streams the container's log file from an offset, and with follow
 * what it grows by, until the container exits. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "api/arena.h"
#include "api/drover/drover-internal.h"
#include "api/status.h"
#include "base/macro.h"
#include "base/strv.h"
#include "container/container.h"
#include "session/session.h"
#include "drover/v1/containers.pb-c.h"
#include "grpc/grpc.h"

#define LOG_CHUNK (32u << 10)

static struct ctr_mgr *mgr(struct grpc_call *call)
{
    return ((struct api_host *)grpc_call_service_data(call))->containers;
}

/* Containers are set up with the core; a host without them (a test's) answers UNAVAILABLE. */
static bool ready(struct grpc_call *call)
{
    if (mgr(call))
        return true;
    grpc_call_finish(call, GRPC_UNAVAILABLE, "containers are not set up in this droverd");
    return false;
}

static uint64_t ns(double s)
{
    return s > 0 ? (uint64_t)(s * 1e9) : 0;
}

/* ---- messages ---- */

static Drover__V1__ContainerSpec *spec_out(struct api_arena *a, const struct ctr_spec *s)
{
    Drover__V1__ContainerSpec *m = arena_msg(a, &drover__v1__container_spec__descriptor);
    m->name = s->name;
    m->image = s->image;
    m->n_entrypoint = strv_length(s->entrypoint);
    m->entrypoint = s->entrypoint;
    m->entrypoint_set = s->entrypoint != NULL;
    m->n_command = strv_length(s->command);
    m->command = s->command;
    m->n_env = strv_length(s->env);
    m->env = s->env;
    m->cwd = s->cwd ? s->cwd : "";
    m->user = s->user ? s->user : "";
    m->hostname = s->hostname ? s->hostname : "";
    m->tty = s->tty;
    m->rows = s->rows;
    m->cols = s->cols;
    m->read_only = s->read_only;
    m->n_mounts = s->n_mounts;
    m->mounts = m->n_mounts ? arena_alloc(a, m->n_mounts * sizeof *m->mounts) : NULL;
    for (size_t i = 0; i < s->n_mounts; i++) {
        Drover__V1__Mount *x = arena_msg(a, &drover__v1__mount__descriptor);
        x->type = (Drover__V1__MountType)s->mounts[i].type;
        x->source = s->mounts[i].source ? s->mounts[i].source : "";
        x->destination = s->mounts[i].destination;
        x->read_only = s->mounts[i].read_only;
        m->mounts[i] = x;
    }
    Drover__V1__ContainerResources *r = arena_msg(a, &drover__v1__container_resources__descriptor);
    r->memory_bytes = s->res.memory;
    r->memory_swap_bytes = s->res.memory_swap;
    r->cpus = s->res.cpu_quota_us
                  ? (double)s->res.cpu_quota_us /
                        (double)(s->res.cpu_period_us ? s->res.cpu_period_us : 100000)
                  : 0;
    r->cpu_shares = s->res.cpu_shares;
    r->pids = s->res.pids;
    m->resources = r;
    m->n_cap_add = strv_length(s->cap_add);
    m->cap_add = s->cap_add;
    m->n_cap_drop = strv_length(s->cap_drop);
    m->cap_drop = s->cap_drop;
    m->new_privileges = s->new_privileges;
    m->network = s->host_network ? "host" : "none";
    m->no_seccomp = s->no_seccomp;
    m->labels = (Drover__V1__ContainerSpec__LabelsEntry **)arena_map_out(
        a, &drover__v1__container_spec__labels_entry__descriptor, s->labels, &m->n_labels);
    m->stop_signal = s->stop_signal ? arena_printf(a, "%d", s->stop_signal) : "";
    m->stop_timeout_ms = s->stop_timeout_ms;
    m->auto_remove = s->auto_remove;
    return m;
}

static Drover__V1__Container *ctr_out(struct api_arena *a, const struct container *c)
{
    struct ctr_info i;
    ctr_info(c, &i);
    Drover__V1__Container *m = arena_msg(a, &drover__v1__container__descriptor);
    m->id = (char *)i.id;
    m->name = (char *)i.name;
    m->image = (char *)i.image;
    m->image_id = (char *)i.image_id;
    m->state = (Drover__V1__ContainerState)i.state;
    m->pid = i.pid;
    m->exit_known = i.exit_known;
    m->exit_code = i.exit_code >= 0 ? i.exit_code : 128 - i.exit_code;
    m->exit_signal = i.exit_code < 0 ? -i.exit_code : 0;
    m->oom_killed = i.oom_killed;
    m->created_at = arena_ts(a, ns(i.created_at));
    m->started_at = arena_ts(a, ns(i.started_at));
    m->finished_at = arena_ts(a, ns(i.finished_at));
    m->restarts = i.restarts;
    m->session_id = (char *)i.session_id;
    m->error = (char *)i.error;
    m->log_path = (char *)i.log_path;
    m->runtime = (char *)(i.runtime ? i.runtime : "");
    m->spec = spec_out(a, i.spec);
    return m;
}

static void reply_ctr(struct grpc_call *call, const struct container *c)
{
    struct api_arena a = {0};
    arena_reply(call, &a, &ctr_out(&a, c)->base);
}

/* The spec of a request, pointing into the arena and the request. */
static int spec_in(struct api_arena *a, const Drover__V1__ContainerSpec *q, struct ctr_spec *s,
                   char *err, size_t err_size)
{
    *s = (struct ctr_spec){
        .name = q->name,
        .image = q->image,
        .entrypoint = arena_strv_in(a, q->entrypoint, q->n_entrypoint, !q->entrypoint_set),
        .command = arena_strv_in(a, q->command, q->n_command, true),
        .env = arena_strv_in(a, q->env, q->n_env, true),
        .cwd = *q->cwd ? q->cwd : NULL,
        .user = *q->user ? q->user : NULL,
        .hostname = *q->hostname ? q->hostname : NULL,
        .tty = q->tty,
        .rows = (uint16_t)MIN(q->rows, 65535u),
        .cols = (uint16_t)MIN(q->cols, 65535u),
        .read_only = q->read_only,
        .cap_add = arena_strv_in(a, q->cap_add, q->n_cap_add, true),
        .cap_drop = arena_strv_in(a, q->cap_drop, q->n_cap_drop, true),
        .new_privileges = q->new_privileges,
        .no_seccomp = q->no_seccomp,
        .labels = arena_map_in(a, (void *const *)q->labels, q->n_labels),
        .stop_timeout_ms = q->stop_timeout_ms,
        .auto_remove = q->auto_remove,
    };
    for (size_t i = 0; i < q->n_env; i++)
        if (!strchr(q->env[i], '=') || q->env[i][0] == '=')
            return snprintf(err, err_size, "environment entry '%s' is not NAME=value", q->env[i]),
                   -EINVAL;
    if (!*q->network || !strcmp(q->network, "none"))
        s->host_network = false;
    else if (!strcmp(q->network, "host"))
        s->host_network = true;
    else
        return snprintf(err, err_size, "network '%s': 'none' or 'host'", q->network), -EINVAL;
    if (*q->stop_signal && !(s->stop_signal = ctr_signal_parse(q->stop_signal)))
        return snprintf(err, err_size, "'%s' is not a signal", q->stop_signal), -EINVAL;
    if (q->resources) {
        const Drover__V1__ContainerResources *r = q->resources;
        if (r->cpus < 0 || r->cpus > 4096)
            return snprintf(err, err_size, "cpus %g is out of range", r->cpus), -EINVAL;
        if (r->memory_swap_bytes && r->memory_swap_bytes < r->memory_bytes)
            return snprintf(err, err_size, "memory_swap_bytes must be at least memory_bytes"),
                   -EINVAL;
        if (r->memory_bytes && r->memory_bytes < (4u << 20))
            return snprintf(err, err_size, "a memory limit below 4 MiB cannot run a container"),
                   -EINVAL;
        s->res = (struct ctr_resources){
            .memory = r->memory_bytes,
            .memory_swap = r->memory_swap_bytes,
            .cpu_quota_us = r->cpus > 0 ? (uint64_t)(r->cpus * 100000) : 0,
            .cpu_period_us = r->cpus > 0 ? 100000 : 0,
            .cpu_shares = r->cpu_shares,
            .pids = r->pids,
        };
    }
    s->n_mounts = q->n_mounts;
    s->mounts = q->n_mounts ? arena_alloc(a, q->n_mounts * sizeof *s->mounts) : NULL;
    for (size_t i = 0; i < q->n_mounts; i++) {
        const Drover__V1__Mount *x = q->mounts[i];
        if ((unsigned)x->type > DROVER__V1__MOUNT_TYPE__MOUNT_TYPE_TMPFS)
            return snprintf(err, err_size, "mount %zu: unknown type %d", i, x->type), -EINVAL;
        if (x->type != DROVER__V1__MOUNT_TYPE__MOUNT_TYPE_TMPFS && !*x->source)
            return snprintf(err, err_size, "mount %zu has no source", i), -EINVAL;
        if (x->type == DROVER__V1__MOUNT_TYPE__MOUNT_TYPE_VOLUME &&
            (strchr(x->source, '/') || x->source[0] == '.'))
            return snprintf(err, err_size, "'%s' is not a volume name", x->source), -EINVAL;
        s->mounts[i] = (struct ctr_mount){.type = (enum ctr_mount_type)x->type,
                                          .source = x->source,
                                          .destination = x->destination,
                                          .read_only = x->read_only};
    }
    return 0;
}

static Drover__V1__Image *image_out(struct api_arena *a, const struct ctr_image *img)
{
    struct ctr_image_info i;
    ctr_image_info(img, &i);
    Drover__V1__Image *m = arena_msg(a, &drover__v1__image__descriptor);
    m->name = (char *)i.name;
    m->id = (char *)i.id;
    m->digest = (char *)i.digest;
    m->source = (char *)i.source;
    m->imported_at = arena_ts(a, ns(i.imported_at));
    m->size = i.size;
    m->unpacked_size = i.unpacked_size;
    m->layers = i.layers;
    m->n_entrypoint = strv_length(i.entrypoint);
    m->entrypoint = (char **)i.entrypoint;
    m->n_cmd = strv_length(i.cmd);
    m->cmd = (char **)i.cmd;
    m->n_env = strv_length(i.env);
    m->env = (char **)i.env;
    m->cwd = (char *)i.cwd;
    m->user = (char *)i.user;
    m->stop_signal = (char *)i.stop_signal;
    m->architecture = (char *)i.architecture;
    m->os = (char *)i.os;
    m->labels = (Drover__V1__Image__LabelsEntry **)arena_map_out(
        a, &drover__v1__image__labels_entry__descriptor, i.labels, &m->n_labels);
    m->containers = i.containers;
    return m;
}

static void reply_image(struct grpc_call *call, const struct ctr_image *img)
{
    struct api_arena a = {0};
    arena_reply(call, &a, &image_out(&a, img)->base);
}

static void reply_session(struct grpc_call *call, struct session *s, bool pty)
{
    struct sess_info si;
    Drover__V1__ExecContainerResponse resp = DROVER__V1__EXEC_CONTAINER_RESPONSE__INIT;
    sess_info(s, &si);
    resp.session_id = (char *)si.id;
    resp.pty = pty;
    grpc_call_reply(call, &resp.base);
}

/* ---- calls that wait ---- */

enum op_kind { OP_RUN, OP_STOP, OP_REMOVE, OP_WAIT, OP_IMPORT };

struct op {
    struct ctr_wait w;
    struct grpc_call *call;
    enum op_kind kind;
    char id[CTR_ID_LEN];
    char *name; /* an import's image */
};

static void op_done(struct ctr_wait *w, int r, const char *err)
{
    struct op *o = w->userdata;
    struct ctr_mgr *m = mgr(o->call);

    if (r < 0)
        return api_finish_errno(o->call, r, "%s", err ? err : strerror(-r));
    if (o->kind == OP_IMPORT) {
        struct ctr_image *img = ctr_image_find(m, o->name);
        if (!img)
            return grpc_call_finish(o->call, GRPC_NOT_FOUND, "image %s was removed meanwhile",
                                    o->name);
        return reply_image(o->call, img);
    }
    if (o->kind == OP_REMOVE) {
        Drover__V1__RemoveContainerResponse resp = DROVER__V1__REMOVE_CONTAINER_RESPONSE__INIT;
        resp.id = o->id;
        return grpc_call_reply(o->call, &resp.base);
    }
    struct container *c = ctr_find(m, o->id);
    if (!c)
        return grpc_call_finish(o->call, GRPC_NOT_FOUND, "container %s was removed meanwhile",
                                o->id);
    reply_ctr(o->call, c);
}

static struct op *op_new(struct grpc_call *call, enum op_kind kind, const char *id)
{
    struct op *o = calloc(1, sizeof *o);
    if (!o) {
        grpc_call_finish(call, GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return NULL;
    }
    o->call = call;
    o->kind = kind;
    o->w = (struct ctr_wait){.done = op_done, .userdata = o};
    snprintf(o->id, sizeof o->id, "%s", id ? id : "");
    grpc_call_set_data(call, o);
    return o;
}

static void op_close(struct grpc_call *call)
{
    struct op *o = grpc_call_get_data(call);
    if (!o)
        return;
    ctr_wait_cancel(&o->w);
    free(o->name);
    free(o);
    grpc_call_set_data(call, NULL);
}

static struct container *find(struct grpc_call *call, const char *ref)
{
    struct ctr_mgr *m = mgr(call);
    struct container *c = ref && *ref ? ctr_find(m, ref) : NULL;
    if (!ref || !*ref)
        grpc_call_finish(call, GRPC_INVALID_ARGUMENT, "no container given");
    else if (!c)
        grpc_call_finish(call, GRPC_NOT_FOUND, "no container '%s'", ref);
    return c;
}

/* ---- Containers ---- */

static void create(struct grpc_call *call, const ProtobufCMessage *msg)
{
    if (!ready(call))
        return;
    const Drover__V1__CreateContainerRequest *q = (const void *)msg;
    struct api_arena a = {0};
    struct ctr_spec s;
    struct container *c;
    char err[CTR_ERR_MAX] = "";

    if (!q->spec)
        return grpc_call_finish(call, GRPC_INVALID_ARGUMENT, "no spec given");
    int r = spec_in(&a, q->spec, &s, err, sizeof err);
    struct op *o = r == 0 ? op_new(call, OP_RUN, NULL) : NULL;
    if (r == 0 && o && (r = ctr_create(mgr(call), &s, q->start, &o->w, &c, err, sizeof err)) == 0)
        snprintf(o->id, sizeof o->id, "%s", ctr_id(c));
    arena_free(&a);
    if (r < 0)
        api_finish_errno(call, r, "%s", err);
}

static void start(struct grpc_call *call, const ProtobufCMessage *msg)
{
    if (!ready(call))
        return;
    const Drover__V1__ContainerRef *q = (const void *)msg;
    struct container *c = find(call, q->container);
    char err[CTR_ERR_MAX] = "";
    struct op *o = c ? op_new(call, OP_RUN, ctr_id(c)) : NULL;
    int r = o ? ctr_start(c, &o->w, err, sizeof err) : 0;
    if (r < 0)
        api_finish_errno(call, r, "%s", err);
}

static void stop(struct grpc_call *call, const ProtobufCMessage *msg)
{
    if (!ready(call))
        return;
    const Drover__V1__StopContainerRequest *q = (const void *)msg;
    struct container *c = find(call, q->container);
    char err[CTR_ERR_MAX] = "";
    int sig = 0;

    if (!c)
        return;
    if (*q->signal && !(sig = ctr_signal_parse(q->signal)))
        return grpc_call_finish(call, GRPC_INVALID_ARGUMENT, "'%s' is not a signal", q->signal);
    if (q->timeout_ms < -1)
        return grpc_call_finish(call, GRPC_INVALID_ARGUMENT, "timeout_ms must be -1 or more");
    struct op *o = op_new(call, OP_STOP, ctr_id(c));
    if (!o)
        return;
    int r =
        ctr_stop(c, q->timeout_ms == -1 ? SIGKILL : sig,
                 q->timeout_ms > 0 ? (uint32_t)q->timeout_ms : UINT32_MAX, &o->w, err, sizeof err);
    if (r < 0)
        api_finish_errno(call, r, "%s", err);
    else if (r == 1)
        reply_ctr(call, c);
}

static void remove_(struct grpc_call *call, const ProtobufCMessage *msg)
{
    if (!ready(call))
        return;
    const Drover__V1__RemoveContainerRequest *q = (const void *)msg;
    struct container *c = find(call, q->container);
    char err[CTR_ERR_MAX] = "";
    struct op *o = c ? op_new(call, OP_REMOVE, ctr_id(c)) : NULL;
    int r = o ? ctr_remove(c, q->force, &o->w, err, sizeof err) : 0;
    if (r < 0)
        api_finish_errno(call, r, "%s", err);
}

static void wait_(struct grpc_call *call, const ProtobufCMessage *msg)
{
    if (!ready(call))
        return;
    const Drover__V1__ContainerRef *q = (const void *)msg;
    struct container *c = find(call, q->container);
    struct op *o = c ? op_new(call, OP_WAIT, ctr_id(c)) : NULL;
    if (o)
        ctr_wait_exit(c, &o->w);
}

static void get(struct grpc_call *call, const ProtobufCMessage *msg)
{
    if (!ready(call))
        return;
    const Drover__V1__ContainerRef *q = (const void *)msg;
    struct container *c = find(call, q->container);
    if (c)
        reply_ctr(call, c);
}

static void list(struct grpc_call *call, const ProtobufCMessage *msg)
{
    if (!ready(call))
        return;
    const Drover__V1__ListContainersRequest *q = (const void *)msg;
    struct ctr_mgr *m = mgr(call);
    struct api_arena a = {0};
    Drover__V1__ListContainersResponse *resp =
        arena_msg(&a, &drover__v1__list_containers_response__descriptor);
    size_t n = ctr_mgr_count(m, NULL), k = 0;

    resp->containers = n ? arena_alloc(&a, n * sizeof *resp->containers) : NULL;
    for (struct container *c = ctr_next(m, NULL); c && k < n; c = ctr_next(m, c)) {
        struct ctr_info i;
        ctr_info(c, &i);
        if (q->all || i.state != CTR_EXITED)
            resp->containers[k++] = ctr_out(&a, c);
    }
    resp->n_containers = k;
    arena_reply(call, &a, &resp->base);
}

static void stats(struct grpc_call *call, const ProtobufCMessage *msg)
{
    if (!ready(call))
        return;
    const Drover__V1__ContainerRef *q = (const void *)msg;
    struct container *c = find(call, q->container);
    struct ctr_stats st;
    if (!c)
        return;
    int r = ctr_get_stats(c, &st);
    if (r == -ESRCH)
        return grpc_call_finish(call, GRPC_FAILED_PRECONDITION, "container %s is not running",
                                q->container);
    if (r < 0)
        return api_finish_errno(call, r, "no cgroup answers for container %s", q->container);
    Drover__V1__ContainerStats resp = DROVER__V1__CONTAINER_STATS__INIT;
    resp.id = (char *)ctr_id(c);
    resp.memory_bytes = st.g.memory_current;
    resp.memory_peak_bytes = st.g.memory_peak;
    resp.memory_limit_bytes = st.g.memory_max;
    resp.oom_kills = st.g.oom_kills;
    resp.cpu_usage_ns = st.g.cpu_usage_ns;
    resp.pids = st.g.pids_current;
    resp.pids_limit = st.g.pids_max;
    grpc_call_reply(call, &resp.base);
}

static void exec_(struct grpc_call *call, const ProtobufCMessage *msg)
{
    if (!ready(call))
        return;
    const Drover__V1__ExecContainerRequest *q = (const void *)msg;
    struct container *c = find(call, q->container);
    struct api_arena a = {0};
    struct session *s;
    char err[CTR_ERR_MAX] = "";
    if (!c)
        return;
    int r =
        ctr_exec(c, arena_strv_in(&a, q->command, q->n_command, false),
                 arena_strv_in(&a, q->env, q->n_env, true), q->tty, (uint16_t)MIN(q->rows, 65535u),
                 (uint16_t)MIN(q->cols, 65535u), &s, err, sizeof err);
    arena_free(&a);
    if (r < 0)
        return api_finish_errno(call, r, "%s", err);
    reply_session(call, s, q->tty);
}

static void attach(struct grpc_call *call, const ProtobufCMessage *msg)
{
    if (!ready(call))
        return;
    const Drover__V1__ContainerRef *q = (const void *)msg;
    struct container *c = find(call, q->container);
    struct session *s = c ? ctr_session(c) : NULL;
    struct ctr_info i;
    if (!c)
        return;
    ctr_info(c, &i);
    if (!i.spec->tty)
        return grpc_call_finish(call, GRPC_FAILED_PRECONDITION,
                                "container %s has no terminal: read its logs instead",
                                q->container);
    if (!s)
        return grpc_call_finish(call, GRPC_FAILED_PRECONDITION, "container %s is %s", q->container,
                                ctr_state_name(i.state));
    reply_session(call, s, true);
}

/* ---- Logs ---- */

struct logs {
    struct grpc_call *call;
    struct ctr_wait w; /* the container's exit */
    uv_fs_event_t ev;
    bool watching; /* ev started: closed with the call */
    int fd;
    uint64_t offset;
    bool follow, exited, done;
    struct ctr_info end; /* how it ended (its strings are not kept) */
    char id[CTR_ID_LEN];
};

static bool logs_pump(struct logs *l)
{
    uint8_t buf[LOG_CHUNK];
    struct stat st;
    Drover__V1__ContainerLogChunk chunk = DROVER__V1__CONTAINER_LOG_CHUNK__INIT;
    bool sent_any = false;

    if (l->done || fstat(l->fd, &st) < 0)
        return true;
    while (grpc_call_writable(l->call) && l->offset < (uint64_t)st.st_size) {
        ssize_t n =
            pread(l->fd, buf, MIN(sizeof buf, (uint64_t)st.st_size - l->offset), (off_t)l->offset);
        if (n <= 0)
            break;
        chunk.data = (ProtobufCBinaryData){(size_t)n, buf};
        chunk.offset = l->offset;
        if (grpc_call_send(l->call, &chunk.base) < 0)
            return false;
        l->offset += (uint64_t)n;
        sent_any = true;
    }
    (void)sent_any;
    bool all = l->offset >= (uint64_t)st.st_size;
    if (all && (!l->follow || l->exited) && grpc_call_writable(l->call)) {
        chunk.data = (ProtobufCBinaryData){0, NULL};
        chunk.offset = l->offset;
        chunk.exited = l->exited;
        chunk.exit_known = l->end.exit_known;
        chunk.exit_code = l->end.exit_code >= 0 ? l->end.exit_code : 128 - l->end.exit_code;
        chunk.exit_signal = l->end.exit_code < 0 ? -l->end.exit_code : 0;
        (void)grpc_call_send(l->call, &chunk.base);
        l->done = true;
        grpc_call_finish(l->call, GRPC_OK, NULL);
    }
    return all;
}

static void logs_exit(struct ctr_wait *w, int r, const char *err)
{
    struct logs *l = w->userdata;
    struct container *c = ctr_find(mgr(l->call), l->id);
    (void)r;
    (void)err;
    if (c)
        ctr_info(c, &l->end);
    l->end.spec = NULL;
    l->exited = true;
    logs_pump(l);
}

static void logs_event(uv_fs_event_t *ev, const char *name, int events, int status)
{
    (void)name, (void)events, (void)status;
    logs_pump(ev->data);
}

static void logs(struct grpc_call *call, const ProtobufCMessage *msg)
{
    if (!ready(call))
        return;
    const Drover__V1__ContainerLogsRequest *q = (const void *)msg;
    struct container *c = find(call, q->container);
    struct ctr_info i;
    struct stat st;

    if (!c)
        return;
    ctr_info(c, &i);
    struct logs *l = calloc(1, sizeof *l);
    if (!l)
        return grpc_call_finish(call, GRPC_RESOURCE_EXHAUSTED, "out of memory");
    l->call = call;
    l->follow = q->follow;
    snprintf(l->id, sizeof l->id, "%s", ctr_id(c));
    l->fd = open(i.log_path, O_RDONLY | O_CLOEXEC | O_CREAT, 0640);
    grpc_call_set_data(call, l);
    if (l->fd < 0 || fstat(l->fd, &st) < 0)
        return grpc_call_finish(call, GRPC_INTERNAL, "cannot read %s: %s", i.log_path,
                                strerror(errno));
    if (q->tail_bytes && q->tail_bytes < (uint64_t)st.st_size)
        l->offset = (uint64_t)st.st_size - q->tail_bytes;
    if (l->follow) {
        uv_fs_event_init(((struct api_host *)grpc_call_service_data(call))->loop, &l->ev);
        l->ev.data = l;
        l->watching = true;
        uv_fs_event_start(&l->ev, logs_event, i.log_path, 0);
        l->w = (struct ctr_wait){.done = logs_exit, .userdata = l};
        ctr_wait_exit(c, &l->w); /* may answer at once: it exited already */
        if (l->exited || l->done)
            return;
    }
    logs_pump(l);
}

static void logs_ready(struct grpc_call *call)
{
    struct logs *l = grpc_call_get_data(call);
    if (l)
        logs_pump(l);
}

static void logs_handle_closed(uv_handle_t *h)
{
    free(h->data);
}

static void logs_close(struct grpc_call *call)
{
    struct logs *l = grpc_call_get_data(call);
    if (!l)
        return;
    grpc_call_set_data(call, NULL);
    l->done = true;
    ctr_wait_cancel(&l->w);
    if (l->fd >= 0)
        close(l->fd);
    if (l->watching)
        uv_close((uv_handle_t *)&l->ev, logs_handle_closed);
    else
        free(l);
}

#define UNARY(n, f, T)                                                                             \
    {                                                                                              \
        n, GRPC_UNARY, &drover__v1__##T##__descriptor, f, NULL, NULL, op_close                     \
    }

static const struct grpc_method methods[] = {
    UNARY("Create", create, create_container_request),
    UNARY("Start", start, container_ref),
    UNARY("Stop", stop, stop_container_request),
    UNARY("Remove", remove_, remove_container_request),
    UNARY("Get", get, container_ref),
    UNARY("List", list, list_containers_request),
    {"Logs", GRPC_SERVER_STREAM, &drover__v1__container_logs_request__descriptor, logs, NULL,
     logs_ready, logs_close},
    UNARY("Stats", stats, container_ref),
    UNARY("Exec", exec_, exec_container_request),
    UNARY("Attach", attach, container_ref),
    UNARY("Wait", wait_, container_ref),
};

const struct grpc_service api_drover_containers = {
    "drover.v1.Containers", methods, ARRAY_SIZE(methods), &drover__v1__containers__descriptor};

/* ---- Images ---- */

static void image_import(struct grpc_call *call, const ProtobufCMessage *msg)
{
    if (!ready(call))
        return;
    const Drover__V1__ImportImageRequest *q = (const void *)msg;
    char err[CTR_ERR_MAX] = "";
    struct op *o = op_new(call, OP_IMPORT, NULL);
    int r =
        o ? ctr_image_import(mgr(call), q->source, q->name, &o->w, &o->name, err, sizeof err) : 0;
    if (r < 0)
        api_finish_errno(call, r, "%s", err);
}

static struct ctr_image *find_image(struct grpc_call *call, const char *ref)
{
    struct ctr_image *img = ref && *ref ? ctr_image_find(mgr(call), ref) : NULL;
    if (!ref || !*ref)
        grpc_call_finish(call, GRPC_INVALID_ARGUMENT, "no image given");
    else if (!img)
        grpc_call_finish(call, GRPC_NOT_FOUND, "no image '%s'", ref);
    return img;
}

static void image_get(struct grpc_call *call, const ProtobufCMessage *msg)
{
    if (!ready(call))
        return;
    const Drover__V1__ImageRef *q = (const void *)msg;
    struct ctr_image *img = find_image(call, q->image);
    if (img)
        reply_image(call, img);
}

static void image_list(struct grpc_call *call, const ProtobufCMessage *msg)
{
    if (!ready(call))
        return;
    struct ctr_mgr *m = mgr(call);
    struct api_arena a = {0};
    Drover__V1__ListImagesResponse *resp =
        arena_msg(&a, &drover__v1__list_images_response__descriptor);
    size_t n = 0, k = 0;
    (void)msg;
    for (struct ctr_image *i = ctr_image_next(m, NULL); i; i = ctr_image_next(m, i))
        n++;
    resp->images = n ? arena_alloc(&a, n * sizeof *resp->images) : NULL;
    for (struct ctr_image *i = ctr_image_next(m, NULL); i && k < n; i = ctr_image_next(m, i))
        resp->images[k++] = image_out(&a, i);
    resp->n_images = k;
    arena_reply(call, &a, &resp->base);
}

static void image_remove(struct grpc_call *call, const ProtobufCMessage *msg)
{
    if (!ready(call))
        return;
    const Drover__V1__RemoveImageRequest *q = (const void *)msg;
    struct ctr_image *img = find_image(call, q->image);
    char err[CTR_ERR_MAX] = "";
    if (!img)
        return;
    int r = ctr_image_remove(mgr(call), img, q->force, err, sizeof err);
    if (r < 0)
        return api_finish_errno(call, r, "%s", err);
    Drover__V1__RemoveImageResponse resp = DROVER__V1__REMOVE_IMAGE_RESPONSE__INIT;
    grpc_call_reply(call, &resp.base);
}

static void image_prune(struct grpc_call *call, const ProtobufCMessage *msg)
{
    if (!ready(call))
        return;
    Drover__V1__PruneImagesResponse resp = DROVER__V1__PRUNE_IMAGES_RESPONSE__INIT;
    (void)msg;
    int64_t freed = ctr_image_prune(mgr(call));
    resp.bytes_freed = freed > 0 ? (uint64_t)freed : 0;
    grpc_call_reply(call, &resp.base);
}

static const struct grpc_method image_methods[] = {
    UNARY("Import", image_import, import_image_request),
    UNARY("List", image_list, list_images_request),
    UNARY("Get", image_get, image_ref),
    UNARY("Remove", image_remove, remove_image_request),
    UNARY("Prune", image_prune, prune_images_request),
};

const struct grpc_service api_drover_images = {
    "drover.v1.Images", image_methods, ARRAY_SIZE(image_methods), &drover__v1__images__descriptor};
