/* Attach streams, shared by the two doors that carry them (the running-process socket, door.c,
 * and drover.v1.Sessions' AttachPty and AttachPipe): starting an attachment from the request,
 * the attach response with the backlog, one stream frame per pull from the session's ring, and
 * the client's input frames. The doors move the frames; this file says what is in them, in
 * upstream's wording (stolen_by "peer", "detached", "session terminated by request"). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "api/rp/ops.h"
#include "api/rp/rp-internal.h"
#include "base/macro.h"
#include "session/session.h"

#define PTY_FRAME(c)  RUNNING_PROCESS__DAEMON__V1__PTY_STREAM_FRAME__FRAME_##c
#define PIPE_FRAME(c) RUNNING_PROCESS__DAEMON__V1__PIPE_STREAM_FRAME__FRAME_##c

int rp_attach_start(struct api_host *host, bool pty, const ProtobufCMessage *msg,
                    const uint64_t *from, const struct sess_attach_ops *ops, void *userdata,
                    struct rp_attach *ret, char *err, size_t err_size)
{
    const char *id;
    enum sess_stream st = SESS_OUT;
    bool steal;
    struct sess_info in;

    if (pty) {
        const RunningProcess__Daemon__V1__AttachPtySessionRequest *req = (const void *)msg;
        id = req->session_id;
        steal = req->steal;
        if (req->rows > UINT16_MAX || req->cols > UINT16_MAX)
            return snprintf(err, err_size, "rows and cols must be at most 65535"), -EINVAL;
    } else {
        const RunningProcess__Daemon__V1__AttachPipeStreamRequest *req = (const void *)msg;
        id = req->session_id;
        steal = req->steal;
        if (rp_pipe_stream(req->stream, &st) < 0)
            return snprintf(err, err_size, "stream must be STDOUT or STDERR"), -EINVAL;
    }
    struct session *s = host->sessions ? sess_find(host->sessions, id) : NULL;
    if (s)
        sess_info(s, &in);
    if (!s || in.kind != (pty ? SESS_PTY : SESS_PIPE))
        return snprintf(err, err_size, "session not found: %s", id), -ENOENT;
    if (in.exited && !from) /* resuming, a client gets the output it had not yet got */
        return snprintf(err, err_size, "session has already exited (exit_code=%d, at=%.3f)",
                        in.exit_code, in.exited_at),
               -ESRCH;
    if (!pty && st == SESS_ERR && in.merge_stderr)
        return snprintf(err, err_size,
                        "session %s has no separate stderr stream (likely merged into stdout)", id),
               -EINVAL;
    if (pty) { /* the size first, so the backlog's redraw (if any) already fits */
        const RunningProcess__Daemon__V1__AttachPtySessionRequest *req = (const void *)msg;
        if (req->is_tty && (req->rows || req->cols))
            (void)sess_resize(s, (uint16_t)req->rows, (uint16_t)req->cols);
    }
    *ret = (struct rp_attach){.pty = pty};
    int r = from ? sess_attach_from(s, st, steal, *from, ops, userdata, &ret->a)
                 : sess_attach(s, st, steal, ops, userdata, &ret->a, &ret->backlog,
                               &ret->backlog_len, &ret->missed);
    if (r == -EALREADY)
        return snprintf(err, err_size, "session already has an attached client"), r;
    if (r == -ERANGE)
        return snprintf(err, err_size, "cannot resume %s from %llu: past its output's end", id,
                        (unsigned long long)*from),
               r;
    if (r < 0)
        return snprintf(err, err_size, "cannot attach to %s: %s", id, strerror(-r)), r;
    ret->position = sess_attach_pos(ret->a) - ret->backlog_len;
    if (pty) {
        const RunningProcess__Daemon__V1__AttachPtySessionRequest *req = (const void *)msg;
        uint8_t caps[1024];
        size_t n = 0;
        if (req->graphics_capabilities &&
            protobuf_c_message_get_packed_size(&req->graphics_capabilities->base) <= sizeof caps)
            n = protobuf_c_message_pack(&req->graphics_capabilities->base, caps);
        (void)sess_attach_describe(ret->a, req->is_tty, req->term, caps, n);
    }
    return 0;
}

const ProtobufCMessage *rp_attach_response(const struct rp_attach *ra,
                                           union rp_frame_storage *storage)
{
    if (ra->pty) {
        RunningProcess__Daemon__V1__AttachPtySessionResponse *m = &storage->pty_resp;
        running_process__daemon__v1__attach_pty_session_response__init(m);
        m->stream_endpoint = "";
        m->backlog.data = ra->backlog;
        m->backlog.len = ra->backlog_len;
        m->backlog_truncated = ra->missed > 0;
        m->bytes_missed = ra->missed;
        return &m->base;
    }
    RunningProcess__Daemon__V1__AttachPipeStreamResponse *m = &storage->pipe_resp;
    running_process__daemon__v1__attach_pipe_stream_response__init(m);
    m->backlog.data = ra->backlog;
    m->backlog.len = ra->backlog_len;
    m->backlog_truncated = ra->missed > 0;
    m->bytes_missed = ra->missed;
    return &m->base;
}

void rp_attach_response_done(struct rp_attach *ra)
{
    free(ra->backlog);
    ra->backlog = NULL;
    ra->backlog_len = 0;
}

static const char *end_error(enum sess_end e)
{
    switch (e) {
    case SESS_END_DETACHED:
        return "detached";
    case SESS_END_TERMINATED:
        return "session terminated by request";
    case SESS_END_GONE:
        return "droverd is shutting down";
    default:
        return "session exited";
    }
}

const ProtobufCMessage *rp_attach_frame(bool pty, const struct sess_pull *p,
                                        union rp_frame_storage *storage)
{
    if (pty) {
        RunningProcess__Daemon__V1__PtyStreamFrame *f = &storage->pty;
        running_process__daemon__v1__pty_stream_frame__init(f);
        if (p->missed) {
            f->frame_case = PTY_FRAME(MISSED_BYTES);
            f->missed_bytes = p->missed;
        } else if (p->len) {
            f->frame_case = PTY_FRAME(OUTPUT);
            f->output.data = (uint8_t *)p->data;
            f->output.len = p->len;
        } else if (p->end == SESS_END_EXIT) {
            f->frame_case = PTY_FRAME(EXIT_CODE); /* 0 included: the case is what is sent */
            f->exit_code = p->exit_code;
        } else if (p->end == SESS_END_STOLEN) {
            f->frame_case = PTY_FRAME(STOLEN_BY);
            f->stolen_by = "peer";
        } else if (p->end != SESS_END_NONE) {
            f->frame_case = PTY_FRAME(ERROR);
            f->error = (char *)end_error(p->end);
        } else {
            return NULL;
        }
        return &f->base;
    }
    RunningProcess__Daemon__V1__PipeStreamFrame *f = &storage->pipe;
    running_process__daemon__v1__pipe_stream_frame__init(f);
    if (p->missed) {
        f->frame_case = PIPE_FRAME(MISSED_BYTES);
        f->missed_bytes = p->missed;
    } else if (p->len) {
        f->frame_case = PIPE_FRAME(BYTES);
        f->bytes.data = (uint8_t *)p->data;
        f->bytes.len = p->len;
    } else if (p->end == SESS_END_EOF || p->end == SESS_END_DETACHED) {
        f->frame_case = PIPE_FRAME(EOF); /* upstream says eof for a detach too */
        f->eof = true;
    } else if (p->end == SESS_END_EXIT) {
        f->frame_case = PIPE_FRAME(EXIT_CODE);
        f->exit_code = p->exit_code;
    } else if (p->end == SESS_END_STOLEN) {
        f->frame_case = PIPE_FRAME(STOLEN_BY);
        f->stolen_by = "peer";
    } else if (p->end != SESS_END_NONE) {
        f->frame_case = PIPE_FRAME(ERROR);
        f->error = (char *)end_error(p->end);
    } else {
        return NULL;
    }
    return &f->base;
}

int rp_attach_input(struct sess_attach *a, const ProtobufCMessage *msg)
{
    const RunningProcess__Daemon__V1__PtyInputFrame *f = (const void *)msg;
    struct session *s = sess_attach_session(a);

    switch (f->frame_case) {
    case RUNNING_PROCESS__DAEMON__V1__PTY_INPUT_FRAME__FRAME_INPUT:
        return f->input.len ? sess_write(s, f->input.data, f->input.len, NULL) : 0;
    case RUNNING_PROCESS__DAEMON__V1__PTY_INPUT_FRAME__FRAME_RESIZE:
        if (f->resize && f->resize->rows <= UINT16_MAX && f->resize->cols <= UINT16_MAX)
            (void)sess_resize(s, (uint16_t)f->resize->rows, (uint16_t)f->resize->cols);
        return 0;
    case RUNNING_PROCESS__DAEMON__V1__PTY_INPUT_FRAME__FRAME_INTERRUPT:
        if (f->interrupt)
            (void)sess_interrupt(s);
        return 0;
    case RUNNING_PROCESS__DAEMON__V1__PTY_INPUT_FRAME__FRAME_DETACH:
        return f->detach ? 1 : 0;
    default:
        return 0;
    }
}
