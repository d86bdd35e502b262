/* Calls a carrier brings (grpc.h): the Connect protocol on the HTTP/1.1 door. Such a call has
 * no HTTP/2 stream; it lives on the server's carried list from grpc_server_carry to
 * grpc_call_release. Everything else is the call of call.c and request.c: the same method
 * resolution, authorizer, deadline, handler, send queue and budget. Where a stream's output
 * would go to nghttp2, the call is marked dirty instead, and the server's idle handle wakes its
 * carrier, which takes the framed responses out of the queue and, once the call finished, its
 * status. A carrier with an encode hook gets the handler's messages already in its encoding
 * (call.c writes them so, and marks their frames). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/list.h"
#include "grpc/grpc-internal.h"

void grpc_carried_flush(struct grpc_server *s)
{
    /* A wake may release its call or mark others: take the list head each time. */
    for (unsigned n = 0; s->dirty_calls && n < 4096; n++) {
        struct grpc_call *call = s->dirty_calls;
        DLIST_REMOVE(call, dirty_link);
        if (call->ready_pending) {
            call->ready_pending = false;
            if (call->handler_live && !call->finished && call->method->on_ready)
                call->method->on_ready(call);
        }
        call->carrier->wake(call, call->carrier_io);
    }
}

void grpc_carried_end_all(struct grpc_server *s, enum grpc_status_code code, const char *msg)
{
    for (struct grpc_call *call = s->carried, *next; call; call = next) {
        next = call->link.next;
        grpc_call_abort(call, code, "%s", msg);
    }
    while (s->carried) { /* each carrier hears its call's end and releases it */
        struct grpc_call *call = s->carried;
        DLIST_REMOVE(call, dirty_link);
        call->carrier->wake(call, call->carrier_io);
        if (s->carried == call) /* a carrier that did not: the call goes anyway */
            grpc_call_release(call);
    }
}

struct grpc_call *grpc_server_carry(struct grpc_server *s, const struct grpc_carried *how,
                                    const struct grpc_carrier *carrier, void *io,
                                    enum grpc_status_code *code, char *msg, size_t size)
{
    struct grpc_call *call = calloc(1, sizeof *call);

    *code = GRPC_OK;
    if (!call || s->shutting_down) {
        free(call);
        *code = GRPC_UNAVAILABLE;
        snprintf(msg, size, "%s", s->shutting_down ? "droverd is shutting down" : "out of memory");
        return NULL;
    }
    call->srv = s;
    call->carrier = carrier;
    call->carrier_io = io;
    call->door = how->door;
    call->nc = how->conn;
    call->stream_id = -1;
    grpc_deframer_init(&call->in, s->lim.max_message_size);
    buf_init(&call->out, 0);
    DLIST_PREPEND(&s->carried, call, link);
    s->stats.active_calls++;
    s->stats.calls_total++;
    call->path = strdup(how->path);
    for (size_t i = 0; how->metadata && how->metadata[i]; i += 2)
        if (grpc_call_add_metadata(call, (const uint8_t *)how->metadata[i],
                                   strlen(how->metadata[i]), (const uint8_t *)how->metadata[i + 1],
                                   strlen(how->metadata[i + 1])) < 0)
            call->reject = GRPC_RESOURCE_EXHAUSTED;
    if (how->timeout_ms) {
        call->has_timeout = true;
        call->timeout_ms = how->timeout_ms;
    }
    if (!call->path)
        call->reject = GRPC_RESOURCE_EXHAUSTED;
    if (call->reject != GRPC_OK)
        grpc_call_finish(call, call->reject, "%s",
                         call->reject_msg ? call->reject_msg : "out of memory");
    else
        (void)grpc_call_resolve(call);
    if (!call->finished)
        return call;
    /* Ended before it began: the carrier answers with the status. */
    *code = call->status;
    char *text =
        call->status_msg ? grpc_percent_decode(call->status_msg, strlen(call->status_msg)) : NULL;
    snprintf(msg, size, "%s", text ? text : "");
    free(text);
    grpc_call_release(call);
    return NULL;
}

const struct grpc_method *grpc_call_method(const struct grpc_call *call)
{
    return call->method;
}

const ProtobufCMessageDescriptor *grpc_call_output_type(const struct grpc_call *call)
{
    const ProtobufCServiceDescriptor *d = call->service ? call->service->svc->descriptor : NULL;
    for (unsigned i = 0; d && i < d->n_methods; i++)
        if (!strcmp(d->methods[i].name, call->method->name))
            return d->methods[i].output;
    return NULL;
}

void grpc_call_give(struct grpc_call *call, ProtobufCMessage *msg, bool last)
{
    if (!call->started || call->finished) {
        if (msg)
            protobuf_c_message_free_unpacked(msg, NULL);
        return;
    }
    if (msg && !grpc_call_take_request(call, msg))
        return;
    if (last)
        grpc_call_half_close(call);
}

/* Drops what the carrier took last time from the queue. */
static void consume_taken(struct grpc_call *call)
{
    if (call->taken)
        grpc_call_took(call, call->taken);
    call->taken = 0;
}

bool grpc_call_take_response(struct grpc_call *call, const uint8_t **ret, size_t *ret_len,
                             bool *ret_encoded)
{
    consume_taken(call);
    if (call->out.len < 5)
        return false;
    const uint8_t *h = buf_head(&call->out);
    size_t len = (size_t)h[1] << 24 | (size_t)h[2] << 16 | (size_t)h[3] << 8 | h[4];
    if (call->out.len < 5 + len)
        return false; /* cannot be: frames are queued whole */
    *ret = h + 5;
    *ret_len = len;
    *ret_encoded = h[0] & GRPC_FRAME_CARRIED;
    call->taken = 5 + len;
    return true;
}

bool grpc_call_status(struct grpc_call *call, enum grpc_status_code *code, const char **msg)
{
    consume_taken(call);
    if (!call->finished || call->out.len)
        return false;
    if (call->status_msg && !call->status_text)
        call->status_text = grpc_percent_decode(call->status_msg, strlen(call->status_msg));
    *code = call->status;
    *msg = call->status_text;
    return true;
}

void grpc_call_release(struct grpc_call *call)
{
    struct grpc_server *s = call->srv;
    consume_taken(call);
    grpc_call_free(call);
    if (s->shutting_down)
        grpc_server_maybe_done(s);
}
