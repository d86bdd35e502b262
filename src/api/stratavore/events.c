/* RunnerService.StreamRunnerEvents: the runner core's events as RunnerEvent messages.
 *
 * Each event is encoded once, when the core reports it, into a ring of the newest RN_EVENT_RING
 * events; a subscriber is a position in that ring, not a queue of its own. It is sent what
 * follows its position as its call's queue takes more (on_ready), so a slow client costs
 * nothing but its position, and the loop never waits for it. One that falls a whole ring behind
 * has missed events: its call ends RESOURCE_EXHAUSTED naming the last sequence it got, and it
 * resumes with since_sequence.
 *
 * Sequences grow across droverd's lives: the high 32 bits count daemon starts (kept in the
 * database), the low ones count events. A client that resumes with a sequence from before a
 * restart gets OUT_OF_RANGE: what happened in between is not kept. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/stratavore/stratavore-internal.h"
#include "base/log.h"
#include "base/macro.h"
#include "google/protobuf/any.pb-c.h"
#include "store/store.h"

struct sv_sub {
    struct sv_sub *next;
    struct grpc_call *call;
    struct sv *sv;
    int64_t next_seq;                       /* the next event to look at */
    uint64_t types;                         /* bit per event type; 0: all but heartbeats */
    char *project, *runner_id, *session_id; /* filters ("" for any) */
};

void sv_events_init(struct sv *sv)
{
    char buf[32];
    uint64_t epoch = 0;

    if (sv->h->store &&
        store_get_state(sv->h->store, "stratavore_event_epoch", buf, sizeof buf) == 0)
        epoch = strtoull(buf, NULL, 10);
    epoch++;
    snprintf(buf, sizeof buf, "%" PRIu64, epoch);
    if (sv->h->store && store_set_state(sv->h->store, "stratavore_event_epoch", buf) < 0)
        log_warning("stratavore: cannot record the event epoch");
    sv->next_seq = (int64_t)((epoch & 0x7fffffff) << 32) + 1;
}

void sv_events_done(struct sv *sv)
{
    for (size_t i = 0; i < RN_EVENT_RING; i++) {
        free(sv->ring[i].bytes);
        sv->ring[i] = (struct sv_event){0};
    }
}

/* ---- encoding ---- */

static const char *routing_verb(enum rn_event_type t)
{
    switch (t) {
    case RN_EV_RUNNER_STARTED:
        return "runner.started";
    case RN_EV_RUNNER_STOPPED:
        return "runner.stopped";
    case RN_EV_RUNNER_FAILED:
        return "runner.failed";
    case RN_EV_RUNNER_HEARTBEAT:
        return "runner.heartbeat";
    case RN_EV_RUNNER_RESTARTED:
        return "runner.restarted";
    case RN_EV_RUNNER_PAUSED:
        return "runner.paused";
    case RN_EV_RUNNER_RESUMED:
        return "runner.resumed";
    case RN_EV_RUNNER_UPDATED:
        return "runner.updated";
    case RN_EV_RUNNER_DELETED:
        return "runner.deleted";
    case RN_EV_SESSION_CREATED:
        return "session.created";
    case RN_EV_SESSION_RESUMED:
        return "session.resumed";
    case RN_EV_SESSION_ENDED:
        return "session.ended";
    case RN_EV_PROJECT_CREATED:
        return "project.created";
    case RN_EV_PROJECT_UPDATED:
        return "project.updated";
    case RN_EV_PROJECT_ARCHIVED:
        return "project.archived";
    case RN_EV_PROJECT_DELETED:
        return "project.deleted";
    case RN_EV_QUOTA_EXCEEDED:
        return "quota.exceeded";
    case RN_EV_SYSTEM_ALERT:
        return "system.alert";
    case RN_EV_RECONCILE_COMPLETED:
        return "reconcile.completed";
    }
    return "event";
}

/* The payload, an Any of the type stratavore.v1 names for the event. */
static Google__Protobuf__Any *payload(struct sv *sv, struct api_arena *a, const struct rn_event *ev)
{
    const ProtobufCMessage *msg = NULL;
    const struct rn_runner *r = ev->runner;

    switch (ev->type) {
    case RN_EV_RUNNER_STARTED:
    case RN_EV_RUNNER_RESTARTED: {
        Stratavore__V1__RunnerStartedPayload *p =
            arena_msg(a, &stratavore__v1__runner_started_payload__descriptor);
        if (r) {
            p->pid = r->pid;
            p->command = r->command;
            for (p->n_command = 0; r->command && r->command[p->n_command]; p->n_command++)
                ;
        }
        p->restart_attempt = ev->restart_attempt;
        msg = &p->base;
        break;
    }
    case RN_EV_RUNNER_STOPPED:
    case RN_EV_RUNNER_FAILED: {
        Stratavore__V1__RunnerExitPayload *p =
            arena_msg(a, &stratavore__v1__runner_exit_payload__descriptor);
        if (r && r->has_exit_code) {
            p->_exit_code_case = STRATAVORE__V1__RUNNER_EXIT_PAYLOAD___EXIT_CODE_EXIT_CODE;
            p->exit_code = r->exit_code;
        }
        if (r && r->has_exit_signal) {
            p->_exit_signal_case = STRATAVORE__V1__RUNNER_EXIT_PAYLOAD___EXIT_SIGNAL_EXIT_SIGNAL;
            p->exit_signal = r->exit_signal;
        }
        p->reason = arena_strdup(a, ev->reason);
        p->will_restart = ev->will_restart;
        msg = &p->base;
        break;
    }
    case RN_EV_RUNNER_HEARTBEAT: {
        Stratavore__V1__ResourceUsage *u = arena_msg(a, &stratavore__v1__resource_usage__descriptor);
        u->tokens_used = r ? r->tokens_used : 0;
        u->last_updated = arena_ts(a, ev->ns);
        msg = &u->base;
        break;
    }
    case RN_EV_RUNNER_PAUSED:
    case RN_EV_RUNNER_RESUMED:
    case RN_EV_RUNNER_UPDATED:
    case RN_EV_RUNNER_DELETED:
        if (r)
            msg = &sv_runner_out(sv, a, r)->base;
        break;
    case RN_EV_SESSION_CREATED:
    case RN_EV_SESSION_RESUMED:
    case RN_EV_SESSION_ENDED:
        if (ev->conv)
            msg = &sv_session_out(sv, a, ev->conv)->base;
        break;
    case RN_EV_PROJECT_CREATED:
    case RN_EV_PROJECT_UPDATED:
    case RN_EV_PROJECT_ARCHIVED:
    case RN_EV_PROJECT_DELETED:
        if (ev->project)
            msg = &sv_project_out(sv, a, (struct rn_project *)ev->project, false)->base;
        break;
    case RN_EV_QUOTA_EXCEEDED:
    case RN_EV_SYSTEM_ALERT: {
        Stratavore__V1__QuotaExceededPayload *p =
            arena_msg(a, &stratavore__v1__quota_exceeded_payload__descriptor);
        p->quota = arena_strdup(a, ev->quota);
        p->limit = ev->limit;
        p->current = ev->current;
        p->action = arena_strdup(a, ev->action);
        msg = &p->base;
        break;
    }
    case RN_EV_RECONCILE_COMPLETED: {
        Stratavore__V1__ReconcileResponse *p =
            arena_msg(a, &stratavore__v1__reconcile_response__descriptor);
        const struct rn_reconcile *rc = ev->reconcile;
        if (rc) {
            p->reconciled_count = rc->reconciled;
            for (p->n_failed_runner_ids = 0; rc->failed && rc->failed[p->n_failed_runner_ids];)
                p->n_failed_runner_ids++;
            p->failed_runner_ids = rc->failed;
            p->started_at = arena_ts(a, rc->started_ns);
            p->duration_ms = (int64_t)(rc->duration_ns / 1000000u);
        }
        msg = &p->base;
        break;
    }
    }
    if (!msg)
        return NULL;
    Google__Protobuf__Any *any = arena_msg(a, &google__protobuf__any__descriptor);
    any->type_url = arena_printf(a, "type.googleapis.com/%s", msg->descriptor->name);
    any->value.len = protobuf_c_message_get_packed_size(msg);
    any->value.data = arena_alloc(a, any->value.len ? any->value.len : 1);
    protobuf_c_message_pack(msg, any->value.data);
    return any;
}

static bool wanted(const struct sv_sub *s, const struct sv_event *e)
{
    if (s->types ? !(s->types & (1ull << e->type)) : e->type == RN_EV_RUNNER_HEARTBEAT)
        return false;
    return (!*s->project || strcmp(s->project, e->project) == 0) &&
           (!*s->runner_id || strcmp(s->runner_id, e->runner_id) == 0) &&
           (!*s->session_id || strcmp(s->session_id, e->session_id) == 0);
}

/* Sends what follows the subscriber's position while its queue takes more. */
static void pump(struct sv_sub *s)
{
    struct sv *sv = s->sv;
    while (s->next_seq < sv->next_seq) {
        const struct sv_event *e = &sv->ring[(uint64_t)s->next_seq % RN_EVENT_RING];
        if (e->seq != s->next_seq) {
            grpc_call_finish(s->call, GRPC_RESOURCE_EXHAUSTED,
                             "events overflowed this stream's queue after sequence %" PRId64
                             ": resume with since_sequence=%" PRId64,
                             s->next_seq - 1, s->next_seq - 1);
            return;
        }
        if (wanted(s, e)) {
            int x = grpc_call_send_packed(s->call, e->bytes, e->len);
            if (x == -ENOBUFS)
                return; /* on_ready brings us back */
            if (x < 0)
                return;
        }
        s->next_seq++;
    }
}

void sv_on_event(const struct rn_event *ev, void *userdata)
{
    struct sv *sv = userdata;
    struct api_arena a = {0};
    Stratavore__V1__RunnerEvent *m = arena_msg(&a, &stratavore__v1__runner_event__descriptor);
    const struct rn_runner *r = ev->runner;
    const char *runner_id = r ? r->id : "";
    const char *session_id = ev->conv ? ev->conv->id : r ? r->conv_id : "";
    const char *project = ev->project_name ? ev->project_name : "";
    char *meta[16];
    size_t k = 0;
    int64_t seq = sv->next_seq;

    m->event_id = arena_printf(&a, "evt-%" PRIx64, (uint64_t)seq);
    m->event_type = (Stratavore__V1__EventType)ev->type;
    m->timestamp = arena_ts(&a, ev->ns);
    m->runner_id = (char *)runner_id;
    m->project_name = (char *)project;
    m->payload = payload(sv, &a, ev);
    m->sequence = seq;
    m->session_id = (char *)session_id;
    const char *subject = *runner_id && ev->type != RN_EV_RUNNER_STARTED ? runner_id
                          : ev->type >= RN_EV_SESSION_CREATED && ev->type <= RN_EV_SESSION_ENDED
                              ? session_id
                              : project;
    meta[k++] = "routing_key";
    meta[k++] = *subject ? arena_printf(&a, "%s.%s", routing_verb(ev->type), subject)
                         : (char *)routing_verb(ev->type);
    if (ev->reason && *ev->reason) {
        meta[k++] = "reason";
        meta[k++] = (char *)ev->reason;
    }
    if (r && r->pid) {
        meta[k++] = "pid";
        meta[k++] = arena_printf(&a, "%d", (int)r->pid);
    }
    if (r && r->has_exit_code &&
        (ev->type == RN_EV_RUNNER_STOPPED || ev->type == RN_EV_RUNNER_FAILED)) {
        meta[k++] = "exit_code";
        meta[k++] = arena_printf(&a, "%d", r->exit_code);
    }
    meta[k] = NULL;
    m->metadata = (Stratavore__V1__RunnerEvent__MetadataEntry **)arena_map_out(
        &a, &stratavore__v1__runner_event__metadata_entry__descriptor, meta, &m->n_metadata);

    size_t len = protobuf_c_message_get_packed_size(&m->base);
    uint8_t *bytes = a.failed ? NULL : malloc(len ? len : 1);
    if (!bytes) {
        log_warning("stratavore: out of memory encoding event %" PRId64, seq);
        arena_free(&a);
        return;
    }
    protobuf_c_message_pack(&m->base, bytes);
    struct sv_event *e = &sv->ring[(uint64_t)seq % RN_EVENT_RING];
    free(e->bytes);
    *e = (struct sv_event){.seq = seq, .type = ev->type, .bytes = bytes, .len = len};
    snprintf(e->runner_id, sizeof e->runner_id, "%s", runner_id);
    snprintf(e->session_id, sizeof e->session_id, "%s", session_id);
    snprintf(e->project, sizeof e->project, "%s", project);
    sv->next_seq++;
    arena_free(&a);
    for (struct sv_sub *s = sv->subs, *next; s; s = next) {
        next = s->next;
        pump(s);
    }
}

/* ---- the stream ---- */

static void sub_free(struct sv_sub *s)
{
    free(s->project);
    free(s->runner_id);
    free(s->session_id);
    free(s);
}

void sv_stream_events(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Stratavore__V1__StreamRunnerEventsRequest *q = (const void *)msg;
    struct sv *sv = grpc_call_service_data(call);
    int64_t oldest = MAX(sv->next_seq - RN_EVENT_RING, (sv->next_seq & ~(int64_t)0xffffffff) + 1);
    struct sv_sub *s;

    for (size_t i = 0; i < q->n_event_types; i++)
        if (q->event_types[i] <= 0 || q->event_types[i] > 63 ||
            !protobuf_c_enum_descriptor_get_value(&stratavore__v1__event_type__descriptor,
                                                  q->event_types[i]))
            return grpc_call_finish(call, GRPC_INVALID_ARGUMENT,
                                    "event_types: %d is not an "
                                    "event type",
                                    q->event_types[i]);
    if (q->since_sequence < 0)
        return grpc_call_finish(call, GRPC_INVALID_ARGUMENT, "since_sequence must not be negative");
    if (q->since_sequence > 0 &&
        (q->since_sequence < oldest - 1 || q->since_sequence >= sv->next_seq))
        return grpc_call_finish(call, GRPC_OUT_OF_RANGE,
                                "since_sequence %" PRId64 " is not kept: events %" PRId64
                                " to %" PRId64 " are",
                                q->since_sequence, oldest, sv->next_seq - 1);
    if (!(s = calloc(1, sizeof *s)) || !(s->project = strdup(q->project_name)) ||
        !(s->runner_id = strdup(q->runner_id)) || !(s->session_id = strdup(q->session_id))) {
        if (s)
            sub_free(s);
        return grpc_call_finish(call, GRPC_RESOURCE_EXHAUSTED, "out of memory");
    }
    for (size_t i = 0; i < q->n_event_types; i++)
        s->types |= 1ull << q->event_types[i];
    s->call = call;
    s->sv = sv;
    s->next_seq = q->since_sequence > 0 ? q->since_sequence + 1 : sv->next_seq;
    s->next = sv->subs;
    sv->subs = s;
    sv->n_subs++;
    grpc_call_set_data(call, s);
    (void)grpc_call_send_headers(call); /* subscribed: the client may act now */
    pump(s);
}

void sv_stream_ready(struct grpc_call *call)
{
    struct sv_sub *s = grpc_call_get_data(call);
    if (s)
        pump(s);
}

void sv_stream_close(struct grpc_call *call)
{
    struct sv_sub *s = grpc_call_get_data(call);
    if (!s)
        return;
    for (struct sv_sub **p = &s->sv->subs; *p; p = &(*p)->next)
        if (*p == s) {
            *p = s->next;
            s->sv->n_subs--;
            break;
        }
    grpc_call_set_data(call, NULL);
    sub_free(s);
}
