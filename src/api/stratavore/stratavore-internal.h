/* What the files of api/stratavore share: the face's state, the arena its messages are built in,
 * and the conversions between stratavore.v1 messages and the runner core's structs. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/api.h"
#include "api/arena.h"
#include "grpc/grpc.h"
#include "runner/runner.h"
#include "stratavore/v1/stratavore.pb-c.h"

/* ---- the face's state ---- */

struct sv_sub;
struct sv_event {
    int64_t seq;
    enum rn_event_type type;
    char runner_id[RN_ID_LEN], session_id[RN_ID_LEN], project[RN_NAME_MAX + 1];
    uint8_t *bytes; /* the RunnerEvent, serialized */
    size_t len;
};

struct sv {
    struct api_host *h;
    struct rn_mgr *m;
    struct sv_event ring[RN_EVENT_RING]; /* the newest events, by seq % RN_EVENT_RING */
    int64_t next_seq;                    /* the next event's sequence (from 1) */
    struct sv_sub *subs;                 /* StreamRunnerEvents calls */
    size_t n_subs;                       /* their number */
    char hostname[256];                  /* node_id */
};

/* ---- conversions (convert.c) ---- */

Stratavore__V1__ResourceQuota *sv_quota_out(struct api_arena *a, const struct rn_quota *q);
void sv_quota_in(struct rn_quota *q, const Stratavore__V1__ResourceQuota *m);
Stratavore__V1__Runner *sv_runner_out(struct sv *sv, struct api_arena *a, const struct rn_runner *r);
Stratavore__V1__RunnerMetrics *sv_runner_metrics(struct sv *sv, struct api_arena *a,
                                                 const struct rn_runner *r);
Stratavore__V1__Project *sv_project_out(struct sv *sv, struct api_arena *a, struct rn_project *p,
                                        bool stats);
/* The project of a request into the core's struct (pointers into the arena and the request). */
void sv_launch_in(struct api_arena *a, struct rn_launch *l, const Stratavore__V1__ProjectConfig *c);
Stratavore__V1__Session *sv_session_out(struct sv *sv, struct api_arena *a, const struct rn_conv *c);
/* A CreateRunnerRequest into the core's struct. */
void sv_create_in(struct api_arena *a, struct rn_create *q,
                  const Stratavore__V1__CreateRunnerRequest *m);

/* ---- answers ---- */

/* The status for -errno x with the core's sentence (or strerror when it gave none). */
void sv_fail(struct grpc_call *call, int x, const char *err);
/* A page of a list: limit 0 means 100, at most 1000. */
struct sv_page {
    size_t limit, offset; /* as asked */
    size_t total, n;      /* matches seen, and those on the page */
};
/* Checks the request's paging and its status filter (0..max_status); false when it ended the
 * call with INVALID_ARGUMENT. */
bool sv_page_begin(struct grpc_call *call, int32_t limit, int32_t offset, int status,
                   int max_status, struct sv_page *pg);
/* One more match: whether it goes on the page (then it is counted in n). */
bool sv_page_take(struct sv_page *pg);
/* The answer's total_count and has_more. */
void sv_page_end(const struct sv_page *pg, int32_t *total_count, protobuf_c_boolean *has_more);
/* Field-mask paths into bits of names[] (NULL-terminated), -EINVAL naming an unknown path. */
int sv_mask(const Google__Protobuf__FieldMask *mask, const char *const *names, unsigned *ret,
            char *err, size_t size);

/* ---- the services ---- */

extern const struct grpc_service sv_runner_service, sv_project_service, sv_session_service,
    sv_daemon_service;

/* events.c */
void sv_events_init(struct sv *sv);
void sv_events_done(struct sv *sv);
void sv_on_event(const struct rn_event *ev, void *userdata);
void sv_stream_events(struct grpc_call *call, const ProtobufCMessage *msg);
void sv_stream_ready(struct grpc_call *call);
void sv_stream_close(struct grpc_call *call);
