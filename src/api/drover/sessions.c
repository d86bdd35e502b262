/* drover.v1.Sessions: the session operations over gRPC. The unary methods run the same handlers
 * as the running-process door (api/rp-sessions.c, found by method name); the two attach streams
 * are here: AttachPty (bidi: attach, then input frames in and stream frames out) and AttachPipe
 * (server streaming). Output is pulled from the session's ring only while the call's queue has
 * room (grpc_call_writable), so a client that stops reading costs droverd nothing but the ring;
 * HTTP/2 flow control does the rest. Either attach may resume from an output position instead
 * of taking the backlog (AttachPty's resume_from, AttachPipe's RESUME_HEADER metadata), and its
 * answer says the position of its first byte, so a client that lost its stream (an upgrade in
 * place ends every stream) goes on without a byte lost or shown twice. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/drover/drover-internal.h"
#include "base/macro.h"
#include "api/rp/ops.h"
#include "api/status.h"
#include "drover/v1/sessions.pb-c.h"
#include "grpc/grpc.h"
#include "session/session.h"

#define SERVICE       "drover.v1.Sessions"
#define RESUME_HEADER "drover-resume-from" /* AttachPipe: the position to resume from */

struct attach_call {
    struct grpc_call *call; /* the stream */
    struct sess_attach *a;  /* the attachment, once started */
    bool pty;               /* AttachPty, else AttachPipe */
};

static void end_attachment(struct attach_call *ac)
{
    if (ac->a) {
        sess_attach_close(ac->a);
        ac->a = NULL;
    }
}

/* Sends the attach answer (attached, with the position of its first byte) or one frame, wrapped
 * in the method's response message. Both wrappers number their fields alike: 1 attached, 2
 * frame, 3 position. */
static int send_wrapped(struct attach_call *ac, const struct rp_attach *attached,
                        const ProtobufCMessage *inner)
{
    if (ac->pty) {
        Drover__V1__AttachPtyResponse m = DROVER__V1__ATTACH_PTY_RESPONSE__INIT;
        m.msg_case = attached ? DROVER__V1__ATTACH_PTY_RESPONSE__MSG_ATTACHED
                              : DROVER__V1__ATTACH_PTY_RESPONSE__MSG_FRAME;
        m.frame = (void *)inner; /* the union's one pointer, whichever case */
        m.position = attached ? attached->position : 0;
        return grpc_call_send(ac->call, &m.base);
    }
    Drover__V1__AttachPipeResponse m = DROVER__V1__ATTACH_PIPE_RESPONSE__INIT;
    m.msg_case = attached ? DROVER__V1__ATTACH_PIPE_RESPONSE__MSG_ATTACHED
                          : DROVER__V1__ATTACH_PIPE_RESPONSE__MSG_FRAME;
    m.frame = (void *)inner;
    m.position = attached ? attached->position : 0;
    return grpc_call_send(ac->call, &m.base);
}

static void pump(struct attach_call *ac)
{
    while (ac->a && grpc_call_writable(ac->call)) {
        union rp_frame_storage st;
        struct sess_pull p;
        sess_attach_next(ac->a, RP_FRAME_CHUNK, &p);
        const ProtobufCMessage *f = rp_attach_frame(ac->pty, &p, &st);
        if (!f)
            return;
        int r = send_wrapped(ac, NULL, f);
        if (r < 0) {
            end_attachment(ac);
            api_finish_errno(ac->call, r, "cannot send a frame: %s", strerror(-r));
            return;
        }
        sess_attach_consume(ac->a, p.len);
        if (p.end != SESS_END_NONE && !p.missed && !p.len) {
            end_attachment(ac);
            grpc_call_finish(ac->call, GRPC_OK, NULL);
        }
    }
}

static void on_attach_ready(struct sess_attach *a, void *userdata)
{
    (void)a;
    pump(userdata);
}

static const struct sess_attach_ops attach_ops = {on_attach_ready};

/* Attaches (from is the position to resume from, or NULL for the backlog) and answers. */
static void start(struct grpc_call *call, bool pty, const ProtobufCMessage *req,
                  const uint64_t *from)
{
    struct attach_call *ac = calloc(1, sizeof *ac);
    union rp_frame_storage st;
    struct rp_attach ra;
    char msg[256];
    int r;

    if (!ac)
        return grpc_call_finish(call, GRPC_RESOURCE_EXHAUSTED, "out of memory");
    ac->call = call;
    ac->pty = pty;
    grpc_call_set_data(call, ac);
    r = rp_attach_start(grpc_call_service_data(call), pty, req, from, &attach_ops, ac, &ra, msg,
                        sizeof msg);
    if (r < 0)
        return api_finish_errno(call, r, "%s", msg);
    ac->a = ra.a;
    r = send_wrapped(ac, &ra, rp_attach_response(&ra, &st));
    rp_attach_response_done(&ra);
    if (r < 0) {
        end_attachment(ac);
        return api_finish_errno(call, r, "cannot send the backlog: %s", strerror(-r));
    }
    pump(ac);
}

static void pty_message(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Drover__V1__AttachPtyRequest *req = (const void *)msg;
    struct attach_call *ac = grpc_call_get_data(call);

    if (grpc_call_finished(call))
        return;
    if (!ac) {
        if (req->msg_case != DROVER__V1__ATTACH_PTY_REQUEST__MSG_ATTACH)
            return grpc_call_finish(call, GRPC_INVALID_ARGUMENT,
                                    "the first message must be `attach`");
        return start(call, true, &req->attach->base,
                     req->resume_from ? &req->resume_from->value : NULL);
    }
    if (req->msg_case != DROVER__V1__ATTACH_PTY_REQUEST__MSG_INPUT || !ac->a)
        return grpc_call_finish(call, GRPC_INVALID_ARGUMENT,
                                "after `attach`, every message must be `input`");
    int r = rp_attach_input(ac->a, &req->input->base);
    if (r == 1) {
        end_attachment(ac);
        grpc_call_finish(call, GRPC_OK, NULL);
    } else if (r < 0) {
        end_attachment(ac);
        api_finish_errno(call, r, "the session's input queue is full: %s", strerror(-r));
    }
}

/* AttachPipe's request is running-process's message: the position to resume from comes as
 * metadata (RESUME_HEADER, decimal). */
static void pipe_message(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const char *v = grpc_call_metadata(call, RESUME_HEADER, NULL);
    char *end;
    uint64_t from;

    if (!v)
        return start(call, false, msg, NULL);
    errno = 0;
    from = strtoull(v, &end, 10);
    if (*v < '0' || *v > '9' || *end || errno)
        return grpc_call_finish(call, GRPC_INVALID_ARGUMENT,
                                RESUME_HEADER " must be a position (decimal), not '%s'", v);
    start(call, false, msg, &from);
}

static void on_half_close(struct grpc_call *call)
{
    /* No more input; the output goes on until its end or a cancel. An attach never sent: */
    if (!grpc_call_get_data(call))
        grpc_call_finish(call, GRPC_INVALID_ARGUMENT, "no `attach` message was sent");
}

static void on_ready(struct grpc_call *call)
{
    struct attach_call *ac = grpc_call_get_data(call);
    if (ac)
        pump(ac);
}

static void on_close(struct grpc_call *call)
{
    struct attach_call *ac = grpc_call_get_data(call);
    if (!ac)
        return;
    end_attachment(ac);
    free(ac);
}

static const struct grpc_method methods[] = {
    RP_GRPC_UNARY("SpawnPty", spawn_pty_session_request),
    RP_GRPC_UNARY("SpawnPipe", spawn_pipe_session_request),
    {"AttachPty", GRPC_BIDI, &drover__v1__attach_pty_request__descriptor, pty_message,
     on_half_close, on_ready, on_close},
    {"AttachPipe", GRPC_SERVER_STREAM,
     &running_process__daemon__v1__attach_pipe_stream_request__descriptor, pipe_message, NULL,
     on_ready, on_close},
    RP_GRPC_UNARY("DetachPty", detach_pty_session_request),
    RP_GRPC_UNARY("DetachPipe", detach_pipe_stream_request),
    RP_GRPC_UNARY("ListPty", list_pty_sessions_request),
    RP_GRPC_UNARY("ListPipe", list_pipe_sessions_request),
    RP_GRPC_UNARY("TerminatePty", terminate_pty_session_request),
    RP_GRPC_UNARY("TerminatePipe", terminate_pipe_session_request),
    RP_GRPC_UNARY("WriteStdin", write_pipe_stdin_request),
    RP_GRPC_UNARY("Send", write_pipe_stdin_request),
    RP_GRPC_UNARY("GetBacklog", get_session_backlog_request),
    RP_GRPC_UNARY("PurgeExited", purge_exited_sessions_request),
    RP_GRPC_UNARY("BulkTerminate", bulk_terminate_sessions_request),
    RP_GRPC_UNARY("ResizePty", resize_pty_session_request),
    RP_GRPC_UNARY("RegisterTee", register_session_tee_request),
    RP_GRPC_UNARY("UnregisterTee", unregister_session_tee_request),
    RP_GRPC_UNARY("GetTeeStatus", get_session_tee_status_request),
};

const struct grpc_service api_drover_sessions = {SERVICE, methods, ARRAY_SIZE(methods),
                                                 &drover__v1__sessions__descriptor};
