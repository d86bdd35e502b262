/* What the files of api/baaaht share: conversions between baaaht's messages and the agent
 * hub's structs, built in an arena. */
#pragma once

#include <stdio.h>

#include "agents/agents.h"
#include "api/api.h"
#include "api/arena.h"
#include "baaaht/agent.pb-c.h"
#include "baaaht/common.pb-c.h"
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

extern const struct grpc_service bh_orchestrator_service; /* orchestrator.c */
extern const struct grpc_service bh_agent_service;        /* agent.c */
