/* running-process operations, one handler each, shared by the two doors that carry them: the
 * running-process socket (api/rp-door.c) and gRPC drover.v1.Processes (api/processes.c). A door
 * decodes the seed's request message, makes an rp_call with its own done callback and runs the
 * operation; the operation answers through done exactly once (perhaps later, from the loop: a
 * kill-tree waits on timers), with 0 or -errno, a message, and the seed's response message. */
#pragma once

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>

#include "api/api.h"

struct rp_call;
/* r is 0 or -errno; msg may be NULL; resp is the operation's response message (NULL on most
 * errors; a kill-tree that timed out still says how many it killed). Everything passed is valid
 * only during the call. */
typedef void (*rp_done_fn)(struct rp_call *call, int r, const char *msg,
                           const ProtobufCMessage *resp);

struct rp_call {
    struct api_host *host;   /* the daemon */
    const char *client_name; /* DaemonRequest.client_name, or the gRPC peer's name */
    rp_done_fn done;         /* the door's answer */
    void *door;              /* the door's state for this call */
    void *pending;           /* an operation still running (a kill-tree), told if we leave */
    bool answered;           /* done has run */
};

struct rp_op {
    int type;                              /* RequestType: also the payload field number */
    const char *method;                    /* drover.v1 gRPC method, NULL if not on gRPC */
    const char *payload;                   /* the payload field's name ("kill_tree") */
    const ProtobufCMessageDescriptor *req; /* request payload type */
    bool needs_payload;                    /* a request without it is INVALID_ARGUMENT */
    /* req is the decoded payload (a default instance if absent and not needed). */
    void (*run)(struct rp_call *call, const ProtobufCMessage *req);
};

/* What call->pending points to starts with this: abandoning the call clears it, so the
 * operation, when it ends, knows nobody waits any more. */
struct rp_pending {
    struct rp_call *call; /* NULL once abandoned */
};

/* Answers the call (once; later answers are ignored). */
void rp_answer(struct rp_call *call, int r, const char *msg, const ProtobufCMessage *resp);
void rp_answer_errno(struct rp_call *call, int r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The service operations (SERVICE_*), in rp-services.c. */
extern const struct rp_op rp_service_ops[];
extern const size_t rp_n_service_ops;

/* The operation for a request type, or NULL (unknown, or a feature not built yet). */
const struct rp_op *rp_op_find(int type);
/* By gRPC method name. */
const struct rp_op *rp_op_find_method(const char *method);
/* The door went away: a pending operation finishes without answering. */
void rp_call_abandon(struct rp_call *call);
