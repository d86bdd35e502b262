/* What the files of api/baaaht share: conversions between baaaht's messages and the agent
 * hub's structs, built in an arena. */
#pragma once

#include <stdio.h>

#include "agents/agents.h"
#include "api/api.h"
#include "api/arena.h"
#include "baaaht/agent.pb-c.h"
#include "baaaht/common.pb-c.h"
#include "baaaht/gateway.pb-c.h"
#include "baaaht/orchestrator.pb-c.h"
#include "events/events.h"
#include "grpc/grpc.h"

/* Strings between messages and the hub: "" is NULL going in, NULL is "" going out. */
static inline char *bh_in(const char *s)
{
    return s && *s ? (char *)s : NULL;
}
static inline char *bh_out(const char *s)
{
    return (char *)(s ? s : "");
}
/* A status's started_at and uptime (upstream's uptime is a Timestamp: the epoch plus it). */
void bh_times(struct grpc_call *call, Google__Protobuf__Timestamp *started,
              Google__Protobuf__Timestamp *uptime);

/* Ends a call with the status of -errno r and the hub's sentence (strerror when it has none). */
void bh_fail(struct grpc_call *call, int r, const char *err);
/* A stream's state: the call's data, made zeroed on first use (size bytes, its first member a
 * struct grpc_call * set to the call); NULL once the call was answered RESOURCE_EXHAUSTED. */
void *bh_call_state(struct grpc_call *call, size_t size);
/* A bidi stream's on_half_close that ends it OK. */
void bh_half_close_ok(struct grpc_call *call);
/* The agent's own token the call carries (Bearer bah1.…), or NULL. */
const char *bh_own_token(struct grpc_call *call);
/* Whether the caller may act as agent_id (NULL: register a new agent): with scope control, or
 * with that agent's own token. Else the call is answered (PERMISSION_DENIED or
 * UNAUTHENTICATED) and false. */
bool bh_agent_allowed(struct grpc_call *call, struct ag_mgr *m, const char *agent_id);
/* The agent hub, or an answer UNAVAILABLE when this droverd has none (NULL then). */
struct ag_mgr *bh_hub(struct grpc_call *call);

void bh_meta_in(struct api_arena *a, const Orchestrator__V1__SessionMetadata *q, struct ag_meta *m);
void bh_config_in(struct api_arena *a, const Orchestrator__V1__SessionConfig *q,
                  struct ag_config *c);
/* The message of a request (pointers into it and the arena). */
void bh_msg_in(struct api_arena *a, const Orchestrator__V1__Message *q, struct ag_msg *m);
Orchestrator__V1__Message *bh_msg_out(struct api_arena *a, const struct ag_msg *m);
Orchestrator__V1__Session *bh_conv_out(struct api_arena *a, const struct ag_conv *c);
/* An AgentMessage of a request as the hub's (pointers into it and the arena), and back. */
void bh_amsg_in(struct api_arena *a, const Agent__V1__AgentMessage *q, struct ag_amsg *m);
Agent__V1__AgentMessage *bh_amsg_out(struct api_arena *a, const struct ag_amsg *m);
/* "NOT_FOUND: why": upstream's err.Error() form, for errors that travel inside messages. */
char *bh_err_text(struct api_arena *a, int r, const char *why);
/* orchestrator.v1's EventType of an event type ("session.created" is 6), 0 for the others. */
int bh_event_type(const char *type);
Orchestrator__V1__Event *bh_event_out(struct api_arena *a, const struct ev *e);

/* An event stream (events.c): the call's data from now on. filter is copied (send reads it
 * as s->filter); events before start or after end are skipped (past end the call ends OK),
 * and with scope only those of that conversation go to send, which returns < 0 to stop. NULL
 * when the call ended at once. */
struct bh_sub {
    struct grpc_call *call;
    struct ev_sub *ev;
    ProtobufCMessage *filter;
    uint64_t start_ns, end_ns; /* 0: none */
    char scope[AG_ID_LEN];
    int (*send)(struct bh_sub *s, const struct ev *e);
    void *userdata;
};
struct bh_sub *bh_subscribe(struct grpc_call *call, const ProtobufCMessage *filter,
                            const Google__Protobuf__Timestamp *start,
                            const Google__Protobuf__Timestamp *end, const char *scope,
                            int (*send)(struct bh_sub *s, const struct ev *e));
void bh_sub_writable(struct grpc_call *call); /* the stream's on_ready */
void bh_sub_close(struct grpc_call *call);    /* and its on_close */

/* Gateway sessions (gateway.c): by id, or an answer (session_id is required, gateway session
 * not found) and NULL; a GatewayMessage as the hub's (roles and metadata as upstream maps
 * them). */
struct ag_gw *bh_need_gw(struct grpc_call *call, struct ag_mgr *m, const char *id);
void bh_gw_msg_in(struct api_arena *a, const Gateway__V1__GatewayMessage *q, struct ag_msg *m);
/* StreamChat and StreamResponses (chat.c). */
void bh_stream_chat(struct grpc_call *call, const ProtobufCMessage *msg);
void bh_stream_chat_half_close(struct grpc_call *call);
void bh_stream_responses(struct grpc_call *call, const ProtobufCMessage *msg);
void bh_gw_stream_ready(struct grpc_call *call);
void bh_gw_stream_close(struct grpc_call *call);

/* The task RPCs of agent.v1 (tasks.c). */
void bh_execute_task(struct grpc_call *call, const ProtobufCMessage *msg);
void bh_cancel_task(struct grpc_call *call, const ProtobufCMessage *msg);
void bh_list_tasks(struct grpc_call *call, const ProtobufCMessage *msg);
void bh_get_task_status(struct grpc_call *call, const ProtobufCMessage *msg);
void bh_stream_task(struct grpc_call *call, const ProtobufCMessage *msg);
void bh_stream_task_half_close(struct grpc_call *call);
void bh_stream_task_ready(struct grpc_call *call);
void bh_stream_task_close(struct grpc_call *call);

/* orchestrator.v1's container RPCs (containers.c); bh_ctr_call_close is their on_close. */
void bh_create_container(struct grpc_call *call, const ProtobufCMessage *msg);
void bh_get_container(struct grpc_call *call, const ProtobufCMessage *msg);
void bh_list_containers(struct grpc_call *call, const ProtobufCMessage *msg);
void bh_stop_container(struct grpc_call *call, const ProtobufCMessage *msg);
void bh_remove_container(struct grpc_call *call, const ProtobufCMessage *msg);
void bh_ctr_call_close(struct grpc_call *call);

extern const struct grpc_service bh_orchestrator_service; /* orchestrator.c */
extern const struct grpc_service bh_agent_service;        /* agent.c */
extern const struct grpc_service bh_gateway_service;      /* gateway.c */
extern const struct grpc_service bh_llm_service;          /* unimplemented.c */
extern const struct grpc_service bh_tool_service;         /* unimplemented.c */
