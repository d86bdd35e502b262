/* gRPC length-prefixed message framing. The deframer is a two-state machine (collecting the
 * 5-byte prefix, collecting the body) and never holds more than max + 5 bytes, whatever the peer
 * sends. Used by the server's streams and by the client library. */
#include "grpc/wire.h"

#include <errno.h>
#include <protobuf-c/protobuf-c.h>
#include <string.h>

#include "base/macro.h"

/* Reserves prefix + len bytes, writes the prefix, and returns where the body goes. */
static int reserve_frame(struct buf *out, bool compressed, size_t len, uint8_t **ret_body)
{
    uint8_t *p;
    int r;

    if (len > UINT32_MAX)
        return -EMSGSIZE;
    r = buf_reserve(out, GRPC_FRAME_HEADER + len, &p);
    if (r < 0)
        return r;
    p[0] = compressed ? 1 : 0;
    p[1] = (uint8_t)(len >> 24);
    p[2] = (uint8_t)(len >> 16);
    p[3] = (uint8_t)(len >> 8);
    p[4] = (uint8_t)len;
    *ret_body = p + GRPC_FRAME_HEADER;
    return 0;
}

int grpc_frame_append(struct buf *out, bool compressed, const uint8_t *msg, size_t len)
{
    uint8_t *body;
    int r = reserve_frame(out, compressed, len, &body);

    if (r < 0)
        return r;
    if (len)
        memcpy(body, msg, len);
    buf_commit(out, GRPC_FRAME_HEADER + len);
    return 0;
}

int grpc_frame_append_message(struct buf *out, const ProtobufCMessage *msg)
{
    return grpc_frame_append_sized(out, msg, protobuf_c_message_get_packed_size(msg));
}

int grpc_frame_append_sized(struct buf *out, const ProtobufCMessage *msg, size_t len)
{
    uint8_t *body;
    int r = reserve_frame(out, false, len, &body);

    if (r < 0)
        return r;
    protobuf_c_message_pack(msg, body);
    buf_commit(out, GRPC_FRAME_HEADER + len);
    return 0;
}

void grpc_deframer_init(struct grpc_deframer *d, uint32_t max)
{
    *d = (struct grpc_deframer){.max = max};
    buf_init(&d->body, (size_t)max);
}

void grpc_deframer_done(struct grpc_deframer *d)
{
    buf_done(&d->body);
}

size_t grpc_deframer_pending(const struct grpc_deframer *d)
{
    return d->hdr_len + d->body.len;
}

/* Takes prefix bytes; returns how many were used, or a negative error once the prefix is whole
 * and unacceptable. */
static long take_header(struct grpc_deframer *d, const uint8_t *p, size_t n, uint32_t *ret_size)
{
    size_t k = MIN(n, GRPC_FRAME_HEADER - d->hdr_len);

    memcpy(d->hdr + d->hdr_len, p, k);
    d->hdr_len += k;
    if (d->hdr_len < GRPC_FRAME_HEADER)
        return (long)k;
    if (d->hdr[0] > 1)
        return -EPROTO;
    d->compressed = d->hdr[0] == 1;
    d->want = (uint32_t)d->hdr[1] << 24 | (uint32_t)d->hdr[2] << 16 | (uint32_t)d->hdr[3] << 8 |
              d->hdr[4];
    if (d->want > d->max) {
        if (ret_size)
            *ret_size = d->want;
        return -EMSGSIZE;
    }
    return (long)k;
}

int grpc_deframer_feed(struct grpc_deframer *d, const uint8_t *p, size_t n, grpc_deframer_fn cb,
                       void *userdata, uint32_t *ret_size)
{
    while (n > 0 || (d->hdr_len == GRPC_FRAME_HEADER && d->want == 0)) {
        if (d->hdr_len < GRPC_FRAME_HEADER) {
            long k = take_header(d, p, n, ret_size);
            if (k < 0)
                return (int)k;
            p += k;
            n -= (size_t)k;
            if (d->hdr_len < GRPC_FRAME_HEADER)
                break;
        }

        const uint8_t *msg;
        size_t have = d->body.len;
        if (have == 0 && n >= d->want) {
            msg = p; /* The whole body is in this chunk: no copy. */
            p += d->want;
            n -= d->want;
        } else {
            size_t k = MIN(n, d->want - have);
            int r = buf_append(&d->body, p, k);
            if (r < 0)
                return r;
            p += k;
            n -= k;
            if (d->body.len < d->want)
                break;
            msg = buf_head(&d->body);
        }

        d->hdr_len = 0;
        int r = cb(userdata, d->compressed, msg, d->want);
        /* Large bodies give their storage back; small ones keep it for the next message. */
        buf_reset(&d->body, 64 * 1024);
        if (r < 0)
            return r;
    }
    return 0;
}
