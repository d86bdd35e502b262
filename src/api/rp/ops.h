/* running-process operations, one handler each, shared by the two doors that carry them: the
 * running-process socket (api/rp-door.c) and gRPC drover.v1.Processes (api/processes.c). A door
 * decodes the seed's request message, makes an rp_call with its own done callback and runs the
 * operation; the operation answers through done exactly once (perhaps later, from the loop: a
 * kill-tree waits on timers), with 0 or -errno, a message, and the seed's response message. */
#pragma once

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>

#include "api/api.h"
#include "running_process/daemon/v1/daemon.pb-c.h"

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

/* A RequestType value by its short name: RP_TYPE(KILL_TREE). */
#define RP_TYPE(name) RUNNING_PROCESS__DAEMON__V1__REQUEST_TYPE__REQUEST_TYPE_##name

struct rp_op {
    int type;                              /* RequestType (RP_TYPE): the payload field number */
    const char *method;                    /* drover.v1 gRPC method, NULL if not on gRPC */
    const char *payload;                   /* the payload field's name ("kill_tree") */
    const ProtobufCMessageDescriptor *req; /* request payload type */
    bool needs_payload;                    /* a request without it is INVALID_ARGUMENT */
    /* req is the decoded payload (a default instance if absent and not needed). */
    void (*run)(struct rp_call *call, const ProtobufCMessage *req);
};

/* A table row: the payload field's name is the request message's name less "_request"
 * (RP_OP(KILL_TREE, "KillTree", kill_tree, true, op_kill_tree)). */
#define RP_OP(type, method, payload, needs_payload, run)                                           \
    {                                                                                              \
        RP_TYPE(type), method, #payload,                                                           \
            &running_process__daemon__v1__##payload##_request__descriptor, needs_payload, run      \
    }

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

/* The session operations (SPAWN_PTY_SESSION ... GET_SESSION_TEE_STATUS but the two attaches,
 * which turn a connection into a stream: see rp_attach_*), in rp-sessions.c. */
extern const struct rp_op rp_session_ops[];
extern const size_t rp_n_session_ops;

/* Builds a spawned program's environment: droverd's (or none with clear), then the entries in
 * order (last wins). -EINVAL names the bad variable in bad. */
struct proc_env;
int rp_build_env(struct proc_env *env, bool clear, RunningProcess__Daemon__V1__KeyValue **kv,
                 size_t n, char *bad, size_t bad_size);

/* ---- attach streams, shared by the running-process door and drover.v1.Sessions ---- */

struct sess_attach;
struct sess_attach_ops;
struct sess_pull;

struct rp_attach {
    struct sess_attach *a; /* the attachment */
    bool pty;              /* PTY (PtyStreamFrame) or pipe (PipeStreamFrame) */
    /* The response: AttachPtySessionResponse or AttachPipeStreamResponse, whose backlog is
     * owned here until rp_attach_response_done. */
    uint8_t *backlog;   /* the backlog */
    size_t backlog_len; /* its length */
    uint64_t missed;    /* cumulative missed bytes */
    uint64_t position;  /* the output position of the backlog's first byte (or of the resume) */
};

/* Room for any attach response or stream frame message. */
union rp_frame_storage {
    RunningProcess__Daemon__V1__PtyStreamFrame pty;                 /* PTY frame */
    RunningProcess__Daemon__V1__PipeStreamFrame pipe;               /* pipe frame */
    RunningProcess__Daemon__V1__AttachPtySessionResponse pty_resp;  /* PTY attach answer */
    RunningProcess__Daemon__V1__AttachPipeStreamResponse pipe_resp; /* pipe attach answer */
};

/* Attaches per an AttachPtySessionRequest (pty) or AttachPipeStreamRequest; from, when not
 * NULL, is the output position to resume from instead of the backlog (drover.v1's). -errno
 * with msg filled (upstream's wording) on failure. */
int rp_attach_start(struct api_host *host, bool pty, const ProtobufCMessage *req,
                    const uint64_t *from, const struct sess_attach_ops *ops, void *userdata,
                    struct rp_attach *ret, char *msg, size_t msg_size);
/* The attach response message, built in storage. */
const ProtobufCMessage *rp_attach_response(const struct rp_attach *ra,
                                           union rp_frame_storage *storage);
void rp_attach_response_done(struct rp_attach *ra);

/* The stream frame for one pull (PtyStreamFrame or PipeStreamFrame) into storage; NULL when
 * the pull is empty. */
const ProtobufCMessage *rp_attach_frame(bool pty, const struct sess_pull *p,
                                        union rp_frame_storage *storage);
#define RP_FRAME_CHUNK (64u << 10) /* most output bytes per frame (upstream's chunk) */

/* Applies one PtyInputFrame; returns 1 when the client asked to detach, 0, or -errno when the
 * input could not be queued. */
int rp_attach_input(struct sess_attach *a, const ProtobufCMessage *frame);

/* gRPC unary methods that run the operation named like the method (api/processes.c): any
 * service's method table may use them. */
struct grpc_call;
void rp_grpc_unary_message(struct grpc_call *call, const ProtobufCMessage *msg);
void rp_grpc_unary_close(struct grpc_call *call);
/* A struct grpc_method row for a unary method that runs the operation of the same name, taking
 * running_process.daemon.v1's message T (e.g. kill_tree_request). */
#define RP_GRPC_UNARY(name, T)                                                                     \
    {                                                                                              \
        name, GRPC_UNARY, &running_process__daemon__v1__##T##__descriptor, rp_grpc_unary_message,  \
            NULL, NULL, rp_grpc_unary_close                                                        \
    }

/* The operation for a request type, or NULL (unknown, or a feature not built yet). */
const struct rp_op *rp_op_find(int type);
/* By gRPC method name. */
const struct rp_op *rp_op_find_method(const char *method);
/* The door went away: a pending operation finishes without answering. */
void rp_call_abandon(struct rp_call *call);
