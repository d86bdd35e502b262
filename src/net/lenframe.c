/* 4-byte big-endian length-prefixed frames (see lenframe.h). The length is checked against the
 * cap before anything is allocated for the payload: a peer announcing 4 GiB gets an error, not
 * an allocation. */
#include "net/lenframe.h"

#include <errno.h>

int lenframe_next(const uint8_t *p, size_t len, uint32_t max, uint32_t *ret_len)
{
    if (len < LENFRAME_HEADER)
        return 0;
    uint32_t n = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    *ret_len = n;
    if (n > max)
        return -EMSGSIZE;
    return len - LENFRAME_HEADER >= n ? 1 : 0;
}

int lenframe_append_header(struct buf *b, uint32_t len)
{
    uint8_t h[LENFRAME_HEADER] = {len >> 24, len >> 16, len >> 8, len};
    return buf_append(b, h, sizeof h);
}

int lenframe_append_message(struct buf *b, const ProtobufCMessage *msg)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    uint8_t *p;
    int r;

    if (n > UINT32_MAX)
        return -EMSGSIZE;
    if ((r = buf_reserve(b, LENFRAME_HEADER + n, &p)) < 0)
        return r;
    p[0] = (uint8_t)(n >> 24), p[1] = (uint8_t)(n >> 16), p[2] = (uint8_t)(n >> 8);
    p[3] = (uint8_t)n;
    protobuf_c_message_pack(msg, p + LENFRAME_HEADER);
    buf_commit(b, LENFRAME_HEADER + n);
    return 0;
}
