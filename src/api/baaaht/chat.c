/* gateway.v1 StreamChat and StreamResponses: the assistant's replies streamed as ResponseChunks.
 *
 * StreamChat says each user message into the gateway session's conversation (routed to the
 * assistant, as StreamMessages does) and streams the reply to that message back: one chunk_id
 * per reply, pieces of stream_config.chunk_size bytes cut on UTF-8 boundaries (the whole reply
 * when 0), chunk_delay_ns apart, the last one is_final. StreamResponses streams the reply to one
 * message (by default the newest routed one): a status ACTIVE, its pieces (10 bytes by
 * default), a status COMPLETE with the counts, and the end. Pieces go out while the call is
 * writable; a client that stops reading holds nothing but its replies. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/baaaht/baaaht-internal.h"
#include "base/time-util.h"
#include "base/utf8.h"

#define RESPONSES_CHUNK 10 /* upstream's default piece for StreamResponses */

struct piece_src { /* one reply being streamed */
    struct piece_src *next;
    char *text;
    size_t len, off;
    int32_t seq;
    char chunk_id[AG_ID_LEN], msg_id[AG_MSG_ID_LEN], reply_to[AG_MSG_ID_LEN];
};

struct waiting { /* a reply awaited */
    struct waiting *next, **pprev;
    struct gw_stream *st;
    struct ag_wait *w;
};

struct gw_stream {
    struct grpc_call *call;
    struct api_host *h;
    bool responses;      /* StreamResponses, else StreamChat */
    bool bound, counted; /* StreamChat: a gateway session named; counted in gateway_streams */
    char gw_id[AG_ID_LEN];
    size_t chunk_size;
    uint64_t delay_ns;
    bool delta;
    struct waiting *waits;
    struct piece_src *first, *last;
    uv_timer_t *timer; /* paces pieces, chunk_delay_ns apart */
    bool pausing;
    bool half_closed; /* StreamChat: the client sends no more; it ends once its replies are out */
    /* StreamResponses: its status and counts */
    bool active_sent;
    uint64_t started_ns;
    int64_t bytes_sent, chunks_sent;
};

static int send_wrapped(struct gw_stream *st, Gateway__V1__ResponseChunk *chunk,
                        Gateway__V1__StreamStatus *status)
{
    if (st->responses) {
        Gateway__V1__StreamResponsesResponse o = GATEWAY__V1__STREAM_RESPONSES_RESPONSE__INIT;
        o.payload_case = chunk ? GATEWAY__V1__STREAM_RESPONSES_RESPONSE__PAYLOAD_CHUNK
                               : GATEWAY__V1__STREAM_RESPONSES_RESPONSE__PAYLOAD_STATUS;
        if (chunk)
            o.chunk = chunk;
        else
            o.status = status;
        return grpc_call_send(st->call, &o.base);
    }
    Gateway__V1__StreamChatResponse o = GATEWAY__V1__STREAM_CHAT_RESPONSE__INIT;
    o.payload_case = chunk ? GATEWAY__V1__STREAM_CHAT_RESPONSE__PAYLOAD_CHUNK
                           : GATEWAY__V1__STREAM_CHAT_RESPONSE__PAYLOAD_STATUS;
    if (chunk)
        o.chunk = chunk;
    else
        o.status = status;
    return grpc_call_send(st->call, &o.base);
}

static void send_status(struct gw_stream *st, Gateway__V1__StreamState state, const char *text)
{
    struct api_arena a = {0};
    Gateway__V1__StreamStatus *s = arena_msg(&a, &gateway__v1__stream_status__descriptor);
    s->state = state;
    s->message = (char *)(text ? text : "");
    if (st->responses) {
        s->bytes_sent = st->bytes_sent;
        s->chunks_sent = st->chunks_sent;
        s->started_at = arena_ts(&a, st->started_ns);
        if (state != GATEWAY__V1__STREAM_STATE__STREAM_STATE_ACTIVE)
            s->ended_at = arena_ts(&a, now_ns(CLOCK_REALTIME));
    }
    if (!a.failed)
        (void)send_wrapped(st, NULL, s);
    arena_free(&a);
}

static void pump(struct gw_stream *st);

static void on_pause_over(uv_timer_t *t)
{
    struct gw_stream *st = t->data;
    st->pausing = false;
    pump(st);
}

/* Sends the next piece of the first reply; -1 when the call cannot take it now. */
static int send_piece(struct gw_stream *st)
{
    struct piece_src *p = st->first;
    size_t n = st->chunk_size ? utf8_cut(p->text + p->off, p->len - p->off, st->chunk_size)
                              : p->len - p->off;
    bool last = p->off + n >= p->len;
    struct api_arena a = {0};
    Gateway__V1__ResponseChunk *c = arena_msg(&a, &gateway__v1__response_chunk__descriptor);
    Gateway__V1__ChunkMetadata *md = arena_msg(&a, &gateway__v1__chunk_metadata__descriptor);
    char *extra[] = {"message_id", p->msg_id, "reply_to", p->reply_to, NULL};
    c->chunk_id = p->chunk_id;
    c->sequence = p->seq;
    c->text = arena_alloc(&a, n + 1);
    memcpy(c->text, p->text + p->off, n);
    c->is_delta = st->delta || !last || p->seq > 0;
    c->is_final = last;
    md->timestamp = arena_ts(&a, now_ns(CLOCK_REALTIME));
    md->content_type = "text/plain";
    md->total_bytes = (int64_t)p->len;
    md->progress = p->len ? (double)(p->off + n) / (double)p->len : 1.0;
    md->extra = (Gateway__V1__ChunkMetadata__ExtraEntry **)arena_map_out(
        &a, &gateway__v1__chunk_metadata__extra_entry__descriptor, extra, &md->n_extra);
    c->metadata = md;
    int r = a.failed ? -ENOMEM : send_wrapped(st, c, NULL);
    arena_free(&a);
    if (r < 0)
        return r == -ENOBUFS ? -1 : r;
    p->off += n;
    p->seq++;
    st->bytes_sent += (int64_t)n;
    st->chunks_sent++;
    if (last) {
        st->first = p->next;
        if (!st->first)
            st->last = NULL;
        free(p->text);
        free(p);
        if (st->responses) { /* its one reply is out */
            send_status(st, GATEWAY__V1__STREAM_STATE__STREAM_STATE_COMPLETE, NULL);
            grpc_call_finish(st->call, GRPC_OK, NULL);
            return -1;
        }
    }
    return 0;
}

static void pump(struct gw_stream *st)
{
    while (st->first && !st->pausing && !grpc_call_finished(st->call) &&
           grpc_call_writable(st->call)) {
        if (send_piece(st) < 0)
            return;
        if (st->delay_ns && st->first) {
            uint64_t ms = (st->delay_ns + 999999) / 1000000;
            st->pausing = true;
            /* From now, not from the loop's cached time of this turn: pieces are never closer
             * than the delay. */
            uv_update_time(st->timer->loop);
            uv_timer_start(st->timer, on_pause_over, ms, 0);
            return;
        }
    }
    if (st->half_closed && !st->first && !st->waits)
        grpc_call_finish(st->call, GRPC_OK, NULL);
}

static void on_reply(void *userdata, const struct ag_msg *reply, const char *why)
{
    struct waiting *w = userdata;
    struct gw_stream *st = w->st;
    if (w->next)
        w->next->pprev = w->pprev;
    *w->pprev = w->next;
    free(w);
    if (!reply) { /* none will come */
        struct api_arena a = {0};
        send_status(st, GATEWAY__V1__STREAM_STATE__STREAM_STATE_ERROR,
                    bh_err_text(&a, -ESTALE, why));
        arena_free(&a);
        if (st->responses)
            grpc_call_finish(st->call, GRPC_OK, NULL);
        else
            pump(st); /* a half-closed stream may be done */
        return;
    }
    struct piece_src *p = calloc(1, sizeof *p);
    if (!p || !(p->text = strdup(reply->content ? reply->content : ""))) {
        free(p);
        return grpc_call_finish(st->call, GRPC_RESOURCE_EXHAUSTED, "out of memory");
    }
    p->len = strlen(p->text);
    ag_new_id(p->chunk_id);
    snprintf(p->msg_id, sizeof p->msg_id, "%s", reply->id);
    snprintf(p->reply_to, sizeof p->reply_to, "%s", reply->reply_to);
    if (st->last)
        st->last->next = p;
    else
        st->first = p;
    st->last = p;
    if (st->responses && !st->active_sent) {
        st->active_sent = true;
        send_status(st, GATEWAY__V1__STREAM_STATE__STREAM_STATE_ACTIVE, NULL);
    }
    pump(st);
}

/* Awaits the reply to message id of c; -errno with err filled. */
static int await(struct gw_stream *st, struct ag_conv *c, const char *id, char *err,
                 size_t err_size)
{
    struct waiting *w = calloc(1, sizeof *w);
    if (!w)
        return snprintf(err, err_size, "out of memory"), -ENOMEM;
    w->st = st;
    w->next = st->waits;
    if (w->next)
        w->next->pprev = &w->next;
    w->pprev = &st->waits;
    st->waits = w;
    int r = ag_conv_wait_reply(c, id, on_reply, w, &w->w, err, err_size);
    if (r < 0) { /* never waited: unlink it */
        if (w->next)
            w->next->pprev = w->pprev;
        *w->pprev = w->next;
        free(w);
    }
    return r; /* 0 with the reply perhaps already handled (on_reply freed w) */
}

static struct gw_stream *stream_new(struct grpc_call *call, bool responses)
{
    struct gw_stream *st = calloc(1, sizeof *st);
    if (!st || !(st->timer = malloc(sizeof *st->timer))) {
        free(st);
        grpc_call_finish(call, GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return NULL;
    }
    st->call = call;
    st->h = grpc_call_service_data(call);
    st->responses = responses;
    uv_timer_init(st->h->loop, st->timer);
    st->timer->data = st;
    grpc_call_set_data(call, st);
    return st;
}

static void timer_closed(uv_handle_t *h)
{
    free(h);
}

void bh_gw_stream_close(struct grpc_call *call)
{
    struct gw_stream *st = grpc_call_get_data(call);
    if (!st)
        return;
    while (st->waits) {
        struct waiting *w = st->waits;
        st->waits = w->next;
        ag_conv_unwait(w->w);
        free(w);
    }
    while (st->first) {
        struct piece_src *p = st->first;
        st->first = p->next;
        free(p->text);
        free(p);
    }
    if (st->counted)
        st->h->gateway_streams--;
    uv_close((uv_handle_t *)st->timer, timer_closed);
    free(st);
    grpc_call_set_data(call, NULL);
}

void bh_gw_stream_ready(struct grpc_call *call)
{
    struct gw_stream *st = grpc_call_get_data(call);
    if (st)
        pump(st);
}

/* ---- StreamChat ---- */

static void send_heartbeat(struct grpc_call *call)
{
    Gateway__V1__StreamChatResponse o = GATEWAY__V1__STREAM_CHAT_RESPONSE__INIT;
    Google__Protobuf__Empty e = GOOGLE__PROTOBUF__EMPTY__INIT;
    o.payload_case = GATEWAY__V1__STREAM_CHAT_RESPONSE__PAYLOAD_HEARTBEAT;
    o.heartbeat = &e;
    (void)grpc_call_send(call, &o.base);
}

void bh_stream_chat(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Gateway__V1__StreamChatRequest *q = (const void *)msg;
    struct gw_stream *st = grpc_call_get_data(call);
    struct ag_mgr *m = grpc_call_finished(call) ? NULL : bh_hub(call);
    char err[AG_ERR_MAX] = "";
    if (!m || (!st && !(st = stream_new(call, false))))
        return;
    if (q->payload_case == GATEWAY__V1__STREAM_CHAT_REQUEST__PAYLOAD_HEARTBEAT)
        return send_heartbeat(call);
    if (q->payload_case == GATEWAY__V1__STREAM_CHAT_REQUEST__PAYLOAD_CANCEL)
        return grpc_call_finish(call, GRPC_OK, NULL); /* its pending replies go with it */
    if (!st->bound) {
        if (!*q->session_id)
            return grpc_call_finish(call, GRPC_INVALID_ARGUMENT,
                                    "first message must contain session_id");
        struct ag_gw *g = bh_need_gw(call, m, q->session_id);
        if (!g)
            return;
        struct ag_gw_info i;
        ag_gw_info(g, &i);
        snprintf(st->gw_id, sizeof st->gw_id, "%s", i.id);
        st->chunk_size = i.config->chunk_size > 0 ? (size_t)i.config->chunk_size : 0;
        st->delay_ns = (uint64_t)i.config->chunk_delay_ns;
        st->delta = i.config->enable_delta;
        st->bound = st->counted = true;
        st->h->gateway_streams++;
        (void)grpc_call_send_headers(call);
    }
    if (q->payload_case != GATEWAY__V1__STREAM_CHAT_REQUEST__PAYLOAD_MESSAGE)
        return;
    struct ag_gw *g = ag_gw_find(m, st->gw_id);
    struct api_arena a = {0};
    struct ag_msg in = {0}, out;
    int r = -ESTALE;
    snprintf(err, sizeof err, "gateway session not found");
    if (g) {
        bh_gw_msg_in(&a, q->message, &in);
        r = a.failed ? -ENOMEM : ag_gw_say(g, &in, &out, err, sizeof err);
    }
    if (r == 0 && in.role == AG_USER) {
        struct ag_gw_info i;
        ag_gw_info(g, &i);
        r = i.conv ? await(st, i.conv, out.id, err, sizeof err) : -ESTALE;
    }
    if (r < 0)
        send_status(st, GATEWAY__V1__STREAM_STATE__STREAM_STATE_ERROR, bh_err_text(&a, r, err));
    arena_free(&a);
}

void bh_stream_chat_half_close(struct grpc_call *call)
{
    struct gw_stream *st = grpc_call_get_data(call);
    if (!st)
        return grpc_call_finish(call, GRPC_OK, NULL);
    st->half_closed = true; /* it ends once its replies are out */
    pump(st);
}

/* ---- StreamResponses ---- */

void bh_stream_responses(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Gateway__V1__StreamResponsesRequest *q = (const void *)msg;
    struct ag_mgr *m = bh_hub(call);
    struct ag_gw *g = m ? bh_need_gw(call, m, q->session_id) : NULL;
    struct gw_stream *st;
    char err[AG_ERR_MAX] = "";
    if (!g)
        return;
    struct ag_gw_info i;
    ag_gw_info(g, &i);
    if (!i.conv)
        return grpc_call_finish(call, GRPC_FAILED_PRECONDITION, "gateway session is closed");
    const char *id = q->message_id;
    if (!*id) {
        const struct ag_msg *last = ag_conv_last_routed(i.conv);
        if (!last)
            return grpc_call_finish(call, GRPC_FAILED_PRECONDITION,
                                    "no message of this session was routed to the assistant");
        id = last->id;
    }
    if (!(st = stream_new(call, true)))
        return;
    st->chunk_size =
        q->options && q->options->chunk_size > 0 ? (size_t)q->options->chunk_size : RESPONSES_CHUNK;
    st->delta = true;
    st->started_ns = now_ns(CLOCK_REALTIME);
    st->counted = true;
    st->h->gateway_streams++;
    int r = await(st, i.conv, id, err, sizeof err);
    if (r < 0)
        return bh_fail(call, r, err);
    if (!st->active_sent && !grpc_call_finished(call)) { /* the reply is still to come */
        st->active_sent = true;
        send_status(st, GATEWAY__V1__STREAM_STATE__STREAM_STATE_ACTIVE, NULL);
    }
}
