/* stratavore.v1.RunnerService over the runner core. Stop, Restart and Delete of a live runner
 * answer once its program has exited (and, for Restart, runs again): the call waits on the
 * runner (an rn_wait), and a call that goes first cancels its wait. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/authz.h"
#include "api/stratavore/stratavore-internal.h"
#include "auth/auth.h"
#include "base/macro.h"

/* ---- answers that wait for a runner ---- */

enum op_kind { OP_STOP, OP_RESTART, OP_DELETE };

struct op {
    struct rn_wait w;
    struct grpc_call *call;
    struct sv *sv;
    enum op_kind kind;
    bool was_running;
    char id[RN_ID_LEN];
};

static void op_answer(struct op *o, int x)
{
    struct api_arena a = {0};
    struct rn_runner *r = rn_runner_find(o->sv->m, o->id);

    if (o->kind == OP_DELETE) {
        Stratavore__V1__DeleteRunnerResponse *m =
            arena_msg(&a, &stratavore__v1__delete_runner_response__descriptor);
        m->runner_id = o->id;
        m->deleted = !r;
        m->was_running = o->was_running;
        return arena_reply(o->call, &a, &m->base);
    }
    if (!r)
        return arena_free(&a),
               grpc_call_finish(o->call, GRPC_NOT_FOUND, "runner %s was deleted meanwhile", o->id);
    if (o->kind == OP_RESTART && (x < 0 || !rn_runner_live(r)))
        return arena_free(&a), grpc_call_finish(o->call, GRPC_FAILED_PRECONDITION,
                                                "runner %s did not start again: %s", o->id,
                                                r->reason ? r->reason : "");
    if (o->kind == OP_STOP) {
        Stratavore__V1__StopRunnerResponse *m =
            arena_msg(&a, &stratavore__v1__stop_runner_response__descriptor);
        m->runner = sv_runner_out(o->sv, &a, r);
        m->was_running = o->was_running;
        return arena_reply(o->call, &a, &m->base);
    }
    Stratavore__V1__RestartRunnerResponse *m =
        arena_msg(&a, &stratavore__v1__restart_runner_response__descriptor);
    m->runner = sv_runner_out(o->sv, &a, r);
    arena_reply(o->call, &a, &m->base);
}

static void op_done(struct rn_wait *w, int x)
{
    struct op *o = w->userdata;
    op_answer(o, x);
}

static struct op *op_new(struct grpc_call *call, enum op_kind kind, const char *id)
{
    struct op *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    o->call = call;
    o->sv = grpc_call_service_data(call);
    o->kind = kind;
    o->w.done = op_done;
    o->w.userdata = o;
    snprintf(o->id, sizeof o->id, "%s", id);
    grpc_call_set_data(call, o);
    return o;
}

static void op_close(struct grpc_call *call)
{
    struct op *o = grpc_call_get_data(call);
    if (o) {
        rn_wait_cancel(&o->w);
        free(o);
        grpc_call_set_data(call, NULL);
    }
}

static struct rn_runner *find(struct grpc_call *call, struct sv *sv, const char *id)
{
    struct rn_runner *r = id && *id ? rn_runner_find(sv->m, id) : NULL;
    if (!id || !*id)
        grpc_call_finish(call, GRPC_INVALID_ARGUMENT, "runner_id is required");
    else if (!r)
        grpc_call_finish(call, GRPC_NOT_FOUND, "runner %s not found", id);
    return r;
}

/* ---- the methods ---- */

static void create(struct grpc_call *call, const ProtobufCMessage *msg)
{
    struct sv *sv = grpc_call_service_data(call);
    struct api_arena a = {0};
    struct rn_create q;
    struct rn_runner *r = NULL;
    char err[RN_ERR_MAX] = "";

    sv_create_in(&a, &q, (const void *)msg);
    int x = rn_runner_create(sv->m, &q, &r, err, sizeof err);
    if (x < 0)
        return arena_free(&a), sv_fail(call, x, err);
    Stratavore__V1__CreateRunnerResponse *m =
        arena_msg(&a, &stratavore__v1__create_runner_response__descriptor);
    m->runner = sv_runner_out(sv, &a, r);
    struct rn_conv *c = rn_conv_find(sv->m, r->conv_id);
    if (c)
        m->session = sv_session_out(sv, &a, c);
    arena_reply(call, &a, &m->base);
}

static void get(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Stratavore__V1__GetRunnerRequest *q = (const void *)msg;
    struct sv *sv = grpc_call_service_data(call);
    struct rn_runner *r = find(call, sv, q->runner_id);
    struct api_arena a = {0};

    if (!r)
        return;
    Stratavore__V1__GetRunnerResponse *m =
        arena_msg(&a, &stratavore__v1__get_runner_response__descriptor);
    m->runner = sv_runner_out(sv, &a, r);
    if (q->include_metrics)
        m->metrics = sv_runner_metrics(sv, &a, r);
    struct rn_conv *c = q->include_session ? rn_conv_find(sv->m, r->conv_id) : NULL;
    if (c)
        m->session = sv_session_out(sv, &a, c);
    arena_reply(call, &a, &m->base);
}

static void list(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Stratavore__V1__ListRunnersRequest *q = (const void *)msg;
    struct sv *sv = grpc_call_service_data(call);
    struct api_arena a = {0};
    struct sv_page pg;

    if (!sv_page_begin(call, q->limit, q->offset, q->status,
                       STRATAVORE__V1__RUNNER_STATUS__RUNNER_STATUS_FAILED, &pg))
        return;
    char **filter = arena_map_in(&a, (void *const *)q->metadata_filter, q->n_metadata_filter);
    Stratavore__V1__ListRunnersResponse *m =
        arena_msg(&a, &stratavore__v1__list_runners_response__descriptor);
    m->runners = arena_alloc(&a, pg.limit * sizeof *m->runners);
    if (q->include_metrics)
        m->metrics = arena_alloc(&a, pg.limit * sizeof *m->metrics);
    for (struct rn_runner *r = NULL; (r = rn_runner_next(sv->m, r));) {
        if ((*q->project_name && strcmp(r->project, q->project_name) != 0) ||
            (q->status && (int)r->status != (int)q->status) || !rn_map_match(r->metadata, filter) ||
            !sv_page_take(&pg))
            continue;
        if (q->include_metrics)
            m->metrics[pg.n - 1] = sv_runner_metrics(sv, &a, r);
        m->runners[pg.n - 1] = sv_runner_out(sv, &a, r);
    }
    m->n_runners = pg.n;
    m->n_metrics = q->include_metrics ? pg.n : 0;
    sv_page_end(&pg, &m->total_count, &m->has_more);
    arena_reply(call, &a, &m->base);
}

static const char *const update_fields[] = {
    "metadata",       "quota",
    "desired_status", "max_restart_attempts",
    "restart_policy", "heartbeat_ttl_seconds",
    "model",          "temperature",
    "max_tokens",     NULL,
};
/* The bits of update_fields, in the core's terms. */
static const unsigned update_bits[] = {
    RN_R_METADATA, RN_R_QUOTA, RN_R_STATUS,      RN_R_MAX_RESTARTS, RN_R_POLICY,
    RN_R_TTL,      RN_R_MODEL, RN_R_TEMPERATURE, RN_R_MAX_TOKENS,
};

static void update(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Stratavore__V1__UpdateRunnerRequest *q = (const void *)msg;
    struct sv *sv = grpc_call_service_data(call);
    struct rn_runner *r = find(call, sv, q->runner_id);
    struct rn_runner in = {0};
    struct api_arena a = {0};
    char err[RN_ERR_MAX] = "";
    unsigned paths, mask = 0;
    int x;

    if (!r)
        return;
    if ((x = sv_mask(q->update_mask, update_fields, &paths, err, sizeof err)) < 0)
        return sv_fail(call, x, err);
    bool has_t =
        q->_temperature_case == STRATAVORE__V1__UPDATE_RUNNER_REQUEST___TEMPERATURE_TEMPERATURE;
    bool has_m =
        q->_max_tokens_case == STRATAVORE__V1__UPDATE_RUNNER_REQUEST___MAX_TOKENS_MAX_TOKENS;
    if (!q->update_mask || !q->update_mask->n_paths) /* without a mask: what is set */
        paths = (q->n_metadata ? 1u : 0) << 0 | (q->quota ? 1u : 0) << 1 |
                (q->desired_status ? 1u : 0) << 2 | (q->max_restart_attempts ? 1u : 0) << 3 |
                (q->restart_policy ? 1u : 0) << 4 | (q->heartbeat_ttl_seconds ? 1u : 0) << 5 |
                (*q->model ? 1u : 0) << 6 | (has_t ? 1u : 0) << 7 | (has_m ? 1u : 0) << 8;
    for (size_t i = 0; i < ARRAY_SIZE(update_bits); i++)
        if (paths & (1u << i))
            mask |= update_bits[i];
    in.metadata = arena_map_in(&a, (void *const *)q->metadata, q->n_metadata);
    sv_quota_in(&in.quota, q->quota);
    in.status = (enum rn_status)q->desired_status;
    in.max_restarts = q->max_restart_attempts;
    in.policy = (enum rn_policy)q->restart_policy;
    in.ttl_s = q->heartbeat_ttl_seconds;
    in.model = q->model;
    in.has_temperature = has_t;
    in.temperature = has_t ? q->temperature : 0;
    in.max_tokens = has_m ? q->max_tokens : 0;
    if ((x = rn_runner_update(sv->m, r, &in, mask, err, sizeof err)) < 0)
        return arena_free(&a), sv_fail(call, x, err);
    Stratavore__V1__UpdateRunnerResponse *m =
        arena_msg(&a, &stratavore__v1__update_runner_response__descriptor);
    m->runner = sv_runner_out(sv, &a, r);
    arena_reply(call, &a, &m->base);
}

static uint32_t timeout_ms(int32_t seconds)
{
    return seconds > 0 ? (uint32_t)MIN(seconds, 86400) * 1000u : 0;
}

/* The runner an operation that may wait acts on, with its call's state: NULL when the call
 * ended (no such runner, a negative timeout, out of memory). */
static struct op *op_begin(struct grpc_call *call, const char *id, enum op_kind kind,
                           int32_t timeout_s, struct rn_runner **ret)
{
    struct sv *sv = grpc_call_service_data(call);
    struct op *o;

    if (!(*ret = find(call, sv, id)))
        return NULL;
    if (timeout_s < 0) {
        grpc_call_finish(call, GRPC_INVALID_ARGUMENT, "timeout_seconds must not be negative");
        return NULL;
    }
    if (!(o = op_new(call, kind, (*ret)->id)))
        grpc_call_finish(call, GRPC_RESOURCE_EXHAUSTED, "out of memory");
    return o;
}

/* The core's answer: an error, an answer now (waits false), or later from the wait. */
static void op_started(struct op *o, int x, const char *err, bool waits)
{
    if (x < 0) {
        rn_wait_cancel(&o->w);
        sv_fail(o->call, x, err);
    } else if (!waits) {
        op_answer(o, 0);
    }
}

static void stop(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Stratavore__V1__StopRunnerRequest *q = (const void *)msg;
    struct rn_runner *r;
    struct op *o = op_begin(call, q->runner_id, OP_STOP, q->timeout_seconds, &r);

    if (!o)
        return;
    int x = rn_runner_stop(o->sv->m, r, q->force, timeout_ms(q->timeout_seconds), q->reason, &o->w,
                           &o->was_running);
    op_started(o, x, NULL, o->was_running);
}

static void restart(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Stratavore__V1__RestartRunnerRequest *q = (const void *)msg;
    char err[RN_ERR_MAX] = "";
    struct rn_runner *r;
    struct op *o = op_begin(call, q->runner_id, OP_RESTART, q->timeout_seconds, &r);

    if (!o)
        return;
    int x = rn_runner_restart(o->sv->m, r, q->preserve_session, q->force,
                              timeout_ms(q->timeout_seconds), &o->w, err, sizeof err);
    op_started(o, x, err, x == 1);
}

static void delete (struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Stratavore__V1__DeleteRunnerRequest *q = (const void *)msg;
    char err[RN_ERR_MAX] = "";
    struct rn_runner *r;
    struct op *o = op_begin(call, q->runner_id, OP_DELETE, 0, &r);

    if (!o)
        return;
    int x = rn_runner_delete(o->sv->m, r, q->force, q->delete_sessions, &o->w, &o->was_running, err,
                             sizeof err);
    op_started(o, x, err, x == 1);
}

/* Who may send a runner's heartbeat: a caller with control, or the runner itself with its own
 * token (authorization: Bearer svr1.…). */
static bool heartbeat_allowed(struct grpc_call *call, struct sv *sv, const char *runner_id)
{
    size_t len;
    const char *v = grpc_call_metadata(call, "authorization", &len);
    const char *token = v && len > 7 ? v + 7 : NULL;

    if (token && !strncmp(token, AUTHZ_RUNNER_TOKEN_PREFIX, strlen(AUTHZ_RUNNER_TOKEN_PREFIX))) {
        if (rn_runner_token_ok(sv->m, runner_id, token))
            return true;
        grpc_call_finish(call, GRPC_PERMISSION_DENIED, "this runner token is not runner %s's",
                         runner_id);
        return false;
    }
    if (grpc_call_scopes(call) & AUTH_CONTROL)
        return true;
    grpc_call_finish(call, token ? GRPC_PERMISSION_DENIED : GRPC_UNAUTHENTICATED,
                     "SendHeartbeat needs scope control or the runner's own token "
                     "('authorization: Bearer $STRATAVORE_RUNNER_TOKEN')");
    return false;
}

static void heartbeat(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Stratavore__V1__HeartbeatRequest *q = (const void *)msg;
    struct sv *sv = grpc_call_service_data(call);
    struct api_arena a = {0};
    char err[RN_ERR_MAX] = "";
    const char *command;
    uint32_t next;

    if (*q->runner_id && rn_runner_find(sv->m, q->runner_id) &&
        !heartbeat_allowed(call, sv, q->runner_id))
        return;
    if (*q->runner_id && !rn_runner_find(sv->m, q->runner_id) &&
        !(grpc_call_scopes(call) & AUTH_CONTROL) &&
        !grpc_call_metadata(call, "authorization", NULL))
        return grpc_call_finish(call, GRPC_UNAUTHENTICATED,
                                "SendHeartbeat needs scope control or the runner's own token");

    int x = rn_heartbeat(sv->m,
                         &(struct rn_heartbeat){.runner_id = q->runner_id,
                                                .status = q->status,
                                                .tokens_used = q->tokens_used,
                                                .conv_id = q->session_id},
                         &command, &next, err, sizeof err);
    if (x < 0)
        return sv_fail(call, x, err);
    Stratavore__V1__HeartbeatResponse *m =
        arena_msg(&a, &stratavore__v1__heartbeat_response__descriptor);
    m->success = true;
    m->command = (char *)command;
    m->next_heartbeat_seconds = (int32_t)next;
    arena_reply(call, &a, &m->base);
}

#define UNARY(n, f, T)                                                                             \
    {                                                                                              \
        n, GRPC_UNARY, &stratavore__v1__##T##__descriptor, f, NULL, NULL, op_close                 \
    }

static const struct grpc_method methods[] = {
    UNARY("CreateRunner", create, create_runner_request),
    UNARY("GetRunner", get, get_runner_request),
    UNARY("ListRunners", list, list_runners_request),
    UNARY("UpdateRunner", update, update_runner_request),
    UNARY("DeleteRunner", delete, delete_runner_request),
    UNARY("StopRunner", stop, stop_runner_request),
    UNARY("RestartRunner", restart, restart_runner_request),
    {"StreamRunnerEvents", GRPC_SERVER_STREAM,
     &stratavore__v1__stream_runner_events_request__descriptor, sv_stream_events, NULL,
     sv_stream_ready, sv_stream_close},
    UNARY("SendHeartbeat", heartbeat, heartbeat_request),
};

/* What StreamRunnerEvents packs into RunnerEvent.payload (events.c). */
static const ProtobufCMessageDescriptor *const payloads[] = {
    &stratavore__v1__runner_started_payload__descriptor,
    &stratavore__v1__runner_exit_payload__descriptor,
    &stratavore__v1__resource_usage__descriptor,
    &stratavore__v1__quota_exceeded_payload__descriptor,
    &stratavore__v1__reconcile_response__descriptor,
    NULL,
};

const struct grpc_service sv_runner_service = {
    "stratavore.v1.RunnerService", methods, ARRAY_SIZE(methods),
    &stratavore__v1__runner_service__descriptor, payloads};
